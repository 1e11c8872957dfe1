"""MIDI outputs for transcription: a MIDI file that survives interrupts (and kills), and a MIDI output port.

:class:`MidiFileWriter` keeps the file on disk valid and complete at all times: every finished note rewrites it
atomically (write to a temporary file in the same folder, then ``os.replace``; after every note, or at most every
``rewrite_every_s`` from the caller's clock), so Ctrl-C, a crash or a power cut lose at most the notes still
sounding (and those of the last seconds). Beside the take it keeps a journal (``TAKE.journal``: one line per note-on,
note-off and, twice a second, the time transcribed so far; flushed at once, fsynced twice a second), so even the
sounding notes of a take whose process was killed come back: :func:`recover_take` (``tonehost transcribe
--recover TAKE``, or the next ``transcribe --live -o TAKE``) rebuilds a file holding every note with its onset,
the sounding ones closed at the last journalled time. :meth:`MidiFileWriter.close` ends the sounding notes, writes the final file and removes the
journal. A take can start at its first note (``start="first_note"``) instead of the start of the session.
Files get the mode the umask gives (``0666 & ~umask``, like any file a program creates), not ``mkstemp``'s 0600.
The file is type 0 at 120 bpm, 480 ppq.
"""
from __future__ import annotations

import bisect
import contextlib
import datetime as _dt
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import mido

from tonehost.exports.errors import UsageError
from tonehost.exports.paths import atomic_output

TICKS_PER_BEAT = 480
TEMPO = 500000  # us per beat (120 bpm) -> 960 ticks per second


def seconds_to_ticks(t: float) -> int:
    return int(round(t * 1e6 / TEMPO * TICKS_PER_BEAT))


def notes_to_midi(notes, program: int = 0) -> mido.MidiFile:
    """A type-0 MIDI file from ``(onset_s, offset_s, pitch, velocity)`` tuples (or objects with those fields).

    Parameters
    ----------
    notes : iterable
        Notes; offsets equal to onsets are lengthened to one tick.
    program : int
        General MIDI program (0 = acoustic grand piano).

    Returns
    -------
    mido.MidiFile
    """
    msgs = []
    for n in notes:
        on, off, pitch, vel = (n.start_time, n.end_time, n.pitch, n.velocity) if hasattr(n, "start_time") else n
        a, b = seconds_to_ticks(on), max(seconds_to_ticks(off), seconds_to_ticks(on) + 1)
        msgs.append((a, 1, mido.Message("note_on", note=int(pitch), velocity=max(1, min(127, int(vel))))))
        msgs.append((b, 0, mido.Message("note_off", note=int(pitch), velocity=0)))
    msgs.sort(key=lambda m: (m[0], m[1]))  # at equal times note-offs first
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO, time=0),
                            mido.Message("program_change", program=program, time=0)])
    now = 0
    for tick, _, m in msgs:
        track.append(m.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    mf = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    mf.tracks.append(track)
    return mf


def _events(notes) -> list[tuple[int, int, int, int]]:
    """(tick, order, pitch, velocity) of every note-on (order 1) and note-off (order 0, velocity 0), sorted by tick
    with note-offs first at equal ticks (a stable sort: otherwise in the notes' order)."""
    ev = []
    for n in notes:
        on, off, pitch, vel = (n.start_time, n.end_time, n.pitch, n.velocity) if hasattr(n, "start_time") else n
        a, b = seconds_to_ticks(on), max(seconds_to_ticks(off), seconds_to_ticks(on) + 1)
        ev.append((a, 1, int(pitch), max(1, min(127, int(vel)))))
        ev.append((b, 0, int(pitch), 0))
    ev.sort(key=lambda e: (e[0], e[1]))
    return ev


def _vlq(value: int) -> bytes:
    """A MIDI variable-length quantity (7 bits per byte, high bit set on all but the last)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def notes_to_midi_bytes(notes, program: int = 0) -> bytes:
    """The bytes :func:`notes_to_midi` would save, encoded directly (Standard MIDI File 1.0, type 0).

    About 50 times faster than building mido messages, which matters for a live take rewritten while it grows
    (thousands of notes). Same events, same order, same bytes as ``notes_to_midi(notes, program).save()``.
    """
    track = bytearray(b"\x00\xff\x51\x03" + TEMPO.to_bytes(3, "big") + bytes([0x00, 0xC0, program & 0x7F]))
    now, running = 0, 0xC0  # running status, as mido writes it: a repeated channel status byte is left out
    for tick, order, pitch, vel in _events(notes):
        status = 0x90 if order else 0x80
        track += _vlq(tick - now)
        track += bytes([pitch & 0x7F, vel]) if status == running else bytes([status, pitch & 0x7F, vel])
        now, running = tick, status
    track += b"\x00\xff\x2f\x00"
    head = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + \
        TICKS_PER_BEAT.to_bytes(2, "big")
    return head + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track)


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never a part.

    Through :func:`atomic_output` (a temporary file in the same folder, mode ``0666 & ~umask``, then
    ``os.replace``), flushed and fsynced before the move.

    Raises
    ------
    UsageError
        The folder is missing or not writable, the disk is full (the message names the file).
    """
    path = Path(path)
    with atomic_output(path) as tmp:
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}; pick a writable place", path) from None


