"""Streaming voice features for DDSP instruments: f0 + confidence and loudness, tuned for humming and singing.

:class:`VoiceTracker` turns 16 kHz mono samples, pushed in blocks of any size, into one feature frame per ``hop``
samples (default 64 = 4 ms, the magenta.js control rate of 250 frames/s). Per frame it runs YIN with octave-error
suppression (:func:`dsp.pitch_smooth.yin_frame`), then:

- voicing with hysteresis (on above ``voicing_on`` confidence, off below ``voicing_off``) and a short hold, so
  note starts and ends don't flicker;
- a continuity hint (the last stable note's period) so YIN's octave jumps at weak note edges are suppressed;
- a 3-frame median on f0 inside voiced runs (one frame of extra delay, removes single-frame spikes);
- while unvoiced the last f0 is held (DDSP needs a pitch all the time; loudness does the muting).

Loudness uses a short window (``loudness_window``, default 128 samples = 8 ms) so onsets are fast: DDSP-VST's
power ``pw_db = 10*log10(max(1e-8, mean(x^2)))`` floored at -80, and magenta.js' ``20*log10(rms) - 20.7`` floored
at -120. :class:`LiveNormalizer` adapts magenta.js' ``normalizeAudioFeatures`` (settings.json shifts) to a stream
with running statistics, and applies the user's input gain and pitch shift.

:func:`track_pitch_offline` runs the tracker over a whole file (``tonehost pitch``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dsp.pitch_smooth import median3, scratch, yin_frame

LOWEST_LD = -120.0  # magenta.js LOWEST_LD
LD_CONF_REDUCTION = -25.0  # magenta.js: frames with low pitch confidence are attenuated by 25 dB
VST_PW_FLOOR = -80.0
MAGENTA_LD_OFFSET = -20.7  # magenta.js loudness: 20*log10(rms) - 20.7


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
        pw_db = max(VST_PW_FLOOR, 10.0 * math.log10(max(1e-8, ms)))
        ld_db = max(LOWEST_LD, 10.0 * math.log10(max(1e-20, ms)) + MAGENTA_LD_OFFSET)
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


# ---------------------------------------------------------------------------------------------- normaliser

@dataclass
class NormalizerSettings:
    """The magenta.js ``settings.json`` fields the normaliser uses (None: that shift is off)."""

    average_max_loudness: float | None = None
    mean_loudness: float | None = None
    mean_pitch: float | None = None
    loudness_threshold: float = -100.0

    @classmethod
    def from_settings(cls, settings: dict) -> "NormalizerSettings":
        """From a parsed ``settings.json`` (magenta.js camelCase keys); missing keys switch shifts off."""
        def get(key):
            val = settings.get(key)
            return None if val is None else float(val)
        return cls(get("averageMaxLoudness"), get("meanLoudness"), get("meanPitch"),
                   float(settings.get("loudnessThreshold", -100.0)))


@dataclass
class LiveNormalizer:
    """magenta.js feature normalisation adapted to a stream.

    magenta.js (ddsp.ts ``normalizeAudioFeatures``) shifts a whole file's loudness so its max becomes
    ``averageMaxLoudness`` and its mean (above ``loudnessThreshold``) ``meanLoudness``, clips to
    [-120, averageMaxLoudness], attenuates frames with a 100-frame-smoothed confidence <= 0.7 by 25 dB, and shifts
    pitch by whole octaves toward ``meanPitch``. Live, the whole-file statistics are replaced by running ones:

    - loudness: an exponential mean over active frames (time constant ``stats_seconds``) gives the shift
      ``meanLoudness - running_mean``; the max shift is implied (max(x) cancels out of the two shifts), the clip
      to averageMaxLoudness is kept; the final min/mean rescale is dropped (it is the identity when the
      quietest frame sits at -120 dB, which silence always gives);
    - confidence mask: the tracker's hysteresis voicing (no 100-frame centred average: it would add 200 ms)
      drives a -25 dB attenuation that ramps in over ``release_frames``, not at once;
    - pitch register: a running mean of MIDI pitch over voiced frames; the octave shift toward ``meanPitch`` is
      only changed between notes, never inside one;
    - the user's ``input_gain_db`` (added to loudness before everything) and ``pitch_shift`` (semitones) apply.

    Parameters
    ----------
    settings : NormalizerSettings
    db_kind : "loudness_db" (magenta.js) or "power_db" (DDSP-VST; only gain and pitch shift apply)
    frame_rate : feature frames per second
    """

    settings: NormalizerSettings = field(default_factory=NormalizerSettings)
    db_kind: str = "loudness_db"
    frame_rate: float = 250.0
    input_gain_db: float = 0.0
    pitch_shift: float = 0.0
    auto_register: bool = True
    stats_seconds: float = 3.0
    release_frames: int = 8
    active_db: float = -90.0  # loudness_db above which a frame updates the running mean

    def __post_init__(self):
        self.reset()

    def reset(self) -> None:
        self._ld_mean = None
        self._p_mean = None
        self._octaves = 0
        self._mask_db = LD_CONF_REDUCTION
        self._was_voiced = False

    @property
    def octave_shift(self) -> int:
        """The current automatic register shift in octaves."""
        return self._octaves

    def __call__(self, f0_hz: float, loudness_db: float, voiced: bool) -> tuple[float, float]:
        """Normalise one frame; returns (f0_hz, db) for the controls model."""
        s = self.settings
        alpha = 1.0 / max(1.0, self.stats_seconds * self.frame_rate)
        db = loudness_db + self.input_gain_db
        if self.db_kind == "power_db":
            db = min(0.0, max(VST_PW_FLOOR, db))
        elif s.mean_loudness is not None and s.average_max_loudness is not None:
            if db > self.active_db:
                self._ld_mean = db if self._ld_mean is None else self._ld_mean + alpha * (db - self._ld_mean)
            shift = s.mean_loudness - (self._ld_mean if self._ld_mean is not None else s.mean_loudness)
            db = min(s.average_max_loudness, max(LOWEST_LD, db + shift))
            # Low-confidence attenuation: instant release of the mask at a voiced frame, ramp-in when unvoiced.
            if voiced:
                self._mask_db = 0.0
            else:
                self._mask_db = max(LD_CONF_REDUCTION, self._mask_db + LD_CONF_REDUCTION / self.release_frames)
            db = max(LOWEST_LD, db + self._mask_db)
        else:
            db = max(LOWEST_LD, db)
        # Pitch register.
        f0 = f0_hz
        if f0 > 0:
            midi = 69.0 + 12.0 * math.log2(f0 / 440.0)
            if voiced:
                self._p_mean = midi if self._p_mean is None else self._p_mean + alpha * (midi - self._p_mean)
            if self.auto_register and s.mean_pitch is not None and self._p_mean is not None:
                if not voiced or not self._was_voiced:  # only re-decide between notes
                    self._octaves = int(round((s.mean_pitch - self._p_mean) / 12.0))
            shift = 12.0 * (self._octaves if self.auto_register else 0) + self.pitch_shift
            midi = min(110.0, midi + shift)
            f0 = 440.0 * 2.0 ** ((midi - 69.0) / 12.0)
        self._was_voiced = voiced
        return f0, db


# ---------------------------------------------------------------------------------------------- offline

def track_pitch_offline(audio: np.ndarray, sample_rate: int, hop_s: float = 0.004,
                        config: TrackerConfig | None = None):
    """Run the live tracker over a whole signal, as ``tonehost pitch`` does.

    Parameters
    ----------
    audio : mono float array
    sample_rate : its sample rate (resampled to the tracker's 16 kHz)
    hop_s : frame hop in seconds (rounded to whole samples at 16 kHz)
    config : tracker parameters (``hop`` is taken from ``hop_s``)

    Returns
    -------
    times, f0_hz, confidence, voiced : arrays; ``times`` are the centres of the pitch analysis windows, f0 is 0
    where unvoiced.
    """
    from scipy.signal import resample_poly

    cfg = config or TrackerConfig()
    cfg = TrackerConfig(**{**cfg.__dict__, "hop": max(1, int(round(hop_s * cfg.sample_rate)))})
    x = np.asarray(audio, np.float64)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if sample_rate != cfg.sample_rate:
        g = math.gcd(int(sample_rate), cfg.sample_rate)
        x = resample_poly(x, cfg.sample_rate // g, int(sample_rate) // g)
    tracker = VoiceTracker(cfg)
    # Pad the end so the last real samples reach the window centre.
    x = np.concatenate([x, np.zeros(cfg.window // 2 + cfg.hop, np.float64)])
    fr = tracker.process(x)
    n = len(fr)
    times = (np.arange(1, n + 1) * cfg.hop) / cfg.sample_rate - cfg.pitch_delay_s
    keep = times >= 0
    f0 = np.where(fr.voiced, fr.f0_hz, 0.0)
    return times[keep], f0[keep].astype(np.float32), fr.confidence[keep], fr.voiced[keep]
