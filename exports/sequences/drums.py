"""Drum tracks: magenta.js's ``DrumsConverter``, ``DrumRollConverter`` and ``DrumsOneHotConverter``.

Source: ``music/src/core/data.ts`` and ``core/constants.ts`` of magenta-js v1.23.1 run on tfjs-core 2.8.6;
MUSICGEN.md section 4. Drum pitches map to 9 classes (:data:`DEFAULT_DRUM_PITCH_CLASSES`; a class decodes to
its *first* pitch). Only ``quantized_start_step`` matters.

Two quirks of magenta.js are reproduced because its models saw them in training and its users get them:

* ``DrumsConverter.toTensor`` (the MusicVAE drum encoder input, ``[steps, 10]`` int32) writes its "no hit"
  flag with ``buffer.set(v, step, -1)``. tfjs's ``TensorBuffer.set`` does not wrap negative indices: the flat
  index is ``10 * step - 1``, i.e. column 9 of the *previous* row. So column 9 of row ``r`` is 1 iff step
  ``r + 1`` has no hit (and no unmapped note), and the last row's column 9 is always 0. (MUSICGEN.md states
  the intended "row r has no hit"; the Node parity test pins the actual behaviour.)
* ``DrumsOneHotConverter`` (MusicRNN drum_kit_rnn, 512 classes) adds ``2**class`` per note: two notes of one
  class on a step add up to a different class, a label of 512 or more one-hots to an all-zero row, an unmapped
  pitch makes the label NaN, which int32 stores as 0 (no hit), and a note starting at or past ``num_steps``
  lengthens the array (JS arrays grow). :func:`drum_labels` exposes the labels; :meth:`clean_drums` is the
  filter a caller can apply first.
"""
from __future__ import annotations

import numpy as np

from tonehost.exports.note_sequence import Note, NoteSequence
from tonehost.exports.sequences.base import (DataConverter, _steps, assert_quantized, assert_relative_quantized,
                                             one_hot, quantized_sequence)

__all__ = ["DEFAULT_DRUM_PITCH_CLASSES", "DrumsConverter", "DrumRollConverter", "DrumsOneHotConverter",
           "pitch_to_class"]

#: magenta.js ``DEFAULT_DRUM_PITCH_CLASSES``: kick, snare, closed hi-hat, open hi-hat, low/mid/high tom, crash,
#: ride.
DEFAULT_DRUM_PITCH_CLASSES: tuple[tuple[int, ...], ...] = (
    (36, 35),
    (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),
    (42, 44, 54, 68, 69, 70, 71, 73, 78, 80),
    (46, 67, 72, 74, 79, 81),
    (45, 29, 41, 61, 64, 84),
    (48, 47, 60, 63, 77, 86, 87),
    (50, 30, 43, 62, 76, 83),
    (49, 55, 57, 58),
    (51, 52, 53, 59, 82),
)


def pitch_to_class(pitch_classes) -> dict[int, int]:
    """``{pitch: class}`` of a pitch-class list (a pitch listed twice takes its *last* class, as the JS Map)."""
    out: dict[int, int] = {}
    for c, pitches in enumerate(pitch_classes):
        for p in pitches:
            out[int(p)] = c
    return out


