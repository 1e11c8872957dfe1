"""The O&F ONNX export (exports/onsets_frames.py) against an independent numpy model written from magenta.js."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from tonehost.exports.errors import CheckpointError
from tonehost.exports.convert.onsets_frames import (LSTM_PREFIX, STACKS, build_model, check_weights, export_checkpoint,
                                   random_weights, weight_shapes)
from tonehost.exports.tfjs import read_layers_checkpoint, write_layers_checkpoint
from tonehost.exports.onnx_session import make_session


# ---------------------------------------------------------------- numpy reference, straight from model.ts
def _conv_same(x, w):
    """x [T, F, Cin], w [3, 3, Cin, Cout] (HWIO) -> [T, F, Cout], zero 'same' padding."""
    T, F, _ = x.shape
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((T, F, w.shape[3]))
    for dt in range(3):
        for df in range(3):
            out += xp[dt:dt + T, df:df + F] @ w[dt, df]
    return out


def _stack(w, s, mel):
    h = mel[:, :, None].astype(np.float64)
    for i in range(3):
        h = _conv_same(h, w[f"{s}/conv{i}/weights"].astype(np.float64))
        bn = lambda n: w[f"{s}/conv{i}/BatchNorm/{n}"].astype(np.float64)  # noqa: E731
        h = np.maximum((h - bn("moving_mean")) / np.sqrt(bn("moving_variance") + 1e-3) + bn("beta"), 0)
        if i:
            h = np.maximum(h[:, 0:h.shape[1] // 2 * 2:2], h[:, 1:h.shape[1] // 2 * 2:2])
    h = h.reshape(len(h), -1)
    return np.maximum(h @ w[f"{s}/fc_end/weights"] + w[f"{s}/fc_end/biases"], 0)


def _keras_lstm(w, scope, x, units=384):
    k = w[f"{scope}/{LSTM_PREFIX}/kernel"].astype(np.float64)
    b = w[f"{scope}/{LSTM_PREFIX}/bias"].astype(np.float64)
    reorder = lambda a, fb=0.0: np.concatenate(  # noqa: E731  [i,c,f,o] -> keras [i,f,c,o], forget bias
        [a[..., :units], a[..., 2 * units:3 * units] + fb, a[..., units:2 * units], a[..., 3 * units:]], -1)
    k, b = reorder(k), reorder(b, 1.0)
    kx, kh = k[:-units], k[-units:]
    h, c = np.zeros(units), np.zeros(units)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    out = []
    for t in range(len(x)):
        z = x[t] @ kx + h @ kh + b
        i, f, g, o = sig(z[:units]), sig(z[units:2 * units]), np.tanh(z[2 * units:3 * units]), sig(z[3 * units:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.array(out)


def reference_forward(w, mel):
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    on_h = _keras_lstm(w, "onsets", _stack(w, "onsets", mel))
    onset = sig(on_h @ w["onsets/onset_probs/weights"] + w["onsets/onset_probs/biases"])
    act = sig(_stack(w, "frame", mel) @ w["frame/activation_probs/weights"] + w["frame/activation_probs/biases"])
    fr_h = _keras_lstm(w, "frame", np.concatenate([onset, act], -1))
    frame = sig(fr_h @ w["frame/frame_probs/weights"] + w["frame/frame_probs/biases"])
    vel = _stack(w, "velocity", mel) @ w["velocity/onset_velocities/weights"] + w["velocity/onset_velocities/biases"]
    return onset, frame, vel


@pytest.fixture(scope="module")
def weights():
    return random_weights(7)


@pytest.fixture(scope="module")
def mel():
    rng = np.random.default_rng(3)
    m = -60 + 15 * rng.standard_normal((17, 229))
    m[5:9, 40:60] += 50  # a loud event
    return m.astype(np.float32)


def test_weight_table_matches_reference():
    shapes = weight_shapes()
    assert len(shapes) == 54
    assert sum(int(np.prod(s)) for s in shapes.values()) == 15_635_248
    assert sum(4 * int(np.prod(s)) for s in shapes.values()) == 62_540_992


def test_whole_and_stream_forms_match_numpy_reference(weights, mel):
    ref = reference_forward(weights, mel)
    whole = make_session(build_model(weights, "whole").SerializeToString())
    got = whole.run(None, {"mel": mel[None]})
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g[0], r, atol=2e-5, rtol=1e-4)
    stream = make_session(build_model(weights, "stream").SerializeToString())
    z = np.zeros((1, 384), np.float32)
    states = {"onset_h": z, "onset_c": z, "frame_h": z, "frame_c": z}
    # frames 0..9 from a window that ends 3 frames after them, then 10..16 from the carried state
    a = stream.run(None, {"mel": mel[None, :13], "start": np.array([0]), "stop": np.array([10]), **states})
    states = dict(zip(("onset_h", "onset_c", "frame_h", "frame_c"), a[3:]))
    b = stream.run(None, {"mel": mel[None, 7:], "start": np.array([3]), "stop": np.array([10]), **states})
    for i, r in enumerate(ref):
        np.testing.assert_allclose(np.concatenate([a[i][0], b[i][0]]), r, atol=2e-5, rtol=1e-4)
    # the probabilities are decisive (far from the 0.5 threshold) yet change with the input
    assert np.mean(np.abs(ref[0] - 0.5) < 1e-3) < 0.01
    assert (ref[0] > 0.5).any() and (ref[0] < 0.5).any()


def test_graph_is_checked_and_names_its_io(weights):
    m = build_model(weights, "stream")
    onnx.checker.check_model(m)
    assert [i.name for i in m.graph.input] == ["mel", "start", "stop", "onset_h", "onset_c", "frame_h", "frame_c"]
    assert [o.name for o in m.graph.output] == ["onset_probs", "frame_probs", "velocities", "onset_h_out",
                                                "onset_c_out", "frame_h_out", "frame_c_out"]


def test_missing_or_misshapen_weights_are_user_errors(weights):
    bad = dict(weights)
    del bad["frame/fc_end/biases"]
    bad["onsets/conv0/weights"] = np.zeros((3, 3, 1, 47), np.float32)
    with pytest.raises(CheckpointError) as e:
        check_weights(bad, "ckpt")
    assert "missing frame/fc_end/biases" in str(e.value) and "onsets/conv0/weights" in str(e.value)


@pytest.mark.parametrize("quantize", [None, "uint16"])
def test_export_from_checkpoint_is_cached(tmp_path, weights, mel, quantize):
    ckpt = tmp_path / "ckpt"
    write_layers_checkpoint(ckpt, weights, quantize=quantize)
    path, reused = export_checkpoint(ckpt)
    assert not reused and path.parent == ckpt
    path2, reused2 = export_checkpoint(ckpt, output=tmp_path / "model.onnx")
    assert reused2 and path2.read_bytes() == path.read_bytes()
    # the exported model computes the reference on the weights as read (dequantized for q2)
    got = make_session(str(path2)).run(None, {"mel": mel[None], "start": np.array([0]), "stop": np.array([17]),
                                               **{n: np.zeros((1, 384), np.float32)
                                                  for n in ("onset_h", "onset_c", "frame_h", "frame_c")}})
    ref = reference_forward(read_layers_checkpoint(ckpt), mel)
    np.testing.assert_allclose(got[1][0], ref[1], atol=2e-5, rtol=1e-4)
    # a changed checkpoint is exported again
    w2 = dict(weights)
    w2["velocity/onset_velocities/biases"] = w2["velocity/onset_velocities/biases"] + 1
    write_layers_checkpoint(ckpt, w2, quantize=quantize)
    assert export_checkpoint(ckpt)[1] is False
    assert all(k in weights for s in STACKS for k in (f"{s}/fc_end/weights",))
