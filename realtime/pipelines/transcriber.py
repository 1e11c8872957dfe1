"""Streaming Onsets-and-Frames piano transcription: audio in, note-on/note-off events out as soon as known.

The pipeline (one :class:`Transcriber`, used the same way offline and live, so both give the same result):

audio at any rate -> streaming resampler to 16 kHz (:mod:`tonehost.dsp.resample`, delay compensated) -> streaming log-mel
(:class:`tonehost.dsp.mel.MelStream`) -> the ``stream`` ONNX model (:mod:`tonehost.exports.convert.onsets_frames`) on windows of mel frames
with 3 frames of receptive-field context either side and the LSTM states carried between calls -> the note
decoder of magenta.js (:class:`NoteDecoder`).

Conv frame ``j`` depends on mel frames ``j - 3 .. j + 3`` ('same' zero padding only at the sequence's ends), so it
is computed once mel frame ``j + 3`` exists, and the final 3 frames at :meth:`Transcriber.finish`. Hence the
streaming result equals a whole-sequence run (same probabilities, same notes), and a note-on leaves
``3 frames + window`` after its onset frame at the earliest (:func:`latency_floor_s`).

:class:`LiveTranscriber` runs this in a worker thread fed by any *audio source* with a non-blocking
``read_input(buf) -> int`` (the engine, or :class:`~tonehost.realtime.audio.worker.ArraySource` for files and tests); heavy work (numpy FFT, numba
``nogil`` kernels, onnxruntime) releases the GIL, so an audio callback in the same process keeps running.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from numba import njit

from tonehost.dsp.mel import HOP, N_FFT, SAMPLE_RATE, MelStream
from tonehost.exports.errors import ModelError, UsageError
from tonehost.exports.note_sequence import Note, NoteSequence
from tonehost.realtime.audio.worker import Worker
from tonehost.realtime.io import MIN_FILE_RATE, audio_array, check_sample_rate, to_mono

N_PITCHES = 88
MIN_PITCH = 21
RF_PAD = 3
LSTM_UNITS = 384
FRAME_SECONDS = HOP / SAMPLE_RATE
ONSET_THRESHOLD = 0.5
FRAME_THRESHOLD = 0.5


def latency_floor_s() -> float:
    """Architectural floor of note latency: an onset at the *start* of frame f's hop can be known only once
    mel frame ``f + 3`` is complete, i.e. sample ``(f + 3) * 512 + 1023``: 3 hops of receptive field plus
    half a window after the frame centre (plus the 16 kHz resampler's delay, see :class:`AudioTo16k`)."""
    return (RF_PAD * HOP + N_FFT // 2) / SAMPLE_RATE


def midi_velocity(v: np.ndarray) -> np.ndarray:
    """magenta.js velocity mapping: ``int(clip(v, 0, 1) * 80 + 10)`` in float32, truncated like ``toInt``."""
    v = np.clip(np.asarray(v, dtype=np.float32), np.float32(0), np.float32(1))
    return (v * np.float32(80.0) + np.float32(10.0)).astype(np.int32)


@dataclass
class NoteEvent:
    """A note-on or note-off as it leaves the decoder.

    ``frame`` is the mel frame the event belongs to (``time = frame * 0.032`` s into the input) and
    ``emitted`` the ``time.perf_counter()`` at which it was produced.
    """
    kind: str   # "on" | "off"
    pitch: int
    velocity: int
    frame: int
    time: float
    emitted: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class Decoding:
    """How probabilities become notes.

    Parameters
    ----------
    onset_threshold, frame_threshold : float
        magenta.js: 0.5 and 0.5.
    ghost_frames : int
        A note that lasts at most this many frames (32 ms each) and starts within a frame of a note 12, 19, 24,
        28 or 31 semitones below (its partials 2-6) is a ghost of that note's partial and is dropped. Such a
        note's note-on leaves the decoder once it has outlasted ``ghost_frames`` (with the onset's time), or at
        its note-off if it is not a ghost. 0 = magenta.js. 1 removes the one-frame ghosts that loud onsets put
        on their partials, and keeps short notes that no lower note explains.
    velocity : str
        ``"model"``: the velocity head (magenta.js ``clip(v, 0, 1) * 80 + 10``); ``"loudness"``: from the key's
        level at its onset (:func:`loudness_velocity`), which follows how hard the key was struck. The level is
        on the calibration renders' scale until an onset would get more than 127: from then on the scale moves
        down so that the loudest onset so far is 127 (a recording hotter than the renders gave every note 127);
        offline (:func:`transcribe_array`, :func:`transcribe_file`) the whole input's loudest onset sets it.
    min_onset_rise_db : float, optional
        An onset counts only if the key's level over the onset frame and the next two exceeds its level over the
        three frames before by at least this much (a key re-detected in its own decay does not rise); ``None``
        keeps every onset (magenta.js).
    ghost_causal : bool
        Live variant of ``ghost_frames``: only a note whose onset comes in the same frame as, or the frame after,
        an onset 12, 19, 24, 28 or 31 semitones below (what is known when its onset is decoded) is held back
        ``ghost_frames`` and dropped if it ends by then; every other note-on leaves at its onset frame, with no
        added latency. A ghost whose lower note is detected a frame *after* it is kept (the offline filter drops
        it too).
    """

    onset_threshold: float = ONSET_THRESHOLD
    frame_threshold: float = FRAME_THRESHOLD
    ghost_frames: int = 0
    velocity: str = "model"
    min_onset_rise_db: float | None = None
    ghost_causal: bool = False

    def __post_init__(self):
        """Refuse a decoding that cannot work: ``Decoding(velocity="midi")`` ran without the velocity head and
        gave every note velocity 10; ``onset_threshold=1.5`` found no notes, without a word.

        Raises
        ------
        UsageError
            A threshold outside (0, 1), ``ghost_frames`` not a whole number >= 0, ``velocity`` not ``"model"`` or
            ``"loudness"``, ``min_onset_rise_db`` neither None nor finite.
        """
        import math
        import numbers

        def real(v):
            return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)

        for name in ("onset_threshold", "frame_threshold"):
            v = getattr(self, name)
            if not (real(v) and 0.0 < v < 1.0):
                raise UsageError(f"Decoding {name} must be a probability between 0 and 1 (exclusive), got {v!r}")
        g = self.ghost_frames
        if not (isinstance(g, numbers.Integral) and not isinstance(g, (bool, np.bool_)) and g >= 0):
            raise UsageError(f"Decoding ghost_frames must be a whole number of frames >= 0, got {g!r}")
        if self.velocity not in ("model", "loudness"):
            raise UsageError(f"Decoding velocity must be 'model' or 'loudness', got {self.velocity!r}")
        v = self.min_onset_rise_db
        if v is not None and not real(v):
            raise UsageError(f"Decoding min_onset_rise_db must be None or a finite number of dB, got {v!r}")

    @property
    def needs_levels(self) -> bool:
        return self.velocity == "loudness" or self.min_onset_rise_db is not None


#: magenta.js's decoding, exactly (the default of :class:`Transcriber`; the parity tests use it).
MAGENTA_DECODING = Decoding()
#: The shipped model's decoding: velocities from onset loudness, no one-frame ghosts on partials. (The onset-rise
#: test is left off: on rendered pieces it cost more recall than it gained precision.)
CALIBRATED_DECODING = Decoding(ghost_frames=1, velocity="loudness")
#: The shipped model's live decoding (``tonehost transcribe --live``): :data:`CALIBRATED_DECODING` with the ghost
#: filter's causal variant (only note-ons that coincide with a lower partial's onset wait a frame).
LIVE_DECODING = Decoding(ghost_frames=1, velocity="loudness", ghost_causal=True)
#: Semitones from a note up to its partials 2..6 (octave, twelfth, two octaves, major 17th, 19th).
PARTIAL_INTERVALS = (12, 19, 24, 28, 31)

#: ``log10(velocity) = c0 + c1 * level_db + c2 * pitch + c3 * pitch**2``: least squares on single notes of every
#: second key at velocities 16..127 rendered with FluidR3_GM and TimGM6mb (the training soundfonts);
#: ``python -m tonehost.exports.training.recipes.fit_velocity`` refits it. Level: :func:`onset_levels` peak.
LOUDNESS_VELOCITY = (2.24856, 0.0216432, -0.0133962, 0.000111979)
_PITCH_WEIGHTS = None
_LOG_MAX_VELOCITY = float(np.log10(127.0))


def loudness_velocity(level_db: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """MIDI velocity (1..127) of a key struck so that its level peaks at ``level_db`` (:data:`LOUDNESS_VELOCITY`).

    Parameters
    ----------
    level_db : numpy.ndarray
        The key's peak level over its onset frame and the next two (dB of mel power, :func:`onset_levels`).
    pitch : numpy.ndarray
        MIDI pitch, same shape.

    Returns
    -------
    numpy.ndarray
        int32 velocities; about ``40 log10`` of the amplitude, as piano samplers map velocity to gain.
    """
    return np.clip(np.round(10.0 ** loudness_log_velocity(level_db, pitch)), 1, 127).astype(np.int32)


def loudness_log_velocity(level_db: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """``log10`` of :func:`loudness_velocity` before rounding and clipping (float64, same shape): over
    ``log10(127)`` where the calibration would give more than 127."""
    c0, c1, c2, c3 = LOUDNESS_VELOCITY
    p = np.asarray(pitch, np.float64)
    return c0 + c1 * np.asarray(level_db, np.float64) + c2 * p + c3 * p * p


def onset_levels(mel_db: np.ndarray, first: int, count: int,
                 mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-key onset level and rise (:func:`tonehost.dsp.mel.onset_levels` with partials 1-3 of each key), at
    the (frame, key) pairs of ``mask`` only when given."""
    global _PITCH_WEIGHTS
    from tonehost.dsp.mel import onset_levels as levels, pitch_band_weights

    if _PITCH_WEIGHTS is None:
        _PITCH_WEIGHTS = pitch_band_weights()
    return levels(mel_db, first, count, _PITCH_WEIGHTS, mask)


_PARTIALS = np.array(PARTIAL_INTERVALS, np.int64)


@njit(nogil=True, cache=True)
def _ghost(p, start, last_onset, partials):
    for i in partials:
        q = p - i
        if q >= 0 and abs(last_onset[q] - start[p]) <= 1:
            return True
    return False


@njit(nogil=True, cache=True)
def _coincident(p, f, last_onset, partials):
    """A key a partial interval below ``p`` had its onset in frame ``f`` or ``f - 1`` (lower keys of frame ``f``
    are decoded first)."""
    for i in partials:
        q = p - i
        if q >= 0 and 0 <= f - last_onset[q] <= 1:
            return True
    return False


@njit(nogil=True, cache=True)
def _emit(ev, n, kind, p, v, f, s):
    ev[n, 0] = kind
    ev[n, 1] = p
    ev[n, 2] = v
    ev[n, 3] = f
    ev[n, 4] = s
    return n + 1


@njit(nogil=True, cache=True)
def _end_note(p, f, start, vel, shown, last_onset, partials, ev, n):
    if not shown[p] and not _ghost(p, start, last_onset, partials):
        shown[p] = True
        n = _emit(ev, n, 1, p, vel[p], start[p], start[p])
    if shown[p]:
        n = _emit(ev, n, 0, p, vel[p], f, start[p])
    start[p] = -1
    shown[p] = False
    return n


@njit(nogil=True, cache=True)
def _decode_frames(onsets, frames, vels, wait, start, vel, shown, last_onset, prev_onsets, base, partials, ev,
                   causal=False):
    """The frame loop of :meth:`NoteDecoder.push`, compiled: updates the key state arrays in place and writes one
    row ``(kind, key, velocity, frame, start frame)`` per event to ``ev`` (kind 1 = note-on at its start frame,
    0 = note-off), in the order the events happen; returns the number of rows. ``causal``:
    :attr:`Decoding.ghost_causal`."""
    n = 0
    K, P = onsets.shape
    for k in range(K):
        f = base + k
        for p in range(P):
            on = onsets[k, p]
            if on:
                if start[p] >= 0:
                    if (onsets[k - 1, p] if k > 0 else prev_onsets[p]):
                        continue
                    n = _end_note(p, f, start, vel, shown, last_onset, partials, ev, n)
                start[p] = f
                last_onset[p] = f
                vel[p] = vels[k, p]
                if wait == 1 or (causal and not _coincident(p, f, last_onset, partials)):
                    shown[p] = True
                    n = _emit(ev, n, 1, p, vel[p], f, f)
            elif start[p] >= 0 and not frames[k, p]:
                n = _end_note(p, f, start, vel, shown, last_onset, partials, ev, n)
        if wait > 1:  # notes that have now outlasted a partial's ghost
            for p in range(P):
                if start[p] >= 0 and not shown[p] and f - start[p] + 1 >= wait:
                    shown[p] = True
                    n = _emit(ev, n, 1, p, vel[p], start[p], start[p])
    return n


class NoteDecoder:
    """Streaming ``pianorollToNoteSequence`` of magenta.js (onset 0.5, frame 0.5, an onset forces its frame),
    with the optional refinements of :class:`Decoding`.

    Rules per frame f and pitch p: an onset starts a note unless the pitch already sounds and the previous frame
    was an onset too; a sounding pitch whose new onset follows a non-onset frame is ended at f and restarted; a
    pitch without onset and without frame ends at f. :meth:`finish` ends whatever still sounds at the total
    frame count (the reference's extra silent frame). Finished notes are kept in :attr:`notes` unless
    ``keep_notes`` is False (a live session that hands every event on and runs for hours).
    """

    def __init__(self, onset_threshold: float = ONSET_THRESHOLD, frame_threshold: float = FRAME_THRESHOLD,
                 decoding: Decoding | None = None, keep_notes: bool = True):
        self.keep_notes = keep_notes
        self.decoding = decoding or Decoding(onset_threshold, frame_threshold)
        self.onset_threshold = self.decoding.onset_threshold
        self.frame_threshold = self.decoding.frame_threshold
        self.reset()

    def reset(self) -> None:
        self._start = np.full(N_PITCHES, -1, dtype=np.int64)
        self._vel = np.zeros(N_PITCHES, dtype=np.int32)
        self._shown = np.zeros(N_PITCHES, dtype=bool)  # note-on emitted (past ghost_frames, or not a ghost)
        self._last_onset = np.full(N_PITCHES, -10, dtype=np.int64)  # frame of each key's latest onset
        self._prev_onsets = np.zeros(N_PITCHES, dtype=bool)
        self._velocity_shift = 0.0  # log10 units the loudness velocities are moved down (>= 0; see push)
        self._onset_lv: dict = {}  # (frame, key) -> unshifted log10 velocity of a recent onset (kept notes only)
        self._notes_lv: list = []  # the same for each of self.notes (None: not a loudness velocity)
        self._ev = np.empty((0, 5), np.int64)  # event rows of _decode_frames, reused
        self.frame = 0
        self.notes: list[Note] = []

    @property
    def sounding(self) -> list[int]:
        """MIDI pitches currently on (whose note-on has been emitted)."""
        return [int(p) + MIN_PITCH for p in np.flatnonzero((self._start >= 0) & self._shown)]

    def _is_ghost(self, p: int) -> bool:
        s = self._start[p]
        return any(p - i >= 0 and abs(self._last_onset[p - i] - s) <= 1 and p - i != p for i in PARTIAL_INTERVALS)

    def _end(self, p: int, f: int, events: list) -> None:
        p, f = int(p), int(f)
        if not self._shown[p] and not self._is_ghost(p):
            self._show(p, events)
        if self._shown[p]:
            if self.keep_notes:
                self.notes.append(Note(pitch=p + MIN_PITCH, velocity=int(self._vel[p]),
                                       start_time=int(self._start[p]) * FRAME_SECONDS, end_time=f * FRAME_SECONDS))
                self._notes_lv.append(self._onset_lv.get((int(self._start[p]), p)))
            events.append(NoteEvent("off", p + MIN_PITCH, 0, f, f * FRAME_SECONDS))
        self._start[p] = -1
        self._shown[p] = False

    def _show(self, p: int, events: list) -> None:
        self._shown[p] = True
        s = int(self._start[p])
        events.append(NoteEvent("on", p + MIN_PITCH, int(self._vel[p]), s, s * FRAME_SECONDS))

    def push(self, onset_probs: np.ndarray, frame_probs: np.ndarray, velocities: np.ndarray,
             levels: tuple[np.ndarray, np.ndarray] | None = None) -> list[NoteEvent]:
        """Decode frames ``[K, 88]`` (probabilities and raw velocities); return the events they complete.

        ``levels`` is ``(peak, rise)`` of :func:`onset_levels` for the same frames (read at onsets only), needed
        when the decoding uses loudness velocities or an onset rise.

        The frame loop runs compiled (:func:`_decode_frames`); Python only wraps the events it found.
        """
        d = self.decoding
        onsets = np.asarray(onset_probs) > self.onset_threshold
        if d.min_onset_rise_db is not None and levels is not None:
            onsets &= levels[1] >= d.min_onset_rise_db
        frames = (np.asarray(frame_probs) > self.frame_threshold) | onsets
        K = len(onsets)
        if K == 0:
            return []
        if d.velocity == "loudness" and levels is not None:
            vels = np.zeros(onsets.shape, np.int32)
            at = np.nonzero(onsets)
            lv = loudness_log_velocity(levels[0][at], at[1] + MIN_PITCH)
            # The calibration's scale holds for the level of its renders; a recording made hotter than them (a
            # close mic, a normalised file) gave every note 127. The loudest onset so far that would exceed 127
            # moves the scale down (frame by frame, causal, as live events need) until it is 127 itself; offline,
            # settle_velocities puts every kept note on the whole input's scale at the end.
            over = np.full(K, -np.inf)
            np.maximum.at(over, at[0], lv - _LOG_MAX_VELOCITY)
            shift = np.maximum.accumulate(np.maximum(over, self._velocity_shift))
            self._velocity_shift = float(shift[-1])
            vels[at] = np.clip(np.round(10.0 ** (lv - shift[at[0]])), 1, 127).astype(np.int32)
            if self.keep_notes:  # (settle_velocities reads them)
                self._onset_lv.update(zip(zip((at[0] + self.frame).tolist(), at[1].tolist()), lv.tolist()))
        else:
            vels = midi_velocity(velocities)
        wait = max(0, int(d.ghost_frames)) + 1
        if len(self._ev) < 4 * N_PITCHES * K:  # at most 4 events per key and frame
            self._ev = np.empty((4 * N_PITCHES * K, 5), np.int64)
        n = _decode_frames(onsets, frames, np.ascontiguousarray(vels, np.int32), wait, self._start, self._vel,
                           self._shown, self._last_onset, self._prev_onsets, self.frame, _PARTIALS, self._ev,
                           bool(d.ghost_causal))
        self._prev_onsets = onsets[-1].copy()
        self.frame += K
        events: list[NoteEvent] = []
        for kind, p, v, f, s in self._ev[:n].tolist():
            if kind:
                events.append(NoteEvent("on", p + MIN_PITCH, v, f, f * FRAME_SECONDS))
            else:
                if self.keep_notes:
                    self.notes.append(Note(pitch=p + MIN_PITCH, velocity=v, start_time=s * FRAME_SECONDS,
                                           end_time=f * FRAME_SECONDS))
                    self._notes_lv.append(self._onset_lv.get((s, p)))
                events.append(NoteEvent("off", p + MIN_PITCH, 0, f, f * FRAME_SECONDS))
        if len(self._onset_lv) > 1024:  # only sounding notes' starts and the newest frames can still be read
            keep = self.frame - 8
            self._onset_lv = {(f, p): v for (f, p), v in self._onset_lv.items()
                              if f >= keep or self._start[p] == f}
        return events

    def settle_velocities(self) -> None:
        """Offline, after :meth:`finish`: the kept notes' loudness velocities on the scale of the whole input (its
        loudest onset that would exceed 127 is 127), not the scale of the loudest onset before each note, which
        live events must use. Nothing changes where no onset exceeded 127 or velocities come from the model."""
        if self._velocity_shift <= 0.0:
            return
        for note, lv in zip(self.notes, self._notes_lv):
            if lv is not None:
                note.velocity = int(np.clip(np.round(10.0 ** (lv - self._velocity_shift)), 1, 127))

    def finish(self) -> list[NoteEvent]:
        """End every sounding note at the current frame (end of input); partials' ghosts are dropped."""
        events: list[NoteEvent] = []
        for p in np.flatnonzero(self._start >= 0):
            self._end(int(p), self.frame, events)
        return events


def without_velocity_head(model_path):
    """The stream-form model with its velocity head (conv stack, fc and output layer) cut away, as an in-memory
    ``onnx.ModelProto``, or ``model_path`` itself when that cannot be done (not an ONNX file, no ``velocities``
    output: :func:`~tonehost.exports.onnx_session.make_session` then says what is wrong).

    The onset and frame outputs are bit for bit those of the whole model (the same nodes on the same inputs), at
    about 70 % of its cost: decodings that take velocities from onset loudness (``Decoding.velocity ==
    "loudness"``, the shipped model's) never read the head.
    """
    try:
        import onnx
        from onnx.utils import Extractor

        m = onnx.load(str(model_path))
        outs = [o.name for o in m.graph.output]
        if "velocities" not in outs:
            return model_path
        return Extractor(m).extract_model([i.name for i in m.graph.input], [o for o in outs if o != "velocities"])
    except Exception:  # noqa: BLE001 - a damaged or foreign file: make_session reports it
        return model_path


def state_units(session, name: str = "onset_h") -> int:
    """LSTM units of a stream-form model (its state input's width): 384 hosted, smaller for the shipped model."""
    for i in session.get_inputs():
        if i.name == name and len(i.shape) == 2 and isinstance(i.shape[1], int):
            return int(i.shape[1])
    return LSTM_UNITS


#: The most mel frames one model call may take (``max_chunk``): 2**16 frames are 35 minutes of audio.
MAX_CHUNK = 1 << 16


def check_max_chunk(max_chunk) -> int:
    """``max_chunk`` (frames per model call) as an ``int`` in ``1 .. MAX_CHUNK``.

    Raises
    ------
    UsageError
        Not a whole number in that range: ``stream(sr, max_chunk=0)`` used to loop for ever without a model
        call, -1 ended in numpy's "negative dimensions", 1.5 in a TypeError from slicing.
    """
    from tonehost.dsp._checks import check_int

    try:
        return check_int("max_chunk", max_chunk, 1, MAX_CHUNK)
    except ValueError as exc:
        raise UsageError(f"{exc} (mel frames of 32 ms per model call; 8 is live, 250 magenta.js's)") from None


def check_decoding(decoding) -> "Decoding":
    """``decoding`` (None: :data:`MAGENTA_DECODING`) if it is a :class:`Decoding`.

    Raises
    ------
    UsageError
        Anything else (``decoding="magenta"`` used to end in an AttributeError inside the session factory).
    """
    if decoding is None:
        return MAGENTA_DECODING
    if not isinstance(decoding, Decoding):
        raise UsageError(f"decoding must be a tonehost.realtime.pipelines.transcriber.Decoding (MAGENTA_DECODING, "
                         f"CALIBRATED_DECODING, LIVE_DECODING or your own), got {type(decoding).__name__} "
                         f"{decoding!r:.60}")
    return decoding


class Transcriber:
    """Incremental O&F on 16 kHz audio (or on mel frames): same result whatever the block sizes.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
        The ``stream`` form of :mod:`tonehost.exports.convert.onsets_frames`.
    max_chunk : int
        Most output frames per model call (250 = magenta.js's chunk length; live mode runs what is ready).
    keep_probs : bool
        Keep every frame's onset/frame probabilities and velocities (``self.probs()``), for tests and plots.
    decoding : Decoding, optional
        How probabilities become notes (default :data:`MAGENTA_DECODING`; the shipped model uses
        :data:`CALIBRATED_DECODING`, see :meth:`OnsetsAndFrames.decoding`).
    full_chunks : bool
        Offline: run the model only on whole ``max_chunk`` windows (and the rest at :meth:`finish`), so the model
        calls fall on the same frames however the audio is cut into blocks: a file read block by block gives
        bit-for-bit the probabilities of the whole array in one push. Live mode leaves it off and runs what is
        ready.
    keep_notes : bool
        Keep the finished notes (:attr:`notes`); False for a live session that takes them from the events.
    """

    def __init__(self, session, max_chunk: int = 250, keep_probs: bool = False, full_chunks: bool = False,
                 decoding: Decoding | None = None, keep_notes: bool = True):
        self.session = session
        self.keep_notes = keep_notes
        self.max_chunk = check_max_chunk(max_chunk)
        self.decoding = check_decoding(decoding)
        self.keep_probs = keep_probs
        self.full_chunks = full_chunks
        self._outputs = [o.name for o in session.get_outputs()]
        if self.decoding.velocity == "model" and "velocities" not in self._outputs:
            raise UsageError("this decoding takes velocities from the model, and the session has no velocity "
                             "head (OnsetsAndFrames.session_for(decoding) gives the right one)")
        self.reset()

    def reset(self) -> None:
        self.mel_stream = MelStream()
        self.decoder = NoteDecoder(decoding=self.decoding, keep_notes=self.keep_notes)
        self._mel = np.zeros((0, 229), dtype=np.float32)  # mel frames from index self._mel0 on
        self._mel0 = 0
        self._next = 0          # next conv/output frame to compute
        self._states = {n: np.zeros((1, state_units(self.session, n)), np.float32)
                        for n in ("onset_h", "onset_c", "frame_h", "frame_c")}
        self._probs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._finished = False
        self.model_calls = 0
        self.model_seconds = 0.0

    def warm_up(self) -> None:
        """Run the mel kernel and one model call on silence (first-call costs out of the way), then reset."""
        self.push_audio(np.zeros(16000 // 2, np.float32))
        self.reset()

    @property
    def frames_done(self) -> int:
        """Frames whose probabilities are known (and decoded)."""
        return self._next

    def push_audio(self, audio16k: np.ndarray) -> list[NoteEvent]:
        """Add 16 kHz mono samples; return the note events now known."""
        return self.push_mel(self.mel_stream.push(audio16k))

    def push_mel(self, frames: np.ndarray, final: bool = False) -> list[NoteEvent]:
        """Add log-mel frames ``[k, 229]``; with ``final`` the sequence ends after them."""
        if len(frames):
            self._mel = np.concatenate([self._mel, np.asarray(frames, np.float32)])
        total = self._mel0 + len(self._mel)
        ready = total if final else total - RF_PAD
        events: list[NoteEvent] = []
        while self._next < ready:
            j0 = self._next
            j1 = min(ready, j0 + self.max_chunk)
            if self.full_chunks and not final and j1 - j0 < self.max_chunk:
                break
            events += self._run(j0, j1, total)
        # keep only the context the next window needs
        keep_from = max(self._mel0, self._next - RF_PAD)
        self._mel = self._mel[keep_from - self._mel0:]
        self._mel0 = keep_from
        if final:
            self._finished = True
            events += self.decoder.finish()
        return events

    def _run(self, j0: int, j1: int, total: int) -> list[NoteEvent]:
        w0 = max(0, j0 - RF_PAD)
        w1 = min(total, j1 + RF_PAD)
        window = self._mel[w0 - self._mel0:w1 - self._mel0][None]
        feeds = {"mel": window, "start": np.array([j0 - w0], np.int64), "stop": np.array([j1 - w0], np.int64)}
        feeds.update(self._states)
        t0 = time.perf_counter()
        out = dict(zip(self._outputs, self.session.run(None, feeds)))
        self.model_seconds += time.perf_counter() - t0
        self.model_calls += 1
        on, fr = out["onset_probs"], out["frame_probs"]
        vel = out.get("velocities")
        if vel is None:  # a session without the velocity head (the decoding takes velocities from loudness)
            vel = np.zeros_like(on)
        self._states = {"onset_h": out["onset_h_out"], "onset_c": out["onset_c_out"],
                        "frame_h": out["frame_h_out"], "frame_c": out["frame_c_out"]}
        self._next = j1
        if self.keep_probs:
            self._probs.append((on[0], fr[0], vel[0]))
        levels = None
        if self.decoding.needs_levels:  # the decoder reads them at onsets only
            levels = onset_levels(window[0], j0 - w0, j1 - j0, on[0] > self.decoding.onset_threshold)
        return self.decoder.push(on[0], fr[0], vel[0], levels)

    def finish(self) -> list[NoteEvent]:
        """End of input: the last mel frames, the last outputs, and note-offs for what still sounds."""
        if self._finished:
            return []
        return self.push_mel(self.mel_stream.finish(), final=True)

    def probs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(onset_probs, frame_probs, velocities), each ``[frames_done, 88]`` (needs ``keep_probs``)."""
        if not self._probs:
            z = np.zeros((0, N_PITCHES), np.float32)
            return z, z, z
        return tuple(np.concatenate([p[i] for p in self._probs]) for i in range(3))

    @property
    def notes(self) -> list[Note]:
        return self.decoder.notes


class AudioTo16k:
    """Streaming mono resampler to 16 kHz (or ``fs_out``) with its group delay removed, so the output lines up
    with the input.

    The first ``delay`` outputs of the filter are dropped; :meth:`flush` pushes zeros through to get the tail and
    cuts the total to ``ceil(n_in * fs_out / fs_in)`` samples. Offline and streaming use this same object, so they
    see the same 16 kHz samples. At 16 kHz in, it is the identity.
    """

    def __init__(self, fs_in: int, fs_out: int = SAMPLE_RATE):
        self.fs_in = int(fs_in)
        self.fs_out = int(fs_out)
        self.n_in = 0
        self.n_out = 0
        self._rs = None
        self._drop = 0
        if self.fs_in != self.fs_out:
            from tonehost.dsp.resample import Resampler

            self._rs = Resampler(self.fs_in, self.fs_out)
            self._drop = int(round(self._rs.delay_out()))

    @property
    def delay_s(self) -> float:
        """Latency the resampler adds in streaming (its group delay), seconds."""
        return 0.0 if self._rs is None else self._rs.delay_in() / self.fs_in

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        self.n_in += len(x)
        if self._rs is None:
            self.n_out += len(x)
            return x
        y = self._rs.process(x)
        if self._drop:
            k = min(self._drop, len(y))
            y = y[k:]
            self._drop -= k
        self.n_out += len(y)
        return y.astype(np.float32)

    def flush(self) -> np.ndarray:
        if self._rs is None:
            return np.zeros(0, np.float32)
        want = -(-self.n_in * self.fs_out // self.fs_in)
        n_in = self.n_in
        y = self.process(np.zeros(int(np.ceil(self._rs.delay_in())) + self._rs.taps, np.float32))
        self.n_in = n_in
        y = y[:max(0, want - (self.n_out - len(y)))]
        self.n_out = want
        return y


def transcribe_array(session, audio: np.ndarray, sample_rate: int, block: int | None = None,
                     keep_probs: bool = False, decoding: Decoding | None = None) -> Transcriber:
    """Transcribe a whole array (mono or ``[n, ch]``) at any rate; ``block`` streams it in blocks of that size.

    Returns the finished :class:`Transcriber` (``.notes``, ``.probs()`` when ``keep_probs``).
    """
    mono = to_mono(audio)
    rs = AudioTo16k(sample_rate)
    tr = Transcriber(session, keep_probs=keep_probs, full_chunks=True, decoding=decoding)
    step = len(mono) if not block else block
    for i in range(0, len(mono), max(1, step)):
        tr.push_audio(rs.process(mono[i:i + step]))
    tr.push_audio(rs.flush())
    tr.finish()
    tr.decoder.settle_velocities()
    return tr


def transcribe_file(session, path, progress: Callable[[float], object] | None = None,
                    block_frames: int | None = None, decoding: Decoding | None = None) -> tuple[Transcriber, float]:
    """Transcribe an audio file read block by block: memory stays flat in the file's length.

    The file goes through the one streaming reader (:class:`~tonehost.realtime.io.AudioFile`: truncated or
    damaged files raise, NaN/inf samples become zeros with one warning) and the same :class:`Transcriber` as
    live mode, with whole 250-frame model calls (``full_chunks``), so the notes equal :func:`transcribe_array`
    on the whole file, bit for bit.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
        Stream-form model.
    path : str or os.PathLike
        Any audio file :class:`~tonehost.realtime.io.AudioFile` reads (any rate, any channel count).
    progress : callable, optional
        Called after each block with the seconds of audio read in it (e.g. ``tqdm.update``).
    block_frames : int, optional
        Frames per block read (default :data:`~tonehost.realtime.io.BLOCK_FRAMES`).
    decoding : Decoding, optional
        Default :data:`MAGENTA_DECODING`.

    Returns
    -------
    (Transcriber, float)
        The finished transcriber (``.notes``) and the file's length in seconds.

    Raises
    ------
    AudioFileError
        The file is missing, not audio, empty, truncated or damaged part way.
    """
    from tonehost.realtime.io import BLOCK_FRAMES, AudioFile

    with AudioFile(path, mono=True) as f:
        rs = AudioTo16k(f.sample_rate)
        tr = Transcriber(session, full_chunks=True, decoding=decoding)
        for block in f.blocks(block_frames or BLOCK_FRAMES):
            tr.push_audio(rs.process(block))
            if progress is not None:
                progress(len(block) / f.sample_rate)
        tr.push_audio(rs.flush())
        tr.finish()
        tr.decoder.settle_velocities()
        return tr, f.duration


class LiveTranscriber:
    """A worker thread (:class:`~tonehost.realtime.audio.worker.Worker`): read a source, resample, transcribe, hand
    each event to ``on_event`` as soon as it is known.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
        ``stream``-form model.
    source : AudioSource
        The engine, or an :class:`~tonehost.realtime.audio.worker.ArraySource` (files, tests); a finite source
        ends the run by itself (the last notes are closed).
    sample_rate : int
        The source's rate in Hz.
    on_event : callable
        Called with each :class:`NoteEvent` from the worker thread (keep it quick).
    poll_s : float
        Longest wait for input before looking again.
    max_chunk : int
        Most frames per model call.
    decoding : Decoding, optional
        Default :data:`MAGENTA_DECODING`.
    keep_notes : bool
        Keep every finished note in ``transcriber.notes`` (False: memory stays flat over hours; take the notes
        from the events).
    """

    def __init__(self, session, source, sample_rate: int, on_event: Callable[[NoteEvent], None] | None = None,
                 poll_s: float = 0.04, max_chunk: int = 8, decoding: Decoding | None = None,
                 keep_notes: bool = True):
        self.source = source
        self.sample_rate = int(sample_rate)
        self.on_event = on_event or (lambda e: None)
        self.transcriber = Transcriber(session, max_chunk=max_chunk, decoding=decoding, keep_notes=keep_notes)
        self.transcriber.warm_up()
        self.resampler = AudioTo16k(self.sample_rate)
        self._worker = Worker(source, self._process, on_end=self._finish, max_block=max(1024, self.sample_rate // 20),
                              poll_s=poll_s, name="tonehost-transcriber")

    def _emit(self, events: list[NoteEvent]) -> None:
        for e in events:
            self.on_event(e)

    def _process(self, block: np.ndarray) -> None:
        self._emit(self.transcriber.push_audio(self.resampler.process(block)))

    def _finish(self) -> None:
        self._emit(self.transcriber.push_audio(self.resampler.flush()))
        self._emit(self.transcriber.finish())

    def start(self) -> "LiveTranscriber":
        """Start the worker thread; returns self."""
        self._worker.start()
        return self

    @property
    def samples_read(self) -> int:
        """Input samples consumed so far."""
        return self._worker.samples_read

    def stop(self) -> None:
        """Stop reading (notes still sounding stay open; see :meth:`sounding`); re-raises a worker error."""
        self._worker.stop(None)

    def join(self, timeout: float | None = None) -> None:
        """Wait for a finite source to be transcribed to its end; re-raises a worker error."""
        self._worker.join(timeout)

    @property
    def running(self) -> bool:
        return self._worker.running

    def sounding(self) -> list[int]:
        """MIDI pitches currently on."""
        return self.transcriber.decoder.sounding


# ---------------------------------------------------------------------------------------------- public API

def check_stream_session(session, where: str = "the model") -> None:
    """Raise :class:`~tonehost.exports.errors.ModelError` unless ``session`` runs the stream form of the O&F
    export (inputs ``mel``, ``start``, ``stop`` then the LSTM states)."""
    if [i.name for i in session.get_inputs()][:3] != ["mel", "start", "stop"]:
        raise ModelError(f"{where} is not the stream form of the Onsets and Frames export; use `tonehost export "
                         "onsets-frames CHECKPOINT --form stream`")


def notes_to_sequence(notes, total_time: float | None = None) -> NoteSequence:
    """A :class:`~tonehost.exports.note_sequence.NoteSequence` of ``notes`` sorted by (start_time, pitch).

    ``total_time`` defaults to the last note's end (seconds).
    """
    seq = NoteSequence(notes=sorted(notes, key=lambda n: (n.start_time, n.pitch)))
    ends = [n.end_time for n in seq.notes]
    seq.total_time = float(total_time if total_time is not None else max(ends, default=0.0))
    return seq


class TranscriptionStream:
    """A live transcription: push audio blocks as they come, get note events as soon as they are known.

    Made by :meth:`OnsetsAndFrames.stream`. Whatever the block sizes, the notes equal those of
    :meth:`OnsetsAndFrames.transcribe` on the whole signal.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
        Stream-form model (:meth:`OnsetsAndFrames.session_for`).
    sample_rate : int
        Rate of the pushed audio in Hz, 1000 .. 1 MHz (resampled to 16 kHz).
    max_chunk : int
        Most mel frames (32 ms each) per model call, 1 .. :data:`MAX_CHUNK` (small = low latency).
    decoding : Decoding, optional
        Default :data:`MAGENTA_DECODING`.

    Raises
    ------
    UsageError
        A bad rate, ``max_chunk`` or decoding; ``session`` is not an ONNX Runtime session.
    ModelError
        ``session`` is not the stream form of the Onsets and Frames export.
    """

    def __init__(self, session, sample_rate: int, max_chunk: int = 8, decoding: Decoding | None = None):
        self.sample_rate = check_sample_rate(sample_rate, lowest=MIN_FILE_RATE)
        if not callable(getattr(session, "get_inputs", None)):  # None: an AttributeError inside Transcriber
            raise UsageError(f"session must be the ONNX Runtime session of an Onsets and Frames stream model, got "
                             f"{type(session).__name__}; make a stream with OnsetsAndFrames().stream(sample_rate)")
        check_stream_session(session)
        self._resampler = AudioTo16k(self.sample_rate)
        self._transcriber = Transcriber(session, max_chunk=max_chunk, decoding=decoding)
        self._done = False

    def push(self, block: np.ndarray) -> list[NoteEvent]:
        """Add audio (``[n]`` or ``[n, channels]`` float at ``sample_rate``); return the events it completes.

        Parameters
        ----------
        block : array_like, shape (n,) or (n, channels)
            Any int or float dtype (int PCM is scaled to [-1, 1)); any length, 0 included.

        Returns
        -------
        list of NoteEvent
            Note-ons and note-offs, in order (``time`` in seconds of the input).

        Raises
        ------
        UsageError
            The stream is finished; ``block`` is a file name, not numeric, ``[channels, n]`` or not 1-D/2-D.

        Warns
        -----
        NonFiniteAudioWarning
            NaN/inf samples were replaced by zeros.
        """
        if self._done:
            raise UsageError("this transcription stream is finished; start a new one with OnsetsAndFrames.stream()")
        return self._transcriber.push_audio(self._resampler.process(audio_array(block, "block")))

    def finish(self) -> list[NoteEvent]:
        """End of input: the last frames' events and note-offs for what still sounds (a second call returns
        ``[]``; :meth:`push` after it is a UsageError). :attr:`note_sequence` is then :meth:`OnsetsAndFrames.
        transcribe`'s result, velocities too: those of the events sent before it may differ on a recording hotter
        than the velocity calibration (:class:`Decoding` ``velocity``: live, the loudest onset so far sets the
        scale; the finished record takes the whole input's).

        Returns
        -------
        list of NoteEvent
        """
        if self._done:
            return []
        self._done = True
        events = self._transcriber.push_audio(self._resampler.flush())
        events += self._transcriber.finish()
        self._transcriber.decoder.settle_velocities()
        return events

    @property
    def sounding(self) -> list[int]:
        """MIDI pitches currently on."""
        return self._transcriber.decoder.sounding

    @property
    def note_sequence(self) -> NoteSequence:
        """The notes finished so far as a NoteSequence (times in seconds of the input); ``total_time`` the seconds
        decoded so far, after :meth:`finish` the input's length, as :meth:`OnsetsAndFrames.transcribe` gives it
        (it was the last frame's end, up to 32 ms past the input)."""
        heard = self._resampler.n_in / self.sample_rate
        done = heard if self._done else min(heard, self._transcriber.frames_done * FRAME_SECONDS)
        return notes_to_sequence(self._transcriber.notes, done)


class OnsetsAndFrames:
    """Piano transcription with Onsets and Frames on ONNX Runtime (magenta.js ``OnsetsAndFrames``).

    Parameters
    ----------
    checkpoint : str or os.PathLike, optional
        ``None``: the model shipped with tonehost (``onsets_frames_small``, works offline); an index id
        (``onsets_frames_uni``, ``onsets_frames_uni_q2``), a URL, a checkpoint directory, or an exported
        stream-form ``.onnx`` (:func:`tonehost.exports.resolve.transcriber_model`).
    threads : int
        ONNX Runtime intra-op threads.
    offline : bool
        Never download.
    decoding : Decoding, optional
        How probabilities become notes. Default: :data:`CALIBRATED_DECODING` for the shipped model (velocities
        from onset loudness, no one-frame ghost notes), :data:`MAGENTA_DECODING` (magenta.js exactly) for any
        other checkpoint.

    Raises
    ------
    TonehostError
        (CheckpointError, ModelError) the checkpoint cannot be found, fetched or converted.

    Examples
    --------
    >>> model = tonehost.OnsetsAndFrames()
    >>> seq = model.transcribe(audio, 44100)       # NoteSequence
    >>> stream = model.stream(48000)
    >>> events = stream.push(block)                 # note-ons/offs as soon as known
    """

    def __init__(self, checkpoint=None, threads: int = 1, offline: bool = False, decoding: Decoding | None = None):
        from tonehost.exports.checkpoints.shipped import transcriber_source
        from tonehost.exports.resolve import transcriber_model

        checkpoint = transcriber_source(checkpoint)  # the shipped model by name: the same as the default
        if decoding is not None:  # a bad one is refused before the model loads
            decoding = check_decoding(decoding)
        self.model_path = transcriber_model(checkpoint, offline)
        self.threads = threads
        if decoding is None:
            decoding = CALIBRATED_DECODING if checkpoint is None else MAGENTA_DECODING
        self.decoding = decoding
        self._sessions: dict[bool, object] = {}
        check_stream_session(self.session_for(decoding), str(self.model_path))

    @property
    def session(self):
        """The ONNX Runtime session of the whole stream-form model (every output, the velocity head included)."""
        return self.session_for(MAGENTA_DECODING)

    def session_for(self, decoding: Decoding):
        """The session ``decoding`` needs: the whole model, or, when velocities come from onset loudness, the
        model without its unused velocity head (:func:`without_velocity_head`: same onsets and frames, ~30 %
        less work). Made once each."""
        from tonehost.exports.onnx_session import make_session

        whole = decoding.velocity == "model"
        if whole not in self._sessions:
            src = self.model_path if whole else without_velocity_head(self.model_path)
            self._sessions[whole] = make_session(src, self.threads)
        return self._sessions[whole]

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> NoteSequence:
        """Transcribe a whole recording.

        Parameters
        ----------
        audio : numpy.ndarray, shape (n,) or (n, channels)
            Float samples at ``sample_rate`` (channels are averaged).
        sample_rate : int
            Hz, 1000 .. 1 MHz (resampled to 16 kHz).

        Returns
        -------
        NoteSequence
            Notes with ``pitch``, ``velocity`` (:attr:`decoding`: from onset loudness, or magenta.js's
            ``int(v * 80 + 10)``), ``start_time`` and
            ``end_time`` in seconds; ``total_time`` the length of the input.

        Raises
        ------
        UsageError
            ``sample_rate`` is not a whole number of Hz (1000 .. 1 MHz: a lower rate would be upsampled
            16-fold or more; ``read_audio`` refuses such files too); ``audio`` is a file name, not numeric, not
            ``[n]`` or ``[n, channels]`` (:func:`~tonehost.realtime.io.audio_array`).

        Warns
        -----
        NonFiniteAudioWarning
            NaN/inf samples were replaced by zeros.
        """
        sample_rate = check_sample_rate(sample_rate, lowest=MIN_FILE_RATE)
        audio = audio_array(audio)  # [n] float32: a file name, [channels, n] or 3-D input is one UsageError
        if not len(audio):  # nothing to hear (the mel frames of 0 samples used to raise an IndexError)
            return notes_to_sequence([], 0.0)
        tr = transcribe_array(self.session_for(self.decoding), audio, sample_rate, decoding=self.decoding)
        return notes_to_sequence(tr.notes, len(audio) / float(sample_rate))

    def transcribe_file(self, path, progress: Callable[[float], object] | None = None) -> NoteSequence:
        """Transcribe an audio file read block by block (memory flat in its length; :func:`transcribe_file`).

        Parameters
        ----------
        path : str or os.PathLike
            Any audio file (wav, flac, ogg, ...; any rate and channel count).
        progress : callable, optional
            Called with the seconds of audio read after each block.

        Returns
        -------
        NoteSequence
            As :meth:`transcribe`; ``total_time`` the file's length.

        Raises
        ------
        AudioFileError
            The file is missing, not audio, empty, truncated or damaged part way.
        UsageError
            ``path`` is not a file name; ``progress`` is not callable.
        """
        if progress is not None and not callable(progress):  # was a TypeError after the first block
            raise UsageError(f"progress must be a function of the seconds read (or None), got "
                             f"{type(progress).__name__} {progress!r:.40}")
        tr, duration = transcribe_file(self.session_for(self.decoding), path, progress, decoding=self.decoding)
        return notes_to_sequence(tr.notes, duration)

    def stream(self, sample_rate: int, max_chunk: int = 8) -> TranscriptionStream:
        """A :class:`TranscriptionStream` for audio arriving at ``sample_rate`` Hz.

        Parameters
        ----------
        sample_rate : int
            Hz of the blocks to be pushed, 1000 .. 1 MHz (resampled to 16 kHz).
        max_chunk : int
            Most mel frames (32 ms each) per model call, 1 .. :data:`MAX_CHUNK`: small is low latency.

        Returns
        -------
        TranscriptionStream

        Raises
        ------
        UsageError
            ``sample_rate`` or ``max_chunk`` is not a whole number in its range.
        """
        sample_rate = check_sample_rate(sample_rate, lowest=MIN_FILE_RATE)
        max_chunk = check_max_chunk(max_chunk)
        return TranscriptionStream(self.session_for(self.decoding), sample_rate, max_chunk, self.decoding)
