"""MIDI outputs for transcription: a MIDI file that survives interrupts, and a (virtual) rtmidi output port.

:class:`MidiFileWriter` keeps the file on disk valid and complete at all times: every finished note rewrites it
atomically (write to a temporary file in the same folder, then ``os.replace``), so Ctrl-C, a crash or a power cut
lose at most the notes still sounding. :meth:`MidiFileWriter.close` ends the sounding notes at the current time and
writes the final file. Times are seconds from the start of the take; the file is type 0 at 120 bpm, 480 ppq.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

import mido

from tonehost.exports.errors import DeviceError

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


def write_midi_atomic(path: str | os.PathLike, notes) -> None:
    """Write ``notes`` as a MIDI file at ``path`` atomically (readers never see a partial file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            notes_to_midi(notes).save(file=f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_notes_tsv(path: str | os.PathLike, notes) -> None:
    """Write notes as TSV: ``onset<TAB>offset<TAB>pitch<TAB>velocity`` with a header line, seconds to 1 ms.
    ``path`` ``-`` writes to standard output."""
    lines = ["onset\toffset\tpitch\tvelocity\n"] + [
        f"{n.start_time:.3f}\t{n.end_time:.3f}\t{n.pitch}\t{n.velocity}\n"
        for n in sorted(notes, key=lambda n: (n.start_time, n.pitch))]
    if str(path) == "-":
        sys.stdout.writelines(lines)
        sys.stdout.flush()
        return
    with open(path, "w") as f:
        f.writelines(lines)


class MidiFileWriter:
    """Record note events into a MIDI file that is always complete on disk.

    Parameters
    ----------
    path : path
        The MIDI file; created at once (empty take) so a take that is killed still leaves a valid file.

    Notes
    -----
    ``note_on``/``note_off`` may be called from any one thread; they are cheap except that each note-off
    rewrites the file (a few ms for thousands of notes).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.notes: list[tuple[float, float, int, int]] = []
        self._open: dict[int, tuple[float, int]] = {}
        self._lock = threading.Lock()
        write_midi_atomic(self.path, [])

    def note_on(self, pitch: int, velocity: int, t: float) -> None:
        with self._lock:
            if pitch in self._open:  # re-struck: finish the old one
                self._finish(pitch, t)
            self._open[pitch] = (t, velocity)

    def note_off(self, pitch: int, t: float) -> None:
        with self._lock:
            if pitch in self._open:
                self._finish(pitch, t)
                write_midi_atomic(self.path, self.notes)

    def _finish(self, pitch: int, t: float) -> None:
        on, vel = self._open.pop(pitch)
        self.notes.append((on, t, pitch, vel))

    def close(self, t: float | None = None) -> None:
        """End the sounding notes at ``t`` (default: the latest time seen) and write the final file."""
        with self._lock:
            end = t if t is not None else max([n[1] for n in self.notes] + [o[0] for o in self._open.values()]
                                              + [0.0])
            for pitch in list(self._open):
                self._finish(pitch, max(end, self._open[pitch][0]))
            write_midi_atomic(self.path, self.notes)


class MidiPortOut:
    """Send note events to a MIDI output port via python-rtmidi.

    ``port`` names an existing output (exact name, a substring, or its index); if none matches, a *virtual* port
    of that name is created for other programs to connect to.
    """

    def __init__(self, port: str, client_name: str = "tonehost"):
        try:
            import rtmidi
        except ImportError as exc:  # pragma: no cover - rtmidi is a dependency
            raise DeviceError(f"python-rtmidi is not available ({exc}); pip install python-rtmidi") from None
        self._out, names, errors = None, [], []
        for api in (rtmidi.API_UNSPECIFIED, rtmidi.API_UNIX_JACK):  # ALSA/CoreMIDI first, then JACK MIDI
            try:
                self._out = rtmidi.MidiOut(rtapi=api, name=client_name)
                names = self._out.get_ports()
                break
            except Exception as exc:  # e.g. no ALSA sequencer (/dev/snd/seq) in a container
                errors.append(str(exc))
                self._out = None
        if self._out is None:
            raise DeviceError(f"cannot open the MIDI system for --midi-out {port!r} ({'; '.join(errors)}). "
                              "On Linux load the ALSA sequencer (modprobe snd-seq) or start JACK, "
                              "or drop --midi-out") from None
        self.api = rtmidi.get_api_display_name(self._out.get_current_api())
        idx = None
        if port.isdigit() and int(port) < len(names):
            idx = int(port)
        else:
            hits = [i for i, n in enumerate(names) if n == port] or [i for i, n in enumerate(names) if port in n]
            idx = hits[0] if hits else None
        try:
            if idx is None:
                self._out.open_virtual_port(port)
                self.name, self.virtual = port, True
            else:
                self._out.open_port(idx)
                self.name, self.virtual = names[idx], False
        except Exception as exc:
            raise DeviceError(f"cannot open MIDI output {port!r}: {exc}; available: {names or 'none'}") from None

    def note_on(self, pitch: int, velocity: int) -> None:
        self._out.send_message([0x90, int(pitch) & 0x7F, max(1, min(127, int(velocity)))])

    def note_off(self, pitch: int) -> None:
        self._out.send_message([0x80, int(pitch) & 0x7F, 0])

    def close(self) -> None:
        self._out.close_port()
