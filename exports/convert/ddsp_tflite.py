"""DDSP-VST ``.tflite`` controls models -> the tonehost ONNX contract.

DDSP-VST's exporter (``ddsp/training/inference.py`` ``VSTStatelessPredictControls`` converted with
``TFLiteConverter`` + SELECT_TF_OPS) produces one call per frame: inputs ``f0_scaled`` [1], ``pw_scaled`` [1],
``state`` [512]; outputs amplitude [1], harmonic distribution [60], noise magnitudes [65], state [512], with
exp-sigmoid and the Nyquist-normalisation already applied. The Keras GRU becomes a TFLite ``WHILE`` whose body
subgraph holds the GRU's two FULLY_CONNECTED layers.

The flatbuffer is parsed in pure Python with the ``tflite`` package, translated into the format-neutral graph of
:mod:`tonehost.exports.convert.ddsp_decoder`, the decoder read from it, and rebuilt by :mod:`tonehost.exports.convert.ddsp_onnx`.
"""
from __future__ import annotations


import numpy as np

from tonehost.exports.contracts import ddsp as C
from tonehost.exports.convert.ddsp_decoder import (ADD, SUB, CONCAT, DENSE, LEAKY_RELU, MUL, OTHER, PASS, POW, RNN, RSQRT, SIGMOID, SPLIT,
                           DecoderNotFound, Graph, GruWeights, Op, extract_decoder)
from tonehost.exports.errors import CheckpointFormatError
from tonehost.exports.tflite.reader import Subgraph, builtin_names, read_model

_KINDS = {"RESHAPE": PASS, "SQUEEZE": PASS, "EXPAND_DIMS": PASS, "ADD": ADD, "SUB": SUB, "MUL": MUL, "RSQRT": RSQRT,
          "LEAKY_RELU": LEAKY_RELU, "CONCATENATION": CONCAT, "LOGISTIC": SIGMOID, "POW": POW}


