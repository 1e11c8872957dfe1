"""Monophonic melodies: magenta.js's ``Melody`` event list and the three melody converters.

Source: ``music/src/core/melodies.ts`` (``Melody``, ``MelodyRhythm``, ``MelodyShape``, ``MelodyRegister``) and
``core/data.ts`` (``MelodyConverter``, ``MelodyRhythmConverter``, ``MelodyShapeConverter``) of magenta-js
v1.23.1; MUSICGEN.md section 4.

Events (one per quantized step): ``0`` = NO_EVENT (hold or rest), ``1`` = NOTE_OFF, ``k >= 2`` = note-on of
MIDI pitch ``k - 2 + min_pitch``. The converters' depth is ``max_pitch - min_pitch + 3`` (basic_rnn 48..83: 38;
melody_rnn 0..127: 130; MusicVAE melodies 21..108: 90).
"""
from __future__ import annotations

import math

import numpy as np

from tonehost.exports.note_sequence import Note, NoteSequence
from tonehost.exports.sequences.base import (ConverterError, DataConverter, _steps, assert_quantized, one_hot,
                                             quantized_sequence)

__all__ = ["NO_EVENT", "NOTE_OFF", "FIRST_PITCH", "Melody", "MelodyRhythm", "MelodyShape", "MelodyRegister",
           "MelodyConverter", "MelodyRhythmConverter", "MelodyShapeConverter", "PolyphonyError",
           "PitchRangeError"]

NO_EVENT = 0
NOTE_OFF = 1
FIRST_PITCH = 2
#: magenta.js ``DEFAULT_DRUM_PITCH_CLASSES[1][0]``: the snare pitch rhythm converters decode to.
_SNARE = 38


class PolyphonyError(ConverterError):
    """Two notes start on the same step of a sequence that must be monophonic (``ignorePolyphony: false``)."""


class PitchRangeError(ConverterError):
    """A note's pitch lies outside the converter's ``[min_pitch, max_pitch]``."""


class Melody:
    """A monophonic melody as one event per step (magenta.js ``Melody``).

    Parameters
    ----------
    events : array_like of int
        One event per step (see the module docstring); kept as int32.
    min_pitch, max_pitch : int
        MIDI pitch range; event ``k >= 2`` is pitch ``k - 2 + min_pitch``.
    """

    def __init__(self, events, min_pitch: int, max_pitch: int):
        self.events = np.asarray(events, dtype=np.int32)
        self.min_pitch = int(min_pitch)
        self.max_pitch = int(max_pitch)

    @classmethod
    def from_note_sequence(cls, seq: NoteSequence, min_pitch: int, max_pitch: int, ignore_polyphony: bool = True,
                           num_steps: int | None = None) -> "Melody":
        """``Melody.fromNoteSequence``: encode a quantized sequence.

        Notes are taken by start step, ties broken by *higher* pitch first (a stable sort; magenta.js sorts the
        caller's ``notes`` array in place, this does not touch ``seq``). A note starting on the step of the last
        kept note is skipped (``ignore_polyphony``, the default) or raises; the polyphony check comes before the
        range check, so a skipped note is never range-checked. Each kept note writes ``events[start] = pitch
        code``, then ``events[end] = NOTE_OFF``; writes outside ``[0, length)`` are dropped (typed array), a
        zero-length note leaves just a NOTE_OFF, and a note starting where the previous one ends overwrites its
        NOTE_OFF.

        Parameters
        ----------
        seq : NoteSequence
            Quantized (steps per quarter or per second).
        min_pitch, max_pitch : int
        ignore_polyphony : bool
        num_steps : int, optional
            Length in steps (``None`` or 0: ``seq.total_quantized_steps``).

        Returns
        -------
        Melody

        Raises
        ------
        ConverterError
            Not quantized, a note without quantized steps.
        PolyphonyError
            Two notes start together and ``ignore_polyphony`` is False.
        PitchRangeError
            A kept note's pitch is outside ``[min_pitch, max_pitch]``.
        """
        assert_quantized(seq, "a melody")
        length = int(num_steps or seq.total_quantized_steps or 0)
        events = np.zeros(length, dtype=np.int32)
        notes = sorted(seq.notes, key=lambda n: (_steps(n, "start"), -int(n.pitch)))
        last_start = -1
        for n in notes:
            start, end = _steps(n, "start"), _steps(n, "end")
            if start == last_start:
                if not ignore_polyphony:
                    raise PolyphonyError(f"the NoteSequence is not monophonic: two notes start on step {start} "
                                         "(keep one voice, or let the converter skip the lower notes)")
                continue
            if n.pitch < min_pitch or n.pitch > max_pitch:
                raise PitchRangeError(f"the NoteSequence has pitch {n.pitch} at step {start}, outside the "
                                      f"model's range {min_pitch}..{max_pitch}; transpose the melody into range")
            if 0 <= start < length:
                events[start] = int(n.pitch) - min_pitch + FIRST_PITCH
            if 0 <= end < length:
                events[end] = NOTE_OFF
            last_start = start
        return cls(events, min_pitch, max_pitch)

    def to_note_sequence(self, steps_per_quarter: int | None = None, qpm: float | None = None) -> NoteSequence:
        """``Melody.toNoteSequence``: a quantized sequence (default 4 steps per quarter, 120 qpm).

        A note-on closes the open note and opens one; NOTE_OFF closes the open note; NO_EVENT does nothing; a note
        still open at the end closes at ``len(events)``. ``total_quantized_steps = len(events)``. Notes carry
        pitch and steps (and tonehost's default velocity; magenta.js leaves it unset).
        """
        seq = quantized_sequence(steps_per_quarter, qpm)
        current: Note | None = None
        for s, event in enumerate(self.events.tolist()):
            if event == NO_EVENT:
                continue
            if event == NOTE_OFF:
                if current is not None:
                    current.quantized_end_step = s
                    seq.notes.append(current)
                    current = None
                continue
            if current is not None:
                current.quantized_end_step = s
                seq.notes.append(current)
            current = Note(pitch=event - FIRST_PITCH + self.min_pitch, quantized_start_step=s)
        if current is not None:
            current.quantized_end_step = len(self.events)
            seq.notes.append(current)
        seq.total_quantized_steps = len(self.events)
        return seq


