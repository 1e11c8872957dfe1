"""What a live partner hears: note events from a MIDI keyboard, a piano at the mic, a hummed voice, or taps.

Every listener turns its input into :class:`PlayedEvent` s stamped with the *input sample* at which they happened
(counted from the first sample the listener was given), the one clock a live session schedules on:

- :class:`MidiRecorder` -- a MIDI input (:func:`tonehost.realtime.midi.input.open_midi_input` feeds it like a
  voice); messages arrive on the MIDI thread, stamped with ``time.monotonic()``, and become samples through a
  :class:`SampleClock` the audio worker keeps.
- :class:`PianoListener` -- the streaming Onsets and Frames transcriber
  (:class:`~tonehost.realtime.pipelines.transcriber.TranscriptionStream`); its event times are input seconds.
- :class:`HumListener` -- the voice tracker (:class:`tonehost.dsp.features.VoiceTracker`) and the hum-to-MIDI
  note rules (:class:`tonehost.realtime.midi.hum.HumToMidi`).
- :class:`TapListener` -- taps (hand claps, a pencil on the desk) from the mic: a level onset detector.
"""
from __future__ import annotations

import collections
import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from tonehost.dsp.features import TrackerConfig, VoiceTracker
from tonehost.dsp.loudness import power_db
from tonehost.dsp.resample import Resampler

__all__ = ["PlayedEvent", "SampleClock", "MidiRecorder", "ReplayRecorder", "PianoListener", "HumListener",
           "TapListener", "ThreadedListener"]

FEATURE_RATE = 16000


@dataclass
class PlayedEvent:
    """A note-on (``kind="on"``) or note-off (``"off"``) the player made.

    Attributes
    ----------
    kind : str
        ``"on"`` or ``"off"``.
    pitch : int
        MIDI note number.
    velocity : int
        1..127 for note-ons (0 for note-offs).
    sample : int
        Input sample (at the session's sample rate) at which it happened.
    """

    kind: str
    pitch: int
    velocity: int
    sample: int


class SampleClock:
    """Maps ``time.monotonic()`` to input samples, from the times the audio worker reads its blocks.

    Each :meth:`mark` says "input up to sample ``end`` has been read now". A block is read a little after it was
    captured, by a varying wake-up delay; the least delayed reads of the last ``window`` marks define the map
    (``sample = end + (t - t_read) * sample_rate`` with the smallest ``t_read - end / sample_rate``), so a
    late wake-up does not shift the events stamped meanwhile.

    Parameters
    ----------
    sample_rate : int
        Hz.
    window : int
        Marks the minimum is taken over (a few seconds of blocks: slow clock drift is followed).
    """

    def __init__(self, sample_rate: int, window: int = 1024):
        self.sample_rate = int(sample_rate)
        self._offsets: collections.deque = collections.deque(maxlen=int(window))
        self._lock = threading.Lock()

    def mark(self, end_sample: int, t: float | None = None) -> None:
        """Input up to ``end_sample`` was read at ``t`` (default now, ``time.monotonic()``)."""
        t = time.monotonic() if t is None else t
        with self._lock:
            self._offsets.append(t - end_sample / self.sample_rate)

    def sample_at(self, t: float) -> int | None:
        """The input sample captured at monotonic time ``t`` (None before the first :meth:`mark`)."""
        with self._lock:
            if not self._offsets:
                return None
            offset = min(self._offsets)
        return int(round((t - offset) * self.sample_rate))


class MidiRecorder:
    """Collects note events from a MIDI input, stamped in input samples (see :class:`SampleClock`).

    Pass it to :func:`~tonehost.realtime.midi.input.open_midi_input` as the voice (it has ``handle(msg)``).
    A note-on of velocity 0 is a note-off; all-notes-off (CC 120, 123) ends every held note. A message's time is
    its ``time`` attribute when that is a ``time.monotonic()`` stamp (what :class:`~tonehost.realtime.midi.input.
    MidiInput` sets: the arrival time), else the time it was handed over. The events keep the order they came in
    (a note-on and its note-off in one JACK cycle share a sample and stay on, off) and their samples never
    decrease.

    Parameters
    ----------
    clock : SampleClock
    also : callable, optional
        Called with each mido message as well (e.g. a :class:`~tonehost.realtime.midi.input.MidiVoice` to hear
        what is played).
    """

    def __init__(self, clock: SampleClock, also=None):
        self.clock = clock
        self.also = also
        self._pending: collections.deque = collections.deque()
        self._held: set[int] = set()
        self._last_sample = None

    def handle(self, msg) -> None:
        """Record one mido message (called on the MIDI thread)."""
        now = time.monotonic()
        t = getattr(msg, "time", 0)
        t = float(t) if isinstance(t, (int, float)) and 0 < t <= now + 1.0 else now
        kind = getattr(msg, "type", "")
        if kind == "note_on" and msg.velocity > 0:
            self._pending.append(("on", int(msg.note), int(msg.velocity), t))
        elif kind in ("note_on", "note_off"):
            self._pending.append(("off", int(msg.note), 0, t))
        elif kind == "control_change" and msg.control in (120, 123):
            self._pending.append(("all_off", 0, 0, t))
        if self.also is not None:
            self.also(msg)

    def events(self, now_sample: int) -> list[PlayedEvent]:
        """The events received since the last call, in samples (never later than ``now_sample``)."""
        out = []
        while self._pending:
            kind, pitch, vel, t = self._pending.popleft()
            s = self.clock.sample_at(t)
            s = now_sample if s is None else min(int(s), int(now_sample))
            if self._last_sample is not None:
                s = max(s, self._last_sample)
            self._last_sample = s
            if kind == "all_off":
                out.extend(PlayedEvent("off", p, 0, s) for p in sorted(self._held))
                self._held.clear()
                continue
            if kind == "on":
                self._held.add(pitch)
            else:
                self._held.discard(pitch)
            out.append(PlayedEvent(kind, pitch, vel, s))
        return out


