"""magenta.js's feature normalisation for DDSP instruments, adapted to a stream.

:class:`LiveNormalizer` maps the tracker's f0 and loudness onto the range an instrument was trained on, frame by
frame, with running statistics in place of magenta.js's whole-file ones (``ddsp.ts normalizeAudioFeatures``);
:class:`NormalizerSettings` holds the ``settings.json`` fields it uses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

__all__ = ["NormalizerSettings", "LiveNormalizer", "INSTRUMENT_RANGES", "instrument_range", "LOWEST_LD",
           "LD_CONF_REDUCTION", "VST_PW_FLOOR"]

from tonehost.dsp.loudness import LD_FLOOR_DB as LOWEST_LD, PW_FLOOR_DB as VST_PW_FLOOR

LD_CONF_REDUCTION = -25.0  # magenta.js: frames with low pitch confidence are attenuated by 25 dB


#: Sounding ranges (MIDI note numbers, lowest and highest) of the hosted DDSP instruments, from the standard
#: orchestration tables (Adler, "The Study of Orchestration", 4th ed.: violin G3-E7, flute C4-C7, trumpet in Bb
#: sounding E3-Bb5, tenor saxophone sounding Ab2-E5); the highest is kept at the DDSP training data's top
#: (the issue's violin: G3-E6). The register shift keeps an instrument inside its range.
INSTRUMENT_RANGES = {
    "violin": (55, 88),
    "flute": (60, 96),
    "trumpet": (52, 82),
    "tenor_saxophone": (44, 76),
    "saxophone": (44, 76),
}


def instrument_range(name: str | None) -> tuple[int, int] | None:
    """``(lowest, highest)`` MIDI note of the instrument whose name (a model file stem such as ``violin`` or
    ``ddsp_tenor_saxophone``) contains a key of :data:`INSTRUMENT_RANGES`; None when unknown."""
    if not name:
        return None
    low = str(name).lower()
    for key in sorted(INSTRUMENT_RANGES, key=len, reverse=True):
        if key in low:
            return INSTRUMENT_RANGES[key]
    return None


@dataclass
class NormalizerSettings:
    """The magenta.js ``settings.json`` fields the normaliser uses (None: that shift is off), plus the
    instrument's range in MIDI notes (``low_pitch``/``high_pitch``, None: unbounded)."""

    average_max_loudness: float | None = None
    mean_loudness: float | None = None
    mean_pitch: float | None = None
    loudness_threshold: float = -100.0
    low_pitch: float | None = None
    high_pitch: float | None = None

    @classmethod
    def from_settings(cls, settings: dict, instrument: str | None = None) -> "NormalizerSettings":
        """From a parsed ``settings.json`` (magenta.js camelCase keys); missing keys switch shifts off.

        ``instrument``: a name to look up in :data:`INSTRUMENT_RANGES` (e.g. the model file's stem).
        """
        def get(key):
            val = settings.get(key)
            return None if val is None else float(val)
        rng = instrument_range(instrument)
        return cls(get("averageMaxLoudness"), get("meanLoudness"), get("meanPitch"),
                   float(settings.get("loudnessThreshold", -100.0)),
                   None if rng is None else float(rng[0]), None if rng is None else float(rng[1]))


