"""Build the one-frame, stateful ONNX controls model (:mod:`tonehost.exports.contracts.ddsp`) from a :class:`DecoderSpec`.

Per call: the scaled inputs run through their FC stacks (MatMul + bias -> LayerNormalization -> LeakyRelu),
are concatenated in the decoder's order into one GRU step (ONNX ``GRU``, ``linear_before_reset=1`` = Keras
``reset_after=True``; gate order z, r, h is the same in Keras and ONNX), the GRU output joins the stacks again
into the output stack and the last dense layer, whose output is split and exp-sigmoid-scaled. The harmonic
distribution is then masked at Nyquist (f0 recovered from ``f0_scaled``) and normalised to sum 1, exactly as
ddsp's ``Harmonic.get_controls`` and DDSP-VST's exported model do.
"""
from __future__ import annotations

import numpy as np

from tonehost.exports.contracts import ddsp as C
from tonehost.exports.convert.ddsp_decoder import DecoderSpec

OPSET = 17


def build_controls_model(spec: DecoderSpec, info: C.ContractInfo):
    """Return an ``onnx.ModelProto`` implementing the contract for ``spec``.

    Parameters
    ----------
    spec : DecoderSpec
        Decoder weights read from a checkpoint.
    info : ContractInfo
        Contract metadata (stored in ``metadata_props``); its ``n_harmonics``, ``n_noise_bands`` and
        ``state_size`` must agree with ``spec``.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    count = [0]

    def name(prefix):
        count[0] += 1
        return f"{prefix}_{count[0]}"

    def const(value, prefix="c"):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), n))
        return n

    def iconst(value, prefix="i"):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.int64), n))
        return n

    def node(op, inputs, n_out=1, out=None, **attrs):
        outs = [out] if out else [name(op.lower()) for _ in range(n_out)]
        nodes.append(helper.make_node(op, inputs, outs, name=name("n_" + op), **attrs))
        return outs[0] if n_out == 1 else outs

    def fc_stack(x, layers):
        for layer in layers:
            x = node("Add", [node("MatMul", [x, const(layer.kernel, "kernel")]), const(layer.bias, "bias")])
            if layer.gamma is not None:
                x = node("LayerNormalization", [x, const(layer.gamma, "gamma"), const(layer.beta, "beta")],
                         axis=-1, epsilon=float(layer.epsilon))
            x = node("LeakyRelu", [x], alpha=float(layer.alpha))
        return x

    R = spec.gru.units
    n_h, n_n = spec.splits[1], spec.splits[2]
    if (n_h, n_n, R) != (info.n_harmonics, info.n_noise_bands, info.state_size):
        raise ValueError(f"contract info {info.n_harmonics, info.n_noise_bands, info.state_size} "
                         f"does not match the decoder {n_h, n_n, R}")

    feats = {"f0": C.INPUT_F0, "pw": C.INPUT_PW}
    stack_out = {k: fc_stack(feats[k], layers) for k, layers in spec.stacks.items()}
    x = node("Concat", [stack_out[k] for k in spec.rnn_order], axis=-1)  # [1, in]
    x3 = node("Unsqueeze", [x, iconst([0])])  # [seq=1, batch=1, in]
    h0 = node("Unsqueeze", [C.INPUT_STATE, iconst([0])])  # [dirs=1, batch=1, R]
    g = spec.gru
    W = const(g.kernel.T[None], "gru_W")
    Rm = const(g.recurrent.T[None], "gru_R")
    B = const(np.concatenate([g.bias_input, g.bias_recurrent])[None], "gru_B")
    _, y_h = node("GRU", [x3, W, Rm, B, "", h0], n_out=2, hidden_size=R, linear_before_reset=1)
    h = node("Squeeze", [y_h, iconst([0])])  # [1, R]
    nodes.append(helper.make_node("Identity", [h], [C.OUTPUT_STATE], name="state_identity"))
    parts = dict(stack_out, rnn=h)
    y = node("Concat", [parts[k] for k in spec.out_order], axis=-1)
    y = fc_stack(y, spec.out_stack)
    y = node("Add", [node("MatMul", [y, const(spec.dense_kernel, "dense_kernel")]),
                     const(spec.dense_bias, "dense_bias")])
    amps, hd, noise = node("Split", [y, iconst(list(spec.splits))], n_out=3, axis=-1)
    exponent, max_value, threshold = spec.exp_sigmoid

    def exp_sigmoid(t, out=None):
        p = node("Pow", [node("Sigmoid", [t]), const(np.log(exponent), "log_exponent")])
        return node("Add", [node("Mul", [p, const(max_value, "max_value")]), const(threshold, "threshold")],
                    out=out)

    exp_sigmoid(amps, out=C.OUTPUT_AMPLITUDE)
    exp_sigmoid(noise, out=C.OUTPUT_NOISE)
    hd = exp_sigmoid(hd)
    # f0_hz = 440 * 2 ** ((f0_scaled * f0_range - 69) / 12); harmonic k at k * f0_hz; zero those >= Nyquist.
    midi = node("Mul", [C.INPUT_F0, const(info.f0_range, "f0_range")])
    f0_hz = node("Mul", [node("Pow", [const(2.0), node("Div", [node("Sub", [midi, const(69.0)]), const(12.0)])]),
                         const(440.0)])
    freqs = node("Mul", [f0_hz, const(np.arange(1, n_h + 1, dtype=np.float32), "harmonic_numbers")])
    below = node("Cast", [node("Less", [freqs, const(info.sample_rate / 2.0, "nyquist")])], to=TensorProto.FLOAT)
    hd = node("Mul", [hd, below])
    total = node("ReduceSum", [hd, iconst([-1])], keepdims=1)
    zero = node("Equal", [total, const(0.0)])
    safe = node("Where", [zero, const(1e-7), total])
    node("Div", [hd, safe], out=C.OUTPUT_HARMONICS)

    f = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "ddsp_controls",
        [helper.make_tensor_value_info(C.INPUT_F0, f, [1, 1]),
         helper.make_tensor_value_info(C.INPUT_PW, f, [1, 1]),
         helper.make_tensor_value_info(C.INPUT_STATE, f, [1, R])],
        [helper.make_tensor_value_info(C.OUTPUT_AMPLITUDE, f, [1, 1]),
         helper.make_tensor_value_info(C.OUTPUT_HARMONICS, f, [1, n_h]),
         helper.make_tensor_value_info(C.OUTPUT_NOISE, f, [1, n_n]),
         helper.make_tensor_value_info(C.OUTPUT_STATE, f, [1, R])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tonehost", doc_string="DDSP controls model (tonehost contract)")
    model.ir_version = 8
    for key, value in info.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model