class MelodyRhythm:
    """``MelodyRhythm`` control: ``[steps, 1]`` float32, 1 where a note starts."""

    depth = 1

    def extract(self, melody: Melody) -> np.ndarray:
        """The ``[steps, 1]`` onset indicator of ``melody``."""
        return (melody.events >= FIRST_PITCH).astype(np.float32).reshape(-1, 1)


class MelodyShape:
    """``MelodyShape`` control: ``[steps, 3]`` float32 one-hot of the contour (0 down, 1 same, 2 up).

    Ported line by line from magenta.js (the step range each direction covers, and the fill after the last
    note, are its own rules).
    """

    depth = 3

    def extract(self, melody: Melody) -> np.ndarray:
        """The ``[steps, 3]`` contour of ``melody``."""
        events = melody.events.tolist()
        n = len(events)
        buf = np.zeros((n, 3), dtype=np.float32)
        last_index = None
        last_pitch = None
        for step in range(n):
            if events[step] >= FIRST_PITCH:
                if last_index is not None:
                    if not buf[last_index].any():
                        last_index = -1
                    if events[step] < last_pitch:
                        direction = 0
                    elif events[step] > last_pitch:
                        direction = 2
                    else:
                        direction = 1
                    for i in range(step, last_index, -1):
                        buf[i, direction] = 1
                last_index = step
                last_pitch = events[step]
        if last_index != n - 1:
            if last_index is None or not buf[last_index].any():
                buf[:, 1] = 1
            else:
                for i in range(n - 1, last_index, -1):
                    buf[i] = buf[last_index]
        return buf


class MelodyRegister:
    """``MelodyRegister`` control: one-hot bin of the mean pitch among ``boundary_pitches``, on every step."""

    def __init__(self, boundary_pitches):
        self.boundary_pitches = [int(p) for p in boundary_pitches]
        self.depth = len(self.boundary_pitches) + 1

    def mean_melody_pitch(self, melody: Melody) -> float | None:
        """Mean sounding pitch over the steps where a note sounds (None when none does)."""
        total = count = 0
        current = None
        for e in melody.events.tolist():
            if e == NOTE_OFF:
                current = None
            elif e >= FIRST_PITCH:
                current = melody.min_pitch + e - FIRST_PITCH
            if current is not None:
                total += current
                count += 1
        return total / count if count else None

    def extract(self, melody: Melody) -> np.ndarray:
        """``[steps, depth]`` float32 (all zeros when the melody is silent)."""
        n = len(melody.events)
        mean = self.mean_melody_pitch(melody)
        out = np.zeros((n, self.depth), dtype=np.float32)
        if mean is None:
            return out
        b = 0
        while b < len(self.boundary_pitches) and mean >= self.boundary_pitches[b]:
            b += 1
        out[:, b] = 1
        return out


