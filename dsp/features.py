"""Streaming voice features for DDSP instruments: f0 + confidence and loudness, tuned for humming and singing.

:class:`VoiceTracker` turns 16 kHz mono samples, pushed in blocks of any size, into one feature frame per ``hop``
samples (default 64 = 4 ms, the magenta.js control rate of 250 frames/s). Per frame it runs YIN with octave-error
suppression (:func:`tonehost.dsp.yin.yin_frame`), then:

- voicing with hysteresis (on above ``voicing_on`` confidence, off below ``voicing_off``) and a short hold, so
  note starts and ends don't flicker;
- a continuity hint (the last stable note's period) so YIN's octave jumps at weak note edges are suppressed;
- a 3-frame median on f0 inside voiced runs (one frame of extra delay, removes single-frame spikes);
- while unvoiced the last f0 is held (DDSP needs a pitch all the time; loudness does the muting).

Loudness uses a short window (``loudness_window``, default 128 samples = 8 ms) so onsets are fast: DDSP-VST's
power ``pw_db = 10*log10(max(1e-8, mean(x^2)))`` floored at -80, and magenta.js' ``20*log10(rms) - 20.7`` floored
at -120 (:func:`tonehost.dsp.loudness.power_db`, :func:`~tonehost.dsp.loudness.loudness_db`).

:func:`track_pitch` runs the tracker over a whole recording (``tonehost pitch``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tonehost.dsp.loudness import loudness_db, power_db
from tonehost.dsp.resample import resample_to
from tonehost.dsp.yin import median3, scratch, yin_frame



@dataclass
class TrackerConfig:
    """Parameters of :class:`VoiceTracker` (samples are at ``sample_rate``)."""

    sample_rate: int = 16000
    hop: int = 64
    fmin: float = 65.0
    fmax: float = 1100.0
    width: int = 192  # YIN integration window
    threshold: float = 0.15
    octave_tolerance: float = 0.25
    voicing_on: float = 0.6
    voicing_off: float = 0.4
    hold_frames: int = 3  # unvoiced frames tolerated inside a note
    gate_db: float = -60.0  # frames quieter than this (power dB) are unvoiced
    loudness_window: int = 128
    median: bool = True

    @property
    def min_lag(self) -> int:
        return max(2, int(math.floor(self.sample_rate / self.fmax)))

    @property
    def max_lag(self) -> int:
        return int(math.ceil(self.sample_rate / self.fmin))

    @property
    def window(self) -> int:
        """Samples the pitch analysis looks at (YIN width + largest lag)."""
        return self.width + self.max_lag

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
    """Feature frames produced by one :meth:`VoiceTracker.process` call (arrays of equal length)."""

    f0_hz: np.ndarray
    confidence: np.ndarray
    voiced: np.ndarray
    power_db: np.ndarray
    loudness_db: np.ndarray
    raw_f0_hz: np.ndarray

    def __len__(self) -> int:
        return len(self.f0_hz)


class VoiceTracker:
    """Streaming f0/confidence/loudness tracker (see the module docstring).

    Parameters
    ----------
    config : TrackerConfig, optional
    """

    def __init__(self, config: TrackerConfig | None = None):
        self.cfg = config or TrackerConfig()
        c = self.cfg
        keep = max(c.window, c.loudness_window)
        self._hist = np.zeros(keep + 4096, np.float64)
        self._fill = keep  # index where the next sample goes; history starts as silence
        self._keep = keep
        self._since_hop = 0
        self._d, self._cmnd = scratch(c.max_lag)
        self.reset()

    def reset(self) -> None:
        """Forget the signal and the note state."""
        self._hist[:] = 0.0
        self._fill = self._keep
        self._since_hop = 0
        self._voiced = False
        self._unvoiced_run = 0
        self._voiced_run = 0
        self._f0 = 0.0
        self._stable_f0 = 0.0
        self._stable_age = 10 ** 9
        self._recent = [0.0, 0.0, 0.0]
        self.frames_out = 0

    # -- streaming --------------------------------------------------------------------------------------
    def process(self, x: np.ndarray) -> FeatureFrames:
        """Push samples; return the feature frames completed by them (possibly none)."""
        x = np.asarray(x, np.float64).reshape(-1)
        c = self.cfg
        out = {k: [] for k in ("f0", "conf", "voiced", "pw", "ld", "raw")}
        pos = 0
        while pos < len(x):
            take = min(len(x) - pos, c.hop - self._since_hop)
            self._append(x[pos:pos + take])
            pos += take
            self._since_hop += take
            if self._since_hop == c.hop:
                self._since_hop = 0
                f = self._frame()
                for key, val in zip(("f0", "conf", "voiced", "pw", "ld", "raw"), f):
                    out[key].append(val)
        return FeatureFrames(np.asarray(out["f0"], np.float32), np.asarray(out["conf"], np.float32),
                             np.asarray(out["voiced"], bool), np.asarray(out["pw"], np.float32),
                             np.asarray(out["ld"], np.float32), np.asarray(out["raw"], np.float32))

    def _append(self, x: np.ndarray) -> None:
        n = len(x)
        if self._fill + n > len(self._hist):
            keep = self._keep
            self._hist[:keep] = self._hist[self._fill - keep:self._fill]
            self._fill = keep
        self._hist[self._fill:self._fill + n] = x
        self._fill += n

    def _frame(self):
        c = self.cfg
        end = self._fill
        lw = self._hist[end - c.loudness_window:end]
        ms = float(np.dot(lw, lw)) / c.loudness_window
        pw_db = power_db(ms)
        ld_db = loudness_db(ms)
        # Gate on the pitch window's power too (a note that just ended still fills it).
        hint = self._stable_f0 if self._stable_age < 25 else 0.0
        hint_lag = c.sample_rate / hint if hint > 0 else 0.0
        start = end - c.window
        period, aper = yin_frame(self._hist, start, c.width, c.min_lag, c.max_lag, c.threshold,
                                 hint_lag, c.octave_tolerance, self._d, self._cmnd)
        raw_f0 = c.sample_rate / period if period > 0 else 0.0
        conf = min(1.0, max(0.0, 1.0 - aper))
        if pw_db < c.gate_db:
            conf = 0.0
        # Voicing with hysteresis and hold.
        if self._voiced:
            if conf >= c.voicing_off:
                self._unvoiced_run = 0
            else:
                self._unvoiced_run += 1
                if self._unvoiced_run > c.hold_frames or pw_db < c.gate_db:
                    self._voiced = False
        elif conf >= c.voicing_on:
            self._voiced = True
            self._unvoiced_run = 0
            self._voiced_run = 0
            self._recent = [raw_f0, raw_f0, raw_f0]
        good = self._voiced and conf >= c.voicing_off
        if good:
            self._recent = [self._recent[1], self._recent[2], raw_f0]
            f0 = median3(self._recent[0], self._recent[1], self._recent[2]) if c.median else raw_f0
            self._f0 = f0
            self._voiced_run += 1
            if self._voiced_run >= 3:
                self._stable_f0 = f0
                self._stable_age = 0
        else:
            self._stable_age += 1
        if not self._voiced:
            self._voiced_run = 0
        self.frames_out += 1
        return self._f0, conf, self._voiced, pw_db, ld_db, raw_f0


# ---------------------------------------------------------------------------------------------- offline

def track_pitch(audio: np.ndarray, sample_rate: int, hop_length: int = 64,
                config: TrackerConfig | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f0 of a whole recording with the live tracker (:class:`VoiceTracker`), as ``tonehost pitch`` writes it.

    Parameters
    ----------
    audio : numpy.ndarray, shape (n,) or (n, channels)
        Samples at ``sample_rate`` (channels are averaged).
    sample_rate : int
        Rate of ``audio`` in Hz; resampled to the tracker's 16 kHz (:func:`tonehost.dsp.resample.resample_to`).
    hop_length : int
        Samples between frames at 16 kHz (64 = 4 ms, 250 frames/s).
    config : TrackerConfig, optional
        Tracker parameters (its ``hop`` is replaced by ``hop_length``).

    Returns
    -------
    times : numpy.ndarray, float64, shape (frames,)
        Centre of each frame's pitch analysis window in seconds (the tracker's delay removed).
    f0_hz : numpy.ndarray, float32, shape (frames,)
        f0 in Hz; 0 where the tracker says unvoiced.
    confidence : numpy.ndarray, float32, shape (frames,)
        Periodicity ``1 - d'(tau)`` in [0, 1] (0 below the energy gate).

    Raises
    ------
    ValueError
        ``hop_length`` < 1.
    """
    if int(hop_length) < 1:
        raise ValueError(f"hop_length must be >= 1 sample, got {hop_length}")
    cfg = config or TrackerConfig()
    cfg = TrackerConfig(**{**cfg.__dict__, "hop": int(hop_length)})
    x = np.asarray(audio, np.float64)
    if x.ndim > 1:
        x = x.mean(axis=1)
    x = resample_to(x, sample_rate, cfg.sample_rate)
    tracker = VoiceTracker(cfg)
    # Pad the end so the last real samples reach the window centre.
    x = np.concatenate([x, np.zeros(cfg.window // 2 + cfg.hop, np.float64)])
    fr = tracker.process(x)
    n = len(fr)
    times = (np.arange(1, n + 1) * cfg.hop) / cfg.sample_rate - cfg.pitch_delay_s
    keep = times >= 0
    f0 = np.where(fr.voiced, fr.f0_hz, 0.0)
    return times[keep], f0[keep].astype(np.float32), fr.confidence[keep]