@dataclass
class LiveNormalizer:
    """magenta.js feature normalisation adapted to a stream.

    magenta.js (ddsp.ts ``normalizeAudioFeatures``) shifts a whole file's loudness so its max becomes
    ``averageMaxLoudness`` and its mean (above ``loudnessThreshold``) ``meanLoudness``, clips to
    [-120, averageMaxLoudness], attenuates frames with a 100-frame-smoothed confidence <= 0.7 by 25 dB, and shifts
    pitch by whole octaves toward ``meanPitch``: ``round((meanPitch - mean pitch of the file) / 12)``. Live, the
    whole-file statistics are replaced by ones that settle fast and then hold:

    - loudness: the level statistic is the mean loudness of *voiced* frames only (a DC offset, breath, room noise
      and silence never enter it): the median of the first ``level_seed_seconds`` of voicing (of the frames within
      ``level_seed_span_db`` of the loudest of them: a soft pickup, a breath or a hum under the voice does not
      hold the level down while the first note plays 20 dB too loud), then an exponential
      mean with time constant ``stats_seconds`` (seconds of voicing, not of wall time: it does not move while
      nobody sings). The shift is ``meanLoudness - level``; the clip to averageMaxLoudness is kept; the final
      min/mean rescale is dropped (the identity when the quietest frame sits at -120 dB, which silence gives).
      So a steady input gives a steady output once seeded, and the same phrase sung again comes out alike.
      Before any voiced frame (a note start the live instrument hears before the tracker does) the frame's own
      loudness stands in for the level, so the first note starts at ``meanLoudness`` too.
    - confidence mask: the tracker's voicing drives a -25 dB attenuation that ramps in over ``release_frames``.
    - pitch register: a phrase is a voiced stretch whose gaps are shorter than ``phrase_gap_seconds``; the octave
      shift is decided at a phrase's start and held to its end, never changed inside it. The decision is
      ``round((meanPitch - register) / 12)``, where the register is the median MIDI pitch of the voiced frames
      of the last ``register_seconds`` of singing (a decaying histogram, so a single octave-wrong frame weighs
      nothing); a new shift is taken only when the register sits more than ``6 + hysteresis`` semitones from
      the current shift's centre (hysteresis over phrases). The first phrase, having no history, follows the
      running median of its first ``seed_seconds`` (a wrong first frame is outvoted by the second and third)
      and then holds; as a phrase rises from where it starts (a pickup, a scoop, a glide), that first decision
      keeps ``start_headroom`` semitones (an octave and a fifth) between the phrase's start and the top of the
      instrument's range (the register decisions keep ``register_headroom``); the range and the headroom count
      from the register's nearest note (a fraction of a cent of tracker error never moves the octave: 220 Hz
      on the violin, top E6, has exactly an octave and a fifth above A4 and plays at 440 Hz). :meth:`preset`
      gives the statistics of a whole file in advance (offline ``render``): the shift is then magenta.js's
      ``round((meanPitch - mean pitch) / 12)`` from the first frame on. The shift keeps the phrase inside the
      instrument's range (``low_pitch``/``high_pitch``), and a frame that would still fall below ``low_pitch``
      is raised by octaves (a tracker error or a second voice never makes the violin play under its G string).
    - the user's ``input_gain_db`` (added to loudness before everything) and ``pitch_shift`` (semitones) apply.

    Offline ``render`` runs this same path after :meth:`preset` with the file's own statistics (voiced mean
    pitch and loudness, as magenta.js computes them over the whole file); without the preset its output equals
    the live one.

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
    stats_seconds: float = 20.0
    seed_seconds: float = 0.1
    level_seed_seconds: float = 1.0
    level_seed_span_db: float = 15.0  # the seed's median counts voiced frames within this of its loudest
    register_span_db: float = 20.0  # a voiced frame further under the level statistic does not count for the register
    release_frames: int = 8
    active_db: float = LOWEST_LD  # loudness_db above which a voiced frame updates the level statistic
    phrase_gap_seconds: float = 0.3
    register_seconds: float = 8.0
    hysteresis: float = 6.0
    start_headroom: float = 19.0
    register_headroom: float = 9.0

    def __post_init__(self):
        self.reset()

    def reset(self) -> None:
        """Forget the statistics, the register and the phrase state."""
        self._ld_mean = None
        self._ld_onset = None  # the level a note start stands in with until the first voiced frame
        self._ld_seed: list[float] = []
        self._hist = [0.0] * 128
        self._hist_total = 0.0
        self._gain = 1.0
        self._seed_pitch: list[float] = []
        self._octaves = 0
        self._has_shift = False
        self._in_phrase = False
        self._gap = 0
        self._phrase_decided = False
        self._mask_db = LD_CONF_REDUCTION
        self._was_voiced = False

    def preset(self, mean_pitch: float | None = None, level_db: float | None = None) -> None:
        """Start from a whole recording's statistics instead of an empty history (offline rendering).

        Parameters
        ----------
        mean_pitch : float, optional
            Mean MIDI pitch of the recording's voiced frames: the register (held like ``register_seconds`` of
            singing) and the shift ``round((meanPitch - mean_pitch) / 12)`` (magenta.js), kept in range.
        level_db : float, optional
            Mean loudness (``db_kind`` dB, input gain not included) of the voiced frames: the level statistic,
            already seeded.
        """
        if mean_pitch is not None and self.settings.mean_pitch is not None:
            self._hist = [0.0] * 128
            self._gain = 1.0
            self._hist[min(127, max(0, int(round(mean_pitch))))] = self.register_seconds * self.frame_rate
            self._hist_total = self.register_seconds * self.frame_rate
            self._has_shift = False
            self._decide(float(mean_pitch), hysteresis=False)
        if level_db is not None:
            self._ld_mean = float(level_db) + self.input_gain_db
            self._ld_seed = [self._ld_mean] * max(1, int(round(self.level_seed_seconds * self.frame_rate)))

    @property
    def octave_shift(self) -> int:
        """The current automatic register shift in octaves (0 with ``auto_register`` off: none is applied, though
        :meth:`preset` still measures the register)."""
        return self._octaves if self.auto_register else 0

    @property
    def level_db(self) -> float | None:
        """The level statistic (mean loudness of voiced frames, dB) or None before the first voiced frame."""
        return self._ld_mean

    # -- loudness --------------------------------------------------------------------------------------
    def _update_level(self, db: float) -> None:
        seed_n = max(1, int(round(self.level_seed_seconds * self.frame_rate)))
        if len(self._ld_seed) < seed_n:
            self._ld_seed.append(db)
            srt = sorted(self._ld_seed)
            # the median of the frames within level_seed_span_db of the loudest: a take's first voiced frames
            # may be a soft pickup, a breath or a hum far under the voice, and as the whole seed's median they
            # held the level down while the first note played 20 dB over it (then dropped) for as long again
            j = 0
            while srt[j] < srt[-1] - self.level_seed_span_db:
                j += 1
            self._ld_mean = srt[j + (len(srt) - j) // 2]
        else:
            alpha = 1.0 / max(1.0, self.stats_seconds * self.frame_rate)
            self._ld_mean += alpha * (db - self._ld_mean)

    # -- register --------------------------------------------------------------------------------------
    def _register(self) -> float | None:
        if self._hist_total <= 0.0:
            return None
        half = 0.5 * self._hist_total
        acc = 0.0
        for k, v in enumerate(self._hist):
            acc += v
            if acc >= half:
                return float(k)
        return None

    def _add_pitch(self, midi: float) -> None:
        # exponential forgetting without touching every bin: new frames weigh more (``_gain`` grows by 1/decay
        # per frame) and the histogram is rescaled once the weights get large
        self._gain /= math.exp(-1.0 / max(1.0, self.register_seconds * self.frame_rate))
        k = min(127, max(0, int(round(midi))))
        self._hist[k] += self._gain
        self._hist_total += self._gain
        if self._gain > 1e6:
            self._hist = [v / self._gain for v in self._hist]
            self._hist_total /= self._gain
            self._gain = 1.0

    def _fit_range(self, shift: int, centre: float, headroom: float) -> int:
        s = self.settings
        if s.low_pitch is not None and s.high_pitch is not None:
            # the phrase's register inside the instrument's range, with room above it for where the phrase
            # goes (low end first: a violin never under G3). The register counts as its nearest note: the range
            # and the headroom are whole notes, and a tracker's fraction of a cent must not move the octave
            # (a 220 Hz tone read 0.1 cent sharp left no room for E6 and played at 220 instead of 440 Hz)
            centre = float(round(centre))
            while centre + 12 * shift + headroom > s.high_pitch and centre + 12 * (shift - 1) >= s.low_pitch:
                shift -= 1
            while centre + 12 * shift < s.low_pitch:
                shift += 1
        return shift

    def _decide(self, centre: float, hysteresis: bool = True, headroom: float | None = None) -> None:
        s = self.settings
        want = int(round((s.mean_pitch - centre) / 12.0))
        if self._has_shift and hysteresis:
            # hysteresis: keep the current shift unless the register is far from its centre
            if abs(s.mean_pitch - centre - 12.0 * self._octaves) <= 6.0 + self.hysteresis:
                want = self._octaves
        self._octaves = self._fit_range(want, centre, self.register_headroom if headroom is None else headroom)
        self._has_shift = True

    def __call__(self, f0_hz: float, loudness_db: float, voiced: bool, onset: bool = False) -> tuple[float, float]:
        """Normalise one frame; returns (f0_hz, db) for the controls model.

        Parameters
        ----------
        f0_hz : float
            The tracker's f0 in Hz (held while unvoiced; <= 0: none yet).
        loudness_db : float
            The tracker's loudness (``db_kind``) in dB.
        voiced : bool
            The tracker's voicing decision.
        onset : bool
            A note started a moment ago and the tracker has not had time to decide yet: the confidence mask
            opens as for a voiced frame (nothing else treats the frame as voiced: level and register statistics
            wait for the tracker). The live instrument's onset path (:class:`tonehost.dsp.onset.OnsetLoudness`).

        Returns
        -------
        (float, float)
            f0 in Hz and loudness/power in dB for the controls model.
        """
        s = self.settings
        db = loudness_db + self.input_gain_db
        strong = True  # the frame counts for the register statistics
        if self.db_kind == "power_db":
            db = min(0.0, max(VST_PW_FLOOR, db))
        elif s.mean_loudness is not None and s.average_max_loudness is not None:
            prev_level = self._ld_mean
            if voiced and db > self.active_db:
                self._update_level(db)
            # far under the performance's level: mains hum or a fan the tracker took for voice in a pause, a
            # breath; its pitch does not say where the singer sings (a 50 Hz hum 25 dB under FDA speech moved the
            # register of the next sentence an octave up)
            strong = self._ld_mean is None or db >= self._ld_mean - self.register_span_db
            if voiced and prev_level is not None and db > prev_level + self.register_span_db:
                self._seed_pitch = []  # the first phrase's register seed so far came from such frames: restart it
            if self._ld_mean is None and onset:
                # nothing voiced yet: a note start heard before the tracker (onset) stands in for the level
                # statistic until the tracker's first voiced frame (not kept), so the note starts at the
                # instrument's mean loudness, as the level seed will place it; unshifted, the first note after
                # silence started up to 20 dB over the note (and stayed loud, mask ramping, until voiced)
                self._ld_onset = db
            level = self._ld_mean if self._ld_mean is not None else (
                self._ld_onset if self._ld_onset is not None else s.mean_loudness)
            shift = s.mean_loudness - level
            db = min(s.average_max_loudness, max(LOWEST_LD, db + shift))
            # Low-confidence attenuation: instant release of the mask at a voiced frame, ramp-in when unvoiced.
            if voiced or onset:
                self._mask_db = 0.0
            else:
                self._mask_db = max(LD_CONF_REDUCTION, self._mask_db + LD_CONF_REDUCTION / self.release_frames)
            db = max(LOWEST_LD, db + self._mask_db)
        else:
            db = max(LOWEST_LD, db)
        f0 = f0_hz
        if f0 > 0:
            midi = 69.0 + 12.0 * math.log2(f0 / 440.0)
            register_on = self.auto_register and s.mean_pitch is not None
            if voiced:
                self._gap = 0
                if register_on:
                    if not self._in_phrase:  # a phrase starts: decide from the history
                        self._in_phrase = True
                        self._phrase_decided = False
                        self._seed_pitch = []
                        reg = self._register()
                        if reg is not None:
                            self._decide(reg)
                            self._phrase_decided = True
                    if not self._phrase_decided and strong:  # first phrase: the median of its first seed_seconds
                        self._seed_pitch.append(midi)
                        srt = sorted(self._seed_pitch)
                        med = srt[len(srt) // 2]
                        seed_n = max(1, int(round(self.seed_seconds * self.frame_rate)))
                        # the running median of the seed frames: a phrase's first notes, so leave it room to rise
                        self._decide(med, hysteresis=False, headroom=self.start_headroom)
                        self._phrase_decided = len(self._seed_pitch) >= seed_n
                if strong:
                    self._add_pitch(midi)
            else:
                self._gap += 1
                if self._gap >= self.phrase_gap_seconds * self.frame_rate:
                    self._in_phrase = False
            shift = 12.0 * (self._octaves if register_on else 0) + self.pitch_shift
            out = midi + shift
            if register_on and s.low_pitch is not None:
                while out < s.low_pitch:
                    out += 12.0
            out = min(110.0, out)
            f0 = 440.0 * 2.0 ** ((out - 69.0) / 12.0)
        self._was_voiced = voiced
        return f0, db

    def map_f0(self, f0_hz: float) -> float:
        """The pitch the instrument plays for ``f0_hz`` with the current register shift and pitch shift (the f0 part
        of :meth:`__call__` without updating any statistic; for pitch updates between model frames).

        Parameters
        ----------
        f0_hz : float
            Tracked f0 in Hz (<= 0: returned as is).

        Returns
        -------
        float
            f0 in Hz.
        """
        if f0_hz <= 0:
            return f0_hz
        s = self.settings
        register_on = self.auto_register and s.mean_pitch is not None
        out = 69.0 + 12.0 * math.log2(f0_hz / 440.0) + 12.0 * (self._octaves if register_on else 0) + self.pitch_shift
        if register_on and s.low_pitch is not None:
            while out < s.low_pitch:
                out += 12.0
        out = min(110.0, out)
        return 440.0 * 2.0 ** ((out - 69.0) / 12.0)

    def frames(self, f0_hz: np.ndarray, loudness_db: np.ndarray, voiced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalise many frames in one call: the same values and the same state afterwards as calling the
        normaliser on each frame in turn (``onset`` False), in one Numba kernel (offline ``render``).

        Parameters
        ----------
        f0_hz : numpy.ndarray [T]
            The tracker's f0 in Hz per frame (<= 0: none yet).
        loudness_db : numpy.ndarray [T]
            The tracker's loudness (``db_kind``) in dB.
        voiced : numpy.ndarray [T] bool
            The tracker's voicing decisions.

        Returns
        -------
        (numpy.ndarray [T] float64, numpy.ndarray [T] float64)
            f0 in Hz and loudness/power in dB for the controls model.
        """
        s = self.settings
        f0 = np.ascontiguousarray(f0_hz, np.float64).reshape(-1)
        db = np.ascontiguousarray(loudness_db, np.float64).reshape(-1)
        v = np.ascontiguousarray(voiced, np.bool_).reshape(-1)
        T = len(f0)
        f0_out = np.empty(T)
        db_out = np.empty(T)
        seed_level = max(1, int(round(self.level_seed_seconds * self.frame_rate)))
        seed_pitch = max(1, int(round(self.seed_seconds * self.frame_rate)))
        ld_seed = np.zeros(max(seed_level, len(self._ld_seed)) + 1)
        ld_seed[:len(self._ld_seed)] = self._ld_seed
        sp = np.zeros(max(seed_pitch, len(self._seed_pitch)) + 1)
        sp[:len(self._seed_pitch)] = self._seed_pitch
        hist = np.asarray(self._hist, np.float64)
        nan = float("nan")
        st = np.array([nan if self._ld_mean is None else self._ld_mean, self._gain, self._hist_total,
                       self._octaves, self._has_shift, self._in_phrase, self._gap, self._phrase_decided,
                       self._mask_db, self._was_voiced, len(self._ld_seed), len(self._seed_pitch),
                       nan if self._ld_onset is None else self._ld_onset], np.float64)
        nv = lambda x: nan if x is None else float(x)  # noqa: E731
        par = np.array([self.db_kind == "power_db", nv(s.mean_loudness), nv(s.average_max_loudness), self.active_db,
                        self.release_frames, self.input_gain_db, self.auto_register, nv(s.mean_pitch),
                        nv(s.low_pitch), nv(s.high_pitch), seed_level,
                        1.0 / max(1.0, self.stats_seconds * self.frame_rate),
                        math.exp(-1.0 / max(1.0, self.register_seconds * self.frame_rate)), seed_pitch,
                        self.phrase_gap_seconds * self.frame_rate, self.hysteresis, self.register_headroom,
                        self.start_headroom, self.pitch_shift, 2.0, self.level_seed_span_db,
                        self.register_span_db], np.float64)
        _normalize_frames(f0, db, v, f0_out, db_out, st, par, hist, ld_seed, sp)
        self._ld_mean = None if math.isnan(st[0]) else float(st[0])
        self._gain, self._hist_total = float(st[1]), float(st[2])
        self._octaves = int(st[3])
        self._has_shift, self._in_phrase = bool(st[4]), bool(st[5])
        self._gap = int(st[6])
        self._phrase_decided = bool(st[7])
        self._mask_db = float(st[8])
        self._was_voiced = bool(st[9])
        self._ld_seed = ld_seed[:int(st[10])].tolist()
        self._seed_pitch = sp[:int(st[11])].tolist()
        self._hist = hist.tolist()
        return f0_out, db_out


