"""Parity with the npm tfjs loader (@tensorflow/tfjs 2.8, the version @magenta/music 1.23.1 bundles): the same
files, written by our writers, load to the same values in Node and in our readers (float32 exact; quantized
weights exactly float32(q*scale+min))."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tonehost.realtime.testing.checkpoint_server import SMALL_SHAPES, random_weights
from tonehost.exports.tfjs import read_graph_model, read_layers_checkpoint, write_graph_model, write_layers_checkpoint

from conftest import NODE_DIR
SCRIPT = NODE_DIR / "load_tfjs_weights.js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir(),
    reason="Node parity needs node and tests/node/node_modules: run `npm ci --prefix tests/node`")


def _node_load(d: Path) -> dict:
    out = subprocess.run(["node", str(SCRIPT), str(d)], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)["weights"]


def _assert_same(ours: dict, theirs: dict) -> None:
    assert list(theirs) == list(ours)
    for name, arr in ours.items():
        t = theirs[name]
        assert t["shape"] == list(arr.shape), name
        assert t["dtype"] == {"float32": "float32", "int32": "int32"}[arr.dtype.name], name
        ref = np.asarray(t["values"], dtype=np.float64).reshape(arr.shape)
        # float32 values travel as JSON doubles exactly, so equality is exact (well within 1e-7)
        np.testing.assert_array_equal(arr.astype(np.float64), ref, err_msg=name)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    w = random_weights(11, {**SMALL_SHAPES, "big": (130, 257), "counts": (7,)}, int_names=("global_step", "counts"))
    w["zeros_row"] = np.zeros((3, 5), np.float32)
    w["zeros_row"][1] = [0.5, -0.25, 1e-3, -7.0, 3.0]
    w["constant"] = np.full((4,), -0.75, np.float32)
    w["positive"] = np.abs(w["big"][:4]) + 0.5
    dirs = {}
    for q in (None, "uint8", "uint16"):
        d = root / f"layers_{q}"
        write_layers_checkpoint(d, w, quantize=q, shard_bytes=4096)  # many shards, weights straddle them
        dirs[q] = d
    g = root / "graph"
    write_graph_model(g, {"node": [{"name": "x", "op": "Placeholder"}]}, random_weights(12, {"k": (40, 60)}),
                      {"postGain": 2})
    dirs["graph"] = g
    # int32 weights quantized by hand: tfjs rounds with Math.round (halves go up: -2.5 -> -2)
    h = root / "int_quant"
    h.mkdir()
    (h / "s").write_bytes(np.array([0, 1, 2, 3, 255], np.uint8).tobytes())
    (h / "weights_manifest.json").write_text(json.dumps([{"paths": ["s"], "weights": [
        {"name": "i", "shape": [5], "dtype": "int32", "quantization": {"min": -3.0, "scale": 0.5, "dtype": "uint8"}}
    ]}]))
    dirs["int_quant"] = h
    return dirs


@pytest.mark.parametrize("q", [None, "uint8", "uint16"])
def test_layers_checkpoint_matches_tfjs(checkpoints, q):
    d = checkpoints[q]
    assert len(json.loads((d / "weights_manifest.json").read_text())[0]["paths"]) > 5
    _assert_same(read_layers_checkpoint(d), _node_load(d))


def test_graph_model_matches_tfjs(checkpoints):
    d = checkpoints["graph"]
    _assert_same(read_graph_model(d).weights, _node_load(d))


def test_quantized_int32_rounding_matches_tfjs(checkpoints):
    d = checkpoints["int_quant"]
    ours = read_layers_checkpoint(d)
    assert ours["i"].tolist() == [-3, -2, -2, -1, 125]
    _assert_same(ours, _node_load(d))
