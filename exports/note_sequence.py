"""NoteSequence: the score type every model of tonehost reads and writes, with magenta.js's field names.

Mirrors ``NoteSequence`` of ``@magenta/music`` (``music/src/protobuf/index.d.ts``) in Python's idiom: dataclasses
with the same fields in snake_case (``start_time``, ``quantized_start_step``, ``total_quantized_steps``, ...), JSON
in magenta.js's camelCase shape (:meth:`NoteSequence.to_json` / :meth:`NoteSequence.from_json`), MIDI files and
``pretty_midi`` objects in and out, and magenta.js's quantisation (``sequences.quantizeNoteSequence``):
``step = floor(seconds * steps_per_second + 1 - 0.5)``, a note that would end on its start step lasts one step.

Times are seconds; pitches MIDI note numbers (0-127); velocities 1-127 (0 is kept as given).
"""
from __future__ import annotations

import copy
import json
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tonehost.exports.errors import TonehostError

__all__ = ["Note", "Tempo", "TimeSignature", "QuantizationInfo", "NoteSequence", "quantize_to_step", "check_qpm",
           "DEFAULT_QPM", "QUANTIZE_CUTOFF", "SequenceError", "MIN_QPM", "MAX_QPM"]

#: magenta.js ``constants.DEFAULT_QUARTERS_PER_MINUTE``.
DEFAULT_QPM = 120.0
#: magenta.js ``sequences.ts`` QUANTIZE_CUTOFF.
QUANTIZE_CUTOFF = 0.5
#: magenta.js ``constants.DEFAULT_TICKS_PER_QUARTER``.
DEFAULT_TICKS_PER_QUARTER = 220
#: The tempo range (quarter notes per minute) a MIDI file can hold and read back: a MIDI tempo is a 24-bit count of
#: microseconds per quarter (60e6 / 16777215 = 3.58 qpm at the slowest); past 1000 qpm a few minutes of notes
#: already exceed the tick counts MIDI readers accept (pretty_midi: "likely corrupt").
MIN_QPM, MAX_QPM = 4.0, 1000.0


class SequenceError(TonehostError):
    """A NoteSequence that cannot be read, written or quantized as asked (bad MIDI file, tempo change, ...)."""


def _whole(value, what: str) -> int:
    """``value`` as an int if it is a whole number (an int, a float with a whole value, or protobuf JSON's decimal
    string of one: magenta.js writes int64 fields as strings), else :class:`SequenceError` naming ``what``."""
    v = value
    if isinstance(v, str):
        try:
            v = int(v.strip())
        except ValueError:
            v = None
    if isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v) and v == int(v):
        return int(v)
    raise SequenceError(f"{what} must be a whole number, got {value!r:.40}")


def _finite(value, what: str) -> float:
    """``value`` as a finite float (a number or its decimal string), else :class:`SequenceError` naming ``what``."""
    v = value
    if isinstance(v, str):
        try:
            v = float(v.strip())
        except ValueError:
            v = None
    if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v):
        return float(v)
    raise SequenceError(f"{what} must be a finite number, got {value!r:.40}")


