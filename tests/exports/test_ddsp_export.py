"""DDSP controls export (exports/ddsp_*.py) against fixtures built the way the real files were made.

Fixtures (random weights) come from exports/recipes/make_ddsp_fixtures.py (TensorFlow + tensorflowjs, not needed
here): a magenta.js-style graph model and a DDSP-VST-style .tflite, each with the source model's own outputs in
reference.npz. The exported ONNX must reproduce the controls frame by frame, and the controls driven through our
synthesizers (dsp/) must reproduce the graph's audio: the harmonic part exactly (against ddsp's algorithm in
float64 on the graph's controls, and against the graph's own float32 audio while its float32 phase sum is still
accurate), the noise part by its spectral envelope (the random noise differs).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tonehost.exports.contracts import ddsp as C
from tonehost.exports.convert.ddsp_export import convert_ddsp, export_ddsp
from tonehost.exports.errors import CheckpointError

from conftest import FIXTURES as FIX
from tonehost.dsp.loudness import vst_power_db
TFJS = FIX / "ddsp_tfjs"
TFLITE = FIX / "ddsp_tflite" / "model.tflite"


def _session(model):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _run(model, f0_scaled, pw_scaled, state_size=512):
    """Step the model over a sequence; returns dict of stacked outputs (state fed back)."""
    sess = _session(model)
    state = C.zero_state(state_size)
    out = {k: [] for k in C.OUTPUT_NAMES}
    for f, p in zip(f0_scaled, pw_scaled):
        res = sess.run(list(C.OUTPUT_NAMES), {C.INPUT_F0: np.full((1, 1), f, np.float32),
                                              C.INPUT_PW: np.full((1, 1), p, np.float32), C.INPUT_STATE: state})
        state = res[3]
        for k, v in zip(C.OUTPUT_NAMES, res):
            out[k].append(v.reshape(-1))
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def tfjs_export():
    model, spec = convert_ddsp(TFJS)
    info = C.ContractInfo.from_metadata({p.key: p.value for p in model.metadata_props})
    ref = np.load(TFJS / "reference.npz")
    f0s, pws = info.scale_inputs(ref["f0_hz"], ref["loudness_db"])
    return model, spec, info, ref, _run(model, f0s, pws, info.state_size)


@pytest.fixture(scope="module")
def tflite_export():
    model, spec = convert_ddsp(TFLITE)
    ref = np.load(TFLITE.parent / "reference.npz")
    return model, spec, ref, _run(model, ref["f0_scaled"], ref["pw_scaled"])


# ------------------------------------------------------------------------------------------------- contract

def test_contract_io_names_shapes_and_metadata(tfjs_export):
    model, spec, info, _, _ = tfjs_export
    ins = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    outs = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
    assert ins == {"f0_scaled": [1, 1], "pw_scaled": [1, 1], "state": [1, 512]}
    assert outs == {"amplitude": [1, 1], "harmonic_distribution": [1, 60], "noise_magnitudes": [1, 65],
                    "state_out": [1, 512]}
    assert info.source_format == "tfjs-graph" and info.db_kind == "loudness_db"
    assert (info.sample_rate, info.frame_rate, info.hop_size) == (16000, 250.0, 64)
    # Measured from the graph (float16-stored constants snapped back to ddsp's values).
    assert info.f0_range == 127.0 and info.db_range == 120.0
    assert info.settings == json.loads((TFJS / "settings.json").read_text())
    assert info.post_gain == 2.0
    assert spec.rnn_order == ["pw", "f0"] and spec.out_order == ["pw", "f0", "rnn"]
    assert spec.n_params == int(np.load(TFJS / "reference.npz")["n_params"])


def test_scaling_helpers_match_ddsp():
    assert C.scale_f0_hz(440.0) == pytest.approx(69 / 127)
    assert C.scale_f0_hz(0.0) == 0.0
    assert C.scale_db(-40.0, 80.0) == pytest.approx(0.5)
    assert vst_power_db(np.zeros(1024), 1024) == -80.0
    assert vst_power_db(np.full(1024, 0.1), 1024) == pytest.approx(-20.0)
    assert C.exp_sigmoid(0.0) == pytest.approx(2 * 0.5 ** np.log(10) + 1e-7)


# --------------------------------------------------------------------------------------- controls, frame by frame

def test_tfjs_controls_match_graph_frame_by_frame(tfjs_export):
    _, _, _, ref, out = tfjs_export
    assert out["amplitude"].shape == (1250, 1)
    np.testing.assert_allclose(out["amplitude"][:, 0], ref["amplitude"], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(out["harmonic_distribution"], ref["harmonic_distribution"], atol=1e-5)
    np.testing.assert_allclose(out["noise_magnitudes"], ref["noise_magnitudes"], atol=1e-5, rtol=1e-5)
    # The fixture exercises the Nyquist mask (high notes) and non-trivial dynamics.
    assert (ref["harmonic_distribution"] == 0).any()
    assert np.ptp(ref["amplitude"]) > 0.05


def test_tflite_controls_and_state_match_interpreter(tflite_export):
    _, spec, ref, out = tflite_export
    assert spec.splits == (1, 60, 65) and spec.gru.units == 512
    np.testing.assert_allclose(out["amplitude"][:, 0], ref["amplitude"][:, 0], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(out["harmonic_distribution"], ref["harmonic_distribution"], atol=1e-5)
    np.testing.assert_allclose(out["noise_magnitudes"], ref["noise_magnitudes"], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(out["state_out"], ref["state"], atol=1e-5)


def test_state_is_carried(tflite_export):
    model, _, ref, out = tflite_export
    sess = _session(model)
    feed = {C.INPUT_F0: ref["f0_scaled"][50:51].reshape(1, 1), C.INPUT_PW: ref["pw_scaled"][50:51].reshape(1, 1)}
    fresh = sess.run(None, dict(feed, state=C.zero_state()))
    carried = sess.run(None, dict(feed, state=out["state_out"][49:50]))
    assert np.abs(fresh[0] - carried[0]).max() > 1e-3  # the recurrence matters...
    np.testing.assert_allclose(carried[0].ravel(), out["amplitude"][50], atol=1e-6)  # ...and is the fed one


# ----------------------------------------------------------------------------------------------------- audio

def _ddsp_harmonic_f64(f0, amp, hd, hop, sr):
    """ddsp core.harmonic_synthesis (linear resample, align_corners=False; cumsum phase) in float64."""
    T = len(f0)
    src = np.arange(T * hop) / hop
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, T - 1)
    fr = src - i0
    f = np.asarray(f0, np.float64)
    ha = np.asarray(amp, np.float64)[:, None] * np.asarray(hd, np.float64)
    fe = f[i0] + (f[i1] - f[i0]) * fr
    ae = ha[i0] + (ha[i1] - ha[i0]) * fr[:, None]
    k = np.arange(1, hd.shape[1] + 1)
    ae = np.where(fe[:, None] * k >= sr / 2, 0.0, ae)
    phase = np.cumsum(fe * 2 * np.pi / sr)
    return np.sum(ae * np.sin(phase[:, None] * k), axis=1)


def test_harmonic_audio_reproduces_graph(tfjs_export):
    from tonehost.dsp.harmonic import render_harmonic
    _, _, info, ref, out = tfjs_export
    hop, T = info.hop_size, len(ref["f0_hz"])
    ours = render_harmonic(ref["f0_hz"], out["amplitude"][:, 0], out["harmonic_distribution"], info.sample_rate, hop)
    # Streaming ramps from the previous frame into the current one: our hop i+1 is the graph's hop i.
    ours = ours[hop:T * hop]
    exact = _ddsp_harmonic_f64(ref["f0_hz"], ref["amplitude"], ref["harmonic_distribution"], hop,
                               info.sample_rate)[:(T - 1) * hop]
    assert np.sqrt(np.mean(exact ** 2)) > 0.01
    np.testing.assert_allclose(ours, exact, atol=2e-5)
    # Against the graph's own float32 output: equal while its float32 phase cumsum is still accurate (its
    # drift grows with time; ddsp later added angular_cumsum for this).
    graph = ref["harmonic_audio"].astype(np.float64)[:(T - 1) * hop]
    head = slice(0, 8000)
    assert np.abs(ours[head] - graph[head]).max() < 2e-3
    snr = 10 * np.log10(np.mean(graph[head] ** 2) / np.mean((ours[head] - graph[head]) ** 2))
    assert snr > 40


def _band_envelope(x, seg=4096, nfft=256, bands=16):
    out = []
    for s in range(0, len(x) - seg + 1, seg):
        fr = x[s:s + seg].reshape(-1, nfft) * np.hanning(nfft)
        p = np.mean(np.abs(np.fft.rfft(fr, axis=1)) ** 2, axis=0)[:nfft // 2]
        out.append(p.reshape(bands, -1).mean(axis=1))
    return 10 * np.log10(np.array(out) + 1e-12)


def test_noise_audio_matches_graph_spectral_envelope(tfjs_export):
    from tonehost.dsp.noise import DDSP_CROP, render_noise
    _, _, info, ref, out = tfjs_export
    hop = info.hop_size
    graph_noise = ref["audio"].astype(np.float64) - ref["harmonic_audio"].astype(np.float64)
    ours = render_noise(out["noise_magnitudes"], hop, seed=3)[DDSP_CROP:]
    n = min(len(ours), len(graph_noise))
    eg, eo = _band_envelope(graph_noise[:n]), _band_envelope(ours[:n])
    loud = eg > eg.max() - 50
    diff = np.abs(eg - eo)[loud]
    assert diff.mean() < 1.5 and np.median(diff) < 1.5
    # Negative control: the same noise with the bands in the wrong order is clearly detected.
    wrong = _band_envelope(render_noise(out["noise_magnitudes"][:, ::-1], hop, seed=3)[DDSP_CROP:][:n])
    assert np.abs(eg - wrong)[loud].mean() > 3 * diff.mean()


# -------------------------------------------------------------------------------------------- files and errors

def test_export_writes_loadable_model_and_cli(tmp_path):
    from tonehost.realtime.cli import export as export_cmd
    parser = argparse.ArgumentParser(prog="tonehost")
    export_cmd.register(parser.add_subparsers())
    out = tmp_path / "violin.onnx"
    args = parser.parse_args(["export", "ddsp", str(TFJS / "model.json"), "-o", str(out)])
    assert args.func(args) == 0
    info = C.read_metadata(out)
    assert info.source_format == "tfjs-graph" and info.settings["meanPitch"] == 62.0
    onnx.checker.check_model(onnx.load(str(out)))
    out2 = export_ddsp(TFLITE, tmp_path / "sub" / "vst.onnx")
    vst = C.read_metadata(out2)
    assert (vst.source_format, vst.frame_rate, vst.hop_size, vst.db_range, vst.db_kind) == (
        "tflite", 50.0, 320, 80.0, "power_db")


def test_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        convert_ddsp(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="no model.json"):
        convert_ddsp(tmp_path)
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(CheckpointError, match="x.tflite"):
        convert_ddsp(bad)
    # A graph model that is not a DDSP instrument: same files, decoder loop removed.
    broken = tmp_path / "broken"
    broken.mkdir()
    model = json.loads((TFJS / "model.json").read_text())
    model["modelTopology"]["node"] = [n for n in model["modelTopology"]["node"] if "While" not in n["op"]]
    (broken / "model.json").write_text(json.dumps(model))
    (broken / "group1-shard1of1.bin").write_bytes((TFJS / "group1-shard1of1.bin").read_bytes())
    with pytest.raises(CheckpointError, match="not a DDSP instrument"):
        convert_ddsp(broken)
    with pytest.raises(ValueError, match="re-export"):
        C.ContractInfo.from_metadata({"tonehost.contract": "something else"})


def test_layer_reader_handles_fused_layernorm_form():
    """Newer Keras writes LayerNorm as FusedBatchNormV3 (+ Mul gamma, Add beta); the walker reads it too."""
    from tonehost.exports.convert.ddsp_decoder import (ADD, DENSE, FUSED_NORM, LEAKY_RELU, MUL, PASS, Graph, Op, read_layer)
    rng = np.random.default_rng(1)
    k, b, gm, bt = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(3)
    consts = {"b": b, "g": gm, "bt": bt}
    ops = [Op(DENSE, ["x"], ["d"], {"kernel": k}, "dense"), Op(ADD, ["d", "b"], ["db"]),
           Op(PASS, ["db"], ["r"]), Op(FUSED_NORM, ["r"], ["n"], {"epsilon": 0.001}), Op(PASS, ["n"], ["r2"]),
           Op(MUL, ["r2", "g"], ["m"]), Op(ADD, ["m", "bt"], ["a"]), Op(LEAKY_RELU, ["a"], ["y"], {"alpha": 0.2})]
    layer, out = read_layer(Graph(ops, consts), ops[0])
    assert out == "y" and layer.epsilon == 0.001 and layer.alpha == pytest.approx(0.2)
    np.testing.assert_allclose(layer.bias, b, rtol=1e-6)
    np.testing.assert_allclose(layer.gamma, gm, rtol=1e-6)
    np.testing.assert_allclose(layer.beta, bt, rtol=1e-6)
