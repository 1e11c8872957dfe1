"""magenta.js's feature normalisation for DDSP instruments, adapted to a stream.

:class:`LiveNormalizer` maps the tracker's f0 and loudness onto the range an instrument was trained on, frame by
frame, with running statistics in place of magenta.js's whole-file ones (``ddsp.ts normalizeAudioFeatures``);
:class:`NormalizerSettings` holds the ``settings.json`` fields it uses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["NormalizerSettings", "LiveNormalizer", "LOWEST_LD", "LD_CONF_REDUCTION", "VST_PW_FLOOR"]

from tonehost.dsp.loudness import LD_FLOOR_DB as LOWEST_LD, PW_FLOOR_DB as VST_PW_FLOOR

LD_CONF_REDUCTION = -25.0  # magenta.js: frames with low pitch confidence are attenuated by 25 dB


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
