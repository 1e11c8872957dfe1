"""A sample-accurate pitch-change detector for a note the tracker already follows (the live voice's fast path).

:class:`~tonehost.dsp.features.VoiceTracker` reports a new pitch once its YIN window (``width`` + the period, 8-11
ms) is mostly the new note, then through its 3-frame median, on its 2 ms frame grid: a pitch step reaches the
instrument 8-12 ms after it happened, and the grid alone spreads that by a hop. This detector watches the *newest*
samples instead, at every ``every``-th sample:

- while a note is known (the tracker's voiced f0, or this detector's own last change) it checks that the newest
  ``tail`` samples still repeat at that period (the normalised difference of
  :func:`tonehost.dsp.yin.tail_aperiodicity`, YIN's eq. 6 on a short window);
- once they do not (a step, the end of the note, a breath), it searches the period of the newest samples: YIN's
  cumulative-mean-normalised difference (de Cheveigne & Kawahara 2002, eqs. 6 and 8), lag ``tau`` over the newest
  ``max(tail, min_periods * tau)`` samples (shorter windows match the ringing of a formant inside one glottal cycle
  of a low voice), over lags
  ``min_lag`` up to the lags whose older samples lie after the break (``period + tail / 2`` samples after it) on
  that short window, the first dip under ``threshold`` (step 4) that reaches its minimum inside those lags (a low
  voice's dips are wide: the slope of a longer period's dip is no period) refined by a parabola (step 5,
  :func:`tonehost.dsp.yin._refine`); each lag's sum slides along with the newest sample (running sums, O(lags) a
  check). A new period that differs from the note's by more than ``min_cents`` and is
  found at ``confirm`` consecutive checks (within ``confirm_tol``), while the level is at most ``max_drop_db``
  below the note's, is reported at the sample that confirmed it;
- with each change it estimates where the change happened (:func:`_change_point`, a two-segment least-squares
  split: the old period fits before it, the new one from one new period after it; within 0.2 ms on voice-like
  steps of a fifth), so a caller can play every change at the same delay after it
  (:class:`~tonehost.realtime.pipelines.live_voice.LiveInstrument`'s ``change_align_ms``);
- while it searches, the note's period stays the one that broke: the tracker's frames wait (its window straddles
  the step and passes through mixtures of the two notes, e.g. 179, 183, 195 Hz between 150 and 200 Hz, which
  would hide the step) and count once the search ends without a change; a search ends early only when the newest
  ``max(tail, min_periods T)`` samples fit the old period again (a 2 ms tail on the smooth part of a long cycle
  may fit a nearby period by chance), and a break that resumes within ``calm_gap`` periods of such an end keeps
  its first date (a small step, a whole tone, drifts out of the old period slowly and fits again for a moment);
- it searches for at most ``max(search, search_periods * T)`` samples after the break (3.5 of the note's periods
  ``T``: a new period up to twice as long, an octave down, repeats once over its window within 3.34 ``T``; 32 ms
  at 110 Hz; a note that ends, or noise, costs that much and no more) and then waits for the tracker's next
  voiced frame.

The newest samples repeat at the new period ``T`` once ``T + max(tail, min_periods T)`` samples of the new note have
arrived: at 330 Hz 5.1 ms after the step (the tracker's full window: about 8 ms, plus its median and grid), at
200 Hz 8.4 ms, at 110 Hz 15.2 ms, at 80 Hz 20.9 ms (a low voice's steps take longer by nature). The
detector is a fast path only: the live instrument holds its pitch until the tracker agrees (or for a bounded time,
after which the tracker wins), so a false detection lasts at most that long.

The defaults were chosen on synthetic voice-like steps and on FDA rl/sb 001-010 only (the tracker's development
files; 011-025 and MDB-stem-synth stay held out): on those 20 spoken sentences (speech glides and creaks, the hard
case) it reports 123 changes (110 within 50 cents of the reference) and the pitch the live instrument would play is
within 50 cents of the reference in 92.0% of voiced frames, as from the tracker alone (92.0%); in the same run the
detector before the tracker's frames were held during a search: 17 changes, 11 right, 91.8% (with ``threshold``
0.1 and 32-sample windows for every lag: 371 changes, 84 right, 84.9%). ``python -m bench.pitch_change``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from tonehost.dsp.errors import ArgumentError
from tonehost.dsp.features import voice_like
from tonehost.dsp.yin import _refine, tail_sums

__all__ = ["PitchChangeDetector", "step_signal"]

# Numba's cache keys on this file's text, not on the kernels it inlines from dsp/yin.py (tail_sums, _refine): change
# this tag when they change (pitch_change kernels: 2, the note's period held through a search).

# state indices
(_FILL, _SINCE, _REF, _OWN, _OWN_AGE, _BROKEN, _CAND, _CAND_N, _UNV, _LEVEL, _PEND, _SEEN, _DN, _DEND, _CALM_AT,
 _CALM_BROKEN) = range(16)
_N_STATE = 16


@njit(nogil=True, cache=True)
def _take_tracker(st, p, min_cents, own_hold):
    """A voiced tracker period ``p`` (samples): the note's period, unless this detector's own change is newer and
    the tracker does not agree with it yet (its window still holds the old note)."""
    if st[_OWN] <= 0 or abs(1200.0 * math.log2(st[_REF] / p)) < min_cents or st[_OWN_AGE] > own_hold:
        if st[_REF] <= 0 or abs(1200.0 * math.log2(st[_REF] / p)) >= min_cents:
            st[_SEEN] = 0.0  # a new note (or the tracker's first frame of one): not yet seen in the signal
        st[_REF] = p
        st[_OWN] = 0.0


@njit(nogil=True, cache=True)
def _tail_cmnd(hist, end, n, max_lag, d, cmnd, periods):
    """YIN's difference (eq. 6) and CMND (eq. 8) of the newest samples for lags 1..max_lag (writes ``d``/``cmnd``):
    lag ``tau`` over the newest ``max(n, periods * tau)`` samples, per sample (a window much shorter than the period
    would match the ringing of one formant inside a single glottal cycle of a low voice)."""
    running = 0.0
    cmnd[0] = 1.0
    for tau in range(1, max_lag + 1):
        acc = 0.0
        w = max(n, int(periods * tau + 0.5))
        for j in range(end - w, end):
            v = hist[j] - hist[j - tau]
            acc += v * v
        acc /= w
        d[tau] = acc
        running += acc
        cmnd[tau] = acc * tau / running if running > 0.0 else 1.0


@njit(nogil=True, cache=True)
def _tail_cmnd_running(hist, end, n, max_lag, d, cmnd, periods, st):
    """:func:`_tail_cmnd` from running sums: ``d`` holds each lag's sum (not divided by its window) for the window
    ending at ``st[_DEND]`` for lags ``1..st[_DN]``; those slide to ``end`` (one sample in, one out, per lag and
    sample) and only lags not summed yet are summed in full, so a search that checks every 2 samples costs
    O(lags) per check instead of O(lags * window). ``st[_DN] = 0`` starts over."""
    dn = int(st[_DN])
    de = int(st[_DEND])
    if dn > 0 and (end < de or end - de > 64):
        dn = 0  # too far behind: sum again
    if dn > 0:
        for tau in range(1, dn + 1):
            w = max(n, int(periods * tau + 0.5))
            acc = d[tau]
            for e in range(de, end):
                v = hist[e] - hist[e - tau]
                o = hist[e - w] - hist[e - w - tau]
                acc += v * v - o * o
            d[tau] = acc
    for tau in range(dn + 1, max_lag + 1):
        acc = 0.0
        w = max(n, int(periods * tau + 0.5))
        for j in range(end - w, end):
            v = hist[j] - hist[j - tau]
            acc += v * v
        d[tau] = acc
    st[_DN] = max(dn, max_lag)
    st[_DEND] = end
    # a sum that slid to ~0 keeps the rounding of what left it: below a billionth of the note's level it is 0 (a
    # constant stretch, a digital silence or DC, repeats at every lag and has no dip)
    floor = 1e-9 * st[_LEVEL]
    running = 0.0
    cmnd[0] = 1.0
    for tau in range(1, max_lag + 1):
        acc = d[tau] / max(n, int(periods * tau + 0.5))
        if acc < floor:
            acc = 0.0
        running += acc
        cmnd[tau] = acc * tau / running if running > 0.0 else 1.0


@njit(nogil=True, cache=True)
def _change_point(hist, a, end, t1, t2):
    """Where in ``hist[a:end]`` the signal stopped repeating at period ``t1`` and started repeating at ``t2``.

    The split ``s`` minimising ``sum_{a <= j < s} (x_j - x_{j-t1})^2 + sum_{s + t2 <= j < end} (x_j - x_{j-t2})^2``
    (a two-segment least-squares change point: before ``s`` the old period fits, from ``s + t2`` on the new one;
    the ``t2`` samples between compare the new note with the old and fit neither).
    """
    i1 = int(t1 + 0.5)
    i2 = int(t2 + 0.5)
    b = end - i2
    if b <= a:
        return b
    c2 = 0.0
    for j in range(a + i2, end):
        v = hist[j] - hist[j - i2]
        c2 += v * v
    c1 = 0.0
    best = a
    best_cost = c2
    for sp in range(a, b):
        v = hist[sp] - hist[sp - i1]
        c1 += v * v
        w = hist[sp + i2] - hist[sp]
        c2 -= w * w
        if c1 + c2 < best_cost:
            best_cost = c1 + c2
            best = sp + 1
    return best


@njit(nogil=True, cache=True)
def _scan(x, hist, keep, st, upd_at, upd_f0, upd_voiced, par, d, cmnd, out_at, out_f0, out_start):
    """Push ``x``; apply the tracker's frames (``upd_*``: at index ``upd_at[k]`` of ``x``, after that sample)
    and write detections (index in ``x`` of the sample that confirmed them, f0 in Hz, index in ``x`` of the
    estimated change, negative when in an earlier block); returns their count."""
    sr, tail, every, min_lag, max_lag, thr_break, threshold, min_cents, confirm, search, own_hold, unv_clear = (
        par[0], int(par[1]), int(par[2]), int(par[3]), int(par[4]), par[5], par[6], par[7], int(par[8]),
        int(par[9]), int(par[10]), int(par[11]))
    grace = int(par[12])
    tol = par[13]
    min_level = par[14]
    periods = par[15]
    search_periods = par[16]
    calm_gap = par[17]
    n_out = 0
    k = 0
    n_upd = upd_at.shape[0]
    for i in range(x.shape[0]):
        fill = int(st[_FILL])
        if fill >= hist.shape[0]:
            for j in range(keep):
                hist[j] = hist[fill - keep + j]
            st[_DEND] -= fill - keep
            st[_CALM_AT] -= fill - keep
            fill = keep
        hist[fill] = x[i]
        fill += 1
        st[_FILL] = fill
        if st[_OWN] > 0:
            st[_OWN_AGE] += 1
        if st[_BROKEN] >= 0:
            st[_BROKEN] += 1
        st[_SINCE] += 1
        if st[_SINCE] >= every:
            st[_SINCE] = 0
            ref = st[_REF]
            if ref > 0:
                num, den = tail_sums(hist, fill, tail, ref)
                aper = num / den if den > 0.0 else 1.0
                broken = st[_BROKEN] >= 0
                if not broken:
                    lv = 0.5 * den / tail  # the note's level (mean square) while it repeats, smoothed
                    st[_LEVEL] = lv if st[_LEVEL] <= 0 else 0.9 * st[_LEVEL] + 0.1 * lv
                # the search lasts long enough for a new period of up to search_periods / (1 + periods) times the
                # note's to repeat once after the break (a low voice's periods are long)
                n_search = max(search, search_periods * ref)
                if broken and st[_BROKEN] > n_search and st[_PEND] > 0:
                    # the search is over without a change: the tracker's frames held back during it now count
                    _take_tracker(st, st[_PEND], min_cents, own_hold)
                    st[_PEND] = 0.0
                # hysteresis: a short tail of a nearby new period still matches the old one now and then (a low
                # voice's 2 ms tail may lie on the smooth part of a long cycle, where a slightly longer period fits
                # as well): a search ends early only once the newest max(tail, min_periods T) samples fit again
                calm = aper < 0.35 * thr_break
                if calm and broken and st[_BROKEN] <= n_search:
                    n_long = max(tail, int(periods * ref + 0.5))
                    num, den = tail_sums(hist, fill, n_long, ref)
                    calm = den > 0.0 and num < 0.35 * thr_break * den
                if calm or (aper < thr_break and (not broken or st[_BROKEN] > n_search)):
                    if broken and st[_BROKEN] <= n_search:
                        st[_CALM_AT] = fill  # (a break that resumes within a period continues this one)
                        st[_CALM_BROKEN] = st[_BROKEN]
                    st[_BROKEN] = -1.0
                    st[_CAND_N] = 0
                    st[_SEEN] = 1.0
                    if st[_PEND] > 0:
                        _take_tracker(st, st[_PEND], min_cents, own_hold)
                        st[_PEND] = 0.0
                else:
                    if not broken:
                        st[_BROKEN] = 0.0
                        st[_DN] = 0.0
                        if st[_CALM_BROKEN] > 0 and fill - st[_CALM_AT] <= calm_gap * ref:
                            # the fit came back for a moment (a small step drifts out of the old period slowly,
                            # and a tail on the smooth part of the cycle fits again): the break dates from before
                            st[_BROKEN] = st[_CALM_BROKEN] + fill - st[_CALM_AT]
                        st[_CALM_BROKEN] = 0.0
                    # only lags whose older samples lie after the break: before that the newest samples are
                    # compared with the old note's (a mixture that dips at passing, wrong periods)
                    # (lag tau looks back max(tail, periods * tau) + tau samples)
                    reach = int(st[_BROKEN]) + grace
                    if reach >= tail + tail / periods:
                        feasible = min(max_lag - 1, max(int(tail / periods), int(reach / (1.0 + periods))))
                    else:
                        feasible = reach - tail
                    if st[_BROKEN] <= n_search and feasible > min_lag:
                        _tail_cmnd_running(hist, fill, tail, feasible + 1, d, cmnd, periods, st)
                        lag = -1
                        tau = min_lag
                        while tau < feasible:
                            if cmnd[tau] < threshold:
                                while tau + 1 < feasible and cmnd[tau + 1] < cmnd[tau]:
                                    tau += 1
                                # a dip still falling at the last lag searched is the slope of a longer period's
                                # (a low voice's dips are wide): wait until its minimum is reachable
                                if tau + 1 < feasible:
                                    lag = tau
                                break
                            tau += 1
                        if lag > 0:
                            p = _refine(cmnd, lag, feasible + 1)
                            w = max(tail, int(periods * p + 0.5))
                            ms = 0.0
                            for j in range(fill - w, fill):
                                ms += hist[j] * hist[j]
                            if abs(1200.0 * math.log2(ref / p)) < min_cents or ms / w < min_level * st[_LEVEL]:
                                # no change, or a voice that fades (a consonant, the note's end) with a passing
                                # period: the tracker decides
                                st[_CAND_N] = 0
                            elif st[_CAND_N] > 0 and abs(p / st[_CAND] - 1.0) < tol:
                                st[_CAND_N] += 1
                                st[_CAND] = p
                            else:
                                st[_CAND] = p
                                st[_CAND_N] = 1
                            if st[_CAND_N] >= confirm:
                                a0 = max(fill - int(st[_BROKEN]) - 2 * tail, int(ref + 0.5) + 1)
                                sp = _change_point(hist, a0, fill, ref, p)
                                out_at[n_out] = i
                                out_f0[n_out] = sr / p
                                out_start[n_out] = i - (fill - sp)
                                n_out += 1
                                st[_REF] = p
                                st[_OWN] = 1.0
                                st[_OWN_AGE] = 0.0
                                st[_BROKEN] = -1.0
                                st[_CAND_N] = 0
                                st[_PEND] = 0.0
                                st[_SEEN] = 1.0
                        else:
                            st[_CAND_N] = 0
        while k < n_upd and upd_at[k] <= i:
            f0 = upd_f0[k]
            if upd_voiced[k] > 0 and f0 > 0:
                st[_UNV] = 0
                p = sr / f0
                if st[_SEEN] > 0 and st[_BROKEN] >= 0 and st[_BROKEN] <= max(search, search_periods * st[_REF]):
                    # while the newest samples are searched the tracker's window mixes the two notes (its frames
                    # pass through wrong pitches): the note's period stays the one that broke (once the signal
                    # was seen to repeat at it: a note start's first frame may still carry the last note's f0),
                    # the frame waits
                    st[_PEND] = p
                else:
                    # the tracker takes over once it agrees with this detector's change, or once the change is old
                    _take_tracker(st, p, min_cents, own_hold)
            else:
                st[_UNV] += 1
                if st[_UNV] >= unv_clear:
                    st[_REF] = 0.0
                    st[_OWN] = 0.0
                    st[_BROKEN] = -1.0
                    st[_CAND_N] = 0
                    st[_PEND] = 0.0
            k += 1
    return n_out


class PitchChangeDetector:
    """Sample-accurate detection of a pitch change inside a note (see the module docstring).

    Parameters
    ----------
    sample_rate : int
        Hz (the tracker's 16 kHz).
    fmin, fmax : float
        Hz: the periods searched (the tracker's range, 50-2000 Hz).
    tail : int
        Samples whose periodicity is checked and searched (32 = 2 ms at 16 kHz).
    every : int
        Samples between checks (the detection's time grid: 2 = 0.125 ms).
    break_aperiodicity : float
        The note's period no longer fits the newest samples above this normalised difference (0..~1).
    threshold : float
        YIN's absolute threshold on the newest samples' CMND for a new period.
    min_cents : float
        A new period closer than this to the note's is no change (vibrato, drift: the tracker follows those).
    confirm : int
        Consecutive checks that must find the same new period (within ``confirm_tol``): while the newest samples
        still mix the two notes the dip wanders (chosen on synthetic steps: 3 checks within 1% made no wrong
        pitch in 132 steps of 11 intervals, 2 within 3% made 11).
    confirm_tol : float
        Relative tolerance between consecutive confirmations.
    search_ms : float
        How long after the note's period broke a new one is searched (at least; see ``search_periods``).
    own_hold_ms : float
        After a detection, tracker frames that disagree with it are ignored this long (the tracker's window still
        holds the old note); then the tracker's pitch is taken again.
    unvoiced_clear : int
        Unvoiced tracker frames in a row that end the note (nothing is checked until the next voiced frame).
    max_drop_db : float
        A new period is only taken while the newest samples are at most this much quieter than the note was (a
        change inside a note keeps its level; a voice fading into a consonant or its end passes through short
        periodicities the tracker should judge).
    min_periods : float
        Lag ``tau`` is judged over the newest ``max(tail, min_periods * tau)`` samples.
    calm_gap : float
        A break that resumes within this many of the note's periods after a search ended early (the old period fit
        again) dates from the first break (chosen on the synthetic steps and FDA dev: 0.3 brings whole tones 0.7-2.9
        ms earlier with the same 13 changes off the reference on FDA dev; 0.6 adds 2 more).
    search_periods : float
        The search lasts at least this many of the note's periods: a new period ``T`` repeats once over that
        window ``(1 + min_periods) T`` samples after the break, so 3.5 reaches an octave down (at least
        ``search_ms``).

    Attributes
    ----------
    reference_hz : float
        The note's f0 the newest samples are checked against (0: none).
    last_starts : numpy.ndarray of int
        For the changes the last :meth:`process` returned: the index in its ``x`` of the estimated change point
        (negative: that many samples before the block).
    """

    def __init__(self, sample_rate: int = 16000, fmin: float = 50.0, fmax: float = 2000.0, tail: int = 32,
                 every: int = 2, break_aperiodicity: float = 0.2, threshold: float = 0.05, min_cents: float = 80.0,
                 confirm: int = 3, confirm_tol: float = 0.01, search_ms: float = 15.0, own_hold_ms: float = 15.0,
                 unvoiced_clear: int = 10, max_drop_db: float = 6.0, min_periods: float = 0.67,
                 search_periods: float = 3.5, calm_gap: float = 0.3):
        if tail < 4 or every < 1 or confirm < 1:
            raise ArgumentError("tail >= 4, every >= 1 and confirm >= 1 are required")
        self.sample_rate = int(sample_rate)
        self.min_lag = max(2, int(math.floor(sample_rate / fmax)))
        self.max_lag = int(math.ceil(sample_rate / fmin))
        self.tail = int(tail)
        self._keep = self.max_lag + int(max(search_ms * sample_rate / 1000.0, search_periods * self.max_lag)) + (
            3 * self.tail + 2)
        self._hist = np.zeros(self._keep + 4096)
        self._d = np.zeros(self.max_lag + 2)
        self._cmnd = np.zeros(self.max_lag + 2)
        self._par = np.array([sample_rate, tail, every, self.min_lag, self.max_lag, break_aperiodicity, threshold,
                              min_cents, confirm, search_ms * sample_rate / 1000.0,
                              own_hold_ms * sample_rate / 1000.0, unvoiced_clear, tail // 2, confirm_tol,
                              10.0 ** (-max_drop_db / 10.0), min_periods, search_periods, calm_gap], np.float64)
        self._st = np.zeros(_N_STATE)
        self._out_at = np.zeros(64, np.int64)
        self._out_f0 = np.zeros(64)
        self._out_start = np.zeros(64, np.int64)
        self.last_starts = np.zeros(0, np.int64)
        self.reset()

    def reset(self) -> None:
        """Forget the signal and the note."""
        self._hist[:] = 0.0
        self._st[:] = 0.0
        self._st[_FILL] = self._keep
        self._st[_BROKEN] = -1.0

    @property
    def reference_hz(self) -> float:
        r = self._st[_REF]
        return float(self.sample_rate / r) if r > 0 else 0.0

    def process(self, x: np.ndarray, frame_at=None, frame_f0=None, frame_voiced=None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Push samples and the tracker's frames completed by them; return the changes detected.

        Parameters
        ----------
        x : numpy.ndarray, shape (n,)
            Samples at ``sample_rate``.
        frame_at : array of int, shape (frames,), optional
            For each tracker frame, the index in ``x`` of the sample that completed it (in order).
        frame_f0 : array of float, shape (frames,), optional
            The frames' f0 (Hz).
        frame_voiced : array of bool, shape (frames,), optional
            The frames' voicing.

        Returns
        -------
        at : numpy.ndarray of int, shape (changes,)
            Index in ``x`` of the sample at which each change was confirmed.
        f0_hz : numpy.ndarray of float, shape (changes,)
            The new f0 (Hz).
        """
        x = np.ascontiguousarray(x, np.float64).reshape(-1)
        if frame_at is None:
            frame_at = np.zeros(0, np.int64)
            frame_f0 = np.zeros(0)
            frame_voiced = np.zeros(0)
        need = len(x) // max(1, int(self._par[2])) + 2
        if len(self._out_at) < need:
            self._out_at = np.zeros(need, np.int64)
            self._out_f0 = np.zeros(need)
            self._out_start = np.zeros(need, np.int64)
        k = _scan(x, self._hist, self._keep, self._st, np.ascontiguousarray(frame_at, np.int64),
                  np.ascontiguousarray(frame_f0, np.float64), np.ascontiguousarray(frame_voiced, np.float64),
                  self._par, self._d, self._cmnd, self._out_at, self._out_f0, self._out_start)
        self.last_starts = self._out_start[:k].copy()
        return self._out_at[:k].copy(), self._out_f0[:k].copy()


def step_signal(sr: int, f_a: float, f_b: float, n: int = 12, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Voice-like pitch steps at random phases: ``n`` x (silence ~0.1 s, ``f_a`` ~0.15 s, ``f_b`` 0.15 s).

    Each silence and each ``f_a`` stretch is lengthened by a random fraction of 4 ms, so the steps fall at every
    phase of a tracker's or detector's grid (:func:`tonehost.dsp.features.voice_like` voice).

    Parameters
    ----------
    sr : int
        Hz.
    f_a, f_b : float
        The pitch before and after each step (Hz).
    n : int
        Steps.
    seed : int
        For the random lengths.

    Returns
    -------
    (numpy.ndarray, list of int)
        The signal (float64) and the sample of each step.
    """
    rng = np.random.default_rng(seed)
    f, steps, t = [], [], 0
    for _ in range(n):
        n0, n1, n2 = int((0.1 + rng.uniform(0, 0.004)) * sr), int((0.15 + rng.uniform(0, 0.004)) * sr), int(0.15 * sr)
        f += [np.zeros(n0), np.full(n1, float(f_a)), np.full(n2, float(f_b))]
        steps.append(t + n0 + n1)
        t += n0 + n1 + n2
    return voice_like(np.concatenate(f), sr, 0.25), steps
