"""Performance events (note-on, note-off, time-shift, velocity-change): magenta.js ``core/performance.ts``.

The event list of one instrument that :class:`~tonehost.exports.sequences.multitrack.MultitrackConverter`
tokenizes. Ported from magenta-js v1.23.1; MUSICGEN.md section 4 (MultitrackConverter).

Events are tuples ``(type, value)``: ``("note-on", pitch)``, ``("note-off", pitch)``, ``("time-shift", steps)``
(1..max_shift_steps), ``("velocity-change", bin)`` (1..num_velocity_bins). Velocity bins are
``ceil(127 / num_velocity_bins)`` wide (16 for 8 bins): bin = ``floor((velocity - 1) / 16) + 1``, decoded as
``(bin - 1) * 16 + 1``.
"""
from __future__ import annotations

import math

from tonehost.exports.note_sequence import Note, NoteSequence
from tonehost.exports.sequences.base import _steps, assert_quantized

__all__ = ["Performance", "velocity_bin_size"]

_MIDI_VELOCITIES = 128  # magenta.js MIDI_VELOCITIES (0..127)


def velocity_bin_size(num_velocity_bins: int) -> int | None:
    """``ceil(127 / bins)``, or None without velocity bins (0)."""
    return math.ceil((_MIDI_VELOCITIES - 1) / num_velocity_bins) if num_velocity_bins else None


