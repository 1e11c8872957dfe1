"""The shared tfjs LSTM step builder: ONNX graph == NumPy reference, cells found and checked by name."""
from __future__ import annotations

import numpy as np
import pytest

from tonehost.exports.convert.lstm import (LSTMCellWeights, find_cells, lstm_step_model, multi_rnn_cell_np,
                                           state_names)
from tonehost.exports.errors import CheckpointFormatError
from tonehost.exports.onnx_session import make_session

PATTERN = "rnn/multi_rnn_cell/cell_%d/basic_lstm_cell/"


def _weights(rng, sizes, n_in):
    w, prev = {}, n_in
    for l, units in enumerate(sizes):
        w[PATTERN % l + "kernel"] = (rng.standard_normal((prev + units, 4 * units)) * 0.4).astype(np.float32)
        w[PATTERN % l + "bias"] = (rng.standard_normal(4 * units) * 0.2).astype(np.float32)
        prev = units
    return w


def test_step_model_matches_numpy_over_many_steps_and_a_batch():
    rng = np.random.default_rng(3)
    cells = find_cells(_weights(rng, [24, 16, 8], 11), PATTERN, input_size=11)
    assert [c.units for c in cells] == [24, 16, 8] and cells[0].input_size == 11
    sess = make_session(lstm_step_model(cells))
    assert [i.name for i in sess.get_inputs()] == ["x"] + state_names(3)
    B = 3
    states = [(np.zeros((B, c.units), np.float32), np.zeros((B, c.units), np.float32)) for c in cells]
    ref = [tuple(s) for s in states]
    for step in range(20):
        x = rng.standard_normal((B, 11)).astype(np.float32)
        feed = {"x": x}
        for l, (c, h) in enumerate(states):
            feed[f"c{l}"], feed[f"h{l}"] = c, h
        out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed)))
        states = [(out[f"c{l}_out"], out[f"h{l}_out"]) for l in range(3)]
        ref = multi_rnn_cell_np(x, ref, cells)
        np.testing.assert_allclose(out["y"], ref[-1][1], atol=2e-6)
        for (c, h), (rc, rh) in zip(states, ref):
            np.testing.assert_allclose(c, rc, atol=2e-5)
            np.testing.assert_allclose(h, rh, atol=2e-6)
    assert np.abs(states[0][0]).max() > 0.5  # the state really evolved


def test_forget_bias_is_added_at_run_time():
    # zero weights: i, j, f, o are all 0, so c' = sigmoid(0) * tanh(0) + c * sigmoid(0 + forget_bias)
    cell = LSTMCellWeights(np.zeros((3, 8), np.float32), np.zeros(8, np.float32))
    c = np.ones((1, 2), np.float32)
    for fb, want in ((1.0, 1 / (1 + np.exp(-1.0))), (0.0, 0.5)):
        out = make_session(lstm_step_model([cell], forget_bias=fb)).run(
            ["c0_out"], {"x": np.zeros((1, 1), np.float32), "c0": c, "h0": np.zeros((1, 2), np.float32)})[0]
        np.testing.assert_allclose(out, want, rtol=1e-6)


def test_find_cells_errors():
    rng = np.random.default_rng(0)
    w = _weights(rng, [8, 8], 5)
    assert find_cells(w, "other/cell_%d/") == []
    bad = dict(w)
    bad[PATTERN % 1 + "kernel"] = np.zeros((9, 32), np.float32)  # reads 1 input, layer 0 gives 8
    with pytest.raises(CheckpointFormatError, match="reads 1 inputs but gets 8"):
        find_cells(bad, PATTERN)
    nob = dict(w)
    del nob[PATTERN % 0 + "bias"]
    with pytest.raises(CheckpointFormatError, match="has no"):
        find_cells(nob, PATTERN)
    with pytest.raises(CheckpointFormatError, match="reads 5 inputs but gets 6"):
        find_cells(w, PATTERN, input_size=6)