@njit(cache=True, nogil=True)
def _fit_range_k(shift, centre, headroom, low, high):
    if not (math.isnan(low) or math.isnan(high)):
        centre = np.rint(centre)  # the nearest note, as LiveNormalizer._fit_range (round: half to even)
        while centre + 12 * shift + headroom > high and centre + 12 * (shift - 1) >= low:
            shift -= 1
        while centre + 12 * shift < low:
            shift += 1
    return shift


@njit(cache=True, nogil=True)
def _decide_k(st, par, centre, hysteresis, headroom):
    mp = par[7]
    want = int(np.rint((mp - centre) / 12.0))
    octaves = int(st[3])
    if st[4] > 0.5 and hysteresis:
        if abs(mp - centre - 12.0 * octaves) <= 6.0 + par[15]:
            want = octaves
    st[3] = _fit_range_k(want, centre, headroom, par[8], par[9])
    st[4] = 1.0


@njit(cache=True, nogil=True)
def _normalize_frames(f0_in, db_in, voiced_in, f0_out, db_out, st, par, hist, ld_seed, seed_pitch):
    """:meth:`LiveNormalizer.__call__` over many frames (``onset`` False), state in and out of ``st`` (the
    scalars, see :meth:`LiveNormalizer.frames`), ``hist`` [128], ``ld_seed`` and ``seed_pitch`` (the seed lists,
    lengths in ``st[10]``, ``st[11]``); ``par`` the settings. The same operations in the same order (Python's
    ``round`` is half to even, as ``np.rint``)."""
    power = par[0] > 0.5
    mean_ld, max_ld, active_db, release = par[1], par[2], par[3], par[4]
    gain_db, auto_reg, mp, low = par[5], par[6] > 0.5, par[7], par[8]
    seed_level, alpha, decay, seed_n = int(par[10]), par[11], par[12], int(par[13])
    gap_frames, reg_headroom, start_headroom, pitch_shift = par[14], par[16], par[17], par[18]
    two = par[19]  # 2.0 read at run time: LLVM would turn pow(2.0, x) into exp2(x) (not always the same last bit)
    seed_span, reg_span = par[20], par[21]
    level_on = not (math.isnan(mean_ld) or math.isnan(max_ld))
    register_on = auto_reg and not math.isnan(mp)
    for i in range(f0_in.shape[0]):
        voiced = voiced_in[i]
        db = db_in[i] + gain_db
        strong = True
        if power:
            db = min(0.0, max(VST_PW_FLOOR, db))
        elif level_on:
            prev_level = st[0]
            if voiced and db > active_db:
                n = int(st[10])
                if n < seed_level:
                    ld_seed[n] = db
                    n += 1
                    st[10] = n
                    srt = np.sort(ld_seed[:n])
                    j = 0
                    while srt[j] < srt[n - 1] - seed_span:
                        j += 1
                    st[0] = srt[j + (n - j) // 2]
                else:
                    st[0] += alpha * (db - st[0])
            strong = math.isnan(st[0]) or db >= st[0] - reg_span
            if voiced and not math.isnan(prev_level) and db > prev_level + reg_span:
                st[11] = 0
            level = st[0] if not math.isnan(st[0]) else (st[12] if not math.isnan(st[12]) else mean_ld)
            shift = mean_ld - level
            db = min(max_ld, max(LOWEST_LD, db + shift))
            if voiced:
                st[8] = 0.0
            else:
                st[8] = max(LD_CONF_REDUCTION, st[8] + LD_CONF_REDUCTION / release)
            db = max(LOWEST_LD, db + st[8])
        else:
            db = max(LOWEST_LD, db)
        f0 = f0_in[i]
        if f0 > 0:
            midi = 69.0 + 12.0 * math.log2(f0 / 440.0)
            if voiced:
                st[6] = 0
                if register_on:
                    if st[5] < 0.5:  # a phrase starts: decide from the history
                        st[5] = 1.0
                        st[7] = 0.0
                        st[11] = 0
                        if st[2] > 0.0:
                            half = 0.5 * st[2]
                            acc = 0.0
                            reg = -1
                            for k in range(128):
                                acc += hist[k]
                                if acc >= half:
                                    reg = k
                                    break
                            if reg >= 0:
                                _decide_k(st, par, float(reg), True, reg_headroom)
                                st[7] = 1.0
                    if st[7] < 0.5 and strong:
                        n = int(st[11])
                        seed_pitch[n] = midi
                        n += 1
                        st[11] = n
                        srt = np.sort(seed_pitch[:n])
                        _decide_k(st, par, srt[n // 2], False, start_headroom)
                        st[7] = 1.0 if n >= seed_n else 0.0
                if strong:
                    st[1] /= decay
                    k = min(127, max(0, int(np.rint(midi))))
                    hist[k] += st[1]
                    st[2] += st[1]
                    if st[1] > 1e6:
                        g = st[1]
                        for j in range(128):
                            hist[j] = hist[j] / g
                        st[2] /= g
                        st[1] = 1.0
            else:
                st[6] += 1
                if st[6] >= gap_frames:
                    st[5] = 0.0
            out = midi + (12.0 * (st[3] if register_on else 0.0) + pitch_shift)
            if register_on and not math.isnan(low):
                while out < low:
                    out += 12.0
            out = min(110.0, out)
            f0 = 440.0 * two ** ((out - 69.0) / 12.0)
        st[9] = 1.0 if voiced else 0.0
        f0_out[i] = f0
        db_out[i] = db
