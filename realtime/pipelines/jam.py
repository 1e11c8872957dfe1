"""A live partner in the engine: it listens at a tempo, answers in time, keeps a groove, plays an interpolation.

:class:`LiveSession` is the pipeline a :class:`~tonehost.realtime.audio.worker.Worker` runs on the engine's input
(``session.process(block) -> output block``). Everything is timed in *input samples* (the first sample the worker
read is 0) on a tempo :class:`Grid`; the output is written back in step, so a note scheduled at sample ``s``
sounds a fixed engine latency after the input sample ``s`` was captured. Per block it

1. stamps the block in a :class:`~tonehost.realtime.pipelines.listen.SampleClock` (MIDI input arrives on another
   thread with wall-clock times) and gathers what the player did (a listener of
   :mod:`tonehost.realtime.pipelines.listen`);
2. lets each *part* react: :class:`CallAndResponse` (MusicRNN answers a phrase once the player pauses),
   :class:`DrumGroove` (drum_kit_rnn, a bar ahead), :class:`Interpolation` (MusicVAE from melody A to melody B),
   :class:`TapToDrums` (GrooVAE tap2drum, window by window);
3. plays the scheduled note events that fall in the block (the block is split at each event, so an event lands on
   its sample) on the DDSP instrument (:class:`~tonehost.realtime.pipelines.instrument.InstrumentPipeline` under
   external control), FluidSynth (:class:`~tonehost.realtime.pipelines.fluid.FluidVoice`) and a MIDI output
   (notes, MIDI clock), with an optional click.

Model calls never run here: a part hands them to a :class:`Generator` (its own thread; ONNX Runtime releases the
GIL, and the engine's callback never takes it) and picks the result up on a later block. A result that arrives
after the sample it was due is *late*: it is counted, its notes that are already past are dropped, and the
instrument meanwhile plays what it was playing (silence or the held voice) -- the callback never waits.
"""
from __future__ import annotations

import collections
import heapq
import math
import queue
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tonehost.exports.errors import TonehostError, UsageError
from tonehost.exports.note_sequence import NoteSequence, Tempo
from tonehost.realtime.audio.worker import BlockTimes
from tonehost.realtime.pipelines.limits import MAX_ANSWER_BARS, MAX_STEPS

__all__ = ["Grid", "Event", "Schedule", "Generator", "MidiOutTarget", "InstrumentVoice", "Click", "LiveSession",
           "CallAndResponse", "DrumGroove", "Interpolation", "TapToDrums", "prepare_melody", "ROCK_BEAT",
           "MELODY", "DRUMS"]

#: Voices a scheduled event is routed to.
MELODY, DRUMS = "melody", "drums"
#: The one-bar primer of :class:`DrumGroove` (16 sixteenth steps): kick 1 and 3, snare 2 and 4, eighth hi-hats.
ROCK_BEAT = [(0, 36), (8, 36), (4, 38), (12, 38)] + [(s, 42) for s in range(0, 16, 2)]
#: MIDI real-time bytes: clock, start, stop.
MIDI_CLOCK, MIDI_START, MIDI_STOP = 0xF8, 0xFA, 0xFC


# --------------------------------------------------------------------------------------------------- timing

@dataclass
class Grid:
    """The tempo grid in input samples.

    Parameters
    ----------
    sample_rate : int
        Hz.
    qpm : float
        Quarter notes per minute.
    origin : int
        Input sample of bar 0, beat 1 (after the count-in).
    beats_per_bar : int
    steps_per_quarter : int
        Grid steps per beat (4: sixteenth notes, the MusicRNN/MusicVAE grid).
    """

    sample_rate: int
    qpm: float
    origin: int = 0
    beats_per_bar: int = 4
    steps_per_quarter: int = 4

    @property
    def beat_samples(self) -> float:
        """Samples per beat: ``sample_rate * 60 / qpm``."""
        return self.sample_rate * 60.0 / self.qpm

    @property
    def step_samples(self) -> float:
        """Samples per grid step."""
        return self.beat_samples / self.steps_per_quarter

    @property
    def bar_samples(self) -> float:
        """Samples per bar."""
        return self.beat_samples * self.beats_per_bar

    @property
    def steps_per_bar(self) -> int:
        return self.beats_per_bar * self.steps_per_quarter

    def sample_of_step(self, step: float) -> int:
        """Input sample of grid step ``step`` (step 0 = bar 0 beat 1)."""
        return self.origin + int(round(step * self.step_samples))

    def step_at(self, sample: float) -> float:
        """Grid position (fractional steps) of ``sample``."""
        return (sample - self.origin) / self.step_samples

    def bar_start(self, bar: int) -> int:
        """Input sample where bar ``bar`` starts (negative bars: the count-in)."""
        return self.sample_of_step(bar * self.steps_per_bar)

    def bar_at(self, sample: float) -> int:
        """The bar ``sample`` falls in."""
        return int(math.floor(self.step_at(sample) / self.steps_per_bar + 1e-9))

    def next_bar_start(self, sample: float) -> int:
        """The first bar line at or after ``sample``."""
        b = self.bar_at(sample)
        return self.bar_start(b) if self.bar_start(b) >= sample else self.bar_start(b + 1)


@dataclass(order=True)
class Event:
    """A scheduled event: ``kind`` ``"on"``/``"off"`` (a note of ``voice``) or ``"clock"``/``"start"``/``"stop"``
    (MIDI real-time), at input sample ``sample``. Note-offs sort before note-ons at the same sample."""

    sample: int
    order: int
    seq: int
    kind: str = field(compare=False)
    voice: str = field(compare=False, default=MELODY)
    pitch: int = field(compare=False, default=0)
    velocity: int = field(compare=False, default=0)


class Schedule:
    """A time-ordered queue of :class:`Event` (a heap); only the audio worker touches it."""

    _ORDER = {"stop": 0, "off": 1, "start": 2, "clock": 3, "on": 4}

    def __init__(self):
        self._heap: list[Event] = []
        self._seq = 0

    def add(self, sample: int, kind: str, voice: str = MELODY, pitch: int = 0, velocity: int = 0) -> None:
        """Schedule one event."""
        self._seq += 1
        heapq.heappush(self._heap, Event(int(sample), self._ORDER[kind], self._seq, kind, voice, int(pitch),
                                         int(velocity)))

    def note(self, start: int, end: int, pitch: int, velocity: int, voice: str = MELODY) -> None:
        """Schedule a note-on at ``start`` and its note-off at ``end`` (at least one sample later)."""
        self.add(start, "on", voice, pitch, velocity)
        self.add(max(end, start + 1), "off", voice, pitch)

    def due(self, until: int) -> list[Event]:
        """Remove and return the events before sample ``until``, in order."""
        out = []
        while self._heap and self._heap[0].sample < until:
            out.append(heapq.heappop(self._heap))
        return out

    def clear(self, voice: str | None = None) -> list[Event]:
        """Drop pending note-ons (of ``voice``, or all); return the note-offs still pending so they can be sent."""
        offs = [e for e in self._heap if e.kind == "off" and (voice is None or e.voice == voice)]
        self._heap = [e for e in self._heap if voice is not None and e.voice != voice]
        heapq.heapify(self._heap)
        return offs

    def __len__(self) -> int:
        return len(self._heap)


@dataclass
class Result:
    """What a :class:`Generator` job gave: ``value`` or ``error``, with ``perf_counter`` times."""

    tag: object
    value: object
    error: BaseException | None
    submitted: float
    started: float
    finished: float

    @property
    def seconds(self) -> float:
        """Compute time of the job (start to finish)."""
        return self.finished - self.started


