"""Streaming voice features for DDSP instruments: f0 + confidence and loudness, tuned for humming and singing.

:class:`VoiceTracker` turns 16 kHz mono samples, pushed in blocks of any size, into one feature frame per ``hop``
samples (default 32 = 2 ms, 500 frames/s; magenta.js' control rate is 64 = 4 ms). Per frame it runs YIN with
octave-error suppression (:func:`tonehost.dsp.yin.yin_frame`), then:

- the reported f0 follows the frame's CMND dips through a forward HMM (:mod:`tonehost.dsp.pitch_hmm`, pYIN's
  threshold shares, no look-ahead), so weak frames at the edges of voiced stretches keep to the voice's track
  instead of jumping between shallow dips; a clear YIN pick restarts the track (no added latency);

- voicing with hysteresis (on above ``voicing_on`` confidence, off below ``voicing_off``) and a short hold, so
  note starts and ends don't flicker;
- a level gate that follows the room: under ``gate_db`` (-60 dB) a frame counts only if it stands
  ``floor_margin_db`` over the running noise floor, so a quiet mic in a quiet room is heard while a hum at the
  floor is not (:class:`TrackerConfig`'s ``floor_*``);
- background tones: a steady tone 25 dB under the performance level and near the room's noise floor (mains hum,
  a fan's whine) is unvoiced, also where its pitch estimate wanders over the room's noise (``background_*``);
- clean note edges: a note's first frame reports its own period, and a note that stops abruptly ends there
  instead of reading a multiple of its period in its last, part-silent windows (``revoice_*``, ``end_tail``);
- a continuity hint (the last stable note's period) so YIN's octave jumps at weak note edges are suppressed;
- a 3-frame median on f0 inside voiced runs (one frame of extra delay, removes single-frame spikes), blended with
  those of its frames within ``median_blend_cents`` of it (the estimate's noise averages over three frames);
- while unvoiced the last f0 is held (DDSP needs a pitch all the time; loudness does the muting).

Loudness uses a short window (``loudness_window``, default 128 samples = 8 ms) so onsets are fast: DDSP-VST's
power ``pw_db = 10*log10(max(1e-8, mean(x^2)))`` floored at -80, and magenta.js' ``20*log10(rms) - 20.7`` floored
at -120 (:func:`tonehost.dsp.loudness.power_db`, :func:`~tonehost.dsp.loudness.loudness_db`).

:func:`track_pitch` runs the tracker over a whole recording (``tonehost pitch``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numba import njit

from tonehost.dsp._checks import MAX_RATE, check_audio, check_int, check_real, pcm_as_float, zero_non_finite
from tonehost.dsp.channels import mix_to_mono
from tonehost.dsp.errors import ArgumentError, NonFiniteAudioWarning
from tonehost.dsp.loudness import loudness_db, power_db
from tonehost.dsp.pitch_hmm import hmm_reset, hmm_seed, hmm_step, n_bins, transition_kernel
# Numba caches _track_block keyed on this file only, not on the kernels it inlines from other modules: edit this
# line when dsp/pitch_hmm.py's kernels change (pitch_hmm kernels: 4, the reseed margin grows with the pick's CMND).
from tonehost.dsp.resample import Resampler
from tonehost.dsp.yin import (SUB_OCTAVE_MARGIN, SUB_OCTAVE_RATIO, _refine, median3, predominant_lag, scratch,
                               sub_octave_lag, tail_aperiodicity, window_length, yin_first_dip, yin_frame)
# Numba's cache keys on this file's text, not on the kernels it inlines from dsp/yin.py: change this tag when they
# change (yin kernels: 9d, sub_octave_lag; predominant_lag stops counting partials once a complex is out of reach
# and tries sub-multiples deepest first; it keeps a complex whose partials 3..8 are there; four samples per pass
# over a reversed window copy, phasor Hann, two partials per pass, tail_aperiodicity through tail_sums, yin_cmnd's
# block cache with the unaligned-hop fallback, predominant_lag's
# one-pass sums; pitch_hmm: the prediction per kernel tap, F(prefix) kept, far dips skipped).



#: Logistic voicing model: with ``a`` the YIN aperiodicity (CMND at the period, clipped to 1.5), ``t`` the
#: newest-window aperiodicity (:func:`~tonehost.dsp.yin.tail_aperiodicity`, clipped to 1.5) and ``r`` the level
#: below the running peak in dB (clipped to -60), ``P(voiced) = 1 / (1 + exp(-z))`` with
#: ``z = b0 + b1 a + b2 t + b3 r + b4 ln(a) + b5 ln(t)`` (logs of values floored at 1e-3). Fitted (maximum
#: likelihood, Newton's method) by ``python -m bench.pitch_peers --fit-voicing`` on the development files only:
#: FDA rl/sb 001-010. FDA 011-025 and MDB-stem-synth are held out (never used to fit or tune).
VOICING_WEIGHTS = (-3.859, 3.514, -1.166, 0.052, -3.228, 0.222)


def voicing_features(aper: float, tail: float, rel_db: float) -> tuple:
    """The inputs of the logistic voicing model (see :data:`VOICING_WEIGHTS`): ``(1, a, t, r, ln a, ln t)``."""
    a = min(max(aper, 0.0), 1.5)
    t = min(max(tail, 0.0), 1.5)
    return 1.0, a, t, max(rel_db, -60.0), math.log(max(a, 1e-3)), math.log(max(t, 1e-3))


def voicing_probability(aper: float, tail: float, rel_db: float, weights=VOICING_WEIGHTS) -> float:
    """Calibrated P(voiced) of one frame from its aperiodicity, tail aperiodicity and level below the peak (dB).

    Returns
    -------
    float
        ``1 / (1 + exp(-w . voicing_features(...)))`` in (0, 1).
    """
    z = 0.0
    for w, f in zip(weights, voicing_features(aper, tail, rel_db)):
        z += w * f
    return 1.0 / (1.0 + math.exp(-min(max(z, -60.0), 60.0)))


@dataclass
class TrackerConfig:
    """Parameters of :class:`VoiceTracker` (samples are at ``sample_rate``, 16 kHz).

    ``fmin``/``fmax`` (Hz) bound the period search: 50-2000 Hz covers humming to whistling. ``width`` is YIN's
    integration window (its half is most of the analysis latency), ``hop`` the samples between frames.
    ``voicing_weights`` are the logistic voicing model (see :data:`VOICING_WEIGHTS`); a frame is voiced when its
    probability exceeds ``voicing_on`` (staying voiced down to ``voicing_off``). The ``hmm_*`` fields are the
    candidate tracker's (:func:`tonehost.dsp.pitch_hmm.hmm_step`; chosen on FDA 001-010 and synthetic voices only).
    """

    sample_rate: int = 16000
    hop: int = 32
    fmin: float = 50.0
    fmax: float = 2000.0
    width: int = 128  # YIN integration window
    threshold: float = 0.15
    octave_tolerance: float = 0.25
    voicing_on: float = 0.5
    voicing_off: float = 0.5
    hold_frames: int = 0  # unvoiced frames tolerated inside a note
    gate_db: float = -60.0  # frames quieter than this (power dB) are unvoiced, in a room no quieter (floor_*)
    loudness_window: int = 128
    median: bool = True
    median_blend_cents: float = 50.0  # ... and the reported f0 is the (log) mean of those of the median's three
    # frames within this many cents of it: a pitch step passes as the median alone, the estimate's noise averages
    # over three frames with no more delay (FDA 001-010 clean 0.8478 -> 0.8506, pink:10 0.806 -> 0.808,
    # reverb:0.3:10 0.812 -> 0.814, highpass:300 0.804 -> 0.806; bench.sung_synth unchanged; latency 8 ms); 0: off
    tail: int = 48  # newest samples whose periodicity is checked on their own (fast note ends)
    peak_release_db_s: float = 10.0  # fall rate of the running level peak (rel_db feature)
    missing_share: float = 0.03  # predominant_lag: fundamental counts as missing below this power share
    max_sub_cmnd: float = 0.6
    dc_cutoff_hz: float = 20.0
    onset_tail: float = 0.02  # a note may start on the newest samples' periodicity alone (tail below this) ...
    onset_aper: float = 0.5  # ... while the full window's aperiodicity is still below this
    # a continuity hint's multiple of YIN's first dip (an octave-up step read at the old period) does not win when
    # that dip is clear (CMND under clear_dip) unless the multiple is deeper by more than clear_margin; 0: off
    clear_dip: float = 0.1
    clear_margin: float = 0.05
    voicing_weights: tuple = VOICING_WEIGHTS
    # candidate tracking (tonehost.dsp.pitch_hmm): the reported f0 follows a forward HMM over the YIN dips
    track_candidates: bool = True
    hmm_bin_cents: float = 20.0
    hmm_cents_per_ms: float = 80.0  # transition band: the fastest pitch movement followed without a jump
    hmm_jump: float = 0.01
    hmm_floor: float = 0.01
    hmm_threshold_mean: float = 0.1  # mean of the Beta(2, b) YIN threshold distribution (pYIN's 0.1)
    hmm_absmin: float = 0.01
    hmm_reseed_margin: float = 0.1  # a clear YIN pick (CMND c under hmm_reseed_max) more than margin + scale x c
    hmm_reseed_max: float = 0.3  # deeper than the tracked dip restarts the track there; a fixed 0.1 let noise
    hmm_reseed_scale: float = 0.75  # restart it (a soprano in 10 dB pink noise dips 0.15-0.45 at every multiple
    # of her period, and the track jumped to whichever was deepest in a frame): bench.sung_synth pink:10 0.937 ->
    # 0.948; FDA 001-010 pink:10 0.8106 -> 0.8158, clean 0.8467 -> 0.8478, highpass:300 0.8052 -> 0.8039, reverb
    # unchanged; a clear pick (c ~ 0.02) restarts as before, step latencies unchanged (larger scales or margins
    # kept an abruptly ended legato phrase on its sixth sub-harmonic, tests/realtime/test_hum_leaps.py)
    hmm_mean_bins: int = 3  # a weak frame's f0 leans on the posterior's mean over the best bin +- this many (10,
    # +-200 cents, reached into a second mode: the last syllable's reverberant tail; FDA 001-010 reverb:0.4 0.708 ->
    # 0.722, highpass:300 0.800 -> 0.805, clean 0.8462 -> 0.8467; bench.sung_synth pink:10 0.9354 -> 0.9346)
    hmm_yin_weight: float = 0.3  # observation weight of the frame's own YIN pick (when under hmm_reseed_max)
    hmm_onset_seed: bool = True  # a voiced stretch starts at YIN's pick when the track's dip is clearly shallower
    hmm_sub_margin: float = 0.05  # a track on a multiple of YIN's clear pick's period restarts at the pick unless
    # its dip is deeper by more than this (pitch_hmm.hmm_step; negative: off)
    centre_times: bool = True  # offline (track_pitch): each f0 read at its own analysis centre (_CentreAligner)
    guess_median: int = 5  # offline unvoiced guess: causal median of this many frames' own estimates (1: none)
    # steady background tones (mains hum, a fan's whine): a periodic frame whose pitch has stayed within
    # background_cents for background_s, or sits within 20 cents and 6 dB of the last such tone, is background
    # (unvoiced) when its level is more than background_below_db under the performance level: the loudest voiced
    # window, falling performance_release_db_s while nothing is played, frozen while a background tone sounds,
    # starting at performance_db (dB power). A voice is never that steady; 0 below_db: off
    background_below_db: float = 25.0
    background_over_floor_db: float = 12.0  # ... and at most this far over the noise floor (floor_*): a tone that
    # rose out of a quiet room is played, however quiet (a -50 dB steady tone was background under the -20 dB
    # starting performance level)
    background_cents: float = 5.0
    # a second, wandering run follows a tone that IS the room's floor (frames within background_dip_over_floor_db of
    # it): a frame is the run's tone while its pitch is within background_max_cents of it or of its octave and the
    # window repeats at the tone's period nearly as well as at its own (CMND there at most background_dip +
    # background_dip_share x the frame's own over it); a miss restarts it only past one in four (each hit pays back
    # a quarter, at most a quarter of the run it needs owed), and louder sounds over the tone (notes, breaths, the
    # noise's peaks) hold it. It needs background_s once something 25 dB louder was voiced, background_unheard_s
    # before (a quiet take with no pause has its floor at its own level). A dull low tone's dip is flat, so its
    # period estimate wanders with the room's noise (a 50 Hz hum over a -60 dBFS room read 49.7-50.4 Hz from frame
    # to frame, 60 Hz 58-64 Hz where it stands 7 dB over the noise): it was never 5 cents steady for background_s
    # and played as a drone in every pause, while a sung note's vibrato or drift lifts the CMND at its old period
    # by 0.05-0.3 (tests/dsp/test_background_tones.py; chosen on synthetic hums and voices and FDA 001-010).
    # 0 dip: off
    background_dip: float = 0.01
    background_dip_share: float = 0.5
    background_max_cents: float = 100.0
    background_dip_over_floor_db: float = 3.0
    background_unheard_s: float = 0.4
    # ... except for a tone within background_mains_cents of 50 or 60 Hz, mains hum's fundamentals, far under any
    # voice's range (a bass's lowest notes are near 70-80 Hz): it needs background_s from the first frame (a take
    # that opened on hum over a room's noise played it for its first 0.4 s: bench.sung_synth hum:50:-30+pink:40
    # voicing false alarm 0.240 - the phrases' 0.2-0.5 s lead-ins - now 0.091); 0: off
    background_mains_cents: float = 50.0
    background_s: float = 0.1
    performance_db: float = -20.0
    performance_release_db_s: float = 1.0
    # the level gate follows the room: a frame under gate_db is unvoiced unless it stands floor_margin_db over the
    # noise floor (the quietest recent power over at least a period, smoothed over floor_smooth_s; it falls at
    # once and rises floor_rise_db_s), and a frame under gate_min_db always is. A quiet mic in a quiet room is
    # heard (a voice at -65 dBFS was never voiced under the fixed -60 dB gate); a steady hum or fan AT the floor
    # stays gated. floor_margin_db 6 and floor_smooth_s 0.03 were chosen on FDA 001-010 and synthetic hums only
    floor_margin_db: float = 6.0
    floor_rise_db_s: float = 1.0
    floor_smooth_s: float = 0.03
    gate_min_db: float = -78.0
    # note edges: for revoice_s after a note's end, a frame revoice_cents or more from its pitch and whose newest
    # samples do not repeat (tail aperiodicity end_tail or more) starts a note only with a confidence of
    # revoice_conf (an abruptly stopped note's last window dips at a multiple of its period: a voiced
    # frame two octaves down, which hum -> MIDI held as a 40 ms note); 0 s: off
    revoice_s: float = 0.01
    revoice_cents: float = 700.0
    revoice_conf: float = 0.8
    # ... and a voiced frame that falls revoice_cents or more below the note while its newest samples do not repeat
    # ends the note (tests/dsp/test_note_edges.py; chosen on synthetic tones and FDA 001-010)
    end_tail: float = 0.9
    # ... and a note that starts above high_start_hz (whistling) needs revoice_conf too: a stop consonant's burst
    # rings at 2 kHz for a frame or two (FDA rl001 at 0.91 s: one voiced frame at 2097 Hz, a chirp)
    high_start_hz: float = 1000.0
    # weak odd partials: YIN's pick is half the period when the mean squared difference at twice the pick is under
    # sub_octave_ratio of the pick's and its CMND sub_octave_margin under the pick's (dsp.yin.sub_octave_lag: a
    # tenor's /u/ at 155 Hz through a phone's 300 Hz high-pass read an octave up for a whole note); chosen on
    # bench.sung_synth and FDA 001-010; ratio 0: off
    sub_octave_ratio: float = SUB_OCTAVE_RATIO
    sub_octave_margin: float = SUB_OCTAVE_MARGIN

    @property
    def min_lag(self) -> int:
        return max(2, int(math.floor(self.sample_rate / self.fmax)))

    @property
    def max_lag(self) -> int:
        return int(math.ceil(self.sample_rate / self.fmin))

    @property
    def window(self) -> int:
        """Samples the pitch analysis looks at (YIN width, at least the period, + largest lag)."""
        return window_length(self.width, self.max_lag, True)

    @property
    def pitch_delay_s(self) -> float:
        """Centre of the pitch analysis behind the newest sample, in seconds.

        YIN here looks back ``width + T`` samples for a period T; this uses T at 150 Hz (a typical voice), plus
        the median's frame.
        """
        span = self.width + self.sample_rate / 150.0
        return 0.5 * span / self.sample_rate + (self.hop / self.sample_rate if self.median else 0.0)

    @property
    def loudness_delay_s(self) -> float:
        return 0.5 * self.loudness_window / self.sample_rate


@dataclass
class FeatureFrames:
    """Feature frames produced by one :meth:`VoiceTracker.process` call (arrays of equal length).

    ``f0_hz`` (Hz, held while unvoiced), ``confidence`` (calibrated P(voiced), 0..1), ``voiced`` (bool),
    ``power_db`` (DDSP-VST dB), ``loudness_db`` (magenta.js dB), ``raw_f0_hz`` (this frame's own estimate, Hz).
    """

    f0_hz: np.ndarray
    confidence: np.ndarray
    voiced: np.ndarray
    power_db: np.ndarray
    loudness_db: np.ndarray
    raw_f0_hz: np.ndarray

    def __len__(self) -> int:
        return len(self.f0_hz)


# Tracker state (float64 array) and parameters for :func:`_track_block`.
_S_FILL, _S_SINCE, _S_DCX, _S_DCY, _S_VOICED, _S_UNV_RUN, _S_V_RUN, _S_F0, _S_STABLE_F0, _S_STABLE_AGE, \
    _S_R0, _S_R1, _S_R2, _S_PEAK, _S_FRAMES, _S_BG_ANCHOR, _S_BG_RUN, _S_PERF, _S_BG_CENTS, _S_BG_DB, \
    _S_FLOOR, _S_SMOOTH, _S_BG_MISS, _S_VOICED_MAX, _S_BG_ANCHOR2, _S_BG_RUN2 = range(26)
_N_STATE = 26
_N_OUT = 9  # f0, conf, voiced, pw_db, ld_db, raw_f0, aper, tail, rel_db

#: The lowest input rate (Hz) :func:`track_pitch` and the instrument take: a voice's pitch needs at least its
#: first harmonics below Nyquist, and ``sample_rate=1`` made the resampler allocate 61 GiB for 16000 samples.
MIN_VOICE_RATE = 1000

#: The longest hop :class:`VoiceTracker` and :func:`track_pitch` take (samples at 16 kHz: 1 s). Longer hops are no
#: pitch track, and the HMM's transition kernel grows with the hop (its size is memory).
MAX_HOP = 16000


@njit(nogil=True, cache=True)
def _cmnd_at(cmnd, lag, min_lag, max_lag):
    """The CMND at a fractional ``lag`` (linear between its two whole lags); 2.0 outside ``[min_lag, max_lag - 1)``."""
    if lag < min_lag or lag >= max_lag - 1:
        return 2.0
    i = int(lag)
    f = lag - i
    return cmnd[i] * (1.0 - f) + cmnd[i + 1] * f


@njit(nogil=True, cache=True)
def _same_tone(cmnd, period, cents, tone_cents, tol_cents, max_cents, dip, share, min_lag, max_lag):
    """Whether a frame whose period is ``period`` (``cents`` re 55 Hz) still holds the tone at ``tone_cents``: its
    pitch within ``tol_cents``; or within ``max_cents`` of the tone or of its octave (up or down) while the window
    repeats at the tone's period within ``dip + share * c`` (CMND) of its own CMND ``c``
    (:attr:`TrackerConfig.background_dip`: a flat dip's estimate wanders with noise; ``dip`` 0: the first test only).
    """
    off = abs(cents - tone_cents)
    if off <= tol_cents:
        return True
    if dip <= 0.0 or (off > max_cents and abs(off - 1200.0) > max_cents):  # (or an octave off: the tracker's own
        return False                                                           # octave error on a noisy tone)
    tone_lag = period * 2.0 ** ((cents - tone_cents) / 1200.0)
    here = _cmnd_at(cmnd, period, min_lag, max_lag)
    return _cmnd_at(cmnd, tone_lag, min_lag, max_lag) - here <= dip + share * here


#: A known background tone stays background within this many dB of its level, also where that is this much
#: less under the performance level than a new one must be (a 50 Hz hum's power in the short window swings
#: +-4 dB with its phase: at a take's start, under the assumed performance level, it flickered voiced)
_BG_SAME_DB = 6.0

#: Frames under this aperiodicity (CMND at the period) are looked at as a possible background tone. A hum that
#: stands 3 dB over the room's noise reads 0.3-0.4 on a frame in ten (was: under 0.3), which the voicing model,
#: with the running peak decayed to the hum, voiced at 0.50-0.60: 8-10% of the pauses
_BG_MAX_APER = 0.5

#: Mains hum's fundamentals (50 and 60 Hz) in cents over 55 Hz, the background runs' pitch scale.
_MAINS_CENTS = (1200.0 * math.log2(50.0 / 55.0), 1200.0 * math.log2(60.0 / 55.0))


@njit(nogil=True, cache=True)
def _mains(cents, within):
    """Whether a pitch (cents over 55 Hz) is within ``within`` cents of 50 or 60 Hz."""
    return abs(cents - _MAINS_CENTS[0]) <= within or abs(cents - _MAINS_CENTS[1]) <= within


@njit(nogil=True, cache=True)
def _blend3(med, a, b, c, cents):
    """The geometric mean of those of ``a, b, c`` (Hz) within ``cents`` of their median ``med``."""
    acc = 0.0
    n = 0
    for v in (a, b, c):
        if v > 0.0 and abs(1200.0 * math.log2(v / med)) <= cents:
            acc += math.log2(v)
            n += 1
    return 2.0 ** (acc / n) if n else med


@njit(nogil=True, cache=True)
def _track_block(x, hist, keep, st, hop, width, loud_win, min_lag, max_lag, window, threshold, oct_tol, tail_n,
                 missing_share, max_sub_cmnd, gate_db, on, off, hold, use_median, dc_coeff, peak_step,
                 onset_tail, onset_aper, weights, d, cmnd, out, use_hmm, hmm_par, kern, post, hmm_work, lags, dips,
                 clear_dip, clear_margin, bg_par):
    """The whole :class:`VoiceTracker` loop for one block of samples (appending, DC blocking, one frame per
    ``hop``); writes the frames' values to ``out[k, :]`` and returns how many frames it completed."""
    n = x.shape[0]
    n_out = 0
    pos = 0
    sr = 16000.0
    while pos < n:
        fill = int(st[_S_FILL])
        take = min(n - pos, hop - int(st[_S_SINCE]))
        if fill + take > hist.shape[0]:
            for i in range(keep):
                hist[i] = hist[fill - keep + i]
            fill = keep
        # DC blocker into the history
        xp = st[_S_DCX]
        yp = st[_S_DCY]
        for i in range(take):
            v = x[pos + i]
            yp = v - xp + dc_coeff * yp
            xp = v
            hist[fill + i] = yp
        st[_S_DCX] = xp
        st[_S_DCY] = yp
        fill += take
        st[_S_FILL] = fill
        pos += take
        st[_S_SINCE] += take
        if int(st[_S_SINCE]) < hop:
            break
        st[_S_SINCE] = 0
        end = fill
        ms = 0.0
        for i in range(end - loud_win, end):
            ms += hist[i] * hist[i]
        ms /= loud_win
        pw_db = power_db(ms)
        ld_db = loudness_db(ms)
        hint = st[_S_STABLE_F0] if st[_S_STABLE_AGE] < 50 else 0.0
        hint_lag = sr / hint if hint > 0 else 0.0
        period, aper = yin_frame(hist, end - window, width, min_lag, max_lag, threshold, hint_lag, oct_tol, d,
                                 cmnd, True)
        if clear_dip > 0.0 and period > 0.0:
            # YIN's own first dip under the threshold, when clear, is not overruled by the continuity hint's
            # multiple of it (a periodic signal dips at every multiple of its period; the hint keeps an octave-up
            # step at the old period for ~25 ms): the shorter period wins unless the multiple is clearly deeper
            p0 = yin_first_dip(cmnd, min_lag, max_lag, threshold)
            c0 = cmnd[p0]
            if c0 < clear_dip:
                r = period / p0
                k = math.floor(r + 0.5)
                if k >= 2 and abs(r - k) < 0.06 * k and c0 <= aper + clear_margin:
                    period = _refine(cmnd, p0, max_lag)
                    aper = c0
        # the voicing features (periodicity, the newest samples', the level window) stay YIN's own pick's when only
        # the double below replaces it: the voicing model was fitted on those
        yin_period = period
        v_period = period
        v_aper = aper
        if bg_par[15] > 0.0 and period > 0.0:
            # weak odd partials (a low voice through a small mic singing /u/): the period is twice YIN's pick
            period, aper = sub_octave_lag(d, cmnd, period, aper, min_lag, max_lag, bg_par[15], bg_par[16])
        span = min(window, int(max(width, period) + 2 * period))
        pred = predominant_lag(hist, end - span, span, cmnd, period, min_lag, max_lag, missing_share,
                               max_sub_cmnd)
        if pred != period:
            period = pred
            aper = cmnd[int(pred + 0.5)]
            v_period = period
            v_aper = aper
        raw_f0 = sr / period if period > 0 else 0.0
        if use_hmm:
            # the candidate track hears the same: the dip at YIN's own pick moves to the period chosen over it
            nb = post.shape[0]
            raw_f0 = hmm_step(cmnd, min_lag, max_lag, sr, hmm_par, kern, post, hmm_work[0:nb],
                              hmm_work[nb:2 * nb], lags, dips[0], dips[1],
                              yin_period if period != yin_period else 0.0, period, period, aper)
        tail = tail_aperiodicity(hist, end, tail_n, v_period)
        w = int(max(width, v_period + 0.5))
        msw = 0.0
        for i in range(end - w, end):
            msw += hist[i] * hist[i]
        pw_win = power_db(msw / w)
        st[_S_PEAK] = max(pw_win, st[_S_PEAK] - peak_step)
        # the gate follows the room (TrackerConfig.floor_*): the noise floor (the power over at least a period,
        # smoothed over floor_smooth_s, so neither a hum's phase nor its beating moves it) falls with the quietest
        # frame at once and rises floor_rise_db_s; a frame is gated under gate_db unless it stands
        # floor_margin_db over the floor, and always under gate_min_db
        if st[_S_FRAMES] > bg_par[8]:
            st[_S_SMOOTH] += bg_par[7] * (msw / w - st[_S_SMOOTH])
            st[_S_FLOOR] = min(power_db(st[_S_SMOOTH]), st[_S_FLOOR] + bg_par[5])
        elif st[_S_FRAMES] == bg_par[8]:  # the first frame whose window holds no history before the stream
            st[_S_SMOOTH] = msw / w
            st[_S_FLOOR] = power_db(msw / w)
        gate = gate_db if pw_win < st[_S_FLOOR] + bg_par[4] else bg_par[6]
        rel_db = pw_win - st[_S_PEAK]
        # a steady tone well under the performance level is background (TrackerConfig.background_*)
        background = False
        if bg_par[0] > 0.0:
            # a frame near the floor (within background_dip_over_floor_db) may hold a wandering tone
            near = pw_win < st[_S_FLOOR] + bg_par[20]
            if period > 0.0 and v_aper < _BG_MAX_APER:
                cents = 1200.0 * math.log2(sr / period / 55.0)
                # the steady run: within background_cents of its first frame
                if st[_S_BG_RUN] > 0.0 and abs(cents - st[_S_BG_ANCHOR]) <= bg_par[1]:
                    st[_S_BG_RUN] += 1.0
                else:
                    st[_S_BG_ANCHOR] = cents
                    st[_S_BG_RUN] = 1.0
                # the wandering run, at the floor only (TrackerConfig.background_dip); before anything 25 dB louder
                # was voiced (a quiet take with no pause has its floor at its own level) it must last
                # background_unheard_s
                heard = pw_win < st[_S_VOICED_MAX] - bg_par[0]
                # (a run on mains hum's 50 or 60 Hz needs background_s from the start, and its frames need no dip
                # test: no voice sings there, and a hum's broad dip fails it on one frame in four over noise)
                mains = bg_par[17] > 0.0 and _mains(st[_S_BG_ANCHOR2], bg_par[23])  # (the run is off at dip 0)
                need = bg_par[2] if heard or mains else bg_par[21]
                held = st[_S_BG_RUN2] > 0.0 and (
                    (mains and _mains(cents, bg_par[23]) and abs(cents - st[_S_BG_ANCHOR2]) <= 2.0 * bg_par[23])
                    or _same_tone(cmnd, period, cents, st[_S_BG_ANCHOR2], bg_par[1], bg_par[17], bg_par[18],
                                  bg_par[19], min_lag, max_lag))
                if not near:
                    pass  # (a louder sound over the tone - a note, a breath, the noise's peaks - holds the run)
                elif held:
                    st[_S_BG_RUN2] += 1.0
                    st[_S_BG_MISS] = max(0.0, st[_S_BG_MISS] - 0.25)
                elif st[_S_BG_RUN2] > 0.0 and st[_S_BG_MISS] < 0.25 * min(st[_S_BG_RUN2], need):
                    # a noisy tone's odd frame (up to one in four) does not restart the run, and once the run is
                    # long enough it is the tone too
                    st[_S_BG_MISS] += 1.0
                    held = st[_S_BG_RUN2] >= need
                else:
                    st[_S_BG_ANCHOR2] = cents
                    st[_S_BG_RUN2] = 1.0
                    st[_S_BG_MISS] = 0.0
                if pw_win < st[_S_FLOOR] + bg_par[9]:
                    if pw_win < st[_S_PERF] - bg_par[0] and (st[_S_BG_RUN] >= bg_par[2]
                                                             or (held and st[_S_BG_RUN2] >= need)):
                        background = True
                        st[_S_BG_CENTS] = st[_S_BG_ANCHOR] if st[_S_BG_RUN] >= bg_par[2] else st[_S_BG_ANCHOR2]
                        st[_S_BG_DB] = pw_win
                    elif (st[_S_BG_DB] > -900.0 and abs(pw_win - st[_S_BG_DB]) <= _BG_SAME_DB
                          and pw_win < st[_S_PERF] - bg_par[0] + _BG_SAME_DB
                          and _same_tone(cmnd, period, cents, st[_S_BG_CENTS], 20.0, bg_par[17],
                                         bg_par[18] if near or abs(pw_win - st[_S_BG_DB]) <= bg_par[20] else 0.0,
                                         bg_par[19], min_lag, max_lag)):
                        background = True
            else:
                st[_S_BG_RUN] = 0.0  # (the wandering run goes on: the room or a louder sound over the tone)
        # calibrated voicing probability (voicing_probability)
        a = min(max(v_aper, 0.0), 1.5)
        t = min(max(tail, 0.0), 1.5)
        z = (weights[0] + weights[1] * a + weights[2] * t + weights[3] * max(rel_db, -60.0)
             + weights[4] * math.log(max(a, 1e-3)) + weights[5] * math.log(max(t, 1e-3)))
        z = min(max(z, -60.0), 60.0)
        conf = 1.0 / (1.0 + math.exp(-z))
        if pw_db < gate or background:
            conf = 0.0
        voiced = st[_S_VOICED] > 0.5
        if (voiced and bg_par[10] > 0.0 and raw_f0 > 0.0 and st[_S_F0] > 0.0 and tail >= bg_par[13]
                and math.log2(st[_S_F0] / raw_f0) * 1200.0 >= bg_par[11]):
            # a note that stops abruptly: its last windows, part silence, dip deepest at a multiple of the period
            # (a C5 read as 52 Hz for two frames) while the newest samples no longer repeat (TrackerConfig.revoice_*)
            conf = min(conf, off - 1e-9)
            st[_S_UNV_RUN] = hold
        if voiced:
            if conf >= off:
                st[_S_UNV_RUN] = 0
            else:
                st[_S_UNV_RUN] += 1
                if st[_S_UNV_RUN] > hold or pw_db < gate or background:
                    voiced = False
        elif (conf >= on or (tail < onset_tail and v_aper < onset_aper and rel_db > -20.0 and pw_db >= gate
                             and not background)) and not (
                st[_S_STABLE_AGE] < bg_par[10] and raw_f0 > 0.0 and st[_S_STABLE_F0] > 0.0 and conf < bg_par[12]
                and tail >= bg_par[13] and abs(math.log2(raw_f0 / st[_S_STABLE_F0])) * 1200.0 >= bg_par[11]) \
                and not (raw_f0 > bg_par[14] and conf < bg_par[12]):
            # (not a frame just after a note's end, far from its pitch, unless it is clearly voiced: the end of
            # an abruptly stopped note dips at a multiple of its period, TrackerConfig.revoice_*)
            # a note start: the newest samples already repeat at the period while the full window still
            # holds the silence before the note (its aperiodicity lags by half the window)
            voiced = True
            st[_S_UNV_RUN] = 0
            st[_S_V_RUN] = 0
            if use_hmm and hmm_par[10] > 0.0 and period > 0 and raw_f0 > 0:
                # the voicing decision is YIN's (its period's periodicity): where the track's own dip is clearly
                # shallower than YIN's pick, the voiced stretch starts at YIN's pick
                t_h = min(int(sr / raw_f0 + 0.5), max_lag - 1)
                c_h = min(cmnd[t_h], cmnd[max(t_h - 1, 1)], cmnd[t_h + 1])
                if c_h > aper + hmm_par[6]:
                    raw_f0 = sr / period
                    hmm_seed(post, raw_f0, hmm_par[0], hmm_par[1])
            st[_S_R0] = raw_f0
            st[_S_R1] = raw_f0
            st[_S_R2] = raw_f0
            if raw_f0 > 0.0:
                # the note's first frame reports its own period: a start on the newest samples' periodicity alone
                # (its confidence under voicing_off) reported the last note's pitch for a frame (hum -> MIDI
                # played a 40 ms note at that pitch before each note that followed a pause)
                st[_S_F0] = raw_f0
        st[_S_VOICED] = 1.0 if voiced else 0.0
        if not background:
            st[_S_PERF] = max(pw_win if voiced else -80.0, st[_S_PERF] - bg_par[3])
            if voiced:
                st[_S_VOICED_MAX] = max(st[_S_VOICED_MAX], pw_win)
        if voiced and conf >= off:
            st[_S_R0] = st[_S_R1]
            st[_S_R1] = st[_S_R2]
            st[_S_R2] = raw_f0
            f0 = median3(st[_S_R0], st[_S_R1], st[_S_R2]) if use_median else raw_f0
            if use_median and bg_par[22] > 0.0 and f0 > 0.0:
                f0 = _blend3(f0, st[_S_R0], st[_S_R1], st[_S_R2], bg_par[22])
            st[_S_F0] = f0
            st[_S_V_RUN] += 1
            if st[_S_V_RUN] >= 3:
                st[_S_STABLE_F0] = f0
                st[_S_STABLE_AGE] = 0
        else:
            st[_S_STABLE_AGE] += 1
        if not voiced:
            st[_S_V_RUN] = 0
        st[_S_FRAMES] += 1
        out[n_out, 0] = st[_S_F0]
        out[n_out, 1] = conf
        out[n_out, 2] = 1.0 if voiced else 0.0
        out[n_out, 3] = pw_db
        out[n_out, 4] = ld_db
        out[n_out, 5] = raw_f0
        out[n_out, 6] = aper
        out[n_out, 7] = tail
        out[n_out, 8] = rel_db
        n_out += 1
    return n_out


#: TrackerConfig fields with a range (:func:`tonehost.dsp._checks.check_int` / ``check_real``): ``(lo, hi)`` or
#: ``(lo, hi, lo_open, hi_open)``; every other number need only be finite.
_CONFIG_BOUNDS = {
    "sample_rate": (1000, None), "hop": (1, MAX_HOP), "width": (1, None), "loudness_window": (1, None),
    "tail": (1, None), "hold_frames": (0, None), "hmm_mean_bins": (0, None), "guess_median": (1, None),
    "fmin": (0.0, math.inf, True, False), "hmm_bin_cents": (0.0, math.inf, True, False),
    "hmm_cents_per_ms": (0.0, math.inf, True, False), "hmm_threshold_mean": (0.0, 1.0, True, True),
    "floor_smooth_s": (0.0, math.inf, True, False), "floor_rise_db_s": (0.0, math.inf),
    "performance_release_db_s": (0.0, math.inf), "peak_release_db_s": (0.0, math.inf),
    "dc_cutoff_hz": (0.0, math.inf), "median_blend_cents": (0.0, math.inf), "background_mains_cents": (0.0, math.inf),
}


def _check_config(c) -> None:
    """Check every field of a :class:`TrackerConfig` before the tracker's kernel sees it.

    A bool field must be True or False; an int field a whole number (an int, not 128.0); a float field a finite
    number (a NaN in any threshold silently switched its rule off, or on for good); ``voicing_weights`` six finite
    numbers; the fields of ``_CONFIG_BOUNDS`` inside their range (the range checks are
    :func:`tonehost.dsp._checks.check_int` and ``check_real``); ``fmax`` above ``fmin`` and under half the sample
    rate.

    Raises
    ------
    ArgumentError
        ``TrackerConfig.NAME must be ..., got VALUE`` for the first field out of place.
    """
    import dataclasses
    import numbers

    if not isinstance(c, TrackerConfig):
        raise ArgumentError(f"config must be a TrackerConfig, got {type(c).__name__}")
    for f in dataclasses.fields(TrackerConfig):
        v, name, kind = getattr(c, f.name), f"TrackerConfig.{f.name}", type(f.default)
        if kind is bool:
            if not isinstance(v, (bool, np.bool_)):
                raise ArgumentError(f"{name} must be True or False, got {v!r}")
        elif kind is int:
            if not isinstance(v, numbers.Integral) or isinstance(v, bool):  # (check_int takes 128.0: not here)
                raise ArgumentError(f"{name} must be a whole number, got {v!r}")
            check_int(name, v, *_CONFIG_BOUNDS[f.name])
        elif kind is float:
            check_real(name, v, *_CONFIG_BOUNDS.get(f.name, (-math.inf, math.inf)))
        else:  # voicing_weights
            try:
                ok = len(v) == len(f.default) and all(isinstance(w, numbers.Real) and math.isfinite(w) for w in v)
            except TypeError:
                ok = False
            if not ok:
                raise ArgumentError(f"{name} must be {len(f.default)} finite numbers, got {v!r}")
    if not c.fmin < c.fmax < c.sample_rate / 2:
        raise ArgumentError(f"TrackerConfig.fmax must be above fmin ({c.fmin} Hz) and under half the sample rate "
                         f"({c.sample_rate / 2:g} Hz), got {c.fmax!r}")


class VoiceTracker:
    """Streaming f0/confidence/loudness tracker (see the module docstring).

    The per-sample and per-frame work runs in one Numba ``nogil`` kernel per :meth:`process` call.

    Parameters
    ----------
    config : TrackerConfig, optional

    Raises
    ------
    ArgumentError
        ``config`` is no TrackerConfig, or one of its fields is out of place (a NaN, a float where a count goes, a
        value out of its range): one line naming the field (:func:`_check_config`).
    """

    def __init__(self, config: TrackerConfig | None = None):
        self.cfg = config or TrackerConfig()
        c = self.cfg
        _check_config(c)
        keep = max(c.window, c.loudness_window)
        # _track_block appends up to one hop after the kept history before it shifts: room for any hop
        self._hist = np.zeros(keep + max(4096, int(c.hop)), np.float64)
        self._keep = keep
        self._d, self._cmnd = scratch(c.max_lag)
        self._state = np.zeros(_N_STATE)
        self._weights = np.asarray(c.voicing_weights, np.float64)
        self._dc_coeff = 1.0 - 2.0 * math.pi * c.dc_cutoff_hz / c.sample_rate
        self._peak_step = c.peak_release_db_s * c.hop / c.sample_rate
        self._out = np.zeros((64, _N_OUT))
        # candidate tracking (tonehost.dsp.pitch_hmm)
        # bins over every period the dips can have (interpolated lags reach half a sample past the search range)
        f_lo, f_hi = c.sample_rate / (c.max_lag + 1.0), c.sample_rate / max(c.min_lag - 1.0, 1.0)
        nb = n_bins(f_lo, f_hi, c.hmm_bin_cents)
        band = max(1, int(round(c.hmm_cents_per_ms * 1000.0 * c.hop / c.sample_rate / c.hmm_bin_cents)))
        self._kern = transition_kernel(band)
        self._post = np.zeros(nb)
        self._hmm_work = np.zeros(2 * nb)
        self._lags = np.zeros(c.max_lag + 2, np.int64)
        self._dips = np.zeros((2, c.max_lag + 2))
        beta_b = 2.0 / c.hmm_threshold_mean - 2.0
        self._bg_par = np.array([c.background_below_db, c.background_cents,
                                 max(1.0, round(c.background_s * c.sample_rate / c.hop)),
                                 c.performance_release_db_s * c.hop / c.sample_rate, c.floor_margin_db,
                                 c.floor_rise_db_s * c.hop / c.sample_rate, c.gate_min_db,
                                 min(1.0, c.hop / (c.floor_smooth_s * c.sample_rate)), -(-c.window // c.hop),
                                 c.background_over_floor_db, max(0.0, round(c.revoice_s * c.sample_rate / c.hop)),
                                 c.revoice_cents, c.revoice_conf, c.end_tail, c.high_start_hz,
                                 c.sub_octave_ratio, c.sub_octave_margin, c.background_max_cents,
                                 c.background_dip, c.background_dip_share, c.background_dip_over_floor_db,
                                 max(1.0, round(c.background_unheard_s * c.sample_rate / c.hop)),
                                 c.median_blend_cents, c.background_mains_cents])
        self._hmm_par = np.array([f_lo, c.hmm_bin_cents, beta_b, c.hmm_absmin, c.hmm_floor, c.hmm_jump,
                                  c.hmm_reseed_margin, c.hmm_reseed_max, c.hmm_yin_weight, c.hmm_mean_bins,
                                  1.0 if c.hmm_onset_seed else 0.0, c.hmm_sub_margin, c.hmm_reseed_scale])
        #: When a list, every frame appends its voicing features (aper, tail_aper, rel_db, pw_db, raw_f0).
        self.features_log: list | None = None
        #: NaN/inf input samples :meth:`process` replaced by zeros so far.
        self.non_finite = 0
        self.reset()

    def reset(self) -> None:
        """Forget the signal and the note state."""
        self._hist[:] = 0.0
        st = self._state
        st[:] = 0.0
        st[_S_FILL] = self._keep  # history starts as silence
        st[_S_STABLE_AGE] = 1e9
        st[_S_PEAK] = -80.0
        st[_S_PERF] = self.cfg.performance_db
        st[_S_BG_DB] = -1000.0  # no background tone heard yet
        st[_S_VOICED_MAX] = -1000.0  # nor anything voiced
        st[_S_FLOOR] = self.cfg.gate_db - self.cfg.floor_margin_db  # the gate starts at gate_db
        st[_S_SMOOTH] = 10.0 ** (st[_S_FLOOR] / 10.0)
        hmm_reset(self._post)

    @property
    def frames_out(self) -> int:
        """Frames completed since the start (or :meth:`reset`)."""
        return int(self._state[_S_FRAMES])

    # -- streaming --------------------------------------------------------------------------------------
    def process(self, x: np.ndarray) -> FeatureFrames:
        """Push samples; return the feature frames completed by them (possibly none).

        Parameters
        ----------
        x : numpy.ndarray, shape (n,)
            Samples at ``config.sample_rate`` (16 kHz), any block size. NaN/inf samples are taken as silence
            (counted in :attr:`non_finite`).

        Returns
        -------
        FeatureFrames
            One entry per ``config.hop`` samples completed.
        """
        # a NaN made the DC blocker's state NaN: the tracker (and the instrument behind it) stayed deaf for good
        x, bad = zero_non_finite(np.ascontiguousarray(x, np.float64).reshape(-1))
        self.non_finite += bad
        c = self.cfg
        need = len(x) // c.hop + 2
        if len(self._out) < need:
            self._out = np.zeros((need, _N_OUT))
        k = _track_block(x, self._hist, self._keep, self._state, c.hop, c.width, c.loudness_window, c.min_lag,
                         c.max_lag, c.window, c.threshold, c.octave_tolerance, c.tail, c.missing_share,
                         c.max_sub_cmnd, c.gate_db, c.voicing_on, c.voicing_off, c.hold_frames, c.median,
                         self._dc_coeff, self._peak_step, c.onset_tail, c.onset_aper, self._weights, self._d,
                         self._cmnd, self._out, c.track_candidates, self._hmm_par, self._kern, self._post,
                         self._hmm_work, self._lags, self._dips, c.clear_dip, c.clear_margin, self._bg_par)
        o = self._out[:k]
        if self.features_log is not None:
            self.features_log.extend(zip(o[:, 6].tolist(), o[:, 7].tolist(), o[:, 8].tolist(), o[:, 3].tolist(),
                                         o[:, 5].tolist()))
        return FeatureFrames(o[:, 0].astype(np.float32), o[:, 1].astype(np.float32), o[:, 2] > 0.5,
                             o[:, 3].astype(np.float32), o[:, 4].astype(np.float32), o[:, 5].astype(np.float32))


# ---------------------------------------------------------------------------------------------- latency

def voice_like(f0_hz: np.ndarray, sample_rate: int = 16000, amplitude: float = 0.3,
               n_harmonics: int = 12) -> np.ndarray:
    """A voice-like test tone following ``f0_hz`` (one value per sample): harmonics falling 6 dB per octave.

    Parameters
    ----------
    f0_hz : numpy.ndarray, shape (n,)
        Instantaneous f0 in Hz per sample (0 = silence).
    sample_rate : int
    amplitude : float
        Peak-ish amplitude of the sum.
    n_harmonics : int
        Harmonics below Nyquist are summed (amplitude 1/k).

    Returns
    -------
    numpy.ndarray, float64, shape (n,)
    """
    f = np.asarray(f0_hz, np.float64)
    phase = 2.0 * np.pi * np.cumsum(f) / sample_rate
    y = np.zeros(len(f))
    for k in range(1, n_harmonics + 1):
        y += np.where(k * f < 0.45 * sample_rate, np.sin(k * phase) / k, 0.0)
    return amplitude * y / 1.6


def measure_tracker_latency(config: TrackerConfig | None = None, f_from: float = 220.0, f_to: float = 330.0,
                            glide_cents_per_s: float = 2400.0) -> dict[str, float]:
    """Measured analysis latency of :class:`VoiceTracker`: how long after a pitch change the tracker reports it.

    A frame counts as reported when it is *available*: at the input sample that completed it. Two signals
    (voice-like, :func:`voice_like`):

    - step: ``f_from`` for 0.5 s, then ``f_to``; ``step_ms`` = time from the step to the first frame from which
      on f0 stays within 50 cents of ``f_to`` (for 20 ms);
    - glide: ``f_from`` for 0.3 s, then an exponential glide at ``glide_cents_per_s`` for 0.5 s; ``glide_ms`` =
      the median, over the glide's middle, of (frame availability time - the time at which the input had the
      frame's f0);
    - onset: silence then ``f_from``; ``voicing_ms`` = time from the onset to the first voiced frame.

    Returns
    -------
    dict
        ``step_ms``, ``glide_ms``, ``voicing_ms`` (NaN when never reached).
    """
    cfg = config or TrackerConfig()
    sr = cfg.sample_rate
    out = {}
    # step
    n0, n1 = sr // 2, sr // 2
    f = np.r_[np.full(n0, f_from), np.full(n1, f_to)]
    fr = VoiceTracker(cfg).process(voice_like(f, sr))
    avail = np.arange(1, len(fr) + 1) * cfg.hop / sr
    ok = fr.voiced & (np.abs(1200 * np.log2(np.maximum(fr.f0_hz, 1e-3) / f_to)) < 50)
    need = max(1, int(0.020 * sr / cfg.hop))
    step_ms = float("nan")
    for i in np.flatnonzero(ok & (avail > 0.5)):
        if ok[i:i + need].all():
            step_ms = 1000.0 * (avail[i] - 0.5)
            break
    out["step_ms"] = round(step_ms, 6)
    # glide
    t = np.arange(int(0.3 * sr) + int(0.5 * sr) + sr // 5) / sr
    cents = np.clip(t - 0.3, 0.0, 0.5) * glide_cents_per_s
    f = f_from * 2.0 ** (cents / 1200.0)
    fr = VoiceTracker(cfg).process(voice_like(f, sr))
    avail = np.arange(1, len(fr) + 1) * cfg.hop / sr
    mid = fr.voiced & (avail > 0.3 + 0.1) & (avail < 0.3 + 0.45)
    got = 1200.0 * np.log2(np.maximum(fr.f0_hz[mid], 1e-3) / f_from)
    t_true = 0.3 + got / glide_cents_per_s
    out["glide_ms"] = round(float(1000.0 * np.median(avail[mid] - t_true)), 6) if mid.any() else float("nan")
    # onset
    f = np.r_[np.zeros(sr // 4), np.full(sr // 4, f_from)]
    fr = VoiceTracker(cfg).process(voice_like(f, sr))
    avail = np.arange(1, len(fr) + 1) * cfg.hop / sr
    on = np.flatnonzero(fr.voiced & (avail > 0.25))
    out["voicing_ms"] = round(float(1000.0 * (avail[on[0]] - 0.25)), 6) if len(on) else float("nan")
    return out


# ---------------------------------------------------------------------------------------------- offline

def track_pitch(audio: np.ndarray, sample_rate: int, hop_length: int | None = None,
                config: TrackerConfig | None = None, unvoiced_guess: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f0 of a whole recording with the live tracker (:class:`VoiceTracker`), as ``tonehost pitch`` writes it.

    Parameters
    ----------
    audio : numpy.ndarray, shape (n,) or (n, channels)
        Samples at ``sample_rate`` (channels are averaged): float, or whole-number PCM (int16, int32, uint8)
        scaled to [-1, 1) as soundfile reads it. NaN/inf samples are replaced by silence with one
        ``RuntimeWarning`` giving their count (one NaN used to silence the tracker for the rest of the file).
    sample_rate : int
        Rate of ``audio`` in Hz; resampled to the tracker's 16 kHz (:class:`tonehost.dsp.resample.Resampler`, streaming).
    hop_length : int, optional
        Samples between frames at 16 kHz (default: the tracker's hop, 32 = 2 ms, 500 frames/s).
    config : TrackerConfig, optional
        Tracker parameters (its ``hop`` is replaced by ``hop_length``).
    unvoiced_guess : bool
        Where unvoiced, return minus the frame's f0 guess instead of 0 (the MIREX / mir_eval convention: raw pitch
        accuracy then scores the pitch whatever the voicing decision): the median of the newest
        ``config.guess_median`` frames' own estimates (causal; read at its own centre, that many frames back).

    Returns
    -------
    times : numpy.ndarray, float64, shape (frames,)
        Centre of each frame's pitch analysis window in seconds (the tracker's delay removed).
    f0_hz : numpy.ndarray, float32, shape (frames,)
        f0 in Hz; 0 where the tracker says unvoiced (``-estimate`` with ``unvoiced_guess``).
    confidence : numpy.ndarray, float32, shape (frames,)
        Calibrated probability that the frame is voiced (the logistic model of :data:`VOICING_WEIGHTS`; 0
        below the energy gate).

    Raises
    ------
    ArgumentError
        ``hop_length`` not a whole number from 1 to :data:`MAX_HOP` (16000 = 1 s); ``sample_rate`` not a whole
        number of Hz from :data:`MIN_VOICE_RATE` (1000) to :data:`~tonehost.dsp._checks.MAX_RATE`; ``audio`` a file
        name, not numeric, more
        than 2-D, or ``[channels, n]`` (librosa's layout, which used to give no frames and no error).
    """
    check_audio(audio)
    times, f0, conf = [], [], []
    for t, f, c, _, _ in track_pitch_blocks([audio], sample_rate, hop_length, config, unvoiced_guess):
        times.append(t)
        f0.append(f)
        conf.append(c)
    if not times:
        return np.zeros(0), np.zeros(0, np.float32), np.zeros(0, np.float32)
    return np.concatenate(times), np.concatenate(f0), np.concatenate(conf)


class _CentreAligner:
    """Offline: each frame's f0 moved to the centre of its own analysis window.

    The stream stamps every frame at one delay (:attr:`TrackerConfig.pitch_delay_s`, YIN's span for a 150 Hz
    voice), but a frame with period T looked at ``max(width, T) + T`` samples: its centre lies
    ``(max(width, T) + T) / 2`` samples (plus the median's frame) behind the newest sample - 3 ms further back than
    the stamp for a 100 Hz voice. :meth:`push` takes frames as they complete and returns those whose f0 can be read
    at the stamp times from the frames' own centres: linear interpolation, for a voiced frame between the frames of
    its own voiced run (never from the guesses of unvoiced frames next to it, nor across a gap). Voicing,
    confidence and loudness stay where the stream puts them. Needs the frames up to ``max_lag`` samples later, so
    it holds a few back until ``final``.
    """

    def __init__(self, cfg: TrackerConfig):
        self.cfg = cfg
        sr = cfg.sample_rate
        self.guess_delay_s = 0.5 * (max(1, cfg.guess_median) - 1) * cfg.hop / sr  # the unvoiced guess's median
        self.max_centre_s = (0.5 * (max(cfg.width, cfg.max_lag) + cfg.max_lag) / sr
                             + max(cfg.hop / sr, self.guess_delay_s))
        self.keep = int(math.ceil(2 * self.max_centre_s * sr / cfg.hop)) + 4
        # avail, est, true centre time, conf, loud, voiced, done, voiced run (-1: unvoiced)
        self.buf = [np.zeros(0) for _ in range(8)]
        self.runs = 0
        self.was_voiced = False

    def push(self, avail, est, fr, final):
        """Add frames (their stream times ``avail`` in s, f0 estimates in Hz, and ``fr``); return the settled ones
        as ``(avail, f0 at the stamp, confidence, loudness_db, voiced)``."""
        c = self.cfg
        sr = c.sample_rate
        period = sr / np.maximum(est, 1.0)
        med = np.where(fr.voiced, c.hop / sr if c.median else 0.0, self.guess_delay_s)
        centre = 0.5 * (np.maximum(c.width, period) + period) / sr + med
        v = np.asarray(fr.voiced, bool)
        starts = v & ~np.r_[self.was_voiced, v[:-1]]
        run = np.where(v, self.runs + np.cumsum(starts), -1).astype(np.float64)
        self.runs += int(starts.sum())
        if len(v):
            self.was_voiced = bool(v[-1])
        new = [avail, est, avail - centre, fr.confidence.astype(np.float64), fr.loudness_db.astype(np.float64),
               v.astype(np.float64), np.zeros(len(avail)), run]
        b = [np.concatenate([a, n]) for a, n in zip(self.buf, new)]
        stamp = b[0] - c.pitch_delay_s
        ready = b[6] == 0
        if not final and len(b[0]):
            # a later frame is complete at >= newest + hop and its centre lies at most max_centre_s before that
            ready &= stamp < b[0][-1] + c.hop / sr - self.max_centre_s
        out_i = np.flatnonzero(ready)
        order = np.argsort(b[2], kind="stable")
        est_out = np.interp(stamp[out_i], b[2][order], b[1][order]) if len(out_i) else np.zeros(0)
        for r in np.unique(b[7][out_i]):
            if r < 0:
                continue
            src = order[b[7][order] == r]
            dst = b[7][out_i] == r
            est_out[dst] = np.interp(stamp[out_i][dst], b[2][src], b[1][src])
        b[6][out_i] = 1.0
        first_pending = int(np.argmax(b[6] == 0)) if (b[6] == 0).any() else len(b[0])
        drop = max(0, first_pending - self.keep)  # history enough for the next frames' interpolation
        self.buf = [a[drop:] for a in b]
        return (b[0][out_i], est_out, b[3][out_i].astype(np.float32), b[4][out_i].astype(np.float32),
                b[5][out_i] > 0.5)


def track_pitch_blocks(blocks, sample_rate: int, hop_length: int | None = None,
                       config: TrackerConfig | None = None, unvoiced_guess: bool = False):
    """:func:`track_pitch` over a recording given in blocks, yielding its frames as they complete (memory flat).

    Parameters
    ----------
    blocks : iterable of numpy.ndarray
        The recording in order: ``(n,)`` or ``(n, channels)`` (averaged) blocks of any size, float or
        whole-number PCM (scaled to [-1, 1)); NaN/inf samples become silence (one ``RuntimeWarning`` at the end
        with their count).
    sample_rate : int
        Their rate in Hz; resampled to 16 kHz on the fly (:class:`tonehost.dsp.resample.Resampler`, its delay
        removed from the times).
    hop_length, config, unvoiced_guess
        As :func:`track_pitch`.

    Yields
    ------
    (times, f0_hz, confidence, loudness_db, voiced) : tuple of numpy.ndarray, shape (frames,) each
        As :func:`track_pitch`, plus the frames' magenta.js loudness (dB) and voicing (bool).

    Raises
    ------
    ArgumentError
        ``hop_length`` not a whole number from 1 to :data:`MAX_HOP`, or ``sample_rate`` not a whole number of Hz
        from :data:`MIN_VOICE_RATE` to :data:`~tonehost.dsp._checks.MAX_RATE`; ``config`` not a
        :class:`TrackerConfig`; ``unvoiced_guess`` not a bool.
    """
    if config is not None and not isinstance(config, TrackerConfig):  # 123: an AttributeError deep inside
        raise ArgumentError(f"config must be a TrackerConfig, got {type(config).__name__}")
    if not isinstance(unvoiced_guess, (bool, np.bool_)):  # "no" was taken as True
        raise ArgumentError(f"unvoiced_guess must be True or False, got {unvoiced_guess!r}")
    cfg = config or TrackerConfig()
    if hop_length is None:
        hop_length = cfg.hop
    hop_length = check_int("hop_length (samples at 16 kHz)", hop_length, 1, MAX_HOP)
    check_int("sample_rate", sample_rate, MIN_VOICE_RATE, MAX_RATE)
    cfg = TrackerConfig(**{**cfg.__dict__, "hop": hop_length})
    sr = int(sample_rate)
    rs = Resampler(sr, cfg.sample_rate) if sr != cfg.sample_rate else None
    delay = rs.delay_out() if rs is not None else 0.0  # 16 kHz samples the streaming filter lags
    tracker = VoiceTracker(cfg)
    align = _CentreAligner(cfg) if cfg.centre_times else None
    done = 0
    n_med = max(1, int(cfg.guess_median))
    recent = None  # the last n_med - 1 frames' own estimates

    def frames(x, final=False):
        nonlocal done, recent
        fr = tracker.process(x)
        n = len(fr)
        idx = np.arange(done + 1, done + n + 1)
        done += n
        avail = (idx * cfg.hop - delay) / cfg.sample_rate
        guess = fr.raw_f0_hz.astype(np.float64)
        if n_med > 1 and n:
            # an unvoiced frame's guess: the median of the newest n_med frames' own estimates (a one-period window
            # on a weak, decaying voice wobbles with where the glottal pulses fall in it; read n_med // 2 frames back)
            if recent is None:
                recent = np.full(n_med - 1, guess[0])
            ext = np.r_[recent, guess]
            recent = ext[-(n_med - 1):]
            guess = np.median(np.lib.stride_tricks.sliding_window_view(ext, n_med), axis=1)
        est = np.where(fr.voiced, fr.f0_hz, guess)
        if align is not None:
            avail, est, conf, loud, voiced = align.push(avail, est, fr, final)
        else:
            conf, loud, voiced = fr.confidence, fr.loudness_db, fr.voiced
        if not len(avail):
            return None
        times = avail - cfg.pitch_delay_s
        keep = times >= 0
        f0 = np.where(voiced, est, -est if unvoiced_guess else 0.0).astype(np.float32)
        return times[keep], f0[keep], conf[keep], loud[keep], voiced[keep]

    n_in = n_bad = 0
    for block in blocks:
        x = pcm_as_float(np.asarray(block))
        if x.ndim > 1:
            x = mix_to_mono(x)  # the mean, or the loudest channel where opposite polarity cancels it
        x, bad = zero_non_finite(x)  # before the resampler: one NaN silenced the rest of the file
        n_bad += bad
        n_in += len(x)
        for i in range(0, len(x), 1 << 16):
            part = x[i:i + (1 << 16)]
            got = frames(rs.process(part) if rs is not None else part)
            if got is not None:
                yield got
    if n_bad:
        warnings.warn(f"audio: {n_bad} non-finite sample{'s' if n_bad != 1 else ''} (NaN or infinity) replaced by "
                      "silence; check the recording or the program that wrote it", NonFiniteAudioWarning, stacklevel=3)
    if n_in == 0:
        return
    # Flush the resampler and pad so the last real samples reach the analysis centre; stop at the input's end.
    # The padding is counted at 16 kHz and given at the input's rate (a 96 kHz file got a sixth of it: its last
    # frames were never completed and the CSV ended 2-4 ms early).
    end_t = n_in / sr
    need_16k = int(math.ceil(delay)) + cfg.window // 2 + 2 * cfg.hop
    tail = np.zeros(max(need_16k, int(math.ceil(need_16k * sr / cfg.sample_rate)))
                    + (rs.taps if rs is not None else 0))
    got = frames(rs.process(tail) if rs is not None else tail, final=True)
    if got is not None:
        keep = got[0] < end_t
        yield tuple(a[keep] for a in got)
