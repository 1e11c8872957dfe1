"""Melody + bass + drums: magenta.js ``TrioConverter`` and ``TrioRhythmConverter``.

Source: ``music/src/core/data.ts`` of magenta-js v1.23.1; MUSICGEN.md section 4. Melody = non-drum notes of
program 0..31, bass = non-drum notes of program 32..39, drums = ``is_drum`` notes; the tensor is
``concat[melody one-hot, bass one-hot, drums one-hot (512)]`` (692 wide with the default 21..108 ranges).
"""
from __future__ import annotations

import numpy as np

from tonehost.exports.note_sequence import Note, NoteSequence
from tonehost.exports.sequences.base import (ConverterError, DataConverter, assert_quantized, melody_kwargs,
                                             quantized_sequence)
from tonehost.exports.sequences.drums import DEFAULT_DRUM_PITCH_CLASSES, DrumsOneHotConverter
from tonehost.exports.sequences.melody import MelodyConverter

__all__ = ["TrioConverter", "TrioRhythmConverter", "MEL_PROG_RANGE", "BASS_PROG_RANGE"]

MEL_PROG_RANGE = (0, 31)
BASS_PROG_RANGE = (32, 39)


def _melody_args(args: dict | None) -> dict:
    return melody_kwargs(args or {})


class TrioConverter(DataConverter):
    """``TrioConverter`` (MusicVAE trio models).

    Parameters
    ----------
    num_steps : int
        Copied into the three sub-converters (as magenta.js does with ``melArgs``, ``bassArgs``,
        ``drumsArgs``).
    num_segments : int, optional
    mel_args, bass_args : dict
        :class:`MelodyConverter` keyword arguments (``min_pitch``, ``max_pitch``, ``ignore_polyphony``) or
        their camelCase spec form.
    drums_args : dict, optional
        :class:`DrumsOneHotConverter` keyword arguments (``pitch_classes``).
    """

    num_splits = 3

    def __init__(self, num_steps: int, mel_args: dict, bass_args: dict, drums_args: dict | None = None,
                 num_segments: int | None = None):
        super().__init__(num_steps, num_segments)
        mel, bass = _melody_args(mel_args), _melody_args(bass_args)
        drums = dict(drums_args or {})
        if "pitchClasses" in drums:
            drums["pitch_classes"] = drums.pop("pitchClasses")
        drums.pop("numSteps", None)
        drums.pop("num_steps", None)
        self.mel_converter = MelodyConverter(num_steps=num_steps, **mel)
        self.bass_converter = MelodyConverter(num_steps=num_steps, **bass)
        self.drums_converter = DrumsOneHotConverter(num_steps=num_steps, **drums)
        self.depth = self.mel_converter.depth + self.bass_converter.depth + self.drums_converter.depth

    def split_sequence(self, seq: NoteSequence) -> tuple[NoteSequence, NoteSequence, NoteSequence]:
        """The melody, bass and drums parts of ``seq`` (copies)."""
        parts = []
        for keep in (lambda n: not n.is_drum and MEL_PROG_RANGE[0] <= n.program <= MEL_PROG_RANGE[1],
                     lambda n: not n.is_drum and BASS_PROG_RANGE[0] <= n.program <= BASS_PROG_RANGE[1],
                     lambda n: n.is_drum):
            part = seq.copy()
            part.notes = [n for n in part.notes if keep(n)]
            parts.append(part)
        return parts[0], parts[1], parts[2]

    def to_tensor(self, seq: NoteSequence) -> np.ndarray:
        """``[steps, depth]`` int32.

        Raises
        ------
        ConverterError
            Not quantized, a melody/bass pitch out of range (:class:`~.melody.PitchRangeError`), or parts of
            different lengths (drum notes past ``num_steps``).
        """
        assert_quantized(seq, "the trio converter")
        mel, bass, drums = self.split_sequence(seq)
        parts = [self.mel_converter.to_tensor(mel), self.bass_converter.to_tensor(bass),
                 self.drums_converter.to_tensor(drums)]
        if len({p.shape[0] for p in parts}) != 1:
            raise ConverterError(f"the trio's parts have different lengths ({[p.shape[0] for p in parts]} steps): "
                                 "a drum note starts past the end; trim the sequence to "
                                 f"{self.num_steps} steps")
        return np.concatenate(parts, axis=-1)

    def to_note_sequence(self, tensor, steps_per_quarter=None, qpm=None) -> NoteSequence:
        """Split at the three depths; melody notes get instrument 0 / program 0, bass instrument 1 / program
        32, drums instrument 2 (in that order)."""
        t = np.asarray(tensor)
        d0, d1 = self.mel_converter.depth, self.bass_converter.depth
        seq = self.mel_converter.to_note_sequence(t[:, :d0], steps_per_quarter, qpm)
        for n in seq.notes:
            n.instrument, n.program = 0, 0
        bass = self.bass_converter.to_note_sequence(t[:, d0:d0 + d1], steps_per_quarter, qpm)
        for n in bass.notes:
            n.instrument, n.program = 1, BASS_PROG_RANGE[0]
        drums = self.drums_converter.to_note_sequence(t[:, d0 + d1:], steps_per_quarter, qpm)
        for n in drums.notes:
            n.instrument = 2
        seq.notes.extend(bass.notes + drums.notes)
        return seq


class TrioRhythmConverter(DataConverter):
    """``TrioRhythmConverter``: ``[steps, 3]`` bool onsets of melody (event > 1), bass (event > 1) and drums
    (label > 0); decodes to one-step notes 72 (melody), 36 (bass, program 32) and 38 (drums)."""

    num_splits = 3

    def __init__(self, num_steps: int, mel_args: dict, bass_args: dict, drums_args: dict | None = None,
                 num_segments: int | None = None):
        super().__init__(num_steps, num_segments)
        self.trio_converter = TrioConverter(num_steps, mel_args, bass_args, drums_args, num_segments)
        self.depth = 3

    def to_tensor(self, seq: NoteSequence) -> np.ndarray:
        t = self.trio_converter.to_tensor(seq)
        d0, d1 = self.trio_converter.mel_converter.depth, self.trio_converter.bass_converter.depth
        mel = np.argmax(t[:, :d0], axis=1) > 1
        bass = np.argmax(t[:, d0:d0 + d1], axis=1) > 1
        drums = np.argmax(t[:, d0 + d1:], axis=1) > 0
        return np.stack([mel, bass, drums], axis=1)

    def to_note_sequence(self, tensor, steps_per_quarter=None, qpm=None) -> NoteSequence:
        """Reads ``num_steps`` rows (as magenta.js, not the tensor's length)."""
        t = np.asarray(tensor)
        seq = quantized_sequence(steps_per_quarter, qpm)
        steps = int(self.num_steps or 0)
        for s in range(steps):
            row = t[s] if s < t.shape[0] else (0, 0, 0)
            if row[0]:
                seq.notes.append(Note(pitch=72, quantized_start_step=s, quantized_end_step=s + 1, instrument=0,
                                      program=0))
            if row[1]:
                seq.notes.append(Note(pitch=36, quantized_start_step=s, quantized_end_step=s + 1, instrument=1,
                                      program=32))
            if row[2]:
                seq.notes.append(Note(pitch=DEFAULT_DRUM_PITCH_CLASSES[1][0], quantized_start_step=s,
                                      quantized_end_step=s + 1, instrument=2, is_drum=True))
        seq.total_quantized_steps = self.num_steps
        return seq