def _gru_from_body(body: Subgraph, x_index: int, h_index: int, source: str) -> GruWeights:
    """Read the Keras GRU step from a WHILE body: the FC on the sequence element and the FC on the state."""
    producers = {o: (name, ins) for name, ins, outs, _ in body.ops for o in outs}

    def origin(t):
        seen = 0
        while t in producers and seen < 8:
            name, ins = producers[t]
            if name in ("GATHER", "RESHAPE", "SQUEEZE", "SLICE", "STRIDED_SLICE"):
                t = ins[0]
                seen += 1
            else:
                break
        return t

    fcs = [(ins, outs) for name, ins, outs, _ in body.ops if name == "FULLY_CONNECTED"]
    kinds = {name for name, *_ in body.ops}
    if len(fcs) != 2 or "TANH" not in kinds or "LOGISTIC" not in kinds:
        raise DecoderNotFound(f"{source}: the recurrent loop is not a GRU step (two dense layers, sigmoid, tanh)")
    x_fc = h_fc = None
    for ins, outs in fcs:
        o = origin(ins[0])
        if o == body.inputs[h_index]:
            h_fc = ins
        elif o == body.inputs[x_index]:
            x_fc = ins
    if x_fc is None or h_fc is None:
        raise DecoderNotFound(f"{source}: cannot tell the GRU's input and recurrent kernels apart")

    def wb(ins):
        w = body.consts.get(ins[1])
        b = body.consts.get(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
        if w is None:
            raise DecoderNotFound(f"{source}: GRU kernel is not a constant")
        return w.T.astype(np.float32), (np.zeros(w.shape[0], np.float32) if b is None else b.astype(np.float32))

    kx, bx = wb(x_fc)
    kh, bh = wb(h_fc)
    return GruWeights(kernel=kx, recurrent=kh, bias_input=bx, bias_recurrent=bh)


def read_tflite(path) -> tuple[Graph, dict, dict]:
    """Parse ``path`` into (graph, starts {"f0", "pw", "state"} -> tensor, info dict)."""
    model = read_model(path)
    op_names = builtin_names()
    main = Subgraph(model, 0, op_names)
    main.dequantize_consts()
    # Signature names (DDSP-VST: f0_scaled, pw_scaled, state), else tensor names.
    named = main.signature("inputs")
    if not named:
        for t in main.inputs:
            named[main.names[t].split(":")[0].replace("call_", "").replace("serving_default_", "")] = t
    starts = {}
    for key, want in (("f0", "f0_scaled"), ("pw", "pw_scaled"), ("state", "state")):
        hits = [t for n, t in named.items() if want in n]
        if len(hits) != 1:
            raise CheckpointFormatError(
                f"{path}: expected DDSP-VST controls inputs f0_scaled, pw_scaled, state; found {sorted(named)} "
                "(is this the controls model, not the pitch/feature model?)", path)
        starts[key] = hits[0]
    ops = []
    for name, ins, outs, op in main.ops:
        attrs = {}
        kind = _KINDS.get(name, OTHER)
        ins_c = [t for t in ins if t >= 0]
        if name == "FULLY_CONNECTED" and ins[1] in main.consts:
            w = main.consts[ins[1]]
            attrs["kernel"] = w.T.astype(np.float32)
            if len(ins) > 2 and ins[2] >= 0 and ins[2] in main.consts:
                attrs["bias"] = main.consts[ins[2]].astype(np.float32)
            kind, ins_c = DENSE, [ins[0]]
        elif name == "LEAKY_RELU":
            attrs["alpha"] = main.options(op, "LeakyReluOptions").Alpha()
        elif name == "SPLIT_V":
            kind, attrs["sizes"] = SPLIT, [int(v) for v in main.consts[ins[1]].ravel()]
            ins_c = [ins[0]]
        elif name == "CONCATENATION":
            pass
        elif name == "WHILE":
            wopts = main.options(op, "WhileOptions")
            body = Subgraph(model, wopts.BodySubgraphIndex(), op_names)
            body.dequantize_consts()
            state_in = next((j for j, t in enumerate(ins) if _feeds_from(main, starts["state"], t)), None)
            x_in = next((j for j, t in enumerate(ins) if j != state_in and t not in main.consts
                         and _rank3(main, t)), None)
            if state_in is None or x_in is None:
                raise DecoderNotFound(f"{path}: cannot find the state and sequence inputs of the GRU loop")
            attrs["gru"] = _gru_from_body(body, x_in, state_in, str(path))
            attrs["state_output"] = outs[state_in]
            kind = RNN
            ins_c = [ins[x_in]]
            # The loop's sequence output is the accumulator that starts as a constant (zeros) [1, T, R].
            seq = [outs[j] for j, t in enumerate(ins) if t in main.consts and main.consts[t].ndim == 3]
            outs = seq + [o for o in outs if o not in seq]
        ops.append(Op(kind, ins_c, outs, attrs, name=f"{name}:{main.names[outs[0]] if outs else ''}"))
    graph = Graph(ops, {k: v for k, v in main.consts.items()})
    f0_range = C.F0_RANGE
    for op in ops:  # f0_scaled * 127 -> midi (inv_scale_f0_hz inside the model)
        if op.kind == MUL and starts["f0"] in op.inputs:
            c, _ = graph.const_operand(op)
            if c is not None and c.size == 1:
                f0_range = float(c.ravel()[0])
    return graph, starts, {"f0_range": f0_range}


def _rank3(sub: Subgraph, t) -> bool:
    return sub.g.Tensors(t).ShapeLength() == 3


def _feeds_from(sub: Subgraph, src, t) -> bool:
    """True if tensor ``t`` is ``src`` or a reshape of it."""
    producers = {o: (name, ins) for name, ins, outs, _ in sub.ops for o in outs}
    for _ in range(4):
        if t == src:
            return True
        if t not in producers or producers[t][0] not in ("RESHAPE", "EXPAND_DIMS", "SQUEEZE"):
            return False
        t = producers[t][1][0]
    return False


def export_tflite(path, settings: dict | None = None):
    """Read a DDSP-VST controls ``.tflite`` and return the contract ``onnx.ModelProto``."""
    from tonehost.exports.convert.ddsp_onnx import build_controls_model
    graph, starts, extra = read_tflite(path)
    spec = extract_decoder(graph, {"f0": starts["f0"], "pw": starts["pw"]})
    info = C.ContractInfo(source_format="tflite", frame_rate=C.VST_FRAME_RATE, n_harmonics=spec.splits[1],
                          n_noise_bands=spec.splits[2], state_size=spec.gru.units, f0_range=extra["f0_range"],
                          db_range=C.VST_DB_RANGE, db_kind="power_db", post_gain=1.0, settings=settings or {})
    return build_controls_model(spec, info), spec