def write_midi_atomic(path: str | os.PathLike, notes) -> None:
    """Write ``notes`` (see :func:`notes_to_midi`) as a MIDI file at ``path`` atomically (:func:`write_atomic`)."""
    write_atomic(path, notes_to_midi_bytes(notes))


def write_notes_tsv(path: str | os.PathLike, notes) -> None:
    """Write notes (objects with ``start_time``/``end_time``/``pitch``/``velocity``, or such tuples) as TSV:
    ``onset<TAB>offset<TAB>pitch<TAB>velocity`` with a header line, seconds to 1 ms, atomically
    (:func:`write_atomic`). ``path`` ``-`` writes to standard output."""
    rows = [(n.start_time, n.end_time, n.pitch, n.velocity) if hasattr(n, "start_time") else tuple(n)
            for n in notes]
    lines = ["onset\toffset\tpitch\tvelocity\n"] + [
        f"{on:.3f}\t{off:.3f}\t{pitch}\t{vel}\n" for on, off, pitch, vel in sorted(rows, key=lambda r: (r[0], r[2]))]
    if str(path) == "-":
        sys.stdout.writelines(lines)
        sys.stdout.flush()
        return
    write_atomic(path, "".join(lines).encode())


JOURNAL_SUFFIX = ".journal"
_HEARTBEAT_S = 0.5


def journal_path(take: str | os.PathLike) -> Path:
    """The journal kept beside a live take: ``TAKE.journal`` (``take.mid`` -> ``take.mid.journal``)."""
    take = Path(take)
    return take if take.name.endswith(JOURNAL_SUFFIX) else take.with_name(take.name + JOURNAL_SUFFIX)


def _take_origin(start, first_onset: float | None, lead_in: float) -> float:
    if start == "first_note":
        return 0.0 if first_onset is None else max(0.0, first_onset - lead_in)
    return float(start)


_SETTLE_S = 10.0  # events this long before the latest one are final (the decoder's ghost delay is far shorter)


class _TrackEncoder:
    """The note events of a growing take, as :func:`notes_to_midi_bytes` encodes them, each encoded once.

    Notes come in the order they finish; :meth:`add` keeps their two events sorted as :func:`_events` sorts
    them (by tick, note-offs first, then in the notes' order). :meth:`commit_before` encodes the events before a
    tick no later note can precede and keeps only their bytes; :meth:`file_bytes` adds the rest.
    """

    def __init__(self, program: int = 0):
        self.done = bytearray(b"\x00\xff\x51\x03" + TEMPO.to_bytes(3, "big") + bytes([0x00, 0xC0, program & 0x7F]))
        self.tick, self.running = 0, 0xC0
        self.pending: list[tuple[int, int, int, int, int]] = []
        self.seq = 0

    def add(self, on_s: float, off_s: float, pitch: int, velocity: int) -> None:
        a = seconds_to_ticks(on_s)
        b = max(seconds_to_ticks(off_s), a + 1)
        a = max(a, self.tick)  # never before what is final (cannot happen with the decoder's event order)
        b = max(b, a + 1)
        bisect.insort(self.pending, (a, 1, self.seq, int(pitch), max(1, min(127, int(velocity)))))
        bisect.insort(self.pending, (b, 0, self.seq, int(pitch), 0))
        self.seq += 1

    @staticmethod
    def _encode(buf: bytearray, events, tick: int, running: int) -> tuple[int, int]:
        for t, order, _, pitch, vel in events:
            status = 0x90 if order else 0x80
            buf += _vlq(t - tick)
            buf += bytes([pitch & 0x7F, vel]) if status == running else bytes([status, pitch & 0x7F, vel])
            tick, running = t, status
        return tick, running

    def commit_before(self, tick: int) -> None:
        k = bisect.bisect_left(self.pending, (tick,))
        if k:
            self.tick, self.running = self._encode(self.done, self.pending[:k], self.tick, self.running)
            del self.pending[:k]

    def file_bytes(self) -> bytes:
        track = bytearray(self.done)
        self._encode(track, self.pending, self.tick, self.running)
        track += b"\x00\xff\x2f\x00"
        head = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + \
            TICKS_PER_BEAT.to_bytes(2, "big")
        return head + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track)


