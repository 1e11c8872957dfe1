"""The tfjs readers and writers: exact round trips, the converter's quantization, corrupt input -> CheckpointError."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from tonehost.realtime.testing.checkpoint_server import SMALL_SHAPES, random_weights
from tonehost.exports.errors import CheckpointError
from tonehost.exports.tfjs import (GraphModel, quantize_affine, read_checkpoint_config, read_graph_model,
                          read_layers_checkpoint, read_weights_manifest, write_graph_model, write_layers_checkpoint)

MIB4 = 4 * 1024 * 1024


def test_layers_roundtrip_float32_int32_exact(tmp_path):
    w = random_weights(0, SMALL_SHAPES)
    w["step"] = np.array([7, -3], np.int32)
    manifest = write_layers_checkpoint(tmp_path, w, config={"type": "MusicRNN"})
    assert manifest[0]["paths"] == ["group1-shard1of1"]
    assert (tmp_path / "group1-shard1of1").stat().st_size == sum(v.nbytes for v in w.values())
    r = read_layers_checkpoint(tmp_path / "weights_manifest.json")
    assert list(r) == list(w)
    for k in w:
        assert r[k].dtype == w[k].dtype and r[k].shape == w[k].shape
        np.testing.assert_array_equal(r[k], w[k])
    assert read_checkpoint_config(tmp_path) == {"type": "MusicRNN"}


def test_bytes_are_little_endian_in_manifest_order(tmp_path):
    write_layers_checkpoint(tmp_path, {"a": np.array([1.5], np.float32), "b": np.array([258], np.int32)})
    raw = (tmp_path / "group1-shard1of1").read_bytes()
    assert raw == struct.pack("<f", 1.5) + struct.pack("<i", 258)
    m = json.loads((tmp_path / "weights_manifest.json").read_text())
    assert m == [{"paths": ["group1-shard1of1"], "weights": [
        {"name": "a", "shape": [1], "dtype": "float32"}, {"name": "b", "shape": [1], "dtype": "int32"}]}]


def test_realistic_multishard_layout(tmp_path):
    # 2.5M float32 parameters = 10,000,000 bytes -> 3 shards of 4 MiB (the last one smaller), like the converter
    w = random_weights(3, {"enc/kernel": (2000, 1000), "dec/kernel": (500, 1000), "dec/bias": (1000,)})
    m = write_layers_checkpoint(tmp_path, w)
    total = sum(v.nbytes for v in w.values())
    assert m[0]["paths"] == ["group1-shard1of3", "group1-shard2of3", "group1-shard3of3"]
    sizes = [(tmp_path / p).stat().st_size for p in m[0]["paths"]]
    assert sizes == [MIB4, MIB4, total - 2 * MIB4]
    r = read_layers_checkpoint(tmp_path)
    for k in w:
        np.testing.assert_array_equal(r[k], w[k])


def test_several_groups_are_read_in_order():
    a = np.arange(6, dtype=np.float32)
    b = np.array([1, 2, 3], np.int32)
    shards = {"g1a": a.tobytes()[:10], "g1b": a.tobytes()[10:], "g2": b.tobytes()}
    manifest = [{"paths": ["g1a", "g1b"], "weights": [{"name": "a", "shape": [2, 3], "dtype": "float32"}]},
                {"paths": ["g2"], "weights": [{"name": "b", "shape": [3], "dtype": "int32"}]}]
    r = read_weights_manifest(manifest, shards.__getitem__)
    np.testing.assert_array_equal(r["a"], a.reshape(2, 3))
    np.testing.assert_array_equal(r["b"], b)


def test_quantize_matches_converter_hand_example():
    # min=-1, max=2: scale = 3/255, zero point 85 exactly, so min stays -1; q = round((x+1)/scale)
    q, scale, qmin = quantize_affine(np.array([-1.0, 0.0, 2.0, 0.5], np.float32), "uint8")
    assert scale == 3 / 255 and qmin == -85 * (3 / 255)
    assert q.dtype == np.uint8 and q.tolist() == [0, 85, 255, 128]
    # range not containing 0: no nudge
    q, scale, qmin = quantize_affine(np.array([1.0, 3.0], np.float32), "uint16")
    assert qmin == 1.0 and scale == 2 / 65535 and q.tolist() == [0, 65535]
    # constant tensor: zeros, scale 1, min = the constant
    q, scale, qmin = quantize_affine(np.full(4, 0.25, np.float32), "uint8")
    assert q.tolist() == [0, 0, 0, 0] and scale == 1.0 and qmin == 0.25


@pytest.mark.parametrize("qdtype,bits", [("uint8", 8), ("uint16", 16)])
def test_quantized_roundtrip_zero_exact_and_error_bounded(tmp_path, qdtype, bits):
    w = random_weights(5, {"k": (64, 33), "b": (33,)})
    w["k"][3, :] = 0.0
    m = write_layers_checkpoint(tmp_path, w, quantize=qdtype)
    entry = m[0]["weights"][0]
    assert set(entry["quantization"]) == {"min", "scale", "dtype"} and entry["quantization"]["dtype"] == qdtype
    assert entry["dtype"] == "float32"
    stored = (tmp_path / "group1-shard1of1").stat().st_size
    assert stored == (64 * 33 + 33) * bits // 8
    r = read_layers_checkpoint(tmp_path)
    for k in w:
        scale = next(e for e in m[0]["weights"] if e["name"] == k)["quantization"]["scale"]
        assert r[k].dtype == np.float32
        assert np.abs(r[k] - w[k]).max() <= scale / 2 * 1.001 + 1e-7
    assert np.all(r["k"][3, :] == 0.0)  # the nudge makes 0 exactly representable


def test_int32_weights_are_quantized_like_the_old_converter(tmp_path):
    # tensorflowjs 0.x write_weights(quantization_dtype=...) quantized every weight, int32 included
    ints = np.array([-1000, -3, 0, 7, 999], np.int32)
    m = write_layers_checkpoint(tmp_path, {"i": ints}, quantize="uint8")
    e = m[0]["weights"][0]
    assert e["dtype"] == "int32" and e["quantization"]["dtype"] == "uint8"
    r = read_layers_checkpoint(tmp_path)["i"]
    assert r.dtype == np.int32 and np.abs(r - ints).max() <= e["quantization"]["scale"] / 2 + 0.5
    assert r[2] == 0


def test_dequantization_is_float32_of_float64_affine(tmp_path):
    q = np.array([0, 1, 40000, 65535], np.uint16)
    (tmp_path / "s").write_bytes(q.tobytes())
    scale, qmin = 1.234567890123e-5, -0.4123456789012
    manifest = [{"paths": ["s"], "weights": [{"name": "w", "shape": [4], "dtype": "float32",
                                             "quantization": {"scale": scale, "min": qmin, "dtype": "uint16"}}]}]
    (tmp_path / "weights_manifest.json").write_text(json.dumps(manifest))
    r = read_layers_checkpoint(tmp_path)["w"]
    expected = [np.float32(float(v) * scale + qmin) for v in q.tolist()]
    assert r.tolist() == [float(e) for e in expected]


def test_graph_model_roundtrip(tmp_path):
    topology = {"node": [{"name": "f0_hz", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}}},
                         {"name": "dense/kernel", "op": "Const"},
                         {"name": "out", "op": "MatMul", "input": ["f0_hz", "dense/kernel"]}],
                "library": {}, "versions": {"producer": 175}}
    w = random_weights(9, {"dense/kernel": (16, 8), "dense/bias": (8,)})
    settings = {"averageMaxLoudness": -48.6, "meanLoudness": -68.5, "meanPitch": 62.0, "postGain": 2}
    write_graph_model(tmp_path, topology, w, settings)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["group1-shard1of1.bin", "model.json", "settings.json"]
    g = read_graph_model(tmp_path / "model.json")
    assert isinstance(g, GraphModel) and g.path == tmp_path
    assert g.topology == topology and g.settings == settings
    assert [n["op"] for n in g.nodes] == ["Placeholder", "Const", "MatMul"]
    for k in w:
        np.testing.assert_array_equal(g.weights[k], w[k])
    (tmp_path / "settings.json").unlink()
    assert read_graph_model(tmp_path).settings is None


# ------------------------------------------------------------------------------------------ corrupt input

@pytest.fixture
def ckpt(tmp_path):
    write_layers_checkpoint(tmp_path, random_weights(1, SMALL_SHAPES), shard_bytes=1024)
    return tmp_path


def _manifest(d):
    return json.loads((d / "weights_manifest.json").read_text())


def _put(d, m):
    (d / "weights_manifest.json").write_text(json.dumps(m))


def _raises(d, *words):
    with pytest.raises(CheckpointError) as e:
        read_layers_checkpoint(d)
    msg = str(e.value)
    assert msg == e.value.user_message
    for w in words:
        assert w in msg, msg
    return msg


def test_truncated_shard(ckpt):
    last = ckpt / _manifest(ckpt)[0]["paths"][-1]
    last.write_bytes(last.read_bytes()[:-3])
    _raises(ckpt, "truncated", "weights_manifest.json", "fetch")


def test_shard_larger_than_manifest(ckpt):
    last = ckpt / _manifest(ckpt)[0]["paths"][-1]
    last.write_bytes(last.read_bytes() + b"\0\0\0\0")
    _raises(ckpt, "larger than the manifest")


def test_missing_shard(ckpt):
    name = _manifest(ckpt)[0]["paths"][1]
    (ckpt / name).unlink()
    _raises(ckpt, name, "missing")


def test_missing_manifest(tmp_path):
    _raises(tmp_path, "weights_manifest.json", "missing")


def test_bad_json(ckpt):
    (ckpt / "weights_manifest.json").write_text('[{"paths": ["group1-shard1of4"], "weights": [')
    _raises(ckpt, "not valid JSON", "weights_manifest.json")


def test_unknown_dtype(ckpt):
    m = _manifest(ckpt)
    m[0]["weights"][1]["dtype"] = "float64"
    _put(ckpt, m)
    _raises(ckpt, "unknown dtype", "float64", "rnn/lstm_cell/bias")


def test_unknown_quantization_dtype(ckpt):
    m = _manifest(ckpt)
    m[0]["weights"][0]["quantization"] = {"dtype": "int4", "scale": 1, "min": 0}
    _put(ckpt, m)
    _raises(ckpt, "quantization dtype", "int4")


def test_quantization_without_scale(ckpt):
    m = _manifest(ckpt)
    m[0]["weights"][0]["quantization"] = {"dtype": "uint8", "min": 0}
    _put(ckpt, m)
    _raises(ckpt, "scale")


def test_duplicate_names(ckpt):
    m = _manifest(ckpt)
    m[0]["weights"][1]["name"] = m[0]["weights"][0]["name"]
    _put(ckpt, m)
    _raises(ckpt, "appears twice", "rnn/lstm_cell/kernel")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_weights(tmp_path, bad):
    w = random_weights(2, {"a": (10,), "b": (3, 3)})
    w["b"][1, 2] = bad
    write_layers_checkpoint(tmp_path, w)
    _raises(tmp_path, "'b'", "NaN/inf")
    assert np.isnan(read_layers_checkpoint(tmp_path, check_finite=False)["b"][1, 2]) == np.isnan(bad)


def test_shard_path_outside_directory(ckpt):
    m = _manifest(ckpt)
    m[0]["paths"][0] = "../../etc/passwd"
    _put(ckpt, m)
    _raises(ckpt, "outside the checkpoint directory")


def test_bad_shape(ckpt):
    m = _manifest(ckpt)
    m[0]["weights"][0]["shape"] = [20, -32]
    _put(ckpt, m)
    _raises(ckpt, "shape")


def test_graph_model_errors(tmp_path):
    with pytest.raises(CheckpointError, match="model.json"):
        read_graph_model(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"modelTopology": {"node": []}}))
    with pytest.raises(CheckpointError, match="weightsManifest"):
        read_graph_model(tmp_path)
    write_graph_model(tmp_path, {"node": []}, {"w": np.ones(4, np.float32)}, {"postGain": 1})
    (tmp_path / "settings.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="settings.json"):
        read_graph_model(tmp_path)
    (tmp_path / "group1-shard1of1.bin").write_bytes(b"\0" * 15)
    with pytest.raises(CheckpointError, match="truncated"):
        read_graph_model(tmp_path)