class Generator:
    """One thread that runs model calls for a part, in order, off the audio worker.

    Parameters
    ----------
    name : str
        Thread name.
    """

    def __init__(self, name: str = "tonehost-generator"):
        self._jobs: queue.Queue = queue.Queue()
        self._done: collections.deque = collections.deque()
        self._busy = 0
        self._submitted = 0   # written by the submitting thread only
        self._finished = 0    # written by the generator thread only
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, tag, fn: Callable, *args) -> None:
        """Queue ``fn(*args)``; its :class:`Result` comes back through :meth:`results` with ``tag``."""
        self._busy += 1
        self._submitted += 1
        self._jobs.put((tag, fn, args, time.perf_counter()))

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            tag, fn, args, t_submit = job
            t0 = time.perf_counter()
            try:
                value, error = fn(*args), None
            except BaseException as exc:  # handed to the part, which decides
                value, error = None, exc
            self._done.append(Result(tag, value, error, t_submit, t0, time.perf_counter()))
            self._finished += 1

    def results(self) -> list[Result]:
        """Finished jobs since the last call (never blocks)."""
        out = []
        while self._done:
            out.append(self._done.popleft())
            self._busy -= 1
        return out

    @property
    def busy(self) -> bool:
        """True while a submitted job has not finished (queued or running)."""
        return self._submitted != self._finished

    @property
    def pending(self) -> int:
        """Jobs submitted whose result has not been taken yet."""
        return self._busy

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread after the running job."""
        self._jobs.put(None)
        self._thread.join(timeout)


# -------------------------------------------------------------------------------------------------- outputs

class MidiOutTarget:
    """Note events and MIDI clock to a MIDI output port (ALSA or JACK MIDI).

    Parameters
    ----------
    port : str
        As ``--midi-out`` takes it (:func:`tonehost.realtime.midi.ports.open_port`): a number, a name, or a new
        name to create a port.
    channels : dict, optional
        MIDI channel (0-15) per voice; default melody 0, drums 9 (General MIDI drums).

    Raises
    ------
    DeviceError
        No MIDI system, a bad number, an ambiguous name.
    """

    def __init__(self, port: str, channels: dict | None = None):
        from tonehost.realtime.midi.ports import open_port

        self._port = open_port("output", port)
        self.name = self._port.name
        self.channels = {MELODY: 0, DRUMS: 9, **(channels or {})}
        self.sent = 0
        self._sounding: set[tuple[int, int]] = set()

    def describe(self) -> str:
        """One phrase for the console."""
        return self._port.describe()

    def send(self, data: list[int]) -> None:
        """Send raw MIDI bytes (one message)."""
        self._port.rt.send_message(data)
        self.sent += 1

    def note_on(self, pitch: int, velocity: int, voice: str = MELODY) -> None:
        ch = self.channels.get(voice, 0)
        self._sounding.add((ch, int(pitch)))
        self.send([0x90 | ch, int(pitch) & 0x7F, max(1, min(127, int(velocity)))])

    def note_off(self, pitch: int, voice: str = MELODY) -> None:
        ch = self.channels.get(voice, 0)
        self._sounding.discard((ch, int(pitch)))
        self.send([0x80 | ch, int(pitch) & 0x7F, 0])

    def all_off(self) -> None:
        """Note-off for every note this target left sounding."""
        for ch, pitch in sorted(self._sounding):
            self.send([0x80 | ch, pitch, 0])
        self._sounding.clear()

    def close(self, abandon: bool = False) -> None:
        """Silence and close the port (``abandon=True``: the audio server went away or hangs; a JACK port is then
        left to the operating system: closing it blocked ``jam --midi-out`` for good, Ctrl-C included)."""
        try:
            self.all_off()
        finally:
            self._port.close(abandon=abandon)


class InstrumentVoice:
    """The DDSP instrument played from note events: a :class:`~tonehost.realtime.midi.input.MidiVoice` driving an
    :class:`~tonehost.realtime.pipelines.instrument.InstrumentPipeline` through its external control.

    Parameters
    ----------
    pipeline : InstrumentPipeline
    portamento_s : float
        Glide between notes (s).

    Attributes
    ----------
    voice : MidiVoice
        Shared with a MIDI input for monitoring (its note-ons/offs are thread-safe).
    """

    def __init__(self, pipeline, portamento_s: float = 0.03):
        from tonehost.realtime.midi.input import MidiVoice

        self.pipeline = pipeline
        lo, hi = self.loudness_range(pipeline)
        self.voice = MidiVoice(db_low=lo, db_high=hi, portamento_s=portamento_s)
        pipeline.set_external_control(self.voice)

    @staticmethod
    def loudness_range(pipeline) -> tuple[float, float]:
        """Model loudness (dB) for MIDI velocities 1 and 127: DDSP-VST power -70..-15 dB; magenta.js instruments
        35 dB up to the checkpoint's ``averageMaxLoudness`` (``tonehost play --midi-in`` maps them the same way)."""
        info = pipeline.controls.info
        if info.db_kind == "power_db":
            return -70.0, -15.0
        hi = float((info.settings or {}).get("averageMaxLoudness", -45.0))
        return hi - 35.0, hi

    def note_on(self, pitch: int, velocity: int, voice: str = MELODY) -> None:
        self.voice.note_on(pitch, velocity)

    def note_off(self, pitch: int, voice: str = MELODY) -> None:
        self.voice.note_off(pitch)

    def all_off(self) -> None:
        for pitch in range(128):
            self.voice.note_off(pitch)

    def render(self, block: np.ndarray) -> np.ndarray:
        """The instrument for the duration of ``block`` (the input block; ignored under external control)."""
        return self.pipeline.process(block)


