"""Parity with the reference: @magenta/music 1.23.1 OnsetsAndFrames in Node (tfjs CPU) on checkpoints in the
exact on-disk format (deterministic random weights, float32 and q2) and the same 16 kHz audio.

Compared: log-mel features (1e-4), onset/frame probabilities (1e-4), MIDI velocities, and the note lists. Ours
runs the *streaming* path (small blocks), the reference runs its own chunked batches (chunk length 20, so its
receptive-field padding and LSTM state carrying across chunks are exercised).
Needs ``npm ci --prefix tests/node`` (CI does it); skipped when node or the package is missing.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tonehost.exports.convert.onsets_frames import export_checkpoint, random_weights
from tonehost.exports.tfjs import write_layers_checkpoint
from tonehost.exports.onnx_session import make_session
from tonehost.realtime.pipelines.transcriber import midi_velocity, transcribe_array

from conftest import NODE_DIR
SCRIPT = NODE_DIR / "onsets_frames_parity.js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "@magenta" / "music").is_dir(),
    reason="needs node and `npm ci --prefix tests/node` (@magenta/music 1.23.1)")


def _clip(seconds: float, seed: int) -> np.ndarray:
    """Decaying piano-like tones (a few partials) at random pitches and times, 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    x = np.zeros_like(t)
    for _ in range(10):
        f0 = 440 * 2 ** (int(rng.integers(-30, 24)) / 12)
        t0 = rng.uniform(0.05, seconds - 0.3)
        env = np.exp(-(t - t0) * 4) * (t > t0) * (t < t0 + 0.4)
        for h in (1, 2, 3):
            if f0 * h < 7900:
                x += 0.15 / h * np.sin(2 * np.pi * f0 * h * (t - t0)) * env
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Write both checkpoints, start both Node references in parallel, transcribe with ours meanwhile."""
    base = tmp_path_factory.mktemp("of_parity")
    cases = {"float32": (None, 2.0, 20, 11), "q2": ("uint16", 1.5, 250, 12)}
    procs, ours = {}, {}
    for name, (quant, seconds, chunk, seed) in cases.items():
        ckpt = base / name
        write_layers_checkpoint(ckpt, random_weights(seed), quantize=quant)
        audio = _clip(seconds, seed)
        audio.tofile(base / f"{name}.f32")
        procs[name] = subprocess.Popen(
            ["node", str(SCRIPT), str(ckpt), str(base / f"{name}.f32"), str(base / f"{name}.json"), str(chunk)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        model, _ = export_checkpoint(ckpt)
        from tonehost.dsp.mel import log_mel
        ours[name] = (log_mel(audio), transcribe_array(make_session(str(model)), audio, 16000, block=700,
                                                       keep_probs=True))
    out = {}
    for name, p in procs.items():
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
        out[name] = (json.loads((base / f"{name}.json").read_text()), *ours[name])
    return out


@pytest.mark.parametrize("case", ["float32", "q2"])
def test_same_mel_probabilities_velocities_and_notes(runs, case):
    ref, mel, tr = runs[case]
    assert ref["tfjs"].startswith("2.") and ref["backend"] == "cpu"
    np.testing.assert_allclose(mel, np.array(ref["mel"], np.float32), atol=1e-4, rtol=0)
    onset, frame, vel = tr.probs()
    r_onset, r_frame = np.array(ref["onset_probs"]), np.array(ref["frame_probs"])
    assert onset.shape == r_onset.shape == (len(mel), 88)
    np.testing.assert_allclose(onset, r_onset, atol=1e-4, rtol=0)
    np.testing.assert_allclose(frame, r_frame, atol=1e-4, rtol=0)
    # MIDI velocities are truncated to ints: equal, except where ours sits within float noise of an integer
    raw = np.clip(vel, 0, 1) * 80 + 10
    diff = midi_velocity(vel) != np.array(ref["velocities"])
    assert np.all(np.abs(raw[diff] - np.round(raw[diff])) < 1e-3)
    # notes (only meaningful because the weights make most probabilities decisive)
    assert np.mean(np.abs(r_onset - 0.5) < 1e-4) < 0.005
    mine = [(round(n.start_time, 6), round(n.end_time, 6), n.pitch, n.velocity) for n in tr.notes]
    theirs = [(round(a, 6), round(b, 6), int(p), int(v)) for a, b, p, v in ref["notes"]]
    assert len(theirs) >= 5
    assert mine == theirs