def _field(d: dict, camel: str, default):
    """``d[camel]``, or the proto field name's ``d[snake_case]`` (proto3 JSON parsers accept both: magenta's
    Python ``MessageToDict(preserving_proto_field_name=True)`` writes ``start_time``), or ``default``."""
    if camel in d:
        return d[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return d.get(snake, default)


def _file_name(path, what: str) -> Path:
    """``path`` as a Path if it is a ``str`` or ``os.PathLike`` naming a file, else :class:`SequenceError`."""
    if isinstance(path, (str, os.PathLike)) and not isinstance(os.fspath(path), bytes):
        return Path(path)
    raise SequenceError(f"{what} must be a file name (str or pathlib.Path), got {type(path).__name__} "
                        f"{path!r:.40}")


def quantize_to_step(seconds: float, steps_per_second: float, cutoff: float = QUANTIZE_CUTOFF) -> int:
    """magenta.js ``quantizeToStep``: ``floor(seconds * steps_per_second + (1 - cutoff))``.

    Parameters
    ----------
    seconds : float
    steps_per_second : float
    cutoff : float
        Fraction of a step after which a time rounds up (0.5: nearest step, ties up).

    Returns
    -------
    int
    """
    return int(math.floor(seconds * steps_per_second + (1.0 - cutoff)))


def check_qpm(qpm, what: str = "qpm") -> float:
    """A tempo given by a caller as a float in :data:`MIN_QPM` .. :data:`MAX_QPM` quarter notes per minute.

    The one tempo rule of the sequence API (``unquantize(qpm)``, ``MusicVAE.decode(qpm=)``), the range
    :meth:`NoteSequence.to_midi` can write.

    Raises
    ------
    SequenceError
        ``qpm`` is not a finite number in that range (the message names ``what``).
    """
    if isinstance(qpm, numbers.Real) and not isinstance(qpm, (bool, np.bool_)) and MIN_QPM <= qpm <= MAX_QPM:
        return float(qpm)
    raise SequenceError(f"{what} must be a tempo from {MIN_QPM:g} to {MAX_QPM:g} quarter notes per minute (what a "
                        f"MIDI file holds), got {qpm!r:.40}")


@dataclass
class Note:
    """One note (magenta.js ``NoteSequence.Note``): pitch, velocity, times in seconds and/or quantized steps.

    Attributes
    ----------
    pitch : int
        MIDI note number (0 .. 127 in a MIDI file; 60 is middle C).
    velocity : int
        1 .. 127 (0 is kept as given; a MIDI file gets at least 1).
    start_time, end_time : float
        Seconds.
    quantized_start_step, quantized_end_step : int or None
        Steps of the grid of :meth:`NoteSequence.quantize` (None when not quantized).
    program : int
        General MIDI program 0 .. 127.
    instrument : int
        Track index.
    is_drum : bool
        A percussion note (MIDI channel 10).
    """

    pitch: int
    velocity: int = 100
    start_time: float = 0.0
    end_time: float = 0.0
    quantized_start_step: int | None = None
    quantized_end_step: int | None = None
    program: int = 0
    instrument: int = 0
    is_drum: bool = False

    def to_json(self) -> dict:
        """magenta.js JSON of the note (camelCase keys; quantized steps only when set).

        Raises
        ------
        SequenceError
            A field that JSON cannot hold as magenta.js reads it (``Note(pitch="x")`` was int()'s ValueError, a
            NaN time became JSON's invalid ``NaN``); the message names the field.
        """
        d = {"pitch": _whole(self.pitch, "note pitch"), "velocity": _whole(self.velocity, "note velocity"),
             "startTime": _finite(self.start_time, "note start_time"),
             "endTime": _finite(self.end_time, "note end_time"), "program": _whole(self.program, "note program"),
             "instrument": _whole(self.instrument, "note instrument"), "isDrum": bool(self.is_drum)}
        if self.quantized_start_step is not None:
            d["quantizedStartStep"] = _whole(self.quantized_start_step, "note quantized_start_step")
        if self.quantized_end_step is not None:
            d["quantizedEndStep"] = _whole(self.quantized_end_step, "note quantized_end_step")
        return d

    @classmethod
    def from_json(cls, d: dict, where: str = "note") -> "Note":
        """From magenta.js JSON (missing fields take magenta.js's defaults: 0, false).

        Keys are camelCase (``startTime``) or the proto field names (``start_time``), as proto3 JSON parsers take
        them; whole-number fields may be decimal strings (magenta.js's int64s).

        Raises
        ------
        SequenceError
            ``d`` is not an object, a whole-number field holds something else (60.5 used to become 60), a time is
            not a finite number (NaN used to pass, then break ``quantize``); the message names the field.
        """
        if not isinstance(d, dict):
            raise SequenceError(f"{where} must be a JSON object with pitch, startTime, endTime, got "
                                f"{type(d).__name__} {d!r:.40}")
        qs, qe = _field(d, "quantizedStartStep", None), _field(d, "quantizedEndStep", None)
        is_drum = _field(d, "isDrum", False)
        if not isinstance(is_drum, (bool, np.bool_)):
            raise SequenceError(f"{where} isDrum must be true or false, got {is_drum!r:.40}")
        return cls(pitch=_whole(_field(d, "pitch", 0), f"{where} pitch"),
                   velocity=_whole(_field(d, "velocity", 0), f"{where} velocity"),
                   start_time=_finite(_field(d, "startTime", 0.0), f"{where} startTime"),
                   end_time=_finite(_field(d, "endTime", 0.0), f"{where} endTime"),
                   quantized_start_step=None if qs is None else _whole(qs, f"{where} quantizedStartStep"),
                   quantized_end_step=None if qe is None else _whole(qe, f"{where} quantizedEndStep"),
                   program=_whole(_field(d, "program", 0), f"{where} program"),
                   instrument=_whole(_field(d, "instrument", 0), f"{where} instrument"),
                   is_drum=bool(is_drum))


@dataclass
class Tempo:
    """A tempo (magenta.js ``NoteSequence.Tempo``): quarter notes per minute from ``time`` seconds on."""

    time: float = 0.0
    qpm: float = DEFAULT_QPM


@dataclass
class TimeSignature:
    """A time signature (magenta.js ``NoteSequence.TimeSignature``) from ``time`` seconds on."""

    time: float = 0.0
    numerator: int = 4
    denominator: int = 4


@dataclass
class QuantizationInfo:
    """How a sequence is quantized (magenta.js ``NoteSequence.QuantizationInfo``): steps per quarter (relative)
    or per second (absolute); 0 means unset."""

    steps_per_quarter: int = 0
    steps_per_second: float = 0.0


@dataclass
class NoteSequence:
    """A performance or score: notes plus tempo, time signature and quantisation (magenta.js ``NoteSequence``).

    Attributes
    ----------
    notes : list of Note
    total_time : float
        Seconds (at least the last note's end).
    tempos, time_signatures : list
    quantization_info : QuantizationInfo or None
        Set on quantized sequences (:meth:`quantize`).
    total_quantized_steps : int or None
    ticks_per_quarter : int
        MIDI resolution used by :meth:`to_midi`.
    """

    notes: list[Note] = field(default_factory=list)
    total_time: float = 0.0
    tempos: list[Tempo] = field(default_factory=list)
    time_signatures: list[TimeSignature] = field(default_factory=list)
    quantization_info: QuantizationInfo | None = None
    total_quantized_steps: int | None = None
    ticks_per_quarter: int = DEFAULT_TICKS_PER_QUARTER

    def __post_init__(self):
        """``notes`` as a list (a tuple or a generator had no ``append``/``len``), of :class:`Note`."""
        if not isinstance(self.notes, list):
            try:
                self.notes = list(self.notes)
            except TypeError:
                raise SequenceError(f"notes must be a list of Note, got {type(self.notes).__name__}") from None
        for i, n in enumerate(self.notes):
            if not isinstance(n, Note):
                raise SequenceError(f"notes[{i}] must be a Note (Note(pitch, velocity, start_time, end_time)), got "
                                    f"{type(n).__name__} {n!r:.40}; for magenta.js JSON use NoteSequence.from_json")

    # -- basics --------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.notes)

    def copy(self) -> "NoteSequence":
        """A deep copy."""
        return copy.deepcopy(self)

    @property
    def is_quantized(self) -> bool:
        """magenta.js ``isQuantizedSequence``: quantization info with steps per quarter or per second > 0."""
        q = self.quantization_info
        return q is not None and (q.steps_per_quarter > 0 or q.steps_per_second > 0)

    @property
    def qpm(self) -> float:
        """The first tempo's quarters per minute (120 when the sequence has none)."""
        return float(self.tempos[0].qpm) if self.tempos else DEFAULT_QPM

    def add_note(self, pitch: int, start_time: float, end_time: float, velocity: int = 100, **fields) -> Note:
        """Append a note and extend ``total_time`` to its end; returns it.

        Parameters
        ----------
        pitch : int
            MIDI note number.
        start_time, end_time : float
            Seconds (finite).
        velocity : int
        **fields
            Any other :class:`Note` field (``program``, ``is_drum``, ...).

        Raises
        ------
        SequenceError
            A pitch or velocity that is not a whole number, a time that is not a finite number (the message names
            the argument; ``add_note(60, 0, "x")`` was float()'s ValueError).
        """
        note = Note(pitch=_whole(pitch, "pitch"), velocity=_whole(velocity, "velocity"),
                    start_time=_finite(start_time, "start_time"), end_time=_finite(end_time, "end_time"), **fields)
        self.notes.append(note)
        self.total_time = max(self.total_time, note.end_time)
        return note

    # -- quantisation --------------------------------------------------------------------------------
    def quantize(self, steps_per_quarter: int = 4) -> "NoteSequence":
        """magenta.js ``quantizeNoteSequence``: a quantized copy with steps relative to the (single) tempo.

        Parameters
        ----------
        steps_per_quarter : int
            Grid resolution (4 = sixteenth notes).

        Returns
        -------
        NoteSequence
            A copy with ``quantized_start_step``/``quantized_end_step`` on every note, one tempo and one time
            signature at time 0, ``quantization_info`` and ``total_quantized_steps`` set.

        Raises
        ------
        SequenceError
            Tempo or time-signature changes, a bad time signature or tempo, negative or non-finite times, a field
            that is not a number, ``steps_per_quarter`` not a whole number >= 1.
        """
        from tonehost.dsp._checks import check_int

        try:  # a whole number (NaN, 2.5 or "4" used to end in int()'s ValueError or be truncated)
            steps_per_quarter = check_int("steps_per_quarter", steps_per_quarter, 1, 1 << 20)
        except ValueError as exc:
            raise SequenceError(str(exc)) from None
        q = self.copy()
        q.quantization_info = QuantizationInfo(steps_per_quarter=steps_per_quarter)
        if q.time_signatures:
            q.time_signatures.sort(key=lambda t: t.time)
            first = q.time_signatures[0]
            if first.time != 0 and not (first.numerator == 4 and first.denominator == 4):
                raise SequenceError(f"the sequence has an implicit change from 4/4 to {first.numerator}/"
                                    f"{first.denominator} at {first.time} s; quantize a part with one time signature")
            for ts in q.time_signatures[1:]:
                if (ts.numerator, ts.denominator) != (first.numerator, first.denominator):
                    raise SequenceError(f"the sequence changes time signature ({first.numerator}/{first.denominator}"
                                        f" to {ts.numerator}/{ts.denominator} at {ts.time} s); quantize one part")
            first.time = 0.0
            q.time_signatures = [first]
        else:
            q.time_signatures = [TimeSignature(0.0, 4, 4)]
        ts = q.time_signatures[0]
        if ts.denominator <= 0 or ts.denominator & (ts.denominator - 1) or ts.numerator == 0:
            raise SequenceError(f"bad time signature {ts.numerator}/{ts.denominator}")
        if q.tempos:
            q.tempos.sort(key=lambda t: t.time)
            t0 = q.tempos[0]
            if t0.time != 0 and t0.qpm != DEFAULT_QPM:
                raise SequenceError(f"the sequence has an implicit tempo change from {DEFAULT_QPM:g} to "
                                    f"{t0.qpm:g} qpm at {t0.time} s; quantize a part with one tempo")
            for t in q.tempos[1:]:
                if t.qpm != t0.qpm:
                    raise SequenceError(f"the sequence changes tempo ({t0.qpm:g} to {t.qpm:g} qpm at {t.time} s); "
                                        "quantize a part with one tempo")
            t0.time = 0.0
            q.tempos = [t0]
        else:
            q.tempos = [Tempo(0.0, DEFAULT_QPM)]
        q._check_fields("cannot quantize the sequence")  # NaN/inf times were int()'s ValueError/OverflowError
        qpm = q.tempos[0].qpm
        if not (isinstance(qpm, numbers.Real) and math.isfinite(qpm) and qpm > 0):  # "120": a TypeError
            raise SequenceError(f"cannot quantize the sequence: its tempo is {qpm!r:.20} qpm; give it a positive "
                                "tempo (seq.tempos[0].qpm)")
        steps_per_second = steps_per_quarter * qpm / 60.0
        q.total_quantized_steps = quantize_to_step(self.total_time, steps_per_second)
        for n in q.notes:
            n.quantized_start_step = quantize_to_step(n.start_time, steps_per_second)
            n.quantized_end_step = quantize_to_step(n.end_time, steps_per_second)
            if n.quantized_end_step == n.quantized_start_step:
                n.quantized_end_step += 1
            if n.quantized_start_step < 0 or n.quantized_end_step < 0:
                raise SequenceError(f"negative note time: steps {n.quantized_start_step}..{n.quantized_end_step}")
            q.total_quantized_steps = max(q.total_quantized_steps, n.quantized_end_step)
        return q

    def unquantize(self, qpm: float | None = None) -> "NoteSequence":
        """magenta.js ``unquantizeSequence``: times from steps at ``qpm`` (default the sequence's tempo).

        Parameters
        ----------
        qpm : float, optional
            Quarter notes per minute, :data:`MIN_QPM` .. :data:`MAX_QPM` (what a MIDI file holds).

        Raises
        ------
        SequenceError
            The sequence is not quantized relative to a tempo; ``qpm`` outside that range or not a number
            (``unquantize(0)`` used the sequence's tempo instead, ``unquantize(float("nan"))`` gave NaN times).
        """
        if self.quantization_info is None or self.quantization_info.steps_per_quarter <= 0:
            raise SequenceError("the sequence is not quantized with steps per quarter; nothing to unquantize")
        if qpm is not None:
            qpm = check_qpm(qpm)
        s = self.copy()
        if qpm:
            if s.tempos:
                s.tempos[0].qpm = float(qpm)
            else:
                s.tempos.append(Tempo(0.0, float(qpm)))
        else:
            qpm = s.qpm
        spq = s.quantization_info.steps_per_quarter

        def seconds(step):
            return step / spq * (60.0 / qpm)

        s.total_time = seconds(s.total_quantized_steps or 0)
        for n in s.notes:
            n.start_time = seconds(n.quantized_start_step or 0)
            n.end_time = seconds(n.quantized_end_step or 0)
            s.total_time = max(s.total_time, n.end_time)
            n.quantized_start_step = n.quantized_end_step = None
        s.quantization_info = None
        s.total_quantized_steps = None
        return s

    # -- JSON ----------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        """The sequence as magenta.js JSON (``NoteSequence.toJSON()`` shape, camelCase keys).

        Raises
        ------
        SequenceError
            A note whose times are not finite or whose fields are not numbers (NaN was written, and JSON.parse
            refuses it), naming the note.
        """
        self._check_fields("cannot write the sequence as JSON")
        d = {"notes": [n.to_json() for n in self.notes], "totalTime": float(self.total_time),
             "tempos": [{"time": float(t.time), "qpm": float(t.qpm)} for t in self.tempos],
             "timeSignatures": [{"time": float(t.time), "numerator": int(t.numerator),
                                 "denominator": int(t.denominator)} for t in self.time_signatures],
             "ticksPerQuarter": int(self.ticks_per_quarter)}
        if self.quantization_info is not None:
            qi = {}
            if self.quantization_info.steps_per_quarter:
                qi["stepsPerQuarter"] = int(self.quantization_info.steps_per_quarter)
            if self.quantization_info.steps_per_second:
                qi["stepsPerSecond"] = float(self.quantization_info.steps_per_second)
            d["quantizationInfo"] = qi
        if self.total_quantized_steps is not None:
            d["totalQuantizedSteps"] = int(self.total_quantized_steps)
        return d

    @classmethod
    def from_json(cls, d: dict | str) -> "NoteSequence":
        """From magenta.js JSON (a dict or a JSON string).

        Keys are camelCase (``NoteSequence.toJSON()``: ``startTime``, ``totalQuantizedSteps``) or the proto field
        names (``start_time``: magenta's Python ``MessageToDict(..., preserving_proto_field_name=True)``), as
        proto3 JSON parsers take them; snake_case keys used to be ignored, leaving every time 0.

        Raises
        ------
        SequenceError
            Not a JSON object of that shape: text that is not JSON (a file name: the message says how to read
            it), a field of the wrong kind (``pitch: 60.5``, ``startTime: NaN``, ``notes: 5``), naming the field.
        """
        if isinstance(d, (str, bytes)):
            try:
                d = json.loads(d)
            except ValueError as exc:
                text = d.decode(errors="replace") if isinstance(d, bytes) else d
                hint = ""
                if len(text) < 4096 and "\n" not in text and text.strip() and os.path.isfile(text.strip()):
                    hint = (f"; {text.strip()!r} is a file name: NoteSequence.from_json(pathlib.Path(...)"
                            ".read_text())")
                raise SequenceError(f"not a NoteSequence in magenta.js JSON (not JSON text: {exc}){hint}") from None
        if not isinstance(d, dict):
            raise SequenceError(f"not a NoteSequence in magenta.js JSON: a JSON object (dict) is needed, got "
                                f"{type(d).__name__}")

        def items(key):
            v = _field(d, key, [])
            if not isinstance(v, (list, tuple)):
                raise SequenceError(f"not a NoteSequence in magenta.js JSON: {key} must be a list, got "
                                    f"{type(v).__name__} {v!r:.40}")
            for i, item in enumerate(v):
                if not isinstance(item, dict):
                    raise SequenceError(f"not a NoteSequence in magenta.js JSON: {key}[{i}] must be an object, "
                                        f"got {type(item).__name__} {item!r:.40}")
            return list(enumerate(v))

        qi = _field(d, "quantizationInfo", None)
        if qi is not None and not isinstance(qi, dict):
            raise SequenceError(f"not a NoteSequence in magenta.js JSON: quantizationInfo must be an object, got "
                                f"{qi!r:.40}")
        tqs = _field(d, "totalQuantizedSteps", None)
        return cls(notes=[Note.from_json(n, f"notes[{i}]") for i, n in items("notes")],
                   total_time=_finite(_field(d, "totalTime", 0.0), "totalTime"),
                   tempos=[Tempo(_finite(t.get("time", 0.0), f"tempos[{i}] time"),
                                 _finite(t.get("qpm", DEFAULT_QPM), f"tempos[{i}] qpm")) for i, t in items("tempos")],
                   time_signatures=[TimeSignature(_finite(t.get("time", 0.0), f"timeSignatures[{i}] time"),
                                                  _whole(t.get("numerator", 4), f"timeSignatures[{i}] numerator"),
                                                  _whole(t.get("denominator", 4),
                                                         f"timeSignatures[{i}] denominator"))
                                    for i, t in items("timeSignatures")],
                   quantization_info=None if qi is None else QuantizationInfo(
                       _whole(_field(qi, "stepsPerQuarter", 0), "quantizationInfo stepsPerQuarter"),
                       _finite(_field(qi, "stepsPerSecond", 0.0), "quantizationInfo stepsPerSecond")),
                   total_quantized_steps=None if tqs is None else _whole(tqs, "totalQuantizedSteps"),
                   ticks_per_quarter=_whole(_field(d, "ticksPerQuarter", DEFAULT_TICKS_PER_QUARTER),
                                            "ticksPerQuarter"))

    # -- pretty_midi / MIDI files ---------------------------------------------------------------------
    def to_pretty_midi(self):
        """A ``pretty_midi.PrettyMIDI``: one instrument per (program, instrument, is_drum), the tempo map (every
        tempo change: only the first was written, so a DAW's beat grid went wrong after it) and the time
        signatures. A quantized sequence without times is unquantized first (at its tempo).

        Raises
        ------
        SequenceError
            What a MIDI file cannot hold (as :meth:`to_midi`: pitch 200 made an object that failed only when
            written, in mido's words).
        """
        import pretty_midi

        self._check_midi_range(None)
        seq = self
        if self.is_quantized and self.notes and all(n.end_time == 0 for n in self.notes):
            seq = self.unquantize()
        pm = pretty_midi.PrettyMIDI(initial_tempo=seq.qpm, resolution=seq.ticks_per_quarter)
        # the tempo changes after the first, as note_seq's sequence_proto_to_pretty_midi writes them (pretty_midi
        # has no public call for it: the same two members); note times stay in seconds through the map
        for t in sorted(seq.tempos[1:], key=lambda t: t.time):
            if t.time > 0:
                pm._tick_scales.append((pm.time_to_tick(t.time), 60.0 / (float(t.qpm) * pm.resolution)))
                pm._update_tick_to_time(0)
        slowest = min([float(t.qpm) for t in seq.tempos] or [seq.qpm])
        tick = 60.0 / (slowest * seq.ticks_per_quarter)  # seconds per tick at the slowest tempo written
        for ts in seq.time_signatures:
            pm.time_signature_changes.append(pretty_midi.TimeSignature(ts.numerator, ts.denominator, ts.time))
        tracks: dict[tuple, object] = {}
        for n in seq.notes:
            key = (n.program, n.instrument, n.is_drum)
            if key not in tracks:
                tracks[key] = pretty_midi.Instrument(program=n.program, is_drum=n.is_drum)
            # at least one MIDI tick long: a shorter note rounds to a note-on and note-off on one tick, which
            # readers drop (a zero-length or 1 ms note vanished from the file without a word)
            end = max(n.end_time, n.start_time + tick)
            tracks[key].notes.append(pretty_midi.Note(velocity=max(1, min(127, int(n.velocity))),
                                                      pitch=int(n.pitch), start=n.start_time, end=end))
        for key in sorted(tracks, key=lambda k: (k[1], k[0], k[2])):
            pm.instruments.append(tracks[key])
        return pm

    @classmethod
    def from_pretty_midi(cls, pm) -> "NoteSequence":
        """From a ``pretty_midi.PrettyMIDI`` (magenta.js ``midiToSequenceProto``: notes of every track, tempos,
        time signatures; ``instrument`` is the track index).

        Raises
        ------
        SequenceError
            ``pm`` is not a ``pretty_midi.PrettyMIDI`` (a file name: use :meth:`from_midi`).
        """
        import pretty_midi

        if not isinstance(pm, pretty_midi.PrettyMIDI):  # "'str' object has no attribute 'resolution'"
            raise SequenceError(f"from_pretty_midi takes a pretty_midi.PrettyMIDI, got {type(pm).__name__} "
                                f"{pm!r:.40}; for a MIDI file use NoteSequence.from_midi(path)")
        seq = cls(ticks_per_quarter=int(pm.resolution))
        times, qpms = pm.get_tempo_changes()
        seq.tempos = [Tempo(float(t), float(q)) for t, q in zip(times, qpms)]
        seq.time_signatures = [TimeSignature(float(t.time), int(t.numerator), int(t.denominator))
                               for t in pm.time_signature_changes]
        for i, inst in enumerate(pm.instruments):
            for n in inst.notes:
                seq.notes.append(Note(pitch=int(n.pitch), velocity=int(n.velocity), start_time=float(n.start),
                                      end_time=float(n.end), program=int(inst.program), instrument=i,
                                      is_drum=bool(inst.is_drum)))
        seq.notes.sort(key=lambda n: (n.start_time, n.pitch))
        seq.total_time = max([n.end_time for n in seq.notes], default=0.0)
        return seq

    @classmethod
    def from_midi(cls, path: str | os.PathLike) -> "NoteSequence":
        """Read a MIDI file (magenta.js ``midiToSequenceProto``: every track's notes, tempos, time signatures).

        Parameters
        ----------
        path : str or os.PathLike
            A Standard MIDI File (``.mid``).

        Returns
        -------
        NoteSequence
            Times in seconds, not quantized (:meth:`quantize` for MusicRNN/MusicVAE).

        Raises
        ------
        SequenceError
            The file is missing or is not a MIDI file; ``path`` is not a file name (None, bytes of a file).
        """
        import pretty_midi

        p = _file_name(path, "from_midi's path")
        if p.is_dir():
            raise SequenceError(f"{p} is a folder, not a MIDI file; give a .mid file inside it", p)
        if not p.is_file():
            raise SequenceError(f"MIDI file {p} not found", p)
        if p.stat().st_size == 0:
            raise SequenceError(f"{p} is empty (0 bytes), not a MIDI file; save or copy it again", p)
        try:
            pm = pretty_midi.PrettyMIDI(str(p))
        except Exception as exc:  # mido/pretty_midi raise OSError, EOFError, ValueError, KeyError on bad files
            detail = str(exc).strip() or type(exc).__name__
            if isinstance(exc, EOFError):  # mido's bare EOFError: the file ends inside a track
                detail = "it ends part way through a track: truncated"
            raise SequenceError(f"cannot read {p} as a MIDI file ({detail}); is it a Standard MIDI File?", p) from None
        return cls.from_pretty_midi(pm)

    def to_midi(self, path: str | os.PathLike) -> Path:
        """Write a MIDI file atomically (a temporary file in the same folder, then renamed); returns its path.

        Raises
        ------
        SequenceError
            The folder does not exist or is not writable; ``path`` is not a file name; a note, tempo or program
            a MIDI file cannot hold (pitch or program outside 0..127, a time that is not finite, a field that is
            not a number, a tempo outside :data:`MIN_QPM` .. :data:`MAX_QPM`).
        """
        from tonehost.exports.errors import UsageError
        from tonehost.exports.paths import atomic_output

        p = _file_name(path, "to_midi's path")
        if not p.parent.is_dir():
            raise SequenceError(f"cannot write {p}: folder {p.parent} does not exist", p)
        self._check_midi_range(p)
        try:  # any failure (Ctrl-C included) leaves no temporary file behind and the old file as it was
            with atomic_output(p) as tmp:
                try:
                    self.to_pretty_midi().write(str(tmp))
                except OSError as exc:
                    raise SequenceError(f"cannot write {p} ({exc.strerror or exc})", p) from None
        except UsageError as exc:  # the temporary file could not be made or moved into place
            raise SequenceError(exc.user_message, p) from None
        return p

    def _check_midi_range(self, p: Path | None) -> None:
        """Raise :class:`SequenceError` (naming ``p`` and the first bad value) for what a MIDI file cannot hold:
        pitches and programs outside 0..127, NaN or infinite times, a tempo outside ``MIN_QPM..MAX_QPM`` (a note
        before 0 s starts at 0 s in the file: a GrooVAE hit played early on the first step)."""
        doing = "cannot make a MIDI file of the sequence" if p is None else f"cannot write {p}"
        self._check_fields(doing, p)
        for t in self.tempos or [Tempo(0.0, DEFAULT_QPM)]:  # (every tempo is written: the tempo map)
            if not (isinstance(t.qpm, numbers.Real) and math.isfinite(t.qpm) and MIN_QPM <= t.qpm <= MAX_QPM):
                raise SequenceError(f"{doing}: tempo {t.qpm!r:.20} qpm is outside what a MIDI file holds "
                                    f"({MIN_QPM:g}..{MAX_QPM:g}); give a tempo in that range", p)
            if not (isinstance(t.time, numbers.Real) and math.isfinite(t.time)):
                raise SequenceError(f"{doing}: a tempo change at {t.time!r:.20} s; give it a finite time", p)
        for n in self.notes:
            bad = ("pitch", n.pitch) if not 0 <= n.pitch <= 127 else \
                ("program", n.program) if not 0 <= n.program <= 127 else None
            if bad:
                rng = "0..127"
                raise SequenceError(f"{doing}: a note has {bad[0]} {bad[1]!r} (a MIDI file holds {rng}); "
                                    "fix or drop that note", p)

    def _check_fields(self, doing: str, p: Path | None = None) -> None:
        """Raise :class:`SequenceError` (``"<doing>: a note has ..."``) for the first note whose pitch, velocity,
        program or instrument is not a whole number or whose times are not finite numbers (``Note("60")`` was a
        TypeError from a comparison inside :meth:`to_midi`, a NaN time int()'s ValueError inside
        :meth:`quantize`)."""
        t = self.total_time
        if isinstance(t, (str, bytes)) or not (isinstance(t, numbers.Real) and math.isfinite(t)):
            raise SequenceError(f"{doing}: total_time must be a finite number of seconds, got {t!r:.40}", p)
        for i, n in enumerate(self.notes):
            try:
                for name in ("pitch", "velocity", "program", "instrument", "start_time", "end_time"):
                    v = getattr(n, name)
                    if isinstance(v, (str, bytes)):  # JSON's decimal strings are read by from_json, not kept
                        raise SequenceError(f"{name} must be a number, got {v!r:.40}")
                    (_finite if name.endswith("time") else _whole)(v, name)
            except SequenceError as exc:
                raise SequenceError(f"{doing}: note {i} ({n.pitch!r:.20} at {n.start_time!r:.20} s): "
                                    f"{exc.user_message}; fix or drop that note", p) from None