class MelodyConverter(DataConverter):
    """``MelodyConverter``: a monophonic melody <-> ``[steps, max - min + 3]`` one-hot (int32).

    Parameters
    ----------
    min_pitch, max_pitch : int
        MIDI range (inclusive).
    num_steps, num_segments : int, optional
        See :class:`~tonehost.exports.sequences.base.DataConverter`.
    ignore_polyphony : bool, optional
        ``None``/True: skip notes starting with another; False: raise :class:`PolyphonyError`.
    """

    def __init__(self, min_pitch: int, max_pitch: int, num_steps: int | None = None,
                 num_segments: int | None = None, ignore_polyphony: bool | None = None):
        super().__init__(num_steps, num_segments)
        self.min_pitch = int(min_pitch)
        self.max_pitch = int(max_pitch)
        self.ignore_polyphony = ignore_polyphony
        self.depth = self.max_pitch - self.min_pitch + 1 + FIRST_PITCH

    def melody(self, seq: NoteSequence) -> Melody:
        """The :class:`Melody` of ``seq`` with this converter's range and length (see
        :meth:`Melody.from_note_sequence` for the rules and errors)."""
        return Melody.from_note_sequence(seq, self.min_pitch, self.max_pitch,
                                         True if self.ignore_polyphony is None else bool(self.ignore_polyphony),
                                         self.num_steps)

    def to_tensor(self, seq: NoteSequence) -> np.ndarray:
        """``[steps, depth]`` int32 one-hot of the melody events."""
        return one_hot(self.melody(seq).events, self.depth)

    def to_note_sequence(self, tensor, steps_per_quarter=None, qpm=None) -> NoteSequence:
        """Argmax of each row (first index on ties) -> events -> :meth:`Melody.to_note_sequence`."""
        labels = np.argmax(np.asarray(tensor), axis=1)
        return Melody(labels, self.min_pitch, self.max_pitch).to_note_sequence(steps_per_quarter, qpm)


class _MelodyControlConverter(DataConverter):
    def __init__(self, control, min_pitch: int, max_pitch: int, num_steps=None, num_segments=None,
                 ignore_polyphony=None):
        super().__init__(num_steps, num_segments)
        self.min_pitch = int(min_pitch)
        self.max_pitch = int(max_pitch)
        self.ignore_polyphony = ignore_polyphony
        self.melody_control = control
        self.depth = control.depth

    def to_tensor(self, seq: NoteSequence) -> np.ndarray:
        melody = Melody.from_note_sequence(seq, self.min_pitch, self.max_pitch,
                                           True if self.ignore_polyphony is None else bool(self.ignore_polyphony),
                                           self.num_steps)
        return self.melody_control.extract(melody)


class MelodyRhythmConverter(_MelodyControlConverter):
    """``MelodyRhythmConverter``: melody -> ``[steps, 1]`` float32 onsets; decodes to snare (38) hits."""

    def __init__(self, min_pitch: int, max_pitch: int, num_steps=None, num_segments=None, ignore_polyphony=None):
        super().__init__(MelodyRhythm(), min_pitch, max_pitch, num_steps, num_segments, ignore_polyphony)

    def to_note_sequence(self, tensor, steps_per_quarter=None, qpm=None) -> NoteSequence:
        """Every non-zero value of the (flattened) tensor is a one-step drum note of pitch 38."""
        seq = quantized_sequence(steps_per_quarter, qpm)
        flat = np.asarray(tensor).reshape(-1)
        for s, v in enumerate(flat.tolist()):
            if v:
                seq.notes.append(Note(pitch=_SNARE, quantized_start_step=s, quantized_end_step=s + 1,
                                      is_drum=True))
        seq.total_quantized_steps = len(flat)
        return seq


class MelodyShapeConverter(_MelodyControlConverter):
    """``MelodyShapeConverter``: melody -> ``[steps, 3]`` contour; decodes to one-step notes that walk from
    ``round((max + min) / 2)`` down (0), level (1) or up (2), clamped to the range."""

    def __init__(self, min_pitch: int, max_pitch: int, num_steps=None, num_segments=None, ignore_polyphony=None):
        super().__init__(MelodyShape(), min_pitch, max_pitch, num_steps, num_segments, ignore_polyphony)

    def to_note_sequence(self, tensor, steps_per_quarter=None, qpm=None) -> NoteSequence:
        seq = quantized_sequence(steps_per_quarter, qpm)
        shape = np.argmax(np.asarray(tensor), axis=1).tolist()
        pitch = int(math.floor((self.max_pitch + self.min_pitch) / 2 + 0.5))  # Math.round
        for s, d in enumerate(shape):
            if d == 0:
                pitch = max(pitch - 1, self.min_pitch)
            elif d == 2:
                pitch = min(pitch + 1, self.max_pitch)
            seq.notes.append(Note(pitch=pitch, quantized_start_step=s, quantized_end_step=s + 1))
        seq.total_quantized_steps = len(shape)
        return seq
