"""Hosted magenta.js DDSP checkpoints (TF.js graph model) -> the tonehost ONNX controls contract.

A hosted instrument is ``model.json`` (a frozen TF GraphDef of ddsp's whole autoencoder: preprocessing ->
``RnnFcDecoder`` -> Harmonic + FilteredNoise synths, with ``f0_hz`` and ``loudness_db`` [n_frames] in and 16 kHz
audio out; its noise synth's ``fftshift`` is the custom ``Roll`` op), ``group1-shard1of1.bin`` and
``settings.json``. We keep only the decoder, run it one frame at a time with the GRU state as an explicit
input/output, and leave synthesis to :mod:`dsp`.

How the graph is read (no TensorFlow needed):

* the GraphDef is translated into the neutral graph of :mod:`tonehost.exports.convert.ddsp_decoder` (``MatMul`` with a constant
  kernel = dense, ``BiasAdd``/``AddV2``/``Mul`` with constants; LayerNorm either as TF <= 2.1 wrote it
  (moments, ``Rsqrt``, ``Mul`` by gamma, ``Sub`` from beta - the form TF.js can run) or as ``FusedBatchNormV3``
  with its epsilon, ``LeakyRelu`` alpha, ``ConcatV2``, ``SplitV`` sizes, the GRU's ``While``/``StatelessWhile``
  whose body function tells the input kernel (its MatMul reads the TensorList item) from the recurrent one);
* the input scaling is *measured*: the elementwise ops between each placeholder and its first dense layer are
  evaluated in numpy on probe values, which gives ``f0_scaled = hz_to_midi(f0) / f0_range`` and
  ``ld_scaled = loudness_db / db_range + 1`` with the graph's own constants (grappler rewrites divisions as
  reciprocal multiplies, so matching op patterns would be brittle);
* ``settings.json`` and the contract metadata are stored in the ONNX ``metadata_props``.

Architecture of the hosted files (what the 972,040 in the brief is): the shard is 3,888,160 bytes. ddsp's own
exporter (``ddsp/training/ddsp_export.py``) converts with ``--quantize_float16``, i.e. 2 bytes per value; if the
hosted files were made that way (our best hypothesis, not verified: the files cannot be fetched here) the shard
holds ~1.94 M values, not 972,040 float32 ones. No ``RnnFcDecoder`` configuration counts exactly 972,040
(we searched ch in 32..1024, 1-3 layers per stack, GRU/LSTM 32..1024 units, 60/100 harmonics, with/without a
48000-tap trainable reverb) - which is expected, because a frozen graph's shard also holds folded constants
(LayerNorm ones/zeros per frame, linspaces, window, shape vectors, int32 = 4 bytes even when quantised). The
DDSP-VST decoder (``vst.gin``: GRU 512, FC 256 x 1 layer, inputs (loudness, f0), 1+60+65 outputs) has 1,873,278
parameters; converted here the same way (fixture ``tests/fixtures/ddsp_tfjs``) its shard is 3,916,382 bytes,
within 0.7 % of the hosted 3,888,160, while the ``solo_instrument.gin`` decoder (FC 512 x 3, 4,799,102 parameters)
would be ~9.6 MB even in float16. The fixture therefore uses the vst.gin sizes. Nothing here depends on it: layer
sizes, number of layers, state size, split sizes and exp-sigmoid constants are all read from the graph.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tonehost.exports.contracts import ddsp as C
from tonehost.exports.convert.ddsp_decoder import (ADD, SUB, CONCAT, DENSE, FUSED_NORM, LEAKY_RELU, MUL, OTHER, PASS, POW, RNN, RSQRT, SIGMOID,
                           SPLIT, DecoderNotFound, Graph, GruWeights, Op, extract_decoder, snap)
from tonehost.exports.errors import CheckpointFormatError

_PASS = {"Reshape", "Identity", "Transpose", "ExpandDims", "Squeeze", "TensorListStack", "TensorListFromTensor"}
_KINDS = {"BiasAdd": ADD, "AddV2": ADD, "Add": ADD, "Sub": SUB, "Mul": MUL, "Rsqrt": RSQRT, "LeakyRelu": LEAKY_RELU,
          "ConcatV2": CONCAT, "Sigmoid": SIGMOID, "Pow": POW, "FusedBatchNormV3": FUSED_NORM,
          "FusedBatchNorm": FUSED_NORM}
_ELEMENTWISE = {"Mul", "AddV2", "Add", "Sub", "RealDiv", "Div", "Log", "Maximum", "Minimum", "LessEqual",
                "Less", "Greater", "GreaterEqual", "SelectV2", "Select", "Identity", "Reshape", "Cast", "Pow",
                "Square", "Exp", "Neg", "Reciprocal", "Sqrt", "ExpandDims", "Squeeze", "Log1p", "Abs",
                "Floor", "FloorDiv", "Equal", "NotEqual", "ZerosLike", "OnesLike"}


def _tensor(ref: str) -> str:
    """GraphDef input reference -> tensor id ``node:k`` (drops control inputs' ``^``)."""
    ref = ref.lstrip("^")
    return ref if ":" in ref else ref + ":0"


def _func_tensor(ref: str) -> str:
    """Function-body reference (``node:out_arg:k`` or ``arg``) -> ``node:k`` / ``arg:0``."""
    parts = ref.split(":")
    if len(parts) == 3:
        return f"{parts[0]}:{parts[2]}"
    return ref if len(parts) == 2 else ref + ":0"


def _attr(node, key, default=None):
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    for k in ("f", "i", "b", "s"):
        if k in a:
            return float(a[k]) if k == "f" else a[k]
    return a


def _gru_from_while(node, consts, functions, source) -> tuple[GruWeights, int, int]:
    """GRU weights of a ``While`` node; also the input indices of the sequence and of the initial state."""
    body_name = node["attr"]["body"]["func"]["name"]
    body = functions.get(body_name)
    if body is None:
        raise DecoderNotFound(f"{source}: GRU loop body {body_name!r} missing from the graph library")
    args = [a["name"] for a in body["signature"]["inputArg"]]
    nodes = {n["name"]: n for n in body.get("nodeDef", [])}
    matmuls = [n for n in nodes.values() if n["op"] == "MatMul"]
    if len(matmuls) != 2 or not any(n["op"] == "Tanh" for n in nodes.values()):
        raise DecoderNotFound(f"{source}: the recurrent loop is not a GRU step (two MatMuls and a Tanh)")
    inputs = [_tensor(i) for i in node.get("input", []) if not i.startswith("^")]

    def arg_const(name):
        idx = args.index(name)
        c = consts.get(inputs[idx])
        if c is None:
            raise DecoderNotFound(f"{source}: GRU weight {name!r} is not a constant")
        return c, idx

    def bias_of(mm):
        for n in nodes.values():
            if n["op"] in ("BiasAdd", "AddV2", "Add") and _func_tensor(n["input"][0]).split(":")[0] == mm["name"]:
                name = n["input"][1].split(":")[0]
                if name in args:
                    return arg_const(name)[0]
        return None

    x_mm = h_mm = None
    x_idx = h_idx = None
    for mm in matmuls:
        src = _func_tensor(mm["input"][0]).split(":")[0]
        if src in nodes and nodes[src]["op"] == "TensorListGetItem":
            x_mm = mm
            x_idx = args.index(nodes[src]["input"][0].split(":")[0])
        elif src in args:
            h_mm, h_idx = mm, args.index(src)
    if x_mm is None or h_mm is None:
        raise DecoderNotFound(f"{source}: cannot tell the GRU's input and recurrent kernels apart")
    kx = arg_const(x_mm["input"][1].split(":")[0])[0]
    kh = arg_const(h_mm["input"][1].split(":")[0])[0]
    bx, bh = bias_of(x_mm), bias_of(h_mm)
    n3 = kx.shape[1]
    gru = GruWeights(kernel=kx.astype(np.float32), recurrent=kh.astype(np.float32),
                     bias_input=np.zeros(n3, np.float32) if bx is None else bx.astype(np.float32),
                     bias_recurrent=np.zeros(n3, np.float32) if bh is None else bh.astype(np.float32))
    return gru, x_idx, h_idx


def graph_to_ir(model, source="model.json") -> tuple[Graph, dict]:
    """Translate a :class:`tonehost.exports.tfjs.graph.GraphModel` into the neutral graph; returns (graph, nodes by name)."""
    nodes = {n["name"]: n for n in model.nodes}
    consts = {}
    for n in model.nodes:
        if n["op"] == "Const" and n["name"] in model.weights:
            consts[n["name"] + ":0"] = np.asarray(model.weights[n["name"]])
    functions = {f["signature"]["name"]: f for f in model.topology.get("library", {}).get("function", [])}
    ops = []
    for n in model.nodes:
        op = n["op"]
        if op in ("Const", "Placeholder"):
            continue
        ins = [_tensor(i) for i in n.get("input", []) if not i.startswith("^")]
        outs = [f"{n['name']}:{k}" for k in range(16)]
        attrs, kind = {}, _KINDS.get(op, OTHER)
        if op in _PASS:
            kind, ins = PASS, ins[:1]
        if op == "MatMul" and ins[1] in consts:
            w = consts[ins[1]].astype(np.float32)
            if _attr(n, "transpose_b", False):
                w = w.T
            kind, attrs["kernel"], ins = DENSE, w, ins[:1]
        elif op == "_FusedMatMul" and ins[1] in consts:
            w = consts[ins[1]].astype(np.float32)
            if _attr(n, "transpose_b", False):
                w = w.T
            kind, attrs["kernel"] = DENSE, w
            if len(ins) > 2 and ins[2] in consts:
                attrs["bias"] = consts[ins[2]].astype(np.float32)
            fused = n.get("attr", {}).get("fused_ops", {}).get("list", {}).get("s", [])
            if len(fused) > 1:
                raise DecoderNotFound(f"{source}: fused MatMul with activation is not supported ({n['name']})")
            ins = ins[:1]
        elif kind == LEAKY_RELU:
            attrs["alpha"] = _attr(n, "alpha", 0.2)
        elif kind == FUSED_NORM:
            attrs["epsilon"] = _attr(n, "epsilon", 1e-3)
            ins = ins[:1]
        elif op == "SplitV":
            kind, attrs["sizes"], ins = SPLIT, [int(v) for v in consts[ins[1]].ravel()], ins[:1]
        elif op == "ConcatV2":
            ins = ins[:-1]
        elif op in ("While", "StatelessWhile"):
            gru, x_idx, h_idx = _gru_from_while(n, consts, functions, source)
            # The TensorList of outputs is the loop variable after the counters/time (index 3 in Keras' loop);
            # its index is the one TensorListStack reads.
            kind, attrs["gru"] = RNN, gru
            ins = [ins[x_idx]]
        ops.append(Op(kind, ins, outs, attrs, name=n["name"]))
    return Graph(ops, consts), nodes


def _evaluate(nodes, consts, target: str, feeds: dict) -> np.ndarray:
    """Evaluate the elementwise subgraph ending at tensor ``target`` (shapes flattened to 1-D probes)."""
    memo = dict(feeds)

    def ev(t):
        t = _tensor(t)
        if t in memo:
            return memo[t]
        if t in consts:
            return np.asarray(consts[t], np.float64)
        name = t.split(":")[0]
        n = nodes.get(name)
        if n is None or n["op"] not in _ELEMENTWISE:
            raise DecoderNotFound(f"input scaling uses op {n['op'] if n else name!r}, which the probe cannot run")
        ins = [i for i in n.get("input", []) if not i.startswith("^")]
        op = n["op"]
        if op in ("Reshape", "Identity", "ExpandDims", "Squeeze", "Cast"):
            v = ev(ins[0]).ravel()
        elif op in ("SelectV2", "Select"):
            v = np.where(ev(ins[0]).ravel() != 0, ev(ins[1]).ravel(), ev(ins[2]).ravel())
        elif len(ins) == 1:
            x = ev(ins[0]).ravel()
            with np.errstate(all="ignore"):
                v = {"Log": np.log, "Square": np.square, "Exp": np.exp, "Neg": np.negative,
                     "Reciprocal": np.reciprocal, "Sqrt": np.sqrt, "Log1p": np.log1p, "Abs": np.abs,
                     "Floor": np.floor, "ZerosLike": np.zeros_like, "OnesLike": np.ones_like}[op](x)
        else:
            a, b = ev(ins[0]).ravel(), ev(ins[1]).ravel()
            with np.errstate(all="ignore"):
                v = {"Mul": np.multiply, "AddV2": np.add, "Add": np.add, "Sub": np.subtract,
                     "RealDiv": np.divide, "Div": np.divide, "Maximum": np.maximum, "Minimum": np.minimum,
                     "LessEqual": np.less_equal, "Less": np.less, "Greater": np.greater,
                     "GreaterEqual": np.greater_equal, "Pow": np.power, "FloorDiv": np.floor_divide,
                     "Equal": np.equal, "NotEqual": np.not_equal}[op](a, b)
        v = np.asarray(v, np.float64)
        memo[t] = v
        return v

    return ev(target)


def measure_scaling(model, graph: Graph, nodes, source="model.json") -> tuple[dict, float, float]:
    """Find the dense inputs for f0 and loudness and measure the graph's scaling; returns
    (starts {"f0": tensor, "pw": tensor}, f0_range, db_range)."""
    from tonehost.exports.convert.ddsp_decoder import first_dense
    placeholders = [n["name"] for n in model.nodes if n["op"] == "Placeholder"]
    f0_in = next((p for p in placeholders if "f0" in p), None)
    ld_in = next((p for p in placeholders if "loudness" in p or "power" in p or "ld" in p), None)
    if f0_in is None or ld_in is None:
        raise CheckpointFormatError(
            f"{source}: expected graph inputs f0_hz and loudness_db, found {placeholders}; "
            "is this a DDSP instrument checkpoint?", source)
    starts = {}
    for key, ph in (("f0", f0_in), ("pw", ld_in)):
        dense = first_dense(graph, ph + ":0")
        if dense is None:
            raise DecoderNotFound(f"{source}: no dense layer downstream of input {ph!r}")
        starts[key] = dense.inputs[0]
    probe_hz = np.array([55.0, 110.0, 261.63, 440.0, 1000.0, 3520.0])
    probe_db = np.array([-120.0, -80.0, -60.0, -30.0, -10.0, 0.0])
    f0_scaled = _evaluate(nodes, graph.consts, starts["f0"], {f0_in + ":0": probe_hz})
    ld_scaled = _evaluate(nodes, graph.consts, starts["pw"], {ld_in + ":0": probe_db})
    f0_range = float(np.median(C.hz_to_midi(probe_hz).astype(np.float64) / f0_scaled))
    slope, intercept = np.polyfit(probe_db, ld_scaled, 1)
    if not (np.allclose(C.hz_to_midi(probe_hz) / f0_range, f0_scaled, atol=1e-4)
            and np.allclose(slope * probe_db + intercept, ld_scaled, atol=1e-4) and abs(intercept - 1.0) < 1e-4):
        raise DecoderNotFound(f"{source}: input scaling is not hz_to_midi(f0)/range and db/range+1")
    f0_zero = _evaluate(nodes, graph.consts, starts["f0"], {f0_in + ":0": np.array([0.0])})
    if abs(float(f0_zero.ravel()[0])) > 1e-6:
        raise DecoderNotFound(f"{source}: f0 = 0 Hz does not map to f0_scaled = 0")
    return starts, snap(f0_range, (C.F0_RANGE,)), snap(float(1.0 / slope), (120.0, 100.0, 80.0))


def export_graph_model(path):
    """Read a hosted DDSP checkpoint (directory or model.json) and return (onnx.ModelProto, DecoderSpec)."""
    from tonehost.exports.convert.ddsp_onnx import build_controls_model
    from tonehost.exports.tfjs import read_graph_model
    model = read_graph_model(path)
    src = str(Path(model.path) / "model.json")
    graph, nodes = graph_to_ir(model, src)
    starts, f0_range, db_range = measure_scaling(model, graph, nodes, src)
    spec = extract_decoder(graph, starts)
    settings = model.settings or {}
    n_frames = _n_frames(model)
    n_samples = _n_samples(model)
    frame_rate = float(C.TFJS_FRAME_RATE)
    if n_frames and n_samples:
        frame_rate = C.SAMPLE_RATE * n_frames / n_samples
    info = C.ContractInfo(source_format="tfjs-graph", frame_rate=frame_rate, n_harmonics=spec.splits[1],
                          n_noise_bands=spec.splits[2], state_size=spec.gru.units, f0_range=f0_range,
                          db_range=db_range, db_kind="loudness_db",
                          post_gain=float(settings.get("postGain", 1.0) or 1.0), settings=settings)
    return build_controls_model(spec, info), spec


def _signature_dims(model, side):
    sig = model.model_json.get("signature", {}).get(side, {})
    dims = []
    for v in sig.values():
        d = v.get("tensorShape", {}).get("dim", [])
        dims.append([int(x.get("size", -1)) for x in d])
    return dims


def _n_frames(model):
    dims = _signature_dims(model, "inputs")
    return dims[0][-1] if dims and dims[0] and dims[0][-1] > 0 else None


def _n_samples(model):
    dims = _signature_dims(model, "outputs")
    return dims[0][-1] if dims and dims[0] and dims[0][-1] > 0 else None


__all__ = ["export_graph_model", "graph_to_ir", "measure_scaling"]
