"""Parity of tonehost.MusicRNN with @magenta/music 1.23.1's MusicRNN in Node, for the four hosted architectures.

Random-weight checkpoints of the hosted shapes (2x512 basic_rnn with 38 classes, 2x512 melody_rnn with 130, 3x256
drum_kit_rnn with the attention wrapper, 512 classes and the binary counter, 3x256 chord_pitches_improv with
pitch-chord conditioning) are written in the exact on-disk format, float32 and quantized (uint8 and uint16), with
their config.json, and served on 127.0.0.1: magenta.js loads them with its own ``initialize()``.

Compared: identical argmax continuations (event per step, decoded notes) and per-step probabilities within 1e-5;
with a temperature, identical sampled continuations when Node's ``Math.random`` is seeded (mulberry32) and ours
draws with :class:`~tonehost.exports.tfjs.random.TfjsMultinomial` on the same stream. Needs node and
``npm ci --prefix tests/node``.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from tonehost.exports.convert.music_rnn import write_random_checkpoint
from tonehost.exports.note_sequence import Note, NoteSequence, QuantizationInfo, Tempo
from tonehost.exports.tfjs.random import TfjsMultinomial, mulberry32
from tonehost.realtime.pipelines.music_rnn import MusicRNN
from tonehost.realtime.testing.checkpoint_server import CheckpointServer

from conftest import NODE_DIR

SCRIPT = NODE_DIR / "music_rnn_parity.js"
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "@magenta" / "music").is_dir(),
    reason="needs node and `npm ci --prefix tests/node` (@magenta/music 1.23.1)")

# (architecture, quantization, weight seed)
CHECKPOINTS = [("basic_rnn", None, 1), ("basic_rnn", "uint8", 2), ("melody_rnn", None, 3),
               ("melody_rnn", "uint16", 4), ("drum_kit_rnn", None, 5), ("drum_kit_rnn", "uint8", 6),
               ("chord_pitches_improv", None, 7), ("chord_pitches_improv", "uint16", 8)]


DEPTH = {"basic_rnn": 38, "melody_rnn": 130, "drum_kit_rnn": 512, "chord_pitches_improv": 38}


def _melody(rng, lo, hi, steps) -> NoteSequence:
    notes, s = [], 0
    while s < steps - 1:
        d = int(rng.integers(1, 4))
        notes.append(Note(int(rng.integers(lo, hi + 1)), quantized_start_step=s, quantized_end_step=min(s + d, steps)))
        s += d + int(rng.integers(0, 2))
    return NoteSequence(notes=notes, quantization_info=QuantizationInfo(4), total_quantized_steps=steps,
                        tempos=[Tempo(0.0, 120.0)])


def _drums(rng, steps) -> NoteSequence:
    notes = []
    for s in range(steps):
        for p in (36, 38, 42, 46, 49):
            if rng.random() < 0.25:
                notes.append(Note(p, quantized_start_step=s, quantized_end_step=s + 1, is_drum=True))
    return NoteSequence(notes=notes, quantization_info=QuantizationInfo(4), total_quantized_steps=steps,
                        tempos=[Tempo(0.0, 120.0)])


def _cases(root, url):
    rng = np.random.default_rng(11)
    cases = []
    for name, quant, seed in CHECKPOINTS:
        d = f"{name}_{quant or 'float32'}"
        write_random_checkpoint(root / d, name, seed=seed, quantize=quant)
        for k, temperature in enumerate([None, 1.0] if quant is None else [None]):
            steps = int(rng.integers(5, 14))
            if name == "drum_kit_rnn":
                seq = _drums(rng, steps)
            elif name == "melody_rnn":
                seq = _melody(rng, 20, 110, steps)
            else:
                seq = _melody(rng, 48, 83, steps)
            chords = ["C", "G", "Am", "F7"] if name == "chord_pitches_improv" else None
            cases.append({"dir": d, "url": f"{url}/{d}", "seq": seq.to_json(), "steps": 24 + 8 * k,
                          "temperature": temperature, "chords": chords, "seed": 1000 + seed if temperature else None})
    return cases


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("music_rnn_parity")
    server = CheckpointServer(root).start()
    try:
        cases = _cases(root, server.url)
        (root / "cases.json").write_text(json.dumps([{k: v for k, v in c.items() if k != "dir"} for c in cases]))
        proc = subprocess.Popen(["node", str(SCRIPT), str(root / "cases.json"), str(root / "out.json")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ours, models = [], {}
        for c in cases:  # ours runs while Node works
            if c["dir"] not in models:
                models[c["dir"]] = MusicRNN(root / c["dir"])
            rng = TfjsMultinomial(mulberry32(c["seed"])) if c["seed"] is not None else None
            ours.append(models[c["dir"]].continue_sequence_and_return_probabilities(
                NoteSequence.from_json(c["seq"]), c["steps"], c["temperature"], c["chords"], rng=rng))
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-3000:]
        ref = json.loads((root / "out.json").read_text())
    finally:
        server.stop()
    assert ref["tfjs"].startswith("2.") and ref["backend"] == "cpu"
    return cases, ours, ref["results"]


@pytest.mark.parametrize("name", ["basic_rnn", "melody_rnn", "drum_kit_rnn", "chord_pitches_improv"])
def test_same_continuations_and_probabilities(runs, name):
    cases, ours, refs = runs
    checked = sampled = 0
    for c, mine, ref in zip(cases, ours, refs):
        if not c["dir"].startswith(name):
            continue
        where = f"{c['dir']} T={c['temperature']}"
        assert "error" not in ref, f"{where}: {ref.get('error')}"
        assert mine.events.tolist() == ref["events"], where
        probs = np.array(ref["probs"], np.float32)
        assert probs.shape == mine.probs.shape == (c["steps"], DEPTH[name])
        np.testing.assert_allclose(mine.probs, probs, atol=1e-5, rtol=0, err_msg=where)
        notes = [[n.pitch, n.quantized_start_step, n.quantized_end_step, n.is_drum] for n in mine.sequence.notes]
        assert notes == ref["notes"], where
        assert mine.sequence.total_quantized_steps == ref["totalQuantizedSteps"] == c["steps"]
        assert mine.sequence.quantization_info.steps_per_quarter == ref["stepsPerQuarter"] == 4
        checked += 1
        sampled += c["temperature"] is not None
        # the continuation is not trivially constant: the model really conditions on its state
        assert len(set(mine.events.tolist())) >= 2 or c["temperature"] is None
    assert checked == 3 and sampled == 1

