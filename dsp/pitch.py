"""Streaming f0 tracker for voice / humming: YIN with octave-error suppression and voicing hysteresis.

The tracker keeps a ring of the last ``B = W + tau_max + 2`` samples (``W`` the integration window, ``tau_max`` the
longest period) and analyses every ``hop`` input samples, whatever the block size it is fed with (64 samples is
fine). One analysis:

1. difference function ``d(tau) = sum_{j<W} (x[t0+j] - x[t0+j-tau])**2``, with ``t0`` chosen per lag so that
   the span is centred on a fixed point (see the delay below);
2. cumulative-mean normalised difference ``d'(tau) = d(tau) * tau / sum_{1..tau} d``;
3. the first ``tau >= tau_min`` with ``d' < threshold``, walked down to its local minimum (else the global
   minimum); octave-down check: if ``d'`` at about twice the lag is much lower, take it (YIN's first-dip rule
   alone can lock onto half the period when the 2nd harmonic dominates);
4. continuity: when the previous frame was voiced and the new lag is about half or twice the previous one, the
   local minimum near the previous lag is kept if it is nearly as good (short-term octave-jump suppression);
5. parabolic interpolation of ``d`` around the chosen lag; ``f0 = sr / tau``;
6. confidence ``= clip(1 - d'(tau), 0, 1)``, forced to 0 below an energy gate; voicing with hysteresis (turns on
   at ``conf >= on``, off at ``conf < off``).

Analysis delay: for every lag the compared span ``[t0 - tau, t0 + W)`` is centred on the same point,
``D = (W + tau_max) // 2`` samples behind the newest sample (:func:`pitch_delay_samples`; 294 samples = 18.4 ms
at 16 kHz with the defaults), so all frames share one fixed delay; the engine adds up to ``hop - 1`` samples of
waiting for the next analysis.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

# header of the float64 state
(_SR, _W, _TMIN, _TMAX, _HOP, _THR, _ON, _OFF, _GATE, _RW, _CNT, _PREV_TAU, _VOICED, _PREV_F0,
 _OCT_RATIO, _CONT_MARGIN) = range(16)
_HDR = 16


def make_pitch_state(sample_rate: float = 16000.0, hop: int = 160, fmin: float = 60.0, fmax: float = 1000.0,
                     window_s: float = 0.02, threshold: float = 0.15, voicing_on: float = 0.75,
                     voicing_off: float = 0.6, gate_db: float = -60.0, octave_ratio: float = 0.5,
                     continuity_margin: float = 0.05) -> np.ndarray:
    """Allocate and parameterise the state for :func:`pitch_block`.

    Parameters
    ----------
    sample_rate : float
        Input rate (16 kHz recommended).
    hop : int
        Samples between analyses.
    fmin, fmax : float
        Search range in Hz.
    window_s : float
        YIN integration window W in seconds (0.02 -> 320 samples at 16 kHz; measured best on FDA speech).
    threshold : float
        YIN absolute threshold on d'.
    voicing_on, voicing_off : float
        Confidence hysteresis thresholds.
    gate_db : float
        Frames whose mean square is below this (dBFS) get confidence 0.
    octave_ratio : float
        Take the lag near 2*tau when its d' is below ``octave_ratio * d'(tau)``.
    continuity_margin : float
        Keep the previous octave when its d' is within this margin of the best.

    Returns
    -------
    numpy.ndarray
        float64 state (header, ring of 2*B samples, d and d' work arrays).
    """
    W = int(round(window_s * sample_rate))
    tmin = max(2, int(math.floor(sample_rate / fmax)))
    tmax = int(math.ceil(sample_rate / fmin)) + 1
    B = W + tmax + 2
    st = np.zeros(_HDR + 2 * B + 2 * (tmax + 2), dtype=np.float64)
    st[_SR], st[_W], st[_TMIN], st[_TMAX], st[_HOP] = sample_rate, W, tmin, tmax, hop
    st[_THR], st[_ON], st[_OFF], st[_GATE] = threshold, voicing_on, voicing_off, 10.0 ** (gate_db / 10.0)
    st[_OCT_RATIO], st[_CONT_MARGIN] = octave_ratio, continuity_margin
    return st


def pitch_delay_samples(state: np.ndarray) -> int:
    """Analysis delay in samples: ``(W + tau_max) // 2``, the frame centre behind the newest sample."""
    return int(state[_W] + state[_TMAX]) // 2


@njit(nogil=True, cache=True)
def yin_first_dip(cmnd, lo, hi, threshold):
    """YIN's lag choice: the first dip of ``cmnd[lo:hi]`` under ``threshold``, followed down to its bottom;
    else the global minimum over ``[lo, hi)``."""
    t = lo
    while t < hi:
        if cmnd[t] < threshold:
            while t + 1 < hi and cmnd[t + 1] < cmnd[t]:
                t += 1
            return t
        t += 1
    best = lo
    for t in range(lo, hi):
        if cmnd[t] < cmnd[best]:
            best = t
    return best


@njit(nogil=True, cache=True)
def _local_min_near(dp, center, lo, hi):
    """Index of the smallest d' in [center*0.85, center*1.15] within [lo, hi]; -1 if none."""
    a = int(center * 0.85)
    b = int(center * 1.15) + 1
    if a < lo:
        a = lo
    if b > hi:
        b = hi
    best = -1
    bv = 1e30
    for t in range(a, b + 1):
        if dp[t] < bv:
            bv = dp[t]
            best = t
    return best


@njit(nogil=True, cache=True)
def _analyse(state, out_row, out):
    sr = state[_SR]
    W = int(state[_W])
    tmin = int(state[_TMIN])
    tmax = int(state[_TMAX])
    B = W + tmax + 2
    ring = _HDR
    dbase = ring + 2 * B
    dpbase = dbase + tmax + 2
    buf = state[ring + int(state[_RW]):ring + int(state[_RW]) + B]  # oldest .. newest (view)
    d = state[dbase:dbase + tmax + 2]
    dp = state[dpbase:dpbase + tmax + 2]
    D = (W + tmax) // 2
    C = B - D  # every lag's span [t0 - tau, t0 + W) is centred here, so all frames share the delay D
    energy = 0.0
    for j in range(C - W // 2, C - W // 2 + W):
        v = buf[j]
        energy += v * v
    energy /= W
    d[0] = 0.0
    dp[0] = 1.0
    run = 0.0
    for tau in range(1, tmax + 1):
        s = 0.0
        t0 = C - (W - tau) // 2
        for j in range(W):
            u = buf[t0 + j] - buf[t0 + j - tau]
            s += u * u
        d[tau] = s
        run += s
        dp[tau] = s * tau / run if run > 0.0 else 1.0
    tau = yin_first_dip(dp, tmin, tmax, state[_THR])
    # octave-down check (chosen lag may be half the period)
    if 2 * tau <= tmax - 1:
        t2 = _local_min_near(dp, 2.0 * tau, tmin, tmax - 1)
        if t2 > 0 and dp[t2] < state[_OCT_RATIO] * dp[tau]:
            tau = t2
    # continuity with the previous voiced frame (octave jumps)
    prev = state[_PREV_TAU]
    if state[_VOICED] > 0.5 and prev > 0.0:
        r = tau / prev
        if (r > 0.45 and r < 0.55) or (r > 1.8 and r < 2.2):
            tp = _local_min_near(dp, prev, tmin, tmax - 1)
            if tp > 0 and dp[tp] <= dp[tau] + state[_CONT_MARGIN]:
                if tp > tmin and tp < tmax - 1 and dp[tp] <= dp[tp - 1] and dp[tp] <= dp[tp + 1]:
                    tau = tp
    # parabolic interpolation on d
    ftau = float(tau)
    if tau > 1 and tau < tmax:
        a = d[tau - 1]
        b = d[tau]
        c = d[tau + 1]
        den = a - 2.0 * b + c
        if den > 0.0:
            off = 0.5 * (a - c) / den
            if off > -1.0 and off < 1.0:
                ftau = tau + off
    conf = 1.0 - dp[tau]
    if conf < 0.0:
        conf = 0.0
    if conf > 1.0:
        conf = 1.0
    if energy < state[_GATE]:
        conf = 0.0
    voiced = state[_VOICED]
    if voiced > 0.5:
        if conf < state[_OFF]:
            voiced = 0.0
    else:
        if conf >= state[_ON]:
            voiced = 1.0
    state[_VOICED] = voiced
    state[_PREV_TAU] = ftau if voiced > 0.5 else 0.0
    f0 = sr / ftau
    state[_PREV_F0] = f0
    out[out_row, 0] = f0
    out[out_row, 1] = conf
    out[out_row, 2] = voiced
    out[out_row, 3] = D


@njit(nogil=True, cache=True)
def pitch_block(x, n, state, out):
    """Feed ``x[:n]`` to the tracker; every ``hop`` samples write one analysis row to ``out`` (per-block kernel).

    Parameters
    ----------
    x : float32 or float64 array
    n : int
    state : float64 array
        From :func:`make_pitch_state`.
    out : float64 array, shape (capacity, 4)
        Rows ``[f0_hz, confidence, voiced (0/1), delay_samples]``; needs ``n // hop + 1`` rows. ``f0_hz`` is the
        best estimate even when unvoiced; ``delay_samples`` is the fixed analysis delay ``(W + tau_max) // 2``
        (the frame describes the signal that many samples before the newest input sample).

    Returns
    -------
    int
        Number of rows written.
    """
    W = int(state[_W])
    tmax = int(state[_TMAX])
    B = W + tmax + 2
    hop = int(state[_HOP])
    ring = _HDR
    w = int(state[_RW])
    cnt = int(state[_CNT])
    k = 0
    cap = out.shape[0]
    for i in range(n):
        v = float(x[i])
        state[ring + w] = v
        state[ring + w + B] = v
        w += 1
        if w == B:
            w = 0
        cnt += 1
        if cnt >= hop:
            cnt = 0
            state[_RW] = w
            if k < cap:
                _analyse(state, k, out)
                k += 1
    state[_RW] = w
    state[_CNT] = cnt
    return k


def track_pitch(audio, sample_rate, hop, block_size: int = 64, **params):
    """Offline wrapper: f0 track of a whole signal, frames on a uniform grid ``0, hop, 2*hop, ...`` samples.

    Parameters
    ----------
    audio : array_like, 1-D
    sample_rate : float
    hop : int
        Samples between frames.
    block_size : int
        Block size used to feed the streaming kernel.
    **params
        Passed to :func:`make_pitch_state`.

    Returns
    -------
    (times, f0_hz, confidence) : tuple of numpy.ndarray
        Frame times in seconds (frame centres, analysis delay removed), f0 estimates (always the best estimate,
        also in unvoiced frames) and confidence in [0, 1]. The voicing decision with hysteresis is available
        from :func:`track_pitch_full`.
    """
    times, f0, conf, _ = track_pitch_full(audio, sample_rate, hop, block_size, **params)
    return times, f0, conf


def track_pitch_full(audio, sample_rate, hop, block_size: int = 64, **params):
    """Like :func:`track_pitch`, also returning the voiced flags (bool array)."""
    audio = np.asarray(audio, dtype=np.float64)
    st = make_pitch_state(sample_rate, hop, **params)
    D = pitch_delay_samples(st)
    # frame k must be centred at k*hop: analysis at padded count c = m*hop, centre = c - D - Q
    Q = (-D) % hop
    m0 = (D + Q) // hop
    x = np.concatenate([np.zeros(Q), audio, np.zeros(D + hop)])
    out = np.zeros((len(x) // hop + 2, 4))
    k = 0
    for s in range(0, len(x), block_size):
        blk = x[s:s + block_size]
        k += pitch_block(blk, len(blk), st, out[k:])
    rows = out[:k]
    first = m0 - 1  # analysis m (1-based count m*hop) is row m-1
    n_frames = -(-len(audio) // hop)
    rows = rows[first:first + n_frames]
    times = np.arange(len(rows)) * hop / float(sample_rate)
    return times, rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2] > 0.5
