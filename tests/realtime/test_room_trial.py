"""Faults of the voice path found by a musician's trial in real rooms (session 9, issue 15): takes as a laptop
mic, a phone, a quiet or a hot (clipping) input, a fan or mains hum, a dead or inverted stereo channel and a long
take with long silences would give them, played through ``tonehost render`` (and ``--live``, what ``play``
plays) and ``tonehost pitch --midi``, each judged against the same take recorded clean.

Each test fails on the code before its fix. Everything runs in this process on short synthetic takes the test
writes itself.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import run_main as main
from tonehost.dsp.features import voice_like

SR = 16000


def frames_db(y: np.ndarray, sr: int, hop_s: float) -> np.ndarray:
    """Power (dB) of consecutive ``hop_s`` windows of ``y``."""
    k = int(sr * hop_s)
    n = len(y) // k
    return 10 * np.log10(np.mean(y[:n * k].reshape(n, k) ** 2, 1) + 1e-12)


def sung_note(seconds: float, f0: float = 220.0, start_s: float = 0.0, sr: int = SR) -> np.ndarray:
    """A sung note from ``start_s`` (a 20 ms attack) to the end, silence before."""
    t = np.arange(int(sr * seconds)) / sr
    return voice_like(np.full(len(t), f0), sr, 0.3) * np.clip((t - start_s) / 0.02, 0, 1)


# ----------------------------------------------------------------------------- render --live / play: the level

@pytest.mark.parametrize("under_db", [-30.0, -20.0])
def test_a_soft_start_does_not_make_the_first_note_blare(tmp_path: Path, under_db):
    """A take whose first voiced frames are far under the voice (a soft sung pickup, a breath, the mains hum the
    tracker takes for voice until it knows it: FDA speech under ``hum:50:-25`` or ``gain:+20+clip:6``): ``render
    --live`` (what ``play`` plays) played the first note 20 dB over the rest of it for 0.3 s, then dropped
    (-15 dB, then -35). The level seed was the median of the first voiced frames, the soft ones included; now the
    median of those within 15 dB of the loudest, so the note is level from its start (within 3 dB)."""
    pre_s = 0.3
    x = sung_note(2.0, 220.0, start_s=pre_s)
    x[:int(SR * pre_s)] = 0
    pickup = voice_like(np.full(len(x), 110.0), SR, 0.3) * 10 ** (under_db / 20)
    pickup[int(SR * pre_s):] = 0
    src, out = tmp_path / "take.wav", tmp_path / "out.wav"
    sf.write(src, (x + pickup).astype(np.float32), SR)
    rc, _, err = main("render", src, "-o", out, "--live")
    assert rc == 0, err
    y, sr = sf.read(out)
    db = frames_db(y, sr, 0.05)
    note = db[int((pre_s + 0.05) / 0.05):int(1.9 / 0.05)]   # the main note, its attack's 50 ms left out
    settled = np.median(db[int(1.0 / 0.05):int(1.9 / 0.05)])
    assert np.max(np.abs(note - settled)) < 3.0, np.round(note, 1)
