"""Play a DDSP instrument from a MIDI keyboard, as DDSP-VST does: note -> f0 with portamento, velocity -> loudness.

:class:`MidiVoice` is a monophonic voice (last-note priority, returns to a still-held note on release) that the
pipeline calls once per feature frame (``voice(dt) -> (f0_hz, db, voiced)``). f0 glides in log-frequency with a
``portamento_s`` time constant; loudness follows the velocity with a short attack and a release ramp toward
silence. :func:`open_midi_input` connects a MIDI input port (ALSA or JACK MIDI, :mod:`tonehost.realtime.midi.ports`)
to a voice through :class:`MidiParser`, which reads whatever bytes arrive (running status, SysEx, real-time bytes,
truncated or stray bytes) without ever raising: a broken controller never stops the instrument.

Messages are read from rtmidi's own queue by a thread of tonehost's (:class:`MidiInput`), never through an rtmidi
callback: a callback runs Python on the MIDI system's thread, and on JACK that thread must finish within one
period. RtMidi (5.0) reads a JACK cycle's events one by one from the sender's port buffer; when the Python
callback of one event outlasts the period (taking the GIL, the first call importing mido), the sender has already
reused its buffer, ``jack_midi_event_get`` fails for the next index, and RtMidi, ignoring that, hands the previous
event over again: a note-on and its note-off in one cycle came out as the note-on twice. In queue mode RtMidi's
thread only copies each event into a lock-free ring, so every event of a cycle arrives, in order, on both ALSA
and JACK. Arrival times come from rtmidi's own delta stamps (:class:`ArrivalClock`), not from when the thread
happened to wake.
"""
from __future__ import annotations

import collections
import math
import threading
import time


LOWEST_DB = -120.0


