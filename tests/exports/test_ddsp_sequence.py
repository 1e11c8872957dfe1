"""Sequence (T frames per call) and batched (N voices per call) controls models derived from the step graph
(exports/convert/ddsp_sequence.py): each variant equals the step model stepped frame by frame / voice by voice,
for the shipped violin (an ONNX GRU: the GRU runs over time), the random test model (a GRU spelt out in MatMuls:
pre / Scan / post), and a step graph that is not batch-polymorphic (falls back to Scans)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from tonehost.exports.contracts import ddsp as C
from tonehost.exports.convert import ddsp_sequence as S
from tonehost.exports.onnx_session import make_session
from tonehost.realtime.testing.models import VIOLIN_SETTINGS, make_random_controls_onnx


def _variant(m):
    return {p.key: p.value for p in m.metadata_props}["tonehost.variant"]


def _rigid(path):
    """The random model with a hard-coded ``Reshape`` to ``[1, -1]`` (batch 1 only) before its heads."""
    m = onnx.load(str(path))
    g = m.graph
    g.initializer.append(numpy_helper.from_array(np.array([1, -1], np.int64), "rigid_shape"))
    for n in g.node:
        for k, x in enumerate(n.input):
            if x == C.OUTPUT_STATE and n.op_type == "MatMul":
                n.input[k] = "rigid_state"
    g.node.append(helper.make_node("Reshape", [C.OUTPUT_STATE, "rigid_shape"], ["rigid_state"]))
    m2 = helper.make_model(helper.make_graph(
        [n for n in g.node if n.output[0] == "rigid_state"] + [n for n in g.node if n.output[0] != "rigid_state"],
        g.name, g.input, g.output, g.initializer), opset_imports=m.opset_import)
    # topological order: the reshape right after state_out is produced
    nodes = [n for n in g.node if n.output[0] != "rigid_state"]
    at = next(i for i, n in enumerate(nodes) if C.OUTPUT_STATE in n.output) + 1
    nodes.insert(at, next(n for n in g.node if n.output[0] == "rigid_state"))
    del m2.graph.node[:]
    m2.graph.node.extend(nodes)
    m2.ir_version = m.ir_version
    m2.metadata_props.extend(m.metadata_props)
    onnx.checker.check_model(m2)
    return m2


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("seq")
    from tonehost.exports.checkpoints.shipped import default_instrument_path
    rnd = make_random_controls_onnx(d / "rand.onnx", settings=VIOLIN_SETTINGS, seed=1)
    return {"violin": onnx.load(str(default_instrument_path("violin"))), "random": onnx.load(str(rnd)),
            "rigid": _rigid(rnd)}


@pytest.mark.parametrize("name,kind", [("violin", "sequence-gru"), ("random", "sequence-split"),
                                       ("rigid", "sequence-scan")])
def test_sequence_model_equals_the_step_model(models, name, kind):
    step = models[name]
    seq = S.build_sequence_model(step)
    assert _variant(seq) == kind
    # over 300 frames in uneven calls, the state carried from one call to the next
    f0, pw = S._random_controls(300, seed=5)
    ref, ref_state = S._step_reference(make_session(step), f0, pw, np.zeros((1, S._state_size(step)), np.float32))
    sess = make_session(seq)
    state = np.zeros_like(ref_state)
    got = {k: [] for k in C.OUTPUT_NAMES[:3]}
    for a, b in ((0, 1), (1, 130), (130, 300)):
        r = sess.run(list(C.OUTPUT_NAMES), {C.INPUT_F0: f0[a:b], C.INPUT_PW: pw[a:b], C.INPUT_STATE: state})
        for k, v in zip(C.OUTPUT_NAMES[:3], r[:3]):
            got[k].append(v)
        state = r[3]
    for k in got:
        np.testing.assert_allclose(np.concatenate(got[k]), ref[k], rtol=0, atol=S.TOLERANCE * np.abs(ref[k]).max())
    np.testing.assert_allclose(state, ref_state, rtol=0, atol=S.TOLERANCE * np.abs(ref_state).max())
    if name == "violin":  # the GRU over time runs the step's own kernels: bit for bit
        np.testing.assert_array_equal(np.concatenate(got[C.OUTPUT_HARMONICS]), ref[C.OUTPUT_HARMONICS])


@pytest.mark.parametrize("name,kind", [("violin", "batched"), ("random", "batched"), ("rigid", "batched-scan")])
def test_batched_model_equals_one_step_per_voice(models, name, kind):
    step = models[name]
    b = S.build_batched_model(step)
    assert _variant(b) == kind
    assert S.check_against_step(b, step, "batched", seed=3) <= S.TOLERANCE


def test_a_graph_that_is_not_a_step_model_is_refused(models):
    step = models["random"]
    bad = onnx.ModelProto()
    bad.CopyFrom(step)
    for n in bad.graph.node:  # the state output no longer depends on the state: not a recurrence
        for k, x in enumerate(n.input):
            if x == C.INPUT_STATE:
                n.input[k] = C.INPUT_F0 if n.op_type == "Sub" else n.input[k]
    with pytest.raises(ValueError):
        S.check_against_step(S._scan_over_time(bad), step, "sequence")


def test_variants_are_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "cache"))
    p = make_random_controls_onnx(tmp_path / "m.onnx", settings=VIOLIN_SETTINGS, seed=4)
    a = S.sequence_model_path(p)
    mtime = a.stat().st_mtime_ns
    assert S.sequence_model_path(p) == a and a.stat().st_mtime_ns == mtime  # reused
    assert str(tmp_path / "cache") in str(a)
    make_random_controls_onnx(p, settings=VIOLIN_SETTINGS, seed=5)  # other weights, same path: rebuilt
    assert S.sequence_model_path(p) != a
    assert _variant(onnx.load(str(S.batched_model_path(p)))) == "batched"
