"""Hum -> MIDI velocities follow the take's level, not the mic's gain (realtime/midi/hum.py velocity_scale).

Velocities came from the loudness on a fixed -70..-25 dB scale: a take sung 40 dB under another (a mic's gain
turned down; since the tracker's gate follows the room such a take is tracked, tests/dsp/test_quiet_input.py) gave
notes of velocity 1, inaudible on most synths. Now a file is scaled to its own loud level (``pitch --midi``) and
live the scale follows the voice's level from its first voiced frame (``play --midi-out``).
"""
from __future__ import annotations

import sys

import mido
import numpy as np
import soundfile as sf

from conftest import ROOT, run_main
from tonehost.dsp.features import VoiceTracker
from tonehost.realtime.midi.hum import HumToMidi, velocity_from_db, velocity_scale

sys.path.insert(0, str(ROOT / "tests" / "dsp"))
from test_quiet_input import phrase  # noqa: E402

SR = 16000


def velocities(path):
    return [(m.note, m.velocity) for m in mido.MidiFile(path) if m.type == "note_on" and m.velocity > 0]


def test_pitch_midi_of_a_quiet_take_has_the_loud_takes_velocities(tmp_path):
    got = {}
    for gain in (0.0, -40.0):
        x, _ = phrase(np.random.default_rng(3), gain)
        sf.write(tmp_path / "take.wav", x.astype(np.float32), SR)
        rc, out, err = run_main("pitch", tmp_path / "take.wav", "-o", tmp_path / "f0.csv", "--midi",
                                tmp_path / f"take{gain:.0f}.mid")
        assert rc == 0, err
        got[gain] = velocities(tmp_path / f"take{gain:.0f}.mid")
    loud, quiet = got[0.0], got[-40.0]
    assert [n for n, _ in loud] == [55, 59, 62] and [n for n, _ in quiet] == [n for n, _ in loud], (loud, quiet)
    assert all(60 <= v <= 127 for _, v in loud)
    assert all(abs(a - b) <= 3 for (_, a), (_, b) in zip(loud, quiet)), (loud, quiet)


def _live_velocities(x, **kw):
    tr, hum, out = VoiceTracker(), HumToMidi(**kw), []
    fr = tr.process(x)
    for k in range(len(fr)):
        out += hum.frame(k * tr.cfg.hop / SR, float(fr.f0_hz[k]), bool(fr.voiced[k]), float(fr.loudness_db[k]))
    return [m.velocity for m in out if m.type == "note_on" and m.velocity > 0]


def test_live_velocities_settle_on_a_quiet_voice():
    loud = np.concatenate([phrase(np.random.default_rng(s), 0.0)[0] for s in range(4)])
    quiet = np.concatenate([phrase(np.random.default_rng(s), -40.0)[0] for s in range(4)])
    v_loud, v_quiet = _live_velocities(loud), _live_velocities(quiet)
    assert len(v_loud) == len(v_quiet) >= 12, (v_loud, v_quiet)
    # from its first note on (the live level starts at the first voiced frame's: it started at full scale and
    # came down 6 dB per voiced second, so the quiet take's first notes had velocity 1 for seconds)
    assert all(abs(a - b) <= 8 for a, b in zip(v_loud, v_quiet)), (v_loud, v_quiet)
    # the fixed scale of before: velocity 1 throughout
    assert set(_live_velocities(quiet, follow_level=False)) == {1}


def test_velocity_scale_moves_down_only():
    assert velocity_scale(-20.0) == (-70.0, -25.0)  # a loud take keeps the fixed scale
    lo, hi = velocity_scale(-75.0)
    assert (lo, hi) == (-110.0, -75.0 + 10.0)
    assert velocity_from_db(-75.0, lo, hi) == velocity_from_db(-35.0)
    assert velocity_scale(float("nan")) == (-70.0, -25.0)
    hum = HumToMidi()
    assert np.isnan(hum.take_level()) and hum.relevel([]) == []