class Performance:
    """One instrument's performance events (magenta.js ``Performance``).

    Attributes
    ----------
    events : list of (str, int)
    max_shift_steps : int
    num_velocity_bins : int
    program : int or None
        None where magenta.js leaves it undefined (several programs, or drums).
    is_drum : bool or None
        None where magenta.js leaves it undefined (drum and non-drum notes mixed).
    """

    def __init__(self, events, max_shift_steps: int, num_velocity_bins: int, program: int | None = None,
                 is_drum: bool | None = None):
        self.events = [tuple(e) for e in events]
        self.max_shift_steps = int(max_shift_steps)
        self.num_velocity_bins = int(num_velocity_bins or 0)
        self.program = program
        self.is_drum = is_drum

    @classmethod
    def from_note_sequence(cls, seq: NoteSequence, max_shift_steps: int, num_velocity_bins: int,
                           instrument: int | None = None) -> "Performance":
        """``Performance.fromNoteSequence``: the events of ``instrument``'s notes (all notes when None).

        Notes are ordered by ``start_time`` then pitch (seconds, not steps: magenta.js's comparator). Onsets and
        offsets are then ordered by (step, note index, onset first). A time-shift (split at ``max_shift_steps``)
        precedes each new step; a velocity-change precedes a note-on whose bin differs from the current one,
        which starts at ``num_velocity_bins`` (so loud notes at the start emit none). The result is padded or
        trimmed to ``seq.total_quantized_steps`` (:meth:`set_num_steps`).

        Raises
        ------
        ConverterError
            Not quantized, or a note without quantized steps.
        """
        assert_quantized(seq, "a performance")
        notes = [n for n in seq.notes if instrument is None or n.instrument == instrument]
        notes = sorted(notes, key=lambda n: (float(n.start_time), int(n.pitch)))
        onsets = [(_steps(n, "start"), i, 0) for i, n in enumerate(notes)]
        offsets = [(_steps(n, "end"), i, 1) for i, n in enumerate(notes)]
        note_events = sorted(onsets + offsets)
        bin_size = velocity_bin_size(num_velocity_bins)
        events: list[tuple[str, int]] = []
        current_step = 0
        current_bin = num_velocity_bins
        for step, index, is_offset in note_events:
            if step > current_step:
                while step > current_step + max_shift_steps:
                    events.append(("time-shift", max_shift_steps))
                    current_step += max_shift_steps
                events.append(("time-shift", step - current_step))
                current_step = step
            if is_offset:
                events.append(("note-off", int(notes[index].pitch)))
            else:
                if bin_size:
                    vbin = math.floor((int(notes[index].velocity) - 0 - 1) / bin_size) + 1
                    if vbin != current_bin:
                        events.append(("velocity-change", vbin))
                        current_bin = vbin
                events.append(("note-on", int(notes[index].pitch)))
        if any(n.is_drum for n in notes):
            is_drum = None if any(not n.is_drum for n in notes) else True
        else:
            is_drum = False
        programs = list(dict.fromkeys(int(n.program) for n in notes))
        program = programs[0] if (not is_drum and len(programs) == 1) else None
        perf = cls(events, max_shift_steps, num_velocity_bins, program, is_drum)
        perf.set_num_steps(seq.total_quantized_steps)
        return perf

    def get_num_steps(self) -> int:
        """Total of the time-shifts."""
        return sum(v for t, v in self.events if t == "time-shift")

    def set_num_steps(self, num_steps: int | None) -> None:
        """``setNumSteps``: pad with time-shifts (first lengthening a trailing one) or trim events from the end.
        ``None`` does nothing (JS compares with ``undefined``)."""
        if num_steps is None:
            return
        current = self.get_num_steps()
        if current < num_steps:
            if self.events and self.events[-1][0] == "time-shift":
                add = min(num_steps - current, self.max_shift_steps - self.events[-1][1])
                self.events[-1] = ("time-shift", self.events[-1][1] + add)
                current += add
            while current < num_steps:
                if current + self.max_shift_steps > num_steps:
                    self.events.append(("time-shift", num_steps - current))
                    current = num_steps
                else:
                    self.events.append(("time-shift", self.max_shift_steps))
                    current += self.max_shift_steps
        elif current > num_steps:
            while self.events and current > num_steps:
                kind, value = self.events[-1]
                if kind == "time-shift":
                    if current - value < num_steps:
                        self.events[-1] = ("time-shift", value - (current - num_steps))
                        current = num_steps
                    else:
                        self.events.pop()
                        current -= value
                else:
                    self.events.pop()

    def to_note_sequence(self, instrument: int | None = None) -> NoteSequence:
        """``toNoteSequence``: notes with quantized steps (a note-off closes the *oldest* open note of its
        pitch; notes still open close at the end, in pitch order; zero-length notes are dropped).

        ``velocity`` comes from the last velocity-change (tonehost's default velocity before the first one,
        where magenta.js leaves it unset); ``program`` None -> 0 and ``is_drum`` None -> False, as protobuf's
        defaults. ``total_quantized_steps`` = the steps consumed. The sequence carries no quantization info
        (magenta.js's ``NoteSequence.create()``).
        """
        bin_size = velocity_bin_size(self.num_velocity_bins)
        seq = NoteSequence()
        step = 0
        velocity = None
        open_notes: dict[int, list[tuple[int, int | None]]] = {p: [] for p in range(128)}
        prog = 0 if self.program is None else int(self.program)
        drum = bool(self.is_drum)

        def note(pitch, start, vel):
            kw = {} if vel is None else {"velocity": int(vel)}
            return Note(pitch=pitch, quantized_start_step=start, quantized_end_step=step, program=prog,
                        instrument=0 if instrument is None else int(instrument), is_drum=drum, **kw)

        for kind, value in self.events:
            if kind == "note-on":
                open_notes[value].append((step, velocity))
            elif kind == "note-off":
                if open_notes[value]:
                    start, vel = open_notes[value].pop(0)
                    if step > start:
                        seq.notes.append(note(value, start, vel))
            elif kind == "time-shift":
                step += value
            elif kind == "velocity-change":
                if not bin_size:
                    raise ValueError(f"unexpected velocity change event {value} in a performance without bins")
                velocity = (value - 1) * bin_size + 1
            else:
                raise ValueError(f"unrecognized performance event {kind!r}")
        for pitch in range(128):
            for start, vel in open_notes[pitch]:
                if step > start:
                    seq.notes.append(note(pitch, start, vel))
        seq.total_quantized_steps = step
        return seq
