"""A small random-weight DDSP controls model in the tonehost ONNX contract, for tests and benchmarks.

Real instruments cannot be downloaded on the development machines, so the pipeline is exercised with this
stand-in: a GRU (built from MatMul/Sigmoid/Tanh nodes with :mod:`onnx.helper`) over ``[f0_scaled, pw_scaled]``,
then dense heads with ddsp's exp-sigmoid. The amplitude head has a fixed positive weight on ``pw_scaled`` so a
louder input gives a louder instrument (as a trained model does), and the harmonic head favours low harmonics.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tonehost.exports.contracts.ddsp import (INPUT_F0, INPUT_PW, INPUT_STATE, N_HARMONICS, N_NOISE_BANDS, OUTPUT_AMPLITUDE,
                                   OUTPUT_HARMONICS, OUTPUT_NOISE, OUTPUT_STATE, SAMPLE_RATE, TFJS_FRAME_RATE,
                                   ContractInfo)


def make_random_controls_onnx(path: str | Path, state_size: int = 64, frame_rate: float = TFJS_FRAME_RATE,
                              seed: int = 0, db_kind: str = "loudness_db", db_range: float = 120.0,
                              settings: dict | None = None, post_gain: float = 1.0,
                              n_harmonics: int = N_HARMONICS, n_noise_bands: int = N_NOISE_BANDS) -> Path:
    """Write a random controls model and return its path.

    Parameters
    ----------
    path : output ``.onnx`` path.
    state_size : GRU size (the contract's ``state`` width).
    frame_rate : control frames per second (250 magenta.js-like, 50 DDSP-VST-like).
    seed : weight seed.
    db_kind, db_range, settings, post_gain : contract metadata (see :mod:`tonehost.exports.contracts.ddsp`).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    S, K, B = state_size, n_harmonics, n_noise_bands

    def w(*shape, scale=0.3):
        return (rng.standard_normal(shape) * scale / np.sqrt(shape[0])).astype(np.float32)

    inits = {
        "Wx": w(2, 3 * S, scale=2.0), "Wh": w(S, 3 * S), "bx": np.zeros(3 * S, np.float32),
        "Wa": w(S, 1, scale=0.5), "ba": np.array([0.0], np.float32),
        "pa": np.array([[0.0], [6.0]], np.float32), "pw_mid": np.array([[2.0]], np.float32),
        "Wk": w(S, K), "bk": (-0.08 * np.arange(K)).astype(np.float32),
        "Wn": w(S, B), "bn": np.full(B, -4.0, np.float32),
        "two": np.array(2.0, np.float32),
        "ln10": np.array(np.log(10.0), np.float32), "eps": np.array(1e-7, np.float32),
    }
    nodes = []

    def add(op, ins, outs, **kw):
        nodes.append(helper.make_node(op, ins, outs, **kw))

    add("Concat", [INPUT_F0, INPUT_PW], ["x"], axis=1)
    add("MatMul", ["x", "Wx"], ["gx0"])
    add("Add", ["gx0", "bx"], ["gx"])
    add("Split", ["gx"], ["xz", "xr", "xn"], axis=1, num_outputs=3)
    add("MatMul", [INPUT_STATE, "Wh"], ["gh"])
    add("Split", ["gh"], ["hz", "hr", "hn"], axis=1, num_outputs=3)
    add("Add", ["xz", "hz"], ["z0"])
    add("Sigmoid", ["z0"], ["z"])
    add("Add", ["xr", "hr"], ["r0"])
    add("Sigmoid", ["r0"], ["r"])
    add("Mul", ["r", "hn"], ["rhn"])
    add("Add", ["xn", "rhn"], ["n0"])
    add("Tanh", ["n0"], ["n"])
    add("Sub", [INPUT_STATE, "n"], ["hmn"])
    add("Mul", ["z", "hmn"], ["zhmn"])
    add("Add", ["n", "zhmn"], [OUTPUT_STATE])  # h' = n + z*(h - n) = (1-z)*n + z*h

    def exp_sigmoid(src, dst):
        add("Sigmoid", [src], [dst + "_s"])
        add("Pow", [dst + "_s", "ln10"], [dst + "_p"])
        add("Mul", [dst + "_p", "two"], [dst + "_m"])
        add("Add", [dst + "_m", "eps"], [dst])

    # amplitude logit: GRU head + 6 * pw_scaled - 2 (quiet input -> tiny amplitude, loud -> strong)
    add("MatMul", [OUTPUT_STATE, "Wa"], ["a0"])
    add("Add", ["a0", "ba"], ["a1"])
    add("MatMul", ["x", "pa"], ["a_pw"])
    add("Add", ["a1", "a_pw"], ["a2"])
    add("Sub", ["a2", "pw_mid"], ["a3"])
    exp_sigmoid("a3", OUTPUT_AMPLITUDE)
    add("MatMul", [OUTPUT_STATE, "Wk"], ["k0"])
    add("Add", ["k0", "bk"], ["k1"])
    exp_sigmoid("k1", OUTPUT_HARMONICS)
    add("MatMul", [OUTPUT_STATE, "Wn"], ["n_0"])
    add("Add", ["n_0", "bn"], ["n_1"])
    exp_sigmoid("n_1", OUTPUT_NOISE)

    graph = helper.make_graph(
        nodes, "random_ddsp_controls",
        [helper.make_tensor_value_info(INPUT_F0, TensorProto.FLOAT, [1, 1]),
         helper.make_tensor_value_info(INPUT_PW, TensorProto.FLOAT, [1, 1]),
         helper.make_tensor_value_info(INPUT_STATE, TensorProto.FLOAT, [1, S])],
        [helper.make_tensor_value_info(OUTPUT_AMPLITUDE, TensorProto.FLOAT, [1, 1]),
         helper.make_tensor_value_info(OUTPUT_HARMONICS, TensorProto.FLOAT, [1, K]),
         helper.make_tensor_value_info(OUTPUT_NOISE, TensorProto.FLOAT, [1, B]),
         helper.make_tensor_value_info(OUTPUT_STATE, TensorProto.FLOAT, [1, S])],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                              producer_name="tonehost.exports.ddsp_random")
    model.ir_version = 8
    info = ContractInfo(source_format="random", sample_rate=SAMPLE_RATE, frame_rate=frame_rate,
                        n_harmonics=K, n_noise_bands=B, state_size=S, db_range=db_range, db_kind=db_kind,
                        post_gain=post_gain, settings=settings or {})
    for key, val in info.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, val
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


VIOLIN_SETTINGS = json.loads('{"averageMaxLoudness": -48.6, "meanLoudness": -68.5, "meanPitch": 62.0, '
                             '"postGain": 2, "loudnessThreshold": -100}')
