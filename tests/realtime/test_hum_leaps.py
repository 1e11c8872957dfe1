"""Hum -> MIDI starts a leap's note on the pitch it lands on, not on the frame that crosses the bend range.

The tracker crosses a legato leap in a few 2 ms frames; the first frame past the +-2 semitone bend range lies
mid-way. The issue's C3 pickup then E4 G4 C5 G4 E4 (0.5 s each, legato) came out as C3 E4 F#4 G4 C5 G4 E4 live and
in ``pitch --midi``: the F#4 held 42 ms (bent up to G4) before the G4. Now the new note waits until the pitch stops
moving (``LEAP_SEMITONES_S``, at most ``settle_s``): C3 E4 G4 C5 G4 E4, the G4 4 ms later than the F#4 was.
"""
from __future__ import annotations

import mido
import numpy as np
import soundfile as sf

from conftest import run_main
from tonehost.dsp.features import VoiceTracker, voice_like
from tonehost.realtime.midi.hum import HumToMidi

SR = 16000
PICKUP = [48, 64, 67, 72, 67, 64]


def legato(notes, seconds=0.5, vibrato_cents=0.0):
    f = np.concatenate([np.full(int(seconds * SR), 440 * 2 ** ((n - 69) / 12)) for n in notes])
    t = np.arange(len(f)) / SR
    f = f * 2 ** (vibrato_cents * np.sin(2 * np.pi * 5.5 * t) / 1200)
    return voice_like(np.r_[np.zeros(4000), f, np.zeros(4000)], SR)


def live_notes(x):
    fr = VoiceTracker().process(x)
    hum, out = HumToMidi(), []
    for k in range(len(fr)):
        out += hum.frame((k + 1) * 32 / SR, float(fr.f0_hz[k]), bool(fr.voiced[k]), float(fr.loudness_db[k]))
    return [m.note for m in out if m.type == "note_on"]


def test_legato_leaps_start_the_note_they_land_on(tmp_path):
    for vib in (0.0, 25.0):
        x = legato(PICKUP, vibrato_cents=vib)
        assert live_notes(x) == PICKUP, vib
        sf.write(tmp_path / "pickup.wav", x.astype(np.float32), SR)
        rc, out, err = run_main("pitch", tmp_path / "pickup.wav", "-o", tmp_path / "f0.csv", "--midi",
                                tmp_path / "pickup.mid")
        assert rc == 0, err
        assert [m.note for m in mido.MidiFile(tmp_path / "pickup.mid") if m.type == "note_on"] == PICKUP, vib


def test_a_slow_glide_still_changes_notes_as_it_goes():
    """A 3 s hum gliding 130 -> 735 Hz (30 semitones, 10 per second: not a leap) still follows the glide note by
    note, upwards, from C3 to F#5."""
    n = 3 * SR
    f = 130.0 * (735.0 / 130.0) ** (np.arange(n) / n)
    notes = live_notes(voice_like(np.r_[np.zeros(4000), f, np.zeros(4000)], SR))
    assert len(notes) >= 8 and notes == sorted(notes) and notes[0] in (47, 48) and notes[-1] in (77, 78), notes
