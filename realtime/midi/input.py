"""Play a DDSP instrument from a MIDI keyboard, as DDSP-VST does: note -> f0 with portamento, velocity -> loudness.

:class:`MidiVoice` is a monophonic voice (last-note priority, returns to a still-held note on release) that the
pipeline calls once per feature frame (``voice(dt) -> (f0_hz, db, voiced)``). f0 glides in log-frequency with a
``portamento_s`` time constant; loudness follows the velocity with a short attack and a release ramp toward
silence. :func:`open_midi_input` connects a mido input port (python-rtmidi) to a voice.
"""
from __future__ import annotations

import math
import threading

from tonehost.exports.errors import DeviceError

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
        """Apply a mido message (note_on, note_off, pitchwheel, all-notes-off)."""
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


def list_midi_inputs() -> list[str]:
    """Names of the MIDI input ports (python-rtmidi through mido)."""
    import mido
    return list(mido.get_input_names())


def open_midi_input(port: str, voice: MidiVoice):
    """Open MIDI input ``port`` (a name, a unique substring, or an index) and feed ``voice`` from its callback.

    Returns the open mido port (close it when done). Raises :class:`~tonehost.exports.errors.DeviceError` naming
    the available ports when ``port`` does not match one.
    """
    import mido
    names = list_midi_inputs()
    chosen = None
    if port.isdigit() and int(port) < len(names):
        chosen = names[int(port)]
    else:
        matches = [n for n in names if port == n] or [n for n in names if port.lower() in n.lower()]
        if len(matches) == 1:
            chosen = matches[0]
    if chosen is None:
        raise DeviceError(f"MIDI input {port!r} not found; available: {', '.join(names) or 'none'} "
                          "(pass a name, a unique part of one, or its index)")
    return mido.open_input(chosen, callback=voice.handle)
