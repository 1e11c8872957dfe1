"""Fuzz the weights-manifest reader: whatever the manifest and shard bytes, it returns arrays or raises
CheckpointError, nothing else."""
from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tonehost.exports.errors import CheckpointError
from tonehost.exports.tfjs import parse_manifest_json, read_weights_manifest

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70) | st.sampled_from([10**400, -10**400]),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda c: st.one_of(st.lists(c, max_size=4),
                                                              st.dictionaries(st.text(max_size=6), c, max_size=4)),
                           max_leaves=12)

names = st.sampled_from(["a", "b", "c", "", "x/y"]) | st.text(max_size=5) | json_scalars
dtypes = st.sampled_from(["float32", "int32", "bool", "uint8", "float16", "string", "complex64"]) | json_scalars
shapes = st.lists(st.integers(-2, 6), max_size=3) | st.lists(st.integers(0, 2**62), max_size=2) | json_values
quant = st.none() | st.fixed_dictionaries(
    {"dtype": st.sampled_from(["uint8", "uint16", "float16", "int8"]) | json_scalars},
    optional={"scale": st.floats() | json_scalars, "min": st.floats() | json_scalars})
weight = st.fixed_dictionaries({"name": names, "shape": shapes, "dtype": dtypes},
                               optional={"quantization": quant})
paths = st.lists(st.sampled_from(["s1", "s2", "s3", "../x", "/abs", "missing", ""]) | json_scalars, max_size=3)
group = st.fixed_dictionaries({"paths": paths, "weights": st.lists(weight, max_size=4)}) | json_values
manifests = st.lists(group, max_size=3) | json_values
shards = st.fixed_dictionaries({"s1": st.binary(max_size=64), "s2": st.binary(max_size=64),
                                "s3": st.binary(max_size=64)})


def _loader(shard_map):
    def load(path):
        if path not in shard_map:
            raise FileNotFoundError(2, "No such file", path)
        return shard_map[path]
    return load


def _check(manifest, shard_map):
    try:
        out = read_weights_manifest(manifest, _loader(shard_map))
    except CheckpointError as exc:
        assert str(exc) and exc.user_message == str(exc)
        return
    assert isinstance(out, dict)
    for arr in out.values():
        assert isinstance(arr, np.ndarray) and arr.dtype in (np.float32, np.int32, np.bool_)


@FUZZ
@given(manifests, shards)
def test_random_manifests_raise_only_checkpoint_error(manifest, shard_map):
    _check(manifest, shard_map)


valid = [{"paths": ["s1", "s2"], "weights": [
    {"name": "a", "shape": [2, 3], "dtype": "float32"},
    {"name": "b", "shape": [4], "dtype": "int32"},
    {"name": "c", "shape": [5], "dtype": "float32", "quantization": {"min": -1.0, "scale": 0.01, "dtype": "uint8"}},
    {"name": "d", "shape": [3], "dtype": "float32", "quantization": {"min": 0.5, "scale": 1e-4, "dtype": "uint16"}},
]}]
VALID_TEXT = json.dumps(valid).encode()


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID_TEXT) - 1), st.integers(0, 255)), min_size=1, max_size=4),
       st.binary(min_size=0, max_size=80), st.integers(0, 80))
def test_mutated_manifest_text_and_shards(flips, blob, cut):
    text = bytearray(VALID_TEXT)
    for pos, val in flips:
        text[pos] = val
    shard_map = {"s1": blob[:cut], "s2": blob[cut:]}
    try:
        manifest = parse_manifest_json(bytes(text))
    except CheckpointError:
        return
    _check(manifest, shard_map)


def test_valid_manifest_reads():
    blob = np.arange(6, dtype="<f4").tobytes() + np.arange(4, dtype="<i4").tobytes() + bytes(range(5)) \
        + np.array([0, 1, 65535], "<u2").tobytes()
    out = read_weights_manifest(valid, _loader({"s1": blob[:7], "s2": blob[7:]}))
    assert out["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and out["b"].tolist() == [0, 1, 2, 3]
    assert out["c"].tolist() == [np.float32(-1.0 + 0.01 * i) for i in range(5)]
    assert out["d"][2] == np.float32(0.5 + 1e-4 * 65535)