class ReplayRecorder:
    """A stand-in for :class:`MidiRecorder` that plays back events known in advance (tests and benches that drive
    a session block by block without a MIDI port).

    Parameters
    ----------
    events : iterable of PlayedEvent
        What the player plays, in any order.
    """

    def __init__(self, events):
        self.pending = sorted(events, key=lambda e: e.sample)

    def events(self, now_sample: int) -> list[PlayedEvent]:
        """The events before ``now_sample`` not handed out yet, in sample order (as :meth:`MidiRecorder.events`)."""
        out = [e for e in self.pending if e.sample < now_sample]
        self.pending = self.pending[len(out):]
        return out


class PianoListener:
    """Piano at the mic -> note events, through the streaming Onsets and Frames transcriber.

    Parameters
    ----------
    model : tonehost.realtime.pipelines.transcriber.OnsetsAndFrames
    sample_rate : int
        Rate of the pushed audio in Hz.
    chunk_frames : int
        Model frames (32 ms each) per transcriber call: the audio is gathered until that many new frames can be
        computed. Each call also recomputes the convolution stack's context (3 frames on each side), so one frame
        per call (what the transcriber runs when it is pushed every audio block) costs about 2.7 times the CPU of
        4-frame calls (``bench.jam_timing``: 0.13 vs 0.05 CPU seconds per audio second on one core); events come
        up to ``chunk_frames - 1`` frames later, their times are unchanged.

    Notes
    -----
    A note-on leaves the transcriber ~3 mel frames (96 ms) plus a chunk after its onset
    (:func:`~tonehost.realtime.pipelines.transcriber.latency_floor_s`); the events carry the onset's own time.
    """

    def __init__(self, model, sample_rate: int, chunk_frames: int = 4):
        self.sample_rate = int(sample_rate)
        self.chunk_frames = max(1, int(chunk_frames))
        self.stream = model.stream(self.sample_rate, max_chunk=self.chunk_frames)
        self._batch = int(math.ceil(self.chunk_frames * 512 * self.sample_rate / 16000))
        self._held: list[np.ndarray] = []
        self._n = 0

    def push(self, block: np.ndarray) -> list[PlayedEvent]:
        """Add a mono float block; return the note events it completed (samples from the first block)."""
        block = np.asarray(block, np.float32).reshape(-1)
        self._held.append(block)
        self._n += len(block)
        if self._n < self._batch:
            return []
        audio = np.concatenate(self._held) if len(self._held) > 1 else self._held[0]
        self._held, self._n = [], 0
        out = []
        for e in self.stream.push(audio):
            out.append(PlayedEvent(e.kind, int(e.pitch), int(e.velocity) if e.kind == "on" else 0,
                                   int(round(e.time * self.sample_rate))))
        return out


class HumListener:
    """A hummed (sung, whistled) voice at the mic -> note events: the voice tracker
    (:class:`tonehost.dsp.features.VoiceTracker`) and the hum-to-MIDI note rules of
    :class:`tonehost.realtime.midi.hum.HumToMidi` (a new note when the voice settles on another semitone, the end
    after a short unvoiced gap; its pitch bends are not needed here).

    Parameters
    ----------
    sample_rate : int
        Rate of the pushed audio in Hz (resampled to 16 kHz for the tracker).
    config : TrackerConfig, optional

    Notes
    -----
    Event times are the frames' analysis centres (the tracker's ``pitch_delay_s`` and the resampler's delay
    taken off), so a note lands where it was sung, not where it was recognised.
    """

    def __init__(self, sample_rate: int, config: TrackerConfig | None = None):
        from tonehost.realtime.midi.hum import HumToMidi

        self.sample_rate = int(sample_rate)
        self.tracker = VoiceTracker(config or TrackerConfig())
        c = self.tracker.cfg
        self._down = Resampler(self.sample_rate, FEATURE_RATE, zero_crossings=8) \
            if self.sample_rate != FEATURE_RATE else None
        self.delay_s = c.pitch_delay_s + (self._down.delay_out() / FEATURE_RATE if self._down is not None else 0.0)
        self.frame_s = c.hop / FEATURE_RATE
        self.notes = HumToMidi()

    def push(self, block: np.ndarray) -> list[PlayedEvent]:
        """Add a mono float block; return the note events it completed (samples from the first block)."""
        x = np.asarray(block, np.float64).reshape(-1)
        if self._down is not None:
            x = self._down.process(x)
        before = self.tracker.frames_out
        fr = self.tracker.process(x)
        out = []
        for i in range(len(fr)):
            t = max(0.0, (before + i + 1) * self.frame_s - self.delay_s)
            for m in self.notes.frame(t, float(fr.f0_hz[i]), bool(fr.voiced[i]), float(fr.loudness_db[i])):
                if m.type == "note_on":
                    out.append(PlayedEvent("on", m.note, m.velocity, int(round(m.time * self.sample_rate))))
                elif m.type == "note_off":
                    out.append(PlayedEvent("off", m.note, 0, int(round(m.time * self.sample_rate))))
        return out