class DrumsConverter(DataConverter):
    """``DrumsConverter``: drums -> ``[steps, classes + 1]`` int32 roll; decodes a ``[steps, 2**classes]``
    one-hot (the MusicVAE drum decoder's output).

    Parameters
    ----------
    num_steps, num_segments : int, optional
    pitch_classes : sequence of sequences of int, optional
        Default :data:`DEFAULT_DRUM_PITCH_CLASSES`.
    """

    def __init__(self, num_steps=None, num_segments=None, pitch_classes=None):
        super().__init__(num_steps, num_segments)
        self.pitch_classes = tuple(tuple(int(p) for p in c)
                                   for c in (pitch_classes or DEFAULT_DRUM_PITCH_CLASSES))
        self.pitch_to_class = pitch_to_class(self.pitch_classes)
        self.depth = len(self.pitch_classes) + 1

    def clean_drums(self, seq: NoteSequence) -> NoteSequence:
        """A copy keeping the first note of each (step, class) among mapped pitches: the input magenta.js's
        encoders assume (unmapped pitches and same-class doubles otherwise corrupt the encoding)."""
        out = seq.copy()
        seen: set[tuple[int, int]] = set()
        kept = []
        for n in out.notes:
            c = self.pitch_to_class.get(int(n.pitch))
            if c is None or n.quantized_start_step is None:
                continue
            key = (int(n.quantized_start_step), c)
            if key not in seen:
                seen.add(key)
                kept.append(n)
        out.notes = kept
        return out

    def to_tensor(self, seq: NoteSequence) -> np.ndarray:
        """``[steps, classes + 1]`` int32: 1 at (step, class) for each note start; column ``classes`` is the
        shifted "no hit" flag described in the module docstring. Steps: ``num_steps`` or the sequence's total.
        Notes at or past the end are dropped (a note exactly at the end still clears the last row's flag, which
        is 0 anyway); an unmapped pitch sets no class but still clears the flag.

        Raises
        ------
        ConverterError
            Not quantized, or a note without quantized steps.
        """
        assert_quantized(seq, "a drums converter")
        steps = int(self.num_steps or seq.total_quantized_steps or 0)
        width = len(self.pitch_classes) + 1
        flat = np.zeros(steps * width, dtype=np.int32)

        def put(value: int, index: int) -> None:  # Int32Array write: out-of-range indices are ignored
            if 0 <= index < flat.size:
                flat[index] = value

        for i in range(steps):
            put(1, width * i - 1)
        for n in seq.notes:
            s = _steps(n, "start")
            c = self.pitch_to_class.get(int(n.pitch))
            if c is not None:
                put(1, width * s + c)
            put(0, width * s - 1)
        return flat.reshape(steps, width)

    def to_note_sequence(self, tensor, steps_per_quarter=None, qpm=None) -> NoteSequence:
        """Argmax of each row is a bit mask; bit ``p`` is a one-step note of class ``p``'s first pitch
        (``is_drum``). ``total_quantized_steps`` = rows."""
        seq = quantized_sequence(steps_per_quarter, qpm)
        labels = np.argmax(np.asarray(tensor), axis=1).tolist()
        for s, label in enumerate(labels):
            for p, pitches in enumerate(self.pitch_classes):
                if (label >> p) & 1:
                    seq.notes.append(Note(pitch=pitches[0], quantized_start_step=s, quantized_end_step=s + 1,
                                          is_drum=True))
        seq.total_quantized_steps = len(labels)
        return seq


class DrumRollConverter(DrumsConverter):
    """``DrumRollConverter`` (MusicVAE NADE drums): encodes as :class:`DrumsConverter`; decodes a
    ``[steps, classes]`` multi-hot directly."""

    def to_note_sequence(self, tensor, steps_per_quarter=None, qpm=None) -> NoteSequence:
        """Every non-zero entry ``(s, p)`` is a one-step note of class ``p``'s first pitch. The tensor is read
        flat, ``classes`` values per row, as magenta.js does."""
        seq = quantized_sequence(steps_per_quarter, qpm)
        arr = np.asarray(tensor)
        flat = arr.reshape(-1).tolist()
        k = len(self.pitch_classes)
        for s in range(arr.shape[0]):
            for p, v in enumerate(flat[s * k:(s + 1) * k]):
                if v:
                    seq.notes.append(Note(pitch=self.pitch_classes[p][0], quantized_start_step=s,
                                          quantized_end_step=s + 1, is_drum=True))
        seq.total_quantized_steps = int(arr.shape[0])
        return seq


class DrumsOneHotConverter(DrumsConverter):
    """``DrumsOneHotConverter`` (MusicRNN drum_kit_rnn): drums <-> ``[steps, 2**classes]`` int32 one-hot of
    the bit mask ``sum(2**class)`` of each step (512 classes by default)."""

    def __init__(self, num_steps=None, num_segments=None, pitch_classes=None):
        super().__init__(num_steps, num_segments, pitch_classes)
        self.depth = 2 ** len(self.pitch_classes)

    def drum_labels(self, seq: NoteSequence) -> np.ndarray:
        """The int64 label of each step, with magenta.js's quirks (module docstring): ``-1`` marks a NaN label,
        which the tensor stores as 0.

        Raises
        ------
        ConverterError
            Not quantized relative to the tempo, or a note without quantized steps.
        """
        assert_relative_quantized(seq, "a drums converter")
        steps = int(self.num_steps or seq.total_quantized_steps or 0)
        labels: list[float] = [0.0] * steps
        for n in seq.notes:
            s = _steps(n, "start")
            if s < 0:
                continue  # a negative index is a property of the JS array, not an element
            if s >= len(labels):
                labels.extend([float("nan")] * (s + 1 - len(labels)))  # holes read as undefined -> NaN -> 0
            c = self.pitch_to_class.get(int(n.pitch))
            labels[s] = labels[s] + (2.0 ** c if c is not None else float("nan"))
        return np.array([-1 if v != v else int(v) for v in labels], dtype=np.int64)

    def to_tensor(self, seq: NoteSequence) -> np.ndarray:
        """``[steps, 2**classes]`` int32 one-hot of :meth:`drum_labels` (NaN -> label 0; labels past the depth
        -> zero rows)."""
        labels = self.drum_labels(seq)
        return one_hot(np.where(labels < 0, 0, labels), self.depth)