def midi_to_hz(note: float) -> float:
    """MIDI note number to Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


class MidiVoice:
    """Monophonic MIDI voice for the instrument pipeline.

    Parameters
    ----------
    db_low, db_high : float
        Loudness for velocity 1 and 127 (in the model's dB: magenta.js loudness or DDSP-VST power).
    portamento_s : float
        Glide time constant between notes (0 = jump).
    attack_s, release_s : float
        Loudness attack and release times.
    """

    def __init__(self, db_low: float = -80.0, db_high: float = -45.0, portamento_s: float = 0.05,
                 attack_s: float = 0.01, release_s: float = 0.15):
        self.db_low, self.db_high = db_low, db_high
        self.portamento_s, self.attack_s, self.release_s = portamento_s, attack_s, release_s
        self._lock = threading.Lock()
        self._held: list[tuple[int, int]] = []  # (note, velocity), last = sounding
        self.f0 = 0.0
        self.db = LOWEST_DB
        self.pitch_bend = 0.0  # semitones

    def velocity_db(self, velocity: int) -> float:
        """Loudness for a MIDI velocity (linear in dB between db_low and db_high)."""
        v = min(127, max(1, int(velocity)))
        return self.db_low + (self.db_high - self.db_low) * (v - 1) / 126.0

    def note_on(self, note: int, velocity: int) -> None:
        if velocity <= 0:
            self.note_off(note)
            return
        with self._lock:
            self._held = [h for h in self._held if h[0] != note] + [(int(note), int(velocity))]

    def note_off(self, note: int) -> None:
        with self._lock:
            self._held = [h for h in self._held if h[0] != note]

    def handle(self, msg) -> None:
        """Apply a mido message (note_on, note_off, pitchwheel, all-notes-off, all-sound-off)."""
        kind = getattr(msg, "type", "")
        if kind == "note_on":
            self.note_on(msg.note, msg.velocity)
        elif kind == "note_off":
            self.note_off(msg.note)
        elif kind == "pitchwheel":
            self.pitch_bend = 2.0 * msg.pitch / 8192.0
        elif kind == "control_change" and msg.control in (120, 123):
            with self._lock:
                self._held = []

    def __call__(self, dt: float) -> tuple[float, float, bool]:
        """Advance by ``dt`` seconds; return (f0_hz, db, voiced)."""
        with self._lock:
            current = self._held[-1] if self._held else None
        if current is not None:
            target_f0 = midi_to_hz(current[0] + self.pitch_bend)
            if self.f0 <= 0 or self.db <= self.db_low - 30 or self.portamento_s <= 0:
                self.f0 = target_f0  # a new phrase starts on pitch
            else:
                a = 1.0 - math.exp(-dt / self.portamento_s)
                self.f0 = math.exp(math.log(self.f0) + a * (math.log(target_f0) - math.log(self.f0)))
            target_db, tau = self.velocity_db(current[1]), self.attack_s
        else:
            target_db, tau = LOWEST_DB, self.release_s
        a = 1.0 - math.exp(-dt / max(tau, 1e-4))
        self.db += a * (target_db - self.db)
        return self.f0, self.db, current is not None


class MidiParser:
    """A MIDI byte-stream parser for live input that never raises, after the MIDI 1.0 specification's rules.

    Channel messages (0x80-0xEF) with their data bytes, including running status (data bytes that reuse the last
    channel status, within a packet and across packets); SysEx (0xF0 .. 0xF7) skipped whole, even across packets;
    system common messages (0xF1-0xF6) skipped and cancel running status; real-time bytes (0xF8-0xFF) skipped
    anywhere, even inside another message; a message cut short by the next status byte is dropped; stray data bytes
    without a status are dropped; values outside 0..255 are ignored.

    Parameters
    ----------
    on_message : callable
        Called with ``(status, data)`` for each complete channel message (``data``: tuple of 1 or 2 ints).
    """

    _LENGTH = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}

    def __init__(self, on_message):
        self.on_message = on_message
        self._status = 0          # running status (a channel status), 0: none
        self._data: list[int] = []
        self._in_sysex = False
        self.dropped = 0          # bytes that belonged to no complete message

    def feed(self, data) -> None:
        """Parse the bytes of one packet (any iterable of ints)."""
        for b in data:
            try:
                b = int(b)
            except (TypeError, ValueError):
                self.dropped += 1
                continue
            if not 0 <= b <= 255:
                self.dropped += 1
                continue
            if b >= 0xF8:                      # real-time: may appear anywhere, carries nothing we use
                continue
            if b == 0xF0:
                self.dropped += len(self._data)
                self._in_sysex, self._status, self._data = True, 0, []
                continue
            if b == 0xF7:
                self._in_sysex = False
                continue
            if self._in_sysex:
                if b < 0x80:
                    continue               # SysEx payload
                self._in_sysex = False     # a status byte ends an unterminated SysEx
            if b >= 0xF1:                  # system common: skipped, cancels running status
                self.dropped += len(self._data)
                self._status, self._data = 0, []
                continue
            if b >= 0x80:                  # a channel status byte
                self.dropped += len(self._data)
                self._status, self._data = b, []
                continue
            if not self._status:           # a data byte with no status to run on
                self.dropped += 1
                continue
            self._data.append(b)
            if len(self._data) == self._LENGTH[self._status & 0xF0]:
                data_bytes, self._data = tuple(self._data), []
                try:
                    self.on_message(self._status, data_bytes)
                except Exception:  # a handler's bug must not stop the input either
                    self.dropped += len(data_bytes) + 1

    def message(self, status: int, data: tuple):
        """A complete channel message as a mido ``Message`` (or None for one it cannot represent)."""
        import mido
        try:
            return mido.Message.from_bytes([status, *data])
        except (ValueError, TypeError):
            return None


def list_midi_inputs() -> list[str]:
    """Names of the MIDI input ports (ALSA and JACK MIDI, numbered as ``tonehost devices --midi`` shows them)."""
    from tonehost.realtime.midi.ports import list_ports

    return [p.name for p in list_ports("input")]


class ArrivalClock:
    """Arrival times of MIDI messages on ``time.monotonic()``, from rtmidi's delta stamps.

    rtmidi stamps each queued message with the seconds since the previous one (0 for the first): on JACK the
    time its process callback ran (``jack_get_time``), on ALSA the sequencer's event time. Their running sum
    ``pos`` is exact up to an unknown offset; every poll that finds messages bounds it: the last message found
    at ``now`` arrived at or before ``now``, so ``offset <= now - pos``. The offset used is the minimum of those
    bounds over the last ``window_s`` (a sliding-window minimum: a late poll does not shift the times, slow drift
    between the two clocks is followed).

    Parameters
    ----------
    window_s : float
        How far back the bounds count.
    """

    def __init__(self, window_s: float = 10.0):
        self.window_s = float(window_s)
        self.pos = 0.0
        self._bounds: collections.deque = collections.deque()  # (now, bound), bounds increasing

    def advance(self, delta: float) -> float:
        """Add a message's delta stamp; return its position (seconds since the first message)."""
        if delta > 0 and math.isfinite(delta):
            self.pos += float(delta)
        return self.pos

    def offset(self, now: float, last_pos: float) -> float:
        """The offset (``time = offset + pos``) after a poll at ``now`` that found messages up to ``last_pos``."""
        bound = now - last_pos
        q = self._bounds
        while q and q[-1][1] >= bound:
            q.pop()
        q.append((now, bound))
        while q[0][0] < now - self.window_s:
            q.popleft()
        return q[0][1]


class QueueReader:
    """Reads an rtmidi ``MidiIn`` in queue mode (no callback) on a thread of its own.

    Every ``poll_s`` it takes what rtmidi queued and calls ``on_packet(data, t)`` for each packet, in order, with
    ``t`` its arrival on ``time.monotonic()`` (:class:`ArrivalClock`; never earlier than the packet before).
    Nothing is filtered inside rtmidi (its
    JACK delta stamps would skip the time of filtered messages): the consumer skips what it does not use.

    Parameters
    ----------
    rt : rtmidi.MidiIn
        An open input without a callback.
    on_packet : callable
        ``(list of int, float) -> None``; an exception it raises is swallowed (a broken packet never stops the
        input).
    poll_s : float
        Seconds between polls (how soon a message is handed on; its time does not depend on it).
    name : str
        Thread name.
    """

    def __init__(self, rt, on_packet, poll_s: float = 0.001, name: str = "tonehost-midi-in"):
        self.rt = rt
        self.on_packet = on_packet
        self.poll_s = float(poll_s)
        self.clock = ArrivalClock()
        self.packets = 0
        self._last = 0.0
        try:
            rt.ignore_types(sysex=False, timing=False, active_sense=False)
        except Exception:
            pass
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def poll(self) -> int:
        """Take every packet rtmidi has queued and hand it on (the thread does this every ``poll_s``); return how
        many were taken."""
        get = self.rt.get_message
        batch = []
        while True:
            try:
                item = get()
            except Exception:  # a port whose server went away: nothing more will come
                item = None
            if not item:
                break
            data, delta = item
            batch.append((data, self.clock.advance(delta)))
        if batch:
            offset = self.clock.offset(time.monotonic(), batch[-1][1])
            for data, pos in batch:
                self.packets += 1
                t = self._last = max(offset + pos, self._last)   # a refined offset never reorders arrivals
                try:
                    self.on_packet(data, t)
                except Exception:
                    pass
        return len(batch)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.poll_s)

    def stop(self, wait: bool = True) -> None:
        """Stop the thread (``wait``: until it has)."""
        self._stop.set()
        if wait and self._thread is not threading.current_thread():
            self._thread.join(1.0)