class TapListener:
    """Taps at the mic -> note-on events (a level onset detector; the pitch is ``pitch``, tap2drum takes any).

    Every ``hop_s`` the level (DDSP-VST power, dB) of the last hop is compared with the quietest of the
    previous ``lookback_s``: a rise of ``rise_db`` or more above ``gate_db`` is a tap, at most one per
    ``refractory_s``. Its velocity follows the level (-50 dB -> 30, -10 dB -> 127).

    Parameters
    ----------
    sample_rate : int
    gate_db, rise_db, hop_s, lookback_s, refractory_s : float
    pitch : int
    """

    def __init__(self, sample_rate: int, gate_db: float = -45.0, rise_db: float = 12.0, hop_s: float = 0.004,
                 lookback_s: float = 0.04, refractory_s: float = 0.08, pitch: int = 38):
        self.sample_rate = int(sample_rate)
        self.hop = max(16, int(round(hop_s * sample_rate)))
        self.gate_db, self.rise_db, self.pitch = gate_db, rise_db, int(pitch)
        self._hist: collections.deque = collections.deque([-80.0] * max(1, int(round(lookback_s / hop_s))),
                                                          maxlen=max(1, int(round(lookback_s / hop_s))))
        self.refractory = int(round(refractory_s * sample_rate))
        self._buf = np.zeros(0, np.float64)
        self._pos = 0
        self._last = -10 ** 12

    def push(self, block: np.ndarray) -> list[PlayedEvent]:
        """Add a mono float block; return a note-on and its note-off (one hop later) per tap detected."""
        x = np.concatenate([self._buf, np.asarray(block, np.float64).reshape(-1)])
        out = []
        k = 0
        while k + self.hop <= len(x):
            seg = x[k:k + self.hop]
            db = power_db(float(np.mean(seg * seg)))
            start = self._pos
            if db > self.gate_db and db - min(self._hist) >= self.rise_db and start - self._last >= self.refractory:
                vel = int(min(127, max(30, round(30 + (db + 50.0) * 97.0 / 40.0))))
                onset = start + int(np.argmax(np.abs(seg) > 0.5 * np.max(np.abs(seg))))
                out.append(PlayedEvent("on", self.pitch, vel, onset))
                out.append(PlayedEvent("off", self.pitch, 0, onset + self.hop))
                self._last = start
            self._hist.append(db)
            self._pos += self.hop
            k += self.hop
        self._buf = x[k:]
        return out


class ThreadedListener:
    """Runs a listener (:class:`PianoListener`, :class:`HumListener`, ...) on its own thread, so its cost (a
    transcriber chunk: several ms) never delays the audio worker's output.

    :meth:`push` copies the block into a queue and returns the events the thread has finished so far; their
    samples are input samples as always, so arriving a little later changes nothing but when they are seen.

    Parameters
    ----------
    listener : object
        With ``push(block) -> list of PlayedEvent``.
    name : str
        Thread name.

    Attributes
    ----------
    error : BaseException or None
        What stopped the thread (raised again by the next :meth:`push`).
    """

    def __init__(self, listener, name: str = "tonehost-listener"):
        import queue

        self.listener = listener
        self._in: "queue.Queue" = queue.Queue()
        self._out: collections.deque = collections.deque()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            block = self._in.get()
            if block is None:
                return
            try:
                self._out.extend(self.listener.push(block))
            except BaseException as exc:  # surfaced by push() on the worker
                self.error = exc
                return

    def push(self, block: np.ndarray) -> list[PlayedEvent]:
        """Queue a copy of ``block``; return the events finished since the last call."""
        if self.error is not None:
            err, self.error = self.error, None
            raise err
        self._in.put(np.array(block, np.float32, copy=True))
        out = []
        while self._out:
            out.append(self._out.popleft())
        return out

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread."""
        self._in.put(None)
        self._thread.join(timeout)