class MidiFileWriter:
    """Record note events into a MIDI file that is always complete on disk, with a journal beside it.

    Parameters
    ----------
    path : path
        The MIDI file; created at once (empty take) so a take that is killed still leaves a valid file. An
        existing file there (an earlier take) is kept until this take's first note is written, and is kept for
        good when the take ends without a note (:attr:`kept_earlier`): a live session that failed to start (no
        audio device) used to replace the earlier take by an empty one.
    start : float or "first_note"
        Time (s, in the times given to :meth:`note_on`) that becomes 0 in the file; ``"first_note"``: the first
        note-on (minus ``lead_in``), so a take does not begin with the silence before the player started.
    lead_in : float
        With ``start="first_note"``: seconds kept before the first note (never before time 0).
    journal : bool
        Keep ``path.journal`` (:func:`journal_path`) while recording, for :func:`recover_take`.
    rewrite_every_s : float
        0 (default): rewrite the file in :meth:`note_off`, after every note. Otherwise note-offs only mark the file
        out of date and :meth:`flush` (called from the caller's own clock, e.g. a console thread) rewrites it at
        most this often, off the thread that transcribes (the journal holds every note in between).
    keep_notes : bool
        Keep every finished note in :attr:`notes` (False: a take of hours keeps flat memory; :attr:`n_notes`
        still counts them).

    Attributes
    ----------
    notes : list of (onset_s, offset_s, pitch, velocity)
        Finished notes, in the caller's time (not shifted); empty with ``keep_notes=False``.
    n_notes : int
        Finished notes so far.
    origin : float
        The caller's time that is 0 in the file (known once the first note came, with ``"first_note"``).
    kept_earlier : bool
        The file held an earlier take and this one has written nothing over it (no note yet).

    Raises
    ------
    UsageError
        The file cannot be written (missing folder, permissions, full disk): the message names it.

    Notes
    -----
    ``note_on``/``note_off``/``mark``/``flush`` may be called from any threads. A rewrite encodes only the events
    of the last seconds: those before the earliest onset still sounding (and 10 s before the latest event) can no
    longer move, so they are encoded once and kept as bytes (:class:`_TrackEncoder`); the file is the same, byte
    for byte, as :func:`notes_to_midi_bytes` of all the notes.
    """

    def __init__(self, path: str | os.PathLike, start: float | str = 0.0, lead_in: float = 0.0,
                 journal: bool = True, rewrite_every_s: float = 0.0, keep_notes: bool = True):
        if start != "first_note" and not isinstance(start, (int, float)):
            raise ValueError(f"start must be a time in seconds or 'first_note', got {start!r}")
        self.path = Path(path)
        self.start, self.lead_in = start, float(lead_in)
        self.notes: list[tuple[float, float, int, int]] = []
        self.keep_notes = keep_notes
        self.n_notes = 0
        self._track = _TrackEncoder()
        self._now = 0.0  # latest time given to note_on/note_off
        self._open: dict[int, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._first_onset: float | None = None
        self._last_mark = -1e9
        self.rewrite_every_s = float(rewrite_every_s)
        self._dirty = False
        self._last_write = time.monotonic()
        self._journal = None
        self.kept_earlier = self.path.exists()
        if not self.kept_earlier:
            write_midi_atomic(self.path, [])
        if journal:
            jp = journal_path(self.path)
            try:
                self._journal = open(jp, "w", encoding="utf-8")
                head = {"tonehost_journal": 1, "take": self.path.name, "start": start, "lead_in": self.lead_in,
                        "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
                self._journal.write(json.dumps(head) + "\n")
                self._journal.flush()
            except OSError as exc:
                raise UsageError(f"cannot write the journal {jp}: {exc.strerror or exc}; pick a writable place",
                                 jp) from None

    @property
    def origin(self) -> float:
        return _take_origin(self.start, self._first_onset, self.lead_in)

    @property
    def first_onset(self) -> float | None:
        """Time of the first note-on (caller's time), None before it."""
        return self._first_onset

    def _log(self, line: str) -> None:
        if self._journal is not None:
            try:
                self._journal.write(line + "\n")
                self._journal.flush()  # in the kernel's hands: survives a SIGKILL of this process
            except (OSError, ValueError):
                self._journal = None  # full disk: the MIDI file still holds every finished note

    def note_on(self, pitch: int, velocity: int, t: float) -> None:
        """A note starts at ``t`` seconds (velocity 1..127)."""
        with self._lock:
            if self._first_onset is None:
                self._first_onset = float(t)
            self._now = max(self._now, float(t))
            self._log(f"on {t:.6f} {int(pitch)} {int(velocity)}")
            if pitch in self._open:  # re-struck: finish the old one
                self._finish(pitch, t)
            self._open[pitch] = (t, velocity)

    def note_off(self, pitch: int, t: float) -> None:
        """A note ends at ``t`` seconds; the file on disk is rewritten with it."""
        with self._lock:
            self._now = max(self._now, float(t))
            self._log(f"off {t:.6f} {int(pitch)}")
            if pitch in self._open:
                self._finish(pitch, t)
                if self.rewrite_every_s > 0:
                    self._dirty = True
                else:
                    self._write()

    def flush(self, force: bool = False) -> bool:
        """Rewrite the file if notes finished since the last rewrite and ``rewrite_every_s`` has passed (or
        ``force``); returns whether it did."""
        with self._lock:
            if not self._dirty or (not force and time.monotonic() - self._last_write < self.rewrite_every_s):
                return False
            self._write()
            return True

    def mark(self, t: float) -> None:
        """Journal that the take has been transcribed up to ``t`` seconds (where :func:`recover_take` ends the
        notes still sounding); written, and the journal fsynced, at most twice a second."""
        with self._lock:
            if t - self._last_mark >= _HEARTBEAT_S:
                self._last_mark = t
                self._log(f"t {t:.6f}")
                if self._journal is not None:
                    try:
                        os.fsync(self._journal.fileno())  # on the disk: survives a power cut too
                    except (OSError, ValueError):
                        pass

    def _finish(self, pitch: int, t: float) -> None:
        on, vel = self._open.pop(pitch)
        if self.keep_notes:
            self.notes.append((on, t, pitch, vel))
        self.n_notes += 1
        o = self.origin
        self._track.add(on - o, t - o, pitch, vel)
        if len(self._track.pending) > 512:  # between rewrites too: pending events stay few
            self._commit()

    def _commit(self) -> None:
        settled = min([on for on, _ in self._open.values()] + [self._now - _SETTLE_S])
        self._track.commit_before(seconds_to_ticks(settled - self.origin))

    def _write(self) -> None:
        self._commit()
        if self.kept_earlier and self.n_notes == 0:
            return  # nothing of this take yet: the earlier file stays
        write_atomic(self.path, self._track.file_bytes())
        self.kept_earlier = False
        self._dirty = False
        self._last_write = time.monotonic()

    def shifted(self, notes) -> list:
        """``notes`` (objects with ``start_time``/``end_time``, or tuples) moved to the file's time (minus
        :attr:`origin`), as :class:`tuple` ``(onset, offset, pitch, velocity)``."""
        o = self.origin
        out = []
        for n in notes:
            on, off, pitch, vel = (n.start_time, n.end_time, n.pitch, n.velocity) if hasattr(n, "start_time") else n
            out.append((on - o, off - o, pitch, vel))
        return out

    def discard(self) -> None:
        """The take never started (the device failed to open, Ctrl-C during the set-up): drop the journal and the
        empty file this writer made (a file it found is kept as it was). ``transcribe --live -o take.mid`` with no
        audio server left a 36-byte MIDI file of no notes, and the next take "recovered 0 notes" from its journal."""
        with self._lock:
            self._drop_journal()
            if not self.kept_earlier and not self._open and self.n_notes == 0:
                with contextlib.suppress(OSError):
                    self.path.unlink()

    def close(self, t: float | None = None) -> None:
        """End the sounding notes at ``t`` (default: the latest time seen), write the final file, drop the journal."""
        with self._lock:
            end = t if t is not None else max([self._now] + [o[0] for o in self._open.values()] + [0.0])
            for pitch in list(self._open):
                self._finish(pitch, max(end, self._open[pitch][0]))
            self._write()
            self._drop_journal()

    def _drop_journal(self) -> None:
        """Close the journal and remove it (the take is on disk, or was never made)."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None
            with contextlib.suppress(OSError):
                journal_path(self.path).unlink()


@dataclass
class RecoveredTake:
    """What :func:`recover_take` rebuilt.

    Attributes
    ----------
    path : pathlib.Path
        The MIDI file written.
    notes : list of (onset_s, offset_s, pitch, velocity)
        In the file's time.
    closed : int
        Notes that were still sounding, closed at the last journalled time.
    started : str
        When the take started (ISO 8601, from the journal).
    """

    path: Path
    notes: list
    closed: int
    started: str


def recover_take(take: str | os.PathLike, out: str | os.PathLike | None = None) -> RecoveredTake:
    """Rebuild a live take from its journal (a take whose process was killed: SIGKILL, power cut, crash).

    Parameters
    ----------
    take : path
        The take (``take.mid``) or its journal (``take.mid.journal``).
    out : path, optional
        Where to write the rebuilt MIDI file (default: the take itself). The journal is removed afterwards.

    Returns
    -------
    RecoveredTake

    Raises
    ------
    UsageError
        No journal beside ``take`` (nothing to recover: the take was closed normally, or never started here), or
        one that is not a tonehost journal.
    """
    jp = journal_path(take)
    take_path = jp.with_name(jp.name[: -len(JOURNAL_SUFFIX)])
    if not jp.is_file():
        raise UsageError(f"no journal {jp} to recover {take_path} from: a take that ended normally has none "
                         "(its MIDI file is complete)", jp)
    lines = jp.read_text(encoding="utf-8", errors="replace").splitlines()
    try:
        head = json.loads(lines[0]) if lines else {}
        if not isinstance(head, dict) or head.get("tonehost_journal") != 1:
            raise ValueError
    except ValueError:
        raise UsageError(f"{jp} is not a tonehost take journal", jp) from None
    opened: dict[int, tuple[float, int]] = {}
    notes, last, first = [], 0.0, None
    for line in lines[1:]:
        parts = line.split()
        try:
            if parts[0] == "on" and len(parts) == 4:
                t, pitch, vel = float(parts[1]), int(parts[2]), int(parts[3])
                first = t if first is None else first
                if pitch in opened:
                    on, v = opened.pop(pitch)
                    notes.append((on, t, pitch, v))
                opened[pitch] = (t, vel)
            elif parts[0] == "off" and len(parts) == 3:
                t, pitch = float(parts[1]), int(parts[2])
                if pitch in opened:
                    on, v = opened.pop(pitch)
                    notes.append((on, t, pitch, v))
            elif parts[0] == "t" and len(parts) == 2:
                t = float(parts[1])
            else:
                continue
        except (ValueError, IndexError):
            continue  # the line the kill cut short
        last = max(last, t)
    closed = len(opened)
    for pitch, (on, v) in opened.items():
        notes.append((on, max(last, on), pitch, v))
    origin = _take_origin(head.get("start", 0.0), first, float(head.get("lead_in", 0.0)))
    notes = sorted(((a - origin, b - origin, p, v) for a, b, p, v in notes), key=lambda n: (n[0], n[2]))
    dest = Path(out) if out is not None else take_path
    write_midi_atomic(dest, notes)
    jp.unlink()
    return RecoveredTake(dest, notes, closed, str(head.get("started", "")))


class MidiPortOut:
    """Send note events to a MIDI output port (ALSA or JACK MIDI, :func:`tonehost.realtime.midi.ports.open_port`).

    Parameters
    ----------
    port : str
        A number of ``tonehost devices --midi``'s output list, a port's name or a unique part of it; any other
        name creates a port of that name for other programs to connect to.
    client_name : str
        The MIDI client's name (``tonehost-midi``; never the audio client's ``tonehost``).

    Attributes
    ----------
    name : str
        The full name of the port (JACK: ``tonehost-midi:NAME``).
    system : str
        ``"ALSA"`` or ``"JACK"``.
    virtual : bool
        True when tonehost created the port.

    Raises
    ------
    DeviceError
        No MIDI system, a number not in the list, an ambiguous name.
    """

    def __init__(self, port: str, client_name: str | None = None):
        from tonehost.realtime.midi.ports import CLIENT_NAME, open_port

        self._port = open_port("output", port, client_name or CLIENT_NAME)
        self._out = self._port.rt
        self.name, self.system, self.virtual = self._port.name, self._port.system, self._port.created

    def describe(self) -> str:
        """One phrase for the console (``JACK MIDI port tonehost-midi:piano (created; connect to it)``)."""
        return self._port.describe()

    def note_on(self, pitch: int, velocity: int) -> None:
        self._out.send_message([0x90, int(pitch) & 0x7F, max(1, min(127, int(velocity)))])

    def note_off(self, pitch: int) -> None:
        self._out.send_message([0x80, int(pitch) & 0x7F, 0])

    def close(self, abandon: bool = False) -> None:
        """Close the port (``abandon=True``: the server went away, leave it to the operating system)."""
        self._port.close(abandon)