class Click:
    """A metronome: a 25 ms decaying sine burst on every beat (1.5 kHz on the downbeat, 1 kHz otherwise).

    Parameters
    ----------
    grid : Grid
    until : int or None
        Click only before this input sample (the count-in); None: always.
    level : float
        Peak amplitude.
    """

    def __init__(self, grid: Grid, until: int | None = None, level: float = 0.25):
        self.grid, self.until, self.level = grid, until, float(level)
        sr = grid.sample_rate
        t = np.arange(int(0.025 * sr)) / sr
        env = np.exp(-t / 0.006)
        self.high = (level * env * np.sin(2 * np.pi * 1500.0 * t)).astype(np.float32)
        self.low = (0.7 * level * env * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
        self._first_beat = -10 ** 9

    def render(self, start: int, n: int, first_beat: int) -> np.ndarray:
        """Click samples for input samples ``[start, start + n)``; beats from ``first_beat`` (a negative beat
        number: the count-in) on."""
        out = np.zeros(n, np.float32)
        g = self.grid
        b0 = max(first_beat, int(math.floor((start - len(self.high) - g.origin) / g.beat_samples)))
        b = b0
        while True:
            at = g.origin + int(round(b * g.beat_samples))
            if at >= start + n:
                break
            if self.until is not None and at >= self.until:
                break
            burst = self.high if b % g.beats_per_bar == 0 else self.low
            a = max(start, at)
            e = min(start + n, at + len(burst))
            if e > a:
                out[a - start:e - start] += burst[a - at:e - at]
            b += 1
        return out


# -------------------------------------------------------------------------------------------------- session

class LiveSession:
    """The live pipeline of ``tonehost jam`` and ``tonehost tap2drum`` (see the module docstring).

    Parameters
    ----------
    sample_rate : int
        The engine's rate (Hz).
    qpm : float
        Tempo, quarter notes per minute.
    count_in_bars : int
        Bars of count-in before bar 0 (clicks and MIDI clock run from the start of the count-in).
    click : str
        ``"count-in"`` (click during the count-in only), ``"on"`` (always) or ``"off"``.
    lead_s : float
        Seconds of silence before the count-in starts (the stream settles).
    say : callable, optional
        Where parts report (one line each): answers, late generations.

    Notes
    -----
    A *part* has ``start(session)`` (called by :meth:`add_part`, before the stream), ``update(session, start,
    end, played)`` (every block, before its events play: ``[start, end)`` are the block's input samples and
    ``played`` the player's :class:`~tonehost.realtime.pipelines.listen.PlayedEvent` s; it schedules notes and
    collects its generator's results), ``stats() -> dict``, and optionally ``warm_up()``, ``close()`` and a
    ``finished`` flag.

    Attributes
    ----------
    grid : Grid
    schedule : Schedule
    clock : SampleClock
    instrument : InstrumentVoice or None
    fluid : FluidVoice or None
    midi_out : MidiOutTarget or None
    parts : list
    pos : int
        Input samples processed so far.
    late_events : int
        Events applied after their sample (a part scheduled them late).
    finished : bool
        True once every part is done (an interpolation played to its end).
    """

    def __init__(self, sample_rate: int, qpm: float = 120.0, count_in_bars: int = 1, click: str = "count-in",
                 lead_s: float = 0.5, say: Callable[[str], None] | None = None):
        from tonehost.realtime.pipelines.listen import SampleClock

        if not (qpm > 0 and math.isfinite(qpm)):
            raise UsageError(f"--qpm must be a positive tempo, got {qpm!r}")
        if click not in ("count-in", "on", "off"):
            raise UsageError(f"click must be count-in, on or off, got {click!r}")
        self.sample_rate = int(sample_rate)
        lead = int(round(lead_s * self.sample_rate))
        g = Grid(self.sample_rate, float(qpm))
        g.origin = lead + int(round(count_in_bars * g.bar_samples))
        self.grid = g
        self.count_in_bars = int(count_in_bars)
        self.first_beat = -self.count_in_bars * g.beats_per_bar
        self.start_sample = lead
        self.schedule = Schedule()
        self.clock = SampleClock(self.sample_rate)
        self.say = say or (lambda text: None)
        self.click = None if click == "off" else Click(g, until=g.origin if click == "count-in" else None)
        self.instrument: InstrumentVoice | None = None
        self.fluid = None
        self.fluid_voices: tuple[str, ...] = (DRUMS,)
        self.midi_out: MidiOutTarget | None = None
        self.midi_clock = False
        self.parts: list = []
        self.listeners: list = []
        self.recorder = None
        self.pos = 0
        self.late_events = 0
        self.block_times = BlockTimes()  # bounded: a long session keeps flat memory
        self._next_tick = 0
        self._meters: list[list] = []
        self._stopped = False

    # -- wiring ---------------------------------------------------------------------------------------
    def add_part(self, part) -> "LiveSession":
        """Add a part (its ``start(session)`` runs now, before the stream)."""
        self.parts.append(part)
        part.start(self)
        return self

    def meter(self, start: int, end: int, done: Callable[[float], None]) -> None:
        """Call ``done(peak)`` with the peak absolute value of the instrument output (DDSP + FluidSynth, no click)
        over input samples ``[start, end)`` once the worker has passed ``end``."""
        self._meters.append([int(start), int(end), 0.0, done])

    @property
    def finished(self) -> bool:
        """True once every part is done (an interpolation played to its end; a jam never is)."""
        return bool(self.parts) and all(getattr(p, "finished", False) for p in self.parts)

    def warm_up(self, block_size: int = 128, blocks: int = 8) -> None:
        """Run the instrument, FluidSynth and each part's model once before the stream starts (compiled kernels,
        ONNX Runtime's first run), so the first blocks of the stream are as quick as the rest. Leaves no note
        sounding and does not move the session's clock."""
        x = np.zeros(int(block_size), np.float32)
        for _ in range(blocks):
            if self.instrument is not None:
                self.instrument.render(x)
            if self.fluid is not None:
                self.fluid.render(len(x))
        for part in self.parts:
            warm = getattr(part, "warm_up", None)
            if warm is not None:
                warm()

    # -- the block ------------------------------------------------------------------------------------
    def played(self, block: np.ndarray, start: int, end: int) -> list:
        """What the player did in this block (every listener's events, in sample order; events of one sample keep
        the order their listener gave them: a note-on and its note-off that arrived together stay on, off)."""
        events = []
        if self.recorder is not None:
            events.extend(self.recorder.events(end))
        for listener in self.listeners:
            for e in listener.push(block):
                events.append(e)
        events.sort(key=lambda e: e.sample)  # stable
        return events

    def _ticks(self, start: int, end: int) -> None:
        if self.midi_out is None or not self.midi_clock:
            return
        g = self.grid
        tick = g.beat_samples / 24.0
        if self._next_tick == 0 and self.start_sample < end:
            self.schedule.add(self.start_sample, "start")
        while True:
            at = self.start_sample + int(round(self._next_tick * tick))
            if at >= end:
                break
            self.schedule.add(at, "clock")
            self._next_tick += 1

    def _apply(self, e: Event) -> None:
        out = self.midi_out
        if e.kind in ("on", "off"):
            on = e.kind == "on"
            if e.voice == MELODY and self.instrument is not None:
                (self.instrument.note_on(e.pitch, e.velocity) if on else self.instrument.note_off(e.pitch))
            if self.fluid is not None and e.voice in self.fluid_voices:
                channel = 9 if e.voice == DRUMS else 0
                (self.fluid.note_on(e.pitch, e.velocity, channel) if on else self.fluid.note_off(e.pitch, channel))
            if out is not None:
                (out.note_on(e.pitch, e.velocity, e.voice) if on else out.note_off(e.pitch, e.voice))
        elif out is not None:
            out.send([{"clock": MIDI_CLOCK, "start": MIDI_START, "stop": MIDI_STOP}[e.kind]])

    def _render(self, block: np.ndarray, a: int, b: int, start: int, out: np.ndarray, bus: np.ndarray) -> None:
        if b <= a:
            return
        if self.instrument is not None:
            bus[a - start:b - start] += self.instrument.render(block[a - start:b - start])
        if self.fluid is not None:
            bus[a - start:b - start] += self.fluid.render(b - a)

    def process(self, block: np.ndarray) -> np.ndarray:
        """One block of input (mono float32 ``[n]``) -> one block of output (float32 ``[n]``)."""
        t0 = time.perf_counter()
        n = len(block)
        start, end = self.pos, self.pos + n
        self.clock.mark(end)
        played = self.played(block, start, end)
        for part in self.parts:
            part.update(self, start, end, played)
        self._ticks(start, end)
        out = np.zeros(n, np.float32)
        bus = np.zeros(n, np.float32)
        cursor = start
        for e in self.schedule.due(end):
            if e.sample < start:
                self.late_events += 1
            s = min(max(e.sample, cursor), end)
            self._render(block, cursor, s, start, out, bus)
            self._apply(e)
            cursor = s
        self._render(block, cursor, end, start, out, bus)
        out += bus
        if self.click is not None:
            out += self.click.render(start, n, self.first_beat)
        if self._meters:
            keep = []
            for m in self._meters:
                a, b = max(m[0], start), min(m[1], end)
                if b > a:
                    m[2] = max(m[2], float(np.max(np.abs(bus[a - start:b - start]))))
                if m[1] <= end:
                    m[3](m[2])
                else:
                    keep.append(m)
            self._meters = keep
        self.pos = end
        self.block_times.append(time.perf_counter() - t0)
        return out

    def stop(self) -> None:
        """Silence every output and send MIDI stop (call once the worker stopped)."""
        if self._stopped:
            return
        self._stopped = True
        for part in (*self.parts, *self.listeners):
            close = getattr(part, "close", None)
            if close is not None:
                close()
        if self.midi_out is not None:
            try:
                if self.midi_clock:
                    self.midi_out.send([MIDI_STOP])
                self.midi_out.all_off()
            except Exception:  # a port that went away: nothing left to silence
                pass
        if self.instrument is not None:
            self.instrument.all_off()
        if self.fluid is not None:
            self.fluid.all_off()

    def stats(self) -> dict:
        """Counters of every part (``answers``, ``late``, margins in ms, ...) plus the worker's own cost."""
        bt = np.asarray(self.block_times or [0.0]) * 1e6
        out = {"blocks": self.block_times.count, "worker_us_p50": float(np.percentile(bt, 50)),
               "worker_us_p99": float(np.percentile(bt, 99)), "late_events": self.late_events}
        for part in self.parts:
            out.update(part.stats())
        return out


def _db(peak: float) -> float:
    return 20.0 * math.log10(max(peak, 1e-7))


# ---------------------------------------------------------------------------------------------- melodies

def prepare_melody(notes, qpm: float, min_pitch: int, max_pitch: int, steps_per_quarter: int = 4):
    """Played notes -> a one-voice quantized primer inside a model's pitch range.

    Parameters
    ----------
    notes : list of (start_s, end_s, pitch, velocity)
        Seconds from the bar line the phrase starts in.
    qpm : float
    min_pitch, max_pitch : int
        The model's range (MelodyConverter ``min_pitch``/``max_pitch``).
    steps_per_quarter : int

    Returns
    -------
    (NoteSequence, int)
        The quantized primer (``total_quantized_steps`` = the last note's end) and the octave shift applied to
        the whole phrase (in octaves; the answer is shifted back by it). Notes that start together keep the
        highest (magenta.js's rule); a note is cut where the next one starts; a note still outside the range
        after the shift is folded into it by octaves.
    """
    seq = NoteSequence(tempos=[Tempo(0.0, float(qpm))])
    for a, b, p, v in notes:
        seq.add_note(int(p), max(0.0, a), max(b, a + 1e-3), int(v))
    q = seq.quantize(steps_per_quarter)
    by_start: dict[int, object] = {}
    for n in q.notes:
        k = n.quantized_start_step
        if k not in by_start or n.pitch > by_start[k].pitch:
            by_start[k] = n
    mono = [by_start[k] for k in sorted(by_start)]
    for cur, nxt in zip(mono, mono[1:]):
        cur.quantized_end_step = min(cur.quantized_end_step, nxt.quantized_start_step)
    pitches = [n.pitch for n in mono]
    best = min(range(-5, 6), key=lambda k: (-sum(min_pitch <= p + 12 * k <= max_pitch for p in pitches), abs(k)))
    for n in mono:
        p = n.pitch + 12 * best
        while p < min_pitch:
            p += 12
        while p > max_pitch:
            p -= 12
        n.pitch = p
    q.notes = mono
    q.total_quantized_steps = max((n.quantized_end_step for n in mono), default=0)
    return q, best


class AnswerPlan:
    """One answer being generated on the generator thread and read, step by step, by the audio worker.

    The generator appends note events ``(kind, step, pitch)`` (``kind`` ``"on"``/``"off"``, ``step`` from the
    answer's first step, the pitch before the octave shift back) as it draws each step; ``steps`` says how many
    steps are drawn (every event before that step is final). The worker schedules what is there and never waits.
    Times are ``time.perf_counter()`` (wall) and ``time.thread_time()`` (the generator thread's CPU).

    Attributes
    ----------
    version : int
        The phrase version it answers (a newer phrase cancels it).
    index : int
        Answer number (1-based).
    submit_sample : int
        The worker's input sample when it was submitted (the end of the block that saw the phrase's last event).
    events : list of (str, int, int)
    steps : int
    done, cancelled : bool
    error : BaseException or None
    shift : int
        Octave shift of the primer (the answer is shifted back by it).
    phrase_notes, primer_steps, fed_steps : int
        Notes and steps of the primer; primer steps actually run (the rest came from :class:`PrefixCache`).
    t_submit, t_start, t_first, t_done : float
        perf_counter at submission, start, step 0 drawn, last step drawn.
    cpu_first, cpu_done : float
        Generator thread CPU seconds from start to step 0 drawn, and to the end.
    """

    def __init__(self, version: int, index: int, submit_sample: int):
        self.version, self.index, self.submit_sample = version, index, int(submit_sample)
        self.events: list[tuple[str, int, int]] = []
        self.steps = 0
        self.done = self.cancelled = False
        self.error: BaseException | None = None
        self.shift = 0
        self.phrase_notes = self.primer_steps = self.fed_steps = 0
        self.velocity = 90
        self.t_submit = time.perf_counter()
        self.t_start = self.t_first = self.t_done = None
        self.cpu_first = self.cpu_done = None


class CallAndResponse:
    """Listen to a phrase, and once the player pauses, answer it with a MusicRNN continuation on the next bar.

    States: *listening* (the phrase grows with every note played); once no note is held and nothing happened for
    ``pause_beats`` beats, the phrase (from the bar it started in) is answered from the next bar line
    (*answering*: ``answer_bars`` bars; the player's input is ignored), then the part listens again.

    The answer is computed *speculatively*: every time a note ends and none is held, the phrase so far is
    quantized to the grid (:func:`prepare_melody`) and handed to the generator, which feeds it as the primer and
    draws the answer step by step (:class:`AnswerPlan`). A new note cancels that plan; when the pause is
    confirmed, the plan of the phrase as it stands (started at its last note-off, a whole pause earlier) is the
    answer. The primer goes through a :class:`~tonehost.realtime.pipelines.music_rnn.PrefixCache`, so a plan
    runs only the steps added since the previous one, and the worker schedules each answer step as soon as it is
    drawn (a step costs a few ms, the grid gives it 125 ms at 120 qpm). So the first step is normally ready long
    before the bar line: the budget is the pause plus the rest of its bar, not the time left after the pause is
    confirmed. A first step not drawn by its bar line is *late*: counted, and the answer plays from the next bar
    line instead; a later step drawn after its time (never seen) is counted in ``late_steps``.

    Parameters
    ----------
    model : tonehost.realtime.pipelines.music_rnn.MusicRNN
        A melody model (basic_rnn, melody_rnn shapes; chord_pitches_improv with ``chords``).
    pause_beats : float
    answer_bars : int
    temperature : float or None
    seed : int or None
        With a seed, answer ``k`` draws from ``numpy.random.default_rng([seed, k])``: the same phrase gets the
        same answer however many plans were cancelled on the way.
    chords : list of str, optional
        For a chord-conditioned model: the progression, spread over primer + answer.
    """

    def __init__(self, model, pause_beats: float = 2.0, answer_bars: int = 2, temperature: float | None = 1.0,
                 seed: int | None = None, chords=None):
        from tonehost.exports.sequences import MelodyConverter
        from tonehost.realtime.pipelines.music_rnn import PrefixCache

        conv = model.data_converter
        if not isinstance(conv, MelodyConverter):
            raise UsageError(f"{model!r} is not a melody model; jam answers with basic_rnn, melody_rnn or "
                             "chord_pitches_improv (drum_kit_rnn goes to --drums)")
        if model.chord_encoder is not None and not chords:
            raise UsageError("this checkpoint is conditioned on chords: pass --chords, e.g. --chords \"C G Am F\"")
        if not pause_beats > 0 or int(answer_bars) < 1:
            raise UsageError("--pause-beats must be > 0 and --answer-bars >= 1")
        if int(answer_bars) > MAX_ANSWER_BARS:  # the answer is drawn in one go: MusicRNN's bound (limits)
            raise UsageError(f"--answer-bars must be at most {MAX_ANSWER_BARS} ({MAX_STEPS} sixteenth-note steps, "
                             f"the most MusicRNN draws at once), got {answer_bars!r}")
        self.model, self.pause_beats, self.answer_bars = model, float(pause_beats), int(answer_bars)
        self.temperature = temperature or None
        self.seed = seed
        self.chords = list(chords) if chords else None
        self.min_pitch, self.max_pitch = conv.min_pitch, conv.max_pitch
        self.cache = PrefixCache(model)
        self.gen = Generator("jam-answer")
        self.state = "listening"
        self.answers: list[dict] = []
        self.failed = 0
        self.plans_cancelled = 0
        self._version = 0
        self._plan: AnswerPlan | None = None
        self._reset_phrase()

    def _reset_phrase(self) -> None:
        self.phrase: list[tuple[int, int, int, int]] = []   # (start, end, pitch, velocity) in samples
        self.open: dict[int, tuple[int, int]] = {}
        self.last = 0
        self._version += 1
        self._plan = None

    def start(self, session: LiveSession) -> None:
        self.session = session

    def warm_up(self) -> None:
        """One model step (ONNX Runtime's first run is slow), on the caller's thread."""
        self.model.step(np.zeros((1, self.model.spec.input_depth), np.float32), self.model.initial_state(1))

    def close(self) -> None:
        self._version += 1
        self.gen.close()

    @property
    def busy(self) -> bool:
        """True while the generator has a plan to run or is running one."""
        return self.gen.busy

    @staticmethod
    def generate(model, primer, steps, temperature, chords, rng):
        """One whole continuation (what a plan draws, in one call): ``(start_step, end_step, pitch)`` of its
        notes."""
        if chords:
            from tonehost.exports.sequences import parse_chord_progression

            chords = parse_chord_progression(chords, model.chord_encoder)
        cont = model.continue_sequence(primer, steps, temperature=temperature, chord_progression=chords, rng=rng)
        return [(n.quantized_start_step, n.quantized_end_step, n.pitch) for n in cont.notes]

    # -- the generator thread ---------------------------------------------------------------------------
    def _rng(self, index: int):
        return np.random.default_rng(None if self.seed is None else [int(self.seed), int(index)])

    def plan(self, plan: AnswerPlan, notes, qpm: float, steps_per_quarter: int, steps: int) -> AnswerPlan:
        """Draw the answer to ``notes`` (``(start_s, end_s, pitch, velocity)`` from the phrase's bar line) into
        ``plan``, step by step (runs on the generator thread)."""
        from tonehost.exports.sequences import parse_chord_progression
        from tonehost.exports.sequences.melody import FIRST_PITCH, NOTE_OFF
        from tonehost.realtime.pipelines.music_rnn import MusicRNNStream

        plan.t_start = time.perf_counter()
        cpu0 = time.thread_time()

        def cancelled() -> bool:
            return plan.version != self._version

        if cancelled():
            plan.cancelled = True
            return plan
        primer, plan.shift = prepare_melody(notes, qpm, self.min_pitch, self.max_pitch, steps_per_quarter)
        plan.phrase_notes, plan.primer_steps = len(primer.notes), int(primer.total_quantized_steps)
        tensor = self.model.encode(primer)
        chords = parse_chord_progression(self.chords, self.model.chord_encoder) if self.chords else None
        stream = MusicRNNStream(self.model, self.temperature, self._rng(plan.index), chords,
                                total_steps=len(tensor) + steps)
        if not stream.feed_tensor(tensor, self.cache, cancelled):
            plan.cancelled = True
            return plan
        plan.fed_steps = self.cache.fed
        current = None
        low = self.min_pitch - FIRST_PITCH
        for k in range(steps):
            if cancelled():
                plan.cancelled = True
                return plan
            event = stream.sample(feed=k < steps - 1)   # as continue_sequence: the last step is not fed back
            if event == NOTE_OFF or event >= FIRST_PITCH:
                if current is not None:
                    plan.events.append(("off", k, current))
                    current = None
                if event >= FIRST_PITCH:
                    current = event + low
                    plan.events.append(("on", k, current))
            plan.steps = k + 1
            if k == 0:
                plan.t_first, plan.cpu_first = time.perf_counter(), time.thread_time() - cpu0
        if current is not None:
            plan.events.append(("off", steps, current))
        plan.t_done, plan.cpu_done = time.perf_counter(), time.thread_time() - cpu0
        plan.done = True
        return plan

    # -- the audio worker -------------------------------------------------------------------------------
    def update(self, s: LiveSession, start: int, end: int, played) -> None:
        g = s.grid
        if self.state == "listening":
            changed = False
            for e in played:
                if e.sample < g.origin:
                    continue  # the count-in
                if e.kind == "on":
                    if e.pitch in self.open:
                        a, v = self.open.pop(e.pitch)
                        self.phrase.append((a, e.sample, e.pitch, v))
                    self.open[e.pitch] = (e.sample, e.velocity)
                elif e.pitch in self.open:
                    a, v = self.open.pop(e.pitch)
                    self.phrase.append((a, e.sample, e.pitch, v))
                else:
                    continue
                changed = True
                self.last = max(self.last, e.sample)
            if changed:
                self._version += 1            # what the generator is drawing answers an older phrase
                self._plan = None
                if self.phrase and not self.open:
                    self._speculate(s, end)
            pause = int(round(self.pause_beats * g.beat_samples))
            if self.phrase and not self.open and end - self.last >= pause:
                self._commit(s, end)
        if self.state == "answering":
            self._play(s, start, end)
            if end >= self.answer_end and (self._plan is None or self._plan.done or self._plan.error
                                           is not None):
                self.state = "listening"
                self._reset_phrase()
        self._collect()

    def _collect(self) -> None:
        for r in self.gen.results():
            if r.error is not None:
                plan = r.tag
                plan.error = r.error
                if plan is self._plan and self.state == "answering":
                    continue  # reported by _play
                if not isinstance(r.error, TonehostError):
                    raise r.error
            elif r.value is not None and r.value.cancelled:
                self.plans_cancelled += 1

    def _speculate(self, s: LiveSession, now: int) -> None:
        g = s.grid
        first = min(a for a, _, _, _ in self.phrase)
        bar0 = g.bar_start(g.bar_at(first + g.step_samples / 2))
        notes = [((a - bar0) / s.sample_rate, (b - bar0) / s.sample_rate, p, v) for a, b, p, v in self.phrase]
        plan = AnswerPlan(self._version, len(self.answers) + 1, now)
        plan.velocity = int(statistics.median(v for *_, v in self.phrase))
        self._plan = plan
        self.gen.submit(plan, self.plan, plan, notes, g.qpm, g.steps_per_quarter, self.answer_bars * g.steps_per_bar)

    def _commit(self, s: LiveSession, detect: int) -> None:
        """The pause is confirmed: the current plan becomes the answer, due on the next bar line."""
        g = s.grid
        if self._plan is None or self._plan.version != self._version:
            self._speculate(s, detect)
        plan = self._plan
        downbeat = g.next_bar_start(detect)
        info = {"index": plan.index, "detect": detect, "downbeat": downbeat, "start": downbeat,
                "bar": g.bar_at(downbeat + 1), "submitted": plan.submit_sample, "late": False, "late_steps": 0,
                "velocity": plan.velocity, "notes": 0}
        self._info, self._taken = info, 0
        self.answer_end = downbeat + int(round(self.answer_bars * g.bar_samples))
        self.answers.append(info)
        self.state = "answering"
        s.say(f"heard a phrase of {len(self.phrase)} notes; answering on bar {info['bar'] + 1}")

    def _play(self, s: LiveSession, start: int, end: int) -> None:
        """Schedule the answer's steps drawn so far (never waits for the others)."""
        g = s.grid
        plan, info = self._plan, self._info
        if plan is None:
            return
        if plan.error is not None:
            if "failed" not in info:
                info["failed"] = True
                self.failed += 1
                self.answers.remove(info)
                msg = plan.error.user_message if isinstance(plan.error, TonehostError) else str(plan.error)
                s.say(f"could not answer: {msg}")
                self.answer_end = start
            return
        at = info["start"]
        if self._taken == 0 and plan.steps == 0 and not plan.done:
            if at < end:
                # the first step is not drawn by its bar line: late, the answer moves to the next bar line
                info["late"] = True
                info["start"] = at = g.next_bar_start(end)
                info["bar"] = g.bar_at(at + 1)
                self.answer_end = at + int(round(self.answer_bars * g.bar_samples))
            return
        base = g.step_at(at)
        shift = 12 * plan.shift
        n = len(plan.events)
        while self._taken < n:
            kind, step, pitch = plan.events[self._taken]
            self._taken += 1
            t = g.sample_of_step(base + step)
            if kind == "on":
                if t < start:
                    info["late_steps"] += 1     # drawn after its time: dropped
                    continue
                s.schedule.add(t, "on", MELODY, pitch - shift, plan.velocity)
                info["notes"] += 1
            else:
                s.schedule.add(max(t, start), "off", MELODY, pitch - shift)
        if "margin_ms" not in info and plan.t_first is not None:
            self._measure(s, plan, info)
        if plan.done and "gen_ms" not in info:
            info["gen_ms"] = 1000.0 * (plan.t_done - plan.t_start)
            info["gen_cpu_ms"] = 1000.0 * plan.cpu_done

    def _measure(self, s: LiveSession, plan: AnswerPlan, info: dict) -> None:
        sr = s.sample_rate
        budget_ms = 1000.0 * (info["downbeat"] - plan.submit_sample) / sr   # the bar line it was due on
        info["margin_ms"] = budget_ms - 1000.0 * (plan.t_first - plan.t_submit)
        info["margin_cpu_ms"] = budget_ms - 1000.0 * plan.cpu_first
        info["budget_ms"] = budget_ms
        info["first_step_ms"] = 1000.0 * (plan.t_first - plan.t_submit)
        info["first_step_cpu_ms"] = 1000.0 * plan.cpu_first
        info["pause_to_bar_line_ms"] = 1000.0 * (info["downbeat"] - info["detect"]) / sr
        info["fed_steps"], info["primer_steps"] = plan.fed_steps, plan.primer_steps
        info["phrase_notes"], info["shift"] = plan.phrase_notes, plan.shift

        def report(peak, info=info, plan=plan):
            info["peak_db"] = _db(peak)
            info.setdefault("gen_ms", 1000.0 * ((plan.t_done or time.perf_counter()) - plan.t_start))
            s.say(f"answer {info['index']}: {info['notes']} notes over {self.answer_bars} bars from bar "
                  f"{info['bar'] + 1}{' (LATE: moved a bar)' if info['late'] else ''}; phrase "
                  f"{info['phrase_notes']} notes; generated in {info['gen_ms']:.1f} ms, margin "
                  f"{info['margin_ms']:.0f} ms; output peak {info['peak_db']:.1f} dB")

        s.meter(info["start"], info["start"] + int(round(self.answer_bars * s.grid.bar_samples)), report)

    def stats(self) -> dict:
        done = [a for a in self.answers if "margin_ms" in a]
        m = [a["margin_ms"] for a in done]
        return {"answers": len(self.answers), "answers_late": sum(a["late"] for a in self.answers),
                "answer_failed": self.failed, "answer_late_steps": sum(a["late_steps"] for a in self.answers),
                "answer_gen_ms": [a.get("gen_ms") for a in done], "answer_margin_ms": m,
                "answer_margin_cpu_ms": [a["margin_cpu_ms"] for a in done],
                "answer_margin_ms_min": min(m) if m else None, "plans_cancelled": self.plans_cancelled}


class DrumGroove:
    """drum_kit_rnn keeps a groove going: each bar is generated during the bar before it.

    Bar 0 plays the primer (a one-bar beat: :data:`ROCK_BEAT`, or ``primer``); at the start of bar ``b`` the
    model (a :class:`~tonehost.realtime.pipelines.music_rnn.MusicRNNStream` that keeps its state, so the groove
    runs on) draws the 16 steps of bar ``b + 1``. A bar that comes back after its bar line is late: counted,
    and its hits already past are dropped.

    Parameters
    ----------
    model : MusicRNN
        A drums model (drum_kit_rnn shape).
    temperature : float or None
    seed : int or None
    primer : NoteSequence, optional
        Quantized drums (steps per quarter 4) to start from.
    velocity : int
    """

    def __init__(self, model, temperature: float | None = 1.0, seed: int | None = None, primer=None,
                 velocity: int = 100):
        from tonehost.exports.sequences import DrumsOneHotConverter

        if not isinstance(model.data_converter, DrumsOneHotConverter):
            raise UsageError(f"{model!r} is not a drums model; --drums-checkpoint takes drum_kit_rnn (or a "
                             "checkpoint of its shape)")
        self.model, self.velocity = model, int(velocity)
        if primer is None:
            primer = NoteSequence(tempos=[Tempo(0.0, 120.0)])
            for step, pitch in ROCK_BEAT:
                primer.add_note(pitch, step * 0.125, step * 0.125 + 0.125, velocity, is_drum=True)
            primer.total_time = 2.0
            primer = primer.quantize(4)
            primer.total_quantized_steps = 16
        self.primer = primer
        self.stream = model.stream(temperature=temperature or None, rng=np.random.default_rng(seed))
        self.gen = Generator("jam-drums")
        self.bars: dict[int, dict] = {}
        self.next_bar = 1

    def start(self, s: LiveSession) -> None:
        g = s.grid
        for n in self.primer.notes:
            if n.quantized_start_step < g.steps_per_bar:
                s.schedule.note(g.sample_of_step(n.quantized_start_step), g.sample_of_step(n.quantized_end_step),
                                n.pitch, self.velocity, DRUMS)
        self.gen.submit(1, self._prime_and_draw, g.steps_per_bar)
        self.bars[1] = {"submitted": 0}
        self.next_bar = 2

    def close(self) -> None:
        self.gen.close()

    def warm_up(self) -> None:
        """One model step (ONNX Runtime's first run is slow), on the caller's thread."""
        self.model.step(np.zeros((1, self.model.spec.input_depth), np.float32), self.model.initial_state(1))

    def _prime_and_draw(self, steps: int):
        self.stream.feed_sequence(self.primer)
        return self._draw(steps)

    def _draw(self, steps: int):
        events = self.stream.take(steps)
        seq = self.stream.to_note_sequence(events)
        return [(n.quantized_start_step, n.pitch) for n in seq.notes]

    def update(self, s: LiveSession, start: int, end: int, played) -> None:
        g = s.grid
        while self.next_bar - 1 >= 0 and end >= g.bar_start(self.next_bar - 1):
            self.gen.submit(self.next_bar, self._draw, g.steps_per_bar)
            self.bars[self.next_bar] = {"submitted": end}
            self.next_bar += 1
        for r in self.gen.results():
            if r.error is not None:
                raise r.error
            bar = r.tag
            at = g.bar_start(bar)
            info = self.bars[bar]
            info.update(gen_ms=1000.0 * r.seconds, margin_ms=1000.0 * (at - start) / s.sample_rate,
                        late=at < start, dropped=0)
            for step, pitch in r.value:
                t = g.sample_of_step(bar * g.steps_per_bar + step)
                if t < start:
                    info["dropped"] += 1
                    continue
                s.schedule.note(t, g.sample_of_step(bar * g.steps_per_bar + step + 1), pitch, self.velocity, DRUMS)
            if info["late"]:
                s.say(f"drums: bar {bar + 1} came {-info['margin_ms']:.0f} ms late ({info['dropped']} hits dropped)")

    def stats(self) -> dict:
        done = [b for b in self.bars.values() if "gen_ms" in b]
        return {"drum_bars": len(done), "drum_bars_late": sum(b["late"] for b in done),
                "drum_gen_ms": [b["gen_ms"] for b in done], "drum_margin_ms": [b["margin_ms"] for b in done]}


def _window_notes(seq: NoteSequence, num_steps: int, min_pitch: int, max_pitch: int) -> NoteSequence:
    """The first ``num_steps`` of a quantized melody, one voice, inside ``[min_pitch, max_pitch]``."""
    q = seq
    notes = [(n.quantized_start_step, n.quantized_end_step, n.pitch, n.velocity) for n in q.notes
             if n.quantized_start_step < num_steps]
    step_s = 60.0 / q.qpm / 4
    primer, _ = prepare_melody([(a * step_s, min(b, num_steps) * step_s, p, v) for a, b, p, v in notes], q.qpm,
                               min_pitch, max_pitch)
    primer.total_quantized_steps = num_steps
    return primer


class Interpolation:
    """MusicVAE as an instrument: from melody A to melody B over ``bars`` bars, each window decoded a window
    ahead (window ``w`` during window ``w - 1``; the first during the count-in).

    Parameters
    ----------
    model : tonehost.realtime.pipelines.music_vae.MusicVAE
        A melody model (mel_2bar_small, mel_4bar...).
    a, b : NoteSequence
        The two melodies (their first window is used; made one-voice and folded into the model's range).
    bars : int
        Length of the journey (rounded up to whole windows; at least two windows, A and B).
    temperature : float or None
    seed : int or None
    loop : bool
        Go back and forth forever instead of stopping at B.
    velocity : int
    """

    def __init__(self, model, a: NoteSequence, b: NoteSequence, bars: int = 8, temperature: float | None = None,
                 seed: int | None = None, loop: bool = False, velocity: int = 90):
        from tonehost.exports.sequences import MelodyConverter
        from tonehost.realtime.pipelines.music_vae import interpolated_zs

        conv = model.converter
        if not isinstance(conv, MelodyConverter) or model.arch.num_segments:
            raise UsageError(f"{model.name} is not a flat melody MusicVAE; jam --vae takes mel_2bar_small or the "
                             "mel_4bar family")
        self.model = model
        self.window_steps = model.num_steps
        self.window_bars = max(1, self.window_steps // 16)
        n = max(2, -(-int(bars) // self.window_bars))
        seqs = [_window_notes(x.quantize(4) if not x.is_quantized else x, self.window_steps, conv.min_pitch,
                              conv.max_pitch) for x in (a, b)]
        for name, x in zip("AB", seqs):
            if not x.notes:
                raise UsageError(f"melody {name} has no notes in its first {self.window_bars} bars")
        z = model.encode(seqs)
        self.zs = interpolated_zs(z, n)
        self.windows = n
        self.temperature = temperature or None
        self.rng = np.random.default_rng(seed)
        self.loop, self.velocity = loop, int(velocity)
        self.gen = Generator("jam-vae")
        self.info: dict[int, dict] = {}
        self.next_window = 0
        self.finished = False
        self.end_sample: int | None = None

    def start(self, s: LiveSession) -> None:
        self._submit(0, 0)

    def warm_up(self) -> None:
        """One decode (ONNX Runtime's first runs are slow), on the caller's thread."""
        self.model.decode(self.zs[:1])

    def close(self) -> None:
        self.gen.close()

    def _z(self, w: int) -> np.ndarray:
        if not self.loop:
            return self.zs[w:w + 1]
        period = 2 * (self.windows - 1)
        k = w % period
        return self.zs[(k if k < self.windows else period - k):][:1]

    def _submit(self, w: int, now: int) -> None:
        self.info[w] = {"submitted": now}
        self.gen.submit(w, self._decode, self._z(w))
        self.next_window = w + 1

    def _decode(self, z):
        seq = self.model.decode(z, self.temperature, rng=self.rng)[0]
        return [(n.quantized_start_step, n.quantized_end_step, n.pitch) for n in seq.notes]

    def window_start(self, g: Grid, w: int) -> int:
        return g.bar_start(w * self.window_bars)

    def update(self, s: LiveSession, start: int, end: int, played) -> None:
        g = s.grid
        w = self.next_window
        if (self.loop or w < self.windows) and end >= self.window_start(g, w - 1):
            self._submit(w, end)
        for r in self.gen.results():
            if r.error is not None:
                raise r.error
            w = r.tag
            at = self.window_start(g, w)
            info = self.info[w]
            info.update(gen_ms=1000.0 * r.seconds, margin_ms=1000.0 * (at - start) / s.sample_rate,
                        late=at < start, notes=len(r.value))
            base = w * self.window_bars * g.steps_per_bar
            for a, b, p in r.value:
                t = g.sample_of_step(base + a)
                if t >= start:
                    s.schedule.note(t, g.sample_of_step(base + b), p, self.velocity)
            s.say(f"window {w + 1}{'' if self.loop else f'/{self.windows}'} (bar {w * self.window_bars + 1}): "
                  f"{len(r.value)} notes, decoded in {info['gen_ms']:.1f} ms, margin {info['margin_ms']:.0f} ms"
                  + (" (LATE)" if info["late"] else ""))
        if not self.loop and self.end_sample is None and self.next_window >= self.windows:
            self.end_sample = self.window_start(g, self.windows)
        if self.end_sample is not None and end >= self.end_sample + int(0.3 * s.sample_rate):
            self.finished = True

    def stats(self) -> dict:
        done = [i for i in self.info.values() if "gen_ms" in i]
        return {"windows": len(done), "windows_late": sum(i["late"] for i in done),
                "window_gen_ms": [i["gen_ms"] for i in done], "window_margin_ms": [i["margin_ms"] for i in done]}


class TapToDrums:
    """GrooVAE tap2drum live: the taps of each window (1, 2 or 4 bars, the checkpoint's length) become a full
    groove played on the next window.

    Window ``w`` collects the taps from half a step before its first bar line to half a step before the next
    window's (a tap up to half a step early belongs to the beat it anticipates, as quantization would put it);
    at that point (the window *closes*) the groove of its taps plays from the next bar line, so the first hit is
    due half a grid step (62.5 ms at 120 qpm) after the close. A whole window's encode and decode takes longer
    than that for 2-4 bar windows (a bidirectional encode and 32-64 decoder steps), so the work is streamed:

    - while the window is being played, the encoder's forward pass advances over each step as soon as no tap can
      land in it any more (:class:`~tonehost.realtime.pipelines.music_vae.StreamedEncoder`, one LSTM step per
      grid step, on the generator thread);
    - half a step before the close (every row but the last is final) z is computed from the taps so far; at the
      close it is used as it is unless a tap arrived since, and otherwise only the last forward step, the
      backward pass and ``mu`` remain;
    - the decoder then runs one step at a time
      (:class:`~tonehost.realtime.pipelines.music_vae.GrooveStream`) and each decoded step's hits are handed to
      the audio worker at once, which schedules them. Step 0 is ready one decoder step after the close (plus one
      backward pass when a tap came in the window's last half step); step ``s`` sounds no earlier than
      ``s - 0.5`` steps after the bar line (the largest GrooVAE offset moves a hit half a step early), and each
      further step costs one decoder step (a few ms), so the decode stays ahead of the playhead.

    The notes are those of ``model.groove`` on the same taps, bit for bit (same ONNX calls, random draws and
    arithmetic; z from the streamed encoder equals the encoder's). Hits whose time has passed when their step
    arrives are dropped and counted (the window is *late*); ``margin_ms`` is the smallest lead of any step over
    its earliest hit. A window without taps repeats the last groove (``hold``). A model that cannot be streamed
    (not a flat GrooVAE) is decoded whole at the close, as before.

    Parameters
    ----------
    model : MusicVAE
        A tap2drum checkpoint (``tapify`` GrooveConverter).
    temperature : float or None
    seed : int or None
    hold : bool
    """

    def __init__(self, model, temperature: float | None = None, seed: int | None = None, hold: bool = True):
        conv = model.spec["dataConverter"]
        if conv.get("type") != "GrooveConverter" or not conv.get("args", {}).get("tapify"):
            raise UsageError(f"{model.name} is not a tap2drum checkpoint; use tap2drum_1bar, tap2drum_2bar, "
                             "tap2drum_3bar or tap2drum_4bar")
        self.model = model
        self.window_steps = model.num_steps
        self.temperature = temperature or None
        self.rng = np.random.default_rng(seed)
        self.hold = hold
        self.streamed = bool(model.streams_groove)
        if self.streamed:
            try:
                model._live_sessions()  # export and load the streamed encoder now, not during the stream
            except UsageError:
                self.streamed = False
        self.gen = Generator("tap2drum")
        self.taps: dict[int, list[tuple[int, int]]] = collections.defaultdict(list)
        self.windows: list[dict] = []
        self.last_groove: list | None = None
        self.next_close = 0
        self.ready: collections.deque = collections.deque()  # (info, step, hits, perf time): generator -> worker
        self._fed: dict[int, int] = {}  # window -> rows the forward pass was asked for (worker thread)
        self._encoders: dict = {}  # window -> StreamedEncoder (generator thread only)

    def start(self, s: LiveSession) -> None:
        self.session = s

    def warm_up(self) -> None:
        """One groove of a single tap through the live path (ONNX Runtime's first runs are slow), on the
        caller's thread."""
        info = {"window": -1}
        if self.streamed:
            self._feed(-1, [(0, 100)], 1, 0, 48000, 120.0)
        self._decode(info, [(0, 100)], 0, 48000, 120.0, publish=False)
        self._encoders.clear()

    def close(self) -> None:
        self.gen.close()

    def window_line(self, g: Grid, w: int) -> int:
        """Input sample of window ``w``'s first bar line."""
        return g.sample_of_step(w * self.window_steps)

    def window_of(self, g: Grid, sample: int) -> int:
        return int(math.floor((g.step_at(sample) + 0.5) / self.window_steps))

    def _seq(self, taps, line: int, sample_rate: int, qpm: float) -> NoteSequence:
        """The window's taps as the drum sequence ``model.groove`` reads (times from the window's bar line)."""
        seq = NoteSequence(tempos=[Tempo(0.0, qpm)])
        for sample, vel in taps:
            t = max(0.0, (sample - line) / sample_rate)
            seq.add_note(38, t, t + 0.05, vel)
        seq.total_time = self.window_steps * 15.0 / qpm
        return seq

    def _groove(self, taps, line: int, sample_rate: int, qpm: float):
        """The whole groove at once (``model.groove``), as ``(start s, end s, pitch, velocity)``."""
        out = self.model.groove(self._seq(taps, line, sample_rate, qpm), temperature=self.temperature,
                                rng=self.rng)
        return [(n.start_time, n.end_time, n.pitch, n.velocity) for n in out.notes]

    def _feed(self, w: int, taps, rows: int, line: int, sample_rate: int, qpm: float) -> None:
        """Generator thread: advance window ``w``'s forward encoder to ``rows`` rows (rows no tap can change)."""
        for old in [k for k in self._encoders if k < w]:
            del self._encoders[old]
        enc = self._encoders.get(w)
        if enc is None:
            enc = self._encoders[w] = self.model.streamed_encoder()
            enc.taps_seen = (-1, None)
        if rows > enc.rows:
            n, x = enc.taps_seen
            if n != len(taps):  # taps only ever add up: the same count is the same tensor
                x = self.model._groove_windows(self._seq(taps, line, sample_rate, qpm)).x
                enc.taps_seen = (len(taps), x)
            enc.feed(x[:1, enc.rows:rows])
            if rows == self.window_steps - 1:
                # every row but the last is final: z of the taps so far, which the close uses unless a tap came
                # in since (then it runs the last forward step and the backward pass itself)
                enc.speculate(x[:1])

    def _decode(self, info: dict, taps, line: int, sample_rate: int, qpm: float, publish: bool = True):
        """Generator thread: the window's groove, each decoded step handed to the worker through
        :attr:`ready` as soon as it is decoded; returns every hit ``(start s, end s, pitch, velocity)``."""
        if not self.streamed:
            return self._groove(taps, line, sample_rate, qpm)
        c0 = time.thread_time()
        seq = self._seq(taps, line, sample_rate, qpm)
        enc = self._encoders.pop(info["window"], None)
        for old in [k for k in self._encoders if k < info["window"]]:
            del self._encoders[old]
        stream = self.model.groove_stream(seq, self.temperature, self.rng, encoder=enc)
        info["speculated"] = enc is not None and enc.speculated > 0
        info["refeeds"] = 0 if enc is None else enc.refeeds
        while not stream.done:
            step = stream.step
            hits = [(n.start_time, n.end_time, n.pitch, n.velocity) for n in stream.next()[0]]
            if step == 0:
                info["first_cpu_ms"] = 1000.0 * (time.thread_time() - c0)
            if publish:
                self.ready.append((info, step, hits, time.perf_counter()))
        return [(n.start_time, n.end_time, n.pitch, n.velocity) for n in stream.result().notes]

    def update(self, s: LiveSession, start: int, end: int, played) -> None:
        g = s.grid
        for e in played:
            if e.kind == "on" and e.sample >= g.origin - g.step_samples / 2:
                self.taps[self.window_of(g, e.sample)].append((e.sample, e.velocity))
        half = int(round(g.step_samples / 2))
        if self.streamed and end >= g.origin - half:
            # rows of the open window that no tap can change any more (a whole step past their last tap time)
            w = self.next_close
            line = self.window_line(g, w)
            rows = min(self.window_steps - 1, int((end - line) // g.step_samples))
            if rows > self._fed.get(w, 0):
                self._fed[w] = rows
                self.gen.submit(("feed", w), self._feed, w, list(self.taps.get(w, ())), rows, line,
                                s.sample_rate, g.qpm)
        while end >= self.window_line(g, self.next_close + 1) - half:
            w = self.next_close
            self.next_close += 1
            self._fed.pop(w, None)
            taps = self.taps.pop(w, [])
            info = {"window": w, "taps": len(taps), "close": self.window_line(g, w + 1) - half, "submit_end": end,
                    "steps": [int(round(g.step_at(t))) - w * self.window_steps for t, _ in taps], "dropped": 0}
            self.windows.append(info)
            if taps:
                info["t_submit"] = time.perf_counter()
                self.gen.submit(info, self._decode, info, taps, self.window_line(g, w), s.sample_rate, g.qpm)
            elif self.hold and self.last_groove is not None:
                info.update(held=True, gen_ms=0.0, margin_ms=1000.0 * (self.window_line(g, w + 1) - start) /
                            s.sample_rate, late=False, hits=len(self.last_groove))
                self._play(s, w + 1, self.last_groove, start, info)
        self._drain(s, start)
        for r in self.gen.results():
            if not isinstance(r.tag, dict):  # a forward-encoder step: its window's decode reports any error
                if r.error is not None and not isinstance(r.error, TonehostError):
                    raise r.error
                continue
            self._drain(s, start)  # every step of this job was handed over before it finished
            if r.error is not None:
                if not isinstance(r.error, TonehostError):
                    raise r.error
                s.say(f"could not make a groove: {r.error.user_message}")
                continue
            info = r.tag
            w = info["window"]
            line = self.window_line(g, w + 1)
            info.update(gen_ms=1000.0 * r.seconds, hits=len(r.value), held=False)
            self.last_groove = r.value
            if self.streamed:
                info["late"] = info["dropped"] > 0
            else:
                info["margin_ms"] = 1000.0 * (line - info["close"]) / s.sample_rate - 1000.0 * r.seconds
                self._play(s, w + 1, r.value, start, info)
                info["late"] = info["dropped"] > 0 or line < start
            s.say(f"bar {w * self.window_steps // 16 + 1}: {info['taps']} taps (steps "
                  f"{' '.join(map(str, info['steps']))}) -> {info['hits']} hits on bar "
                  f"{(w + 1) * self.window_steps // 16 + 1}; decoded in {info['gen_ms']:.1f} ms, margin "
                  f"{info['margin_ms']:.1f} ms" + (f" (LATE: {info['dropped']} hits dropped)"
                                                   if info["late"] else ""))

    def _drain(self, s: LiveSession, now: int) -> None:
        """Schedule the decoded steps the generator handed over; note each step's lead over its earliest hit."""
        g = s.grid
        while self.ready:
            info, step, hits, t_ready = self.ready.popleft()
            w = info["window"]
            self._play(s, w + 1, hits, now, info)
            # step `step` can sound from (step - 0.5) steps after the bar line (never before it); the time it had
            # counts from the block that closed the window
            due = self.window_line(g, w + 1) + max(0.0, step - 0.5) * g.step_samples
            lead = 1000.0 * (due - info["submit_end"]) / s.sample_rate
            took = 1000.0 * (t_ready - info["t_submit"]) if "t_submit" in info else 0.0
            info["margin_ms"] = min(info.get("margin_ms", math.inf), lead - took)
            if step == 0:
                info["first_ms"] = took
                info["first_budget_ms"] = lead

    def _play(self, s: LiveSession, w: int, notes, now: int, info: dict) -> None:
        line = self.window_line(s.grid, w)
        for a, b, p, v in notes:
            t = line + int(round(a * s.sample_rate))
            if t < now:
                info["dropped"] += 1
                continue
            s.schedule.note(t, line + int(round(b * s.sample_rate)), p, v, DRUMS)

    def stats(self) -> dict:
        done = [i for i in self.windows if "gen_ms" in i and not i.get("held")]
        return {"groove_windows": len(done), "groove_windows_late": sum(i["late"] for i in done),
                "groove_held": sum(1 for i in self.windows if i.get("held")),
                "groove_hits_dropped": sum(i.get("dropped", 0) for i in self.windows),
                "groove_speculated": sum(1 for i in done if i.get("speculated")),
                "groove_gen_ms": [i["gen_ms"] for i in done], "groove_margin_ms": [i["margin_ms"] for i in done],
                "groove_first_ms": [i["first_ms"] for i in done if "first_ms" in i],
                "groove_first_budget_ms": [i["first_budget_ms"] for i in done if "first_budget_ms" in i]}