class MidiInput:
    """An open MIDI input feeding a :class:`MidiVoice` (what :func:`open_midi_input` returns).

    A :class:`QueueReader` thread (``tonehost-midi-in``) empties rtmidi's queue every millisecond and hands each
    complete channel message to ``voice.handle(msg)`` as a mido message whose ``time`` is its arrival on
    ``time.monotonic()``. See the module docstring for why not an rtmidi callback.

    Attributes
    ----------
    name : str
        The port's full name; ``system``: ``"ALSA"`` or ``"JACK"``; ``created``: True when tonehost created it.
    parser : MidiParser
    messages : int
        Channel messages handed to the voice so far.
    reader : QueueReader
    """

    def __init__(self, port, voice: MidiVoice, poll_s: float = 0.001):
        import mido  # noqa: F401  (loaded here, not on the first message)

        self._port = port
        self.name, self.system, self.created = port.name, port.system, port.created
        self.voice = voice
        self.messages = 0
        self.parser = MidiParser(self._deliver)
        self._time = 0.0
        self.reader = QueueReader(port.rt, self._packet, poll_s)

    def _packet(self, data, t: float) -> None:
        self._time = t
        self.parser.feed(data)

    def _deliver(self, status: int, data: tuple) -> None:
        msg = self.parser.message(status, data)
        if msg is not None:
            msg.time = self._time
            self.messages += 1
            self.voice.handle(msg)

    def describe(self) -> str:
        """One phrase for the console."""
        return self._port.describe()

    def close(self, abandon: bool = False) -> None:
        """Stop reading and close the port (``abandon=True``: the audio server went away or hangs; a JACK port is left
        to the OS without waiting for its reader, :meth:`~tonehost.realtime.midi.ports.MidiPort.close`)."""
        abandon = abandon and self.system == "JACK"
        self.reader.stop(wait=not abandon)
        self._port.close(abandon=abandon)


def open_midi_input(port: str, voice: MidiVoice) -> MidiInput:
    """Open MIDI input ``port`` and feed ``voice`` from it (ALSA first, else JACK MIDI).

    Parameters
    ----------
    port : str
        A number of ``tonehost devices --midi``'s input list, a port's name or a unique part of it; any other name
        creates an input port of that name (``tonehost-midi:NAME``) to connect a keyboard to.
    voice : MidiVoice

    Returns
    -------
    MidiInput
        Close it when done.

    Raises
    ------
    ~tonehost.exports.errors.DeviceError
        No MIDI system (no ALSA sequencer and no JACK server), a number not in the list, an ambiguous name.
    """
    from tonehost.realtime.midi.ports import open_port

    return MidiInput(open_port("input", port), voice)
