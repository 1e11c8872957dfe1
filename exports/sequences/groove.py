"""Drum grooves with timing and dynamics (GrooVAE): magenta.js ``GrooveConverter``.

Source: ``music/src/core/data.ts`` (``GrooveConverter``) of magenta-js v1.23.1; MUSICGEN.md section 4.
Tensor ``[num_steps, 27]`` float32 = hits (9) | velocities (9) | offsets (9) per step, or ``[num_steps * 9, 3]``
with ``split_instruments``. ``depth`` is 3 (the number of parts), as in magenta.js.

Offsets are in half steps: ``2 * (quantized_start * step_length - start_time) / step_length`` with
``step_length = 60 / qpm / steps_per_quarter`` seconds (the *converter's* steps per quarter).
"""
from __future__ import annotations

import numpy as np

from tonehost.exports.note_sequence import DEFAULT_QPM, Note, NoteSequence, Tempo
from tonehost.exports.sequences.base import (DEFAULT_STEPS_PER_QUARTER, ConverterError, DataConverter, _steps,
                                             js_round)
from tonehost.exports.sequences.drums import DEFAULT_DRUM_PITCH_CLASSES, pitch_to_class

__all__ = ["GrooveConverter", "TAPIFY_CHANNEL"]

#: Class every note goes to with ``tapify`` (open hi-hat).
TAPIFY_CHANNEL = 3


class GrooveConverter(DataConverter):
    """``GrooveConverter``.

    Parameters
    ----------
    num_steps : int
        Steps of the model (32 for 2 bars at 4 steps per quarter).
    steps_per_quarter : int, optional
        Default 4.
    humanize : bool
        Encode hits only (velocities and offsets 0): the model adds the feel.
    tapify : bool
        Every note (any pitch) is a hit of class 3; velocities 0, offsets kept.
    pitch_classes : sequence of sequences of int, optional
        Default :data:`~tonehost.exports.sequences.drums.DEFAULT_DRUM_PITCH_CLASSES`.
    split_instruments : bool
        Layout ``[num_steps * classes, 3]`` instead of ``[num_steps, 3 * classes]``.
    num_segments : int, optional
    """

    def __init__(self, num_steps: int | None = None, steps_per_quarter: int | None = None, humanize: bool = False,
                 tapify: bool = False, pitch_classes=None, split_instruments: bool = False,
                 num_segments: int | None = None):
        super().__init__(num_steps, num_segments)
        self.steps_per_quarter = int(steps_per_quarter or DEFAULT_STEPS_PER_QUARTER)
        self.pitch_classes = tuple(tuple(int(p) for p in c)
                                   for c in (pitch_classes or DEFAULT_DRUM_PITCH_CLASSES))
        self.pitch_to_class = pitch_to_class(self.pitch_classes)
        self.humanize = bool(humanize)
        self.tapify = bool(tapify)
        self.split_instruments = bool(split_instruments)
        self.depth = 3

    def to_tensor(self, seq: NoteSequence) -> np.ndarray:
        """Encode a drum sequence (quantized per quarter, or unquantized: then quantized here at the converter's
        steps per quarter). Per step and class, the loudest note wins (the first of equals).

        Returns
        -------
        numpy.ndarray
            float32 ``[num_steps, 3 * classes]`` (or ``[num_steps * classes, 3]``).

        Raises
        ------
        ConverterError
            A note starting at or past ``num_steps`` (the model's length); a note without quantized steps.
        """
        qs = seq if (seq.quantization_info is not None and seq.quantization_info.steps_per_quarter > 0) \
            else seq.quantize(self.steps_per_quarter)
        num_steps = int(self.num_steps or 0)
        qpm = qs.tempos[0].qpm if qs.tempos else DEFAULT_QPM
        step_length = (60.0 / qpm) / self.steps_per_quarter
        step_notes: list[dict[int, Note]] = [dict() for _ in range(num_steps)]
        for n in qs.notes:
            if not (self.tapify or int(n.pitch) in self.pitch_to_class):
                continue
            s = _steps(n, "start")
            if s >= num_steps:
                raise ConverterError(f"the groove model takes at most {num_steps} steps "
                                     f"({num_steps * step_length:g} s at {qpm:g} qpm); a note starts at step {s}: "
                                     "trim the sequence")
            d = TAPIFY_CHANNEL if self.tapify else self.pitch_to_class[int(n.pitch)]
            if d not in step_notes[s] or step_notes[s][d].velocity < n.velocity:
                step_notes[s][d] = n
        k = len(self.pitch_classes)
        hits = np.zeros((num_steps, k), np.float32)
        vels = np.zeros((num_steps, k), np.float32)
        offs = np.zeros((num_steps, k), np.float32)
        for s in range(num_steps):
            for d, note in step_notes[s].items():
                hits[s, d] = 1
                if not self.humanize and not self.tapify:
                    vels[s, d] = note.velocity / 127
                if not self.humanize:
                    offs[s, d] = 2 * (note.quantized_start_step * step_length - note.start_time) / step_length
        rows = num_steps * k if self.split_instruments else num_steps
        return np.concatenate([hits.reshape(rows, -1), vels.reshape(rows, -1), offs.reshape(rows, -1)], axis=1)

    def to_note_sequence(self, tensor, steps_per_quarter=None, qpm=None) -> NoteSequence:
        """An *unquantized* sequence (times in seconds): a note where hit > 0.5, velocity
        ``clip(round(v * 127), 0, 127)``, offset ``clip(o / 2, -0.5, 0.5)`` steps early, one step long, the
        class's first pitch, ``is_drum``; ``total_time = num_steps * step_length``.

        Raises
        ------
        ConverterError
            ``steps_per_quarter`` given and different from the model's.
        """
        if steps_per_quarter and steps_per_quarter != self.steps_per_quarter:
            raise ConverterError(f"the groove model sets steps per quarter ({self.steps_per_quarter}); got "
                                 f"{steps_per_quarter}")
        qpm = DEFAULT_QPM if qpm is None else float(qpm)
        t = np.asarray(tensor, dtype=np.float32)
        k = len(self.pitch_classes)
        num_steps = t.shape[0] // k if self.split_instruments else t.shape[0]
        step_length = (60.0 / qpm) / self.steps_per_quarter
        seq = NoteSequence(total_time=num_steps * step_length, tempos=[Tempo(0.0, qpm)])
        flat = t.reshape(-1)
        for s in range(num_steps):
            seq.notes.extend(self.step_notes(flat, s, step_length))
        return seq

    def step_notes(self, flat: np.ndarray, s: int, step_length: float) -> list[Note]:
        """The notes of time step ``s`` of a decoded tensor (``flat``: the float32 tensor flattened), as
        :meth:`to_note_sequence` makes them (it is this, step after step): the live groove converts each step as
        soon as it is decoded."""
        k = len(self.pitch_classes)
        per_step = k * self.depth
        r = flat[s * per_step:(s + 1) * per_step]
        notes = []
        for d in range(k):
            hit = float(r[d * self.depth if self.split_instruments else d])
            vel = float(r[d * self.depth + 1 if self.split_instruments else k + d])
            off = float(r[d * self.depth + 2 if self.split_instruments else 2 * k + d])
            if hit > 0.5:
                velocity = min(max(js_round(vel * 127), 0), 127)
                offset = min(max(off / 2, -0.5), 0.5)
                notes.append(Note(pitch=self.pitch_classes[d][0], start_time=(s - offset) * step_length,
                                  end_time=(s - offset + 1) * step_length, velocity=velocity, is_drum=True))
        return notes
