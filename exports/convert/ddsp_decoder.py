"""Find a ddsp ``RnnFcDecoder`` inside a converted graph (TF.js GraphDef or TFLite) and describe it as weights.

Both readers (:mod:`tonehost.exports.convert.ddsp_graph`, :mod:`tonehost.exports.convert.ddsp_tflite`) translate their graph into the small
format-neutral :class:`Graph` below (canonical op kinds, constants as numpy arrays, TF-style ``[in, out]``
kernels); :func:`extract_decoder` then walks it by dataflow, not by node names:

1. from each scaled input (f0, loudness/power) to its first dense layer: an input FC stack, layer by layer
   (dense -> LayerNorm -> leaky ReLU) until the stacks meet in a concat;
2. the concat that feeds the recurrent loop gives the GRU input order; the loop node carries the GRU weights;
3. the other concat (stacks + GRU output) feeds the output FC stack, then the last dense and the split into
   amplitude / harmonic distribution / noise magnitudes, followed by ddsp's exp-sigmoid.

Anything that does not match raises :class:`DecoderNotFound` with what was expected.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

# Canonical op kinds used by Graph.
PASS = "pass"  # reshape / identity / transpose of a [1, T, C] tensor: value passes through
DENSE = "dense"
ADD = "add"
SUB = "sub"  # only ``const - x`` matters: TF <= 2.1 LayerNorm's ``beta - mean * inv``
MUL = "mul"
FUSED_NORM = "fused_norm"  # a normalisation op with an epsilon attribute (FusedBatchNormV3 as LayerNorm)
RSQRT = "rsqrt"
LEAKY_RELU = "leaky_relu"
CONCAT = "concat"
SPLIT = "split"
SIGMOID = "sigmoid"
POW = "pow"
RNN = "rnn"  # a recurrent loop, reader-extracted GRU weights in attrs
OTHER = "other"


class DecoderNotFound(ValueError):
    """The graph does not contain a ddsp RnnFcDecoder in a shape this exporter knows."""


@dataclass
class Op:
    """One node: canonical ``kind``, input/output tensor ids, attributes (kernel, bias, alpha, eps, ...)."""

    kind: str
    inputs: list
    outputs: list
    attrs: dict = field(default_factory=dict)
    name: str = ""


class Graph:
    """Dataflow graph over tensor ids, with constant tensors."""

    def __init__(self, ops: list[Op], consts: dict):
        self.ops = ops
        self.consts = consts
        self.producer = {}
        self.consumers: dict = {}
        for op in ops:
            for t in op.outputs:
                self.producer[t] = op
            for t in op.inputs:
                self.consumers.setdefault(t, []).append(op)

    def const(self, t):
        """The constant array of tensor ``t``, or None when ``t`` is computed."""
        return self.consts.get(t)

    def const_operand(self, op: Op):
        """(constant, other input) of a binary op with exactly one constant operand, else (None, None)."""
        cs = [t for t in op.inputs if t in self.consts]
        vs = [t for t in op.inputs if t not in self.consts]
        if len(cs) == 1 and len(vs) == 1:
            return np.asarray(self.consts[cs[0]]), vs[0]
        return None, None

    def forward(self, start, stop_kinds=(), max_ops=400):
        """Ops reachable from tensor ``start`` in breadth-first order (not expanding past ``stop_kinds``)."""
        seen, order = set(), []
        queue = deque([start])
        while queue and len(order) < max_ops:
            t = queue.popleft()
            for op in self.consumers.get(t, []):
                if id(op) in seen:
                    continue
                seen.add(id(op))
                order.append(op)
                if op.kind not in stop_kinds:
                    queue.extend(op.outputs)
        return order

    def back_through_pass(self, t):
        """Follow ``t`` backwards through PASS ops; returns (producer op or None, tensor)."""
        while True:
            op = self.producer.get(t)
            if op is None or op.kind != PASS:
                return op, t
            t = op.inputs[0]


@dataclass
class FcLayer:
    """Dense (``x @ kernel + bias``) -> LayerNorm (``gamma``, ``beta``, ``epsilon``; None = none) -> leaky ReLU."""

    kernel: np.ndarray
    bias: np.ndarray
    gamma: np.ndarray | None
    beta: np.ndarray | None
    epsilon: float
    alpha: float


@dataclass
class GruWeights:
    """Keras GRU (gates z, r, h; ``reset_after=True``): kernel [in, 3R], recurrent [R, 3R], two biases [3R]."""

    kernel: np.ndarray
    recurrent: np.ndarray
    bias_input: np.ndarray
    bias_recurrent: np.ndarray

    @property
    def units(self) -> int:
        """GRU width (the recurrent kernel is ``[units, 3 * units]``)."""
        return int(self.recurrent.shape[0])


@dataclass
class DecoderSpec:
    """Everything the ONNX builder needs; keys are ``"f0"`` and ``"pw"`` (loudness or power), and ``"rnn"``."""

    stacks: dict
    rnn_order: list
    out_order: list
    gru: GruWeights
    out_stack: list
    dense_kernel: np.ndarray
    dense_bias: np.ndarray
    splits: tuple
    exp_sigmoid: tuple = (10.0, 2.0, 1e-7)  # exponent, max_value, threshold

    @property
    def n_params(self) -> int:
        """Number of weights the decoder holds."""
        arrays = [self.gru.kernel, self.gru.recurrent, self.gru.bias_input, self.gru.bias_recurrent,
                  self.dense_kernel, self.dense_bias]
        for layer in [l for s in self.stacks.values() for l in s] + list(self.out_stack):
            arrays += [a for a in (layer.kernel, layer.bias, layer.gamma, layer.beta) if a is not None]
        return int(sum(a.size for a in arrays))


def snap(value: float, canonical, rel: float = 2e-3) -> float:
    """``value`` replaced by the nearest ``canonical`` constant within float16 rounding (``rel``), else kept.

    The TF.js converter's ``--quantize_float16`` also rounds scalar constants (ln 10 -> 2.3027, 1/127, 1e-7 ->
    1.19e-7); ddsp's code uses the exact values, so those are restored.
    """
    for c in canonical:
        tol = 0.5 * abs(c) if abs(c) < 1e-5 else rel * abs(c)
        if abs(value - c) <= tol:
            return float(c)
    return float(value)


def _vec(c, n) -> bool:
    return c is not None and c.ndim >= 1 and c.size == n and c.size > 1


def first_dense(g: Graph, t):
    """The nearest DENSE op downstream of tensor ``t`` (breadth-first), or None."""
    for op in g.forward(t, stop_kinds=(DENSE, RNN, CONCAT)):
        if op.kind == DENSE:
            return op
    return None


def _is_hidden_layer(g: Graph, dense: Op) -> bool:
    for op in g.forward(dense.outputs[0], stop_kinds=(DENSE, CONCAT, RNN, SPLIT, SIGMOID, LEAKY_RELU)):
        if op.kind == LEAKY_RELU:
            return True
        if op.kind in (SPLIT, SIGMOID, DENSE, CONCAT, RNN):
            return False
    return False


def read_layer(g: Graph, dense: Op) -> tuple[FcLayer, object]:
    """Read one Fc layer starting at ``dense``; returns (layer, output tensor of its leaky ReLU)."""
    kernel = np.asarray(dense.attrs["kernel"], np.float32)
    n = kernel.shape[1]
    bias = dense.attrs.get("bias")
    eps = None
    normalized = False
    relu = None
    vec_adds, vec_muls = [], []
    for op in g.forward(dense.outputs[0], stop_kinds=(LEAKY_RELU, DENSE, CONCAT, RNN)):
        if op.kind == LEAKY_RELU:  # not expanded past; the norm's branches may be deeper, so keep going
            relu = relu or op
            continue
        c, _ = g.const_operand(op) if op.kind in (ADD, MUL) else (None, None)
        if op.kind == FUSED_NORM:
            eps, normalized = float(op.attrs["epsilon"]), True
        elif op.kind == RSQRT:
            normalized = True
        elif op.kind == ADD and c is not None and c.size == 1 and any(
                o.kind == RSQRT for o in g.consumers.get(op.outputs[0], [])):
            eps = float(c.ravel()[0])
        elif op.kind == ADD and _vec(c, n):
            vec_adds.append(c.reshape(n))
        elif op.kind == SUB and len(op.inputs) == 2 and op.inputs[0] in g.consts and _vec(g.consts[op.inputs[0]], n):
            vec_adds.append(np.asarray(g.consts[op.inputs[0]]).reshape(n))  # x*inv + (beta - mean*inv)
        elif op.kind == MUL and _vec(c, n):
            vec_muls.append(c.reshape(n))
    if relu is None:
        raise DecoderNotFound(f"dense layer {dense.name!r} is not followed by a leaky ReLU (ddsp Fc layer)")
    gamma = beta = None
    if normalized:
        if not vec_muls or not vec_adds or eps is None:
            raise DecoderNotFound(f"layer norm after {dense.name!r}: could not find gamma/beta/epsilon")
        gamma, beta = vec_muls[-1], vec_adds[-1]
        if bias is None and len(vec_adds) >= 2:
            bias = vec_adds[0]
    elif bias is None and vec_adds:
        bias = vec_adds[0]
    if bias is None:
        bias = np.zeros(n, np.float32)
    layer = FcLayer(kernel, np.asarray(bias, np.float32), gamma, beta, eps if eps is not None else 1e-3,
                    float(relu.attrs.get("alpha", 0.2)))
    return layer, relu.outputs[0]


def read_stack(g: Graph, dense: Op):
    """Consecutive Fc layers from ``dense``; returns (layers, end tensor, next op after the stack or None)."""
    layers = []
    while True:
        layer, out = read_layer(g, dense)
        layers.append(layer)
        nxt = first_dense(g, out)
        consumers = [op for op in g.forward(out, stop_kinds=(DENSE, CONCAT, RNN)) if op.kind in (CONCAT, DENSE)]
        if consumers and consumers[0].kind == DENSE and nxt is not None and _is_hidden_layer(g, nxt):
            dense = nxt
            continue
        return layers, out


def _dense_with_bias(g: Graph, dense: Op):
    """(kernel, bias, output tensor) of a dense op whose bias may be a separate add."""
    kernel = np.asarray(dense.attrs["kernel"], np.float32)
    n = kernel.shape[1]
    bias = dense.attrs.get("bias")
    out = dense.outputs[0]
    if bias is None:
        t = out
        while True:
            cons = g.consumers.get(t, [])
            if len(cons) == 1 and cons[0].kind == PASS:
                t = cons[0].outputs[0]
                continue
            if len(cons) == 1 and cons[0].kind == ADD:
                c, _ = g.const_operand(cons[0])
                if _vec(c, n):
                    bias, out = c.reshape(n), cons[0].outputs[0]
            break
    return kernel, np.zeros(n, np.float32) if bias is None else np.asarray(bias, np.float32), out


def _read_head(g: Graph, t):
    """Split sizes and exp-sigmoid constants after the last dense's output tensor ``t``."""
    splits = None
    exponent, max_value, threshold = 10.0, 2.0, 1e-7
    found_sigmoid = False
    for _ in range(12):
        cons = [op for op in g.consumers.get(t, []) if op.kind in (PASS, SIGMOID, SPLIT, POW, MUL, ADD)]
        if not cons:
            break
        op = cons[0]
        if op.kind == SPLIT:
            splits = tuple(int(s) for s in op.attrs["sizes"])
        elif op.kind == SIGMOID:
            found_sigmoid = True
        elif op.kind in (POW, MUL, ADD):
            c, _ = g.const_operand(op)
            if c is None or c.size != 1:
                break
            v = float(c.ravel()[0])
            if op.kind == POW:
                exponent = float(np.exp(v))
            elif op.kind == MUL:
                max_value = v
            else:
                threshold = v
        t = op.outputs[0]
    if splits is None:
        raise DecoderNotFound("the decoder's last dense layer is not split into amps / harmonics / noise")
    if not found_sigmoid:
        raise DecoderNotFound("no exp-sigmoid (Sigmoid -> Pow -> Mul -> Add) after the decoder's split")
    return splits, (snap(exponent, (10.0,)), snap(max_value, (2.0,)), snap(threshold, (1e-7,)))


def extract_decoder(g: Graph, starts: dict) -> DecoderSpec:
    """Walk ``g`` from the scaled-input tensors ``starts`` (``{"f0": t, "pw": t}``) and read the decoder.

    Raises
    ------
    DecoderNotFound
    """
    stacks, ends = {}, {}
    for key, t in starts.items():
        dense = first_dense(g, t)
        if dense is None:
            raise DecoderNotFound(f"no dense layer downstream of the {key} input")
        stacks[key], ends[key] = read_stack(g, dense)
    end_keys = {}
    for key, t in ends.items():
        end_keys[t] = key
    concats = []
    for t in ends.values():
        for op in g.forward(t, stop_kinds=(CONCAT, DENSE, RNN)):
            if op.kind == CONCAT and op not in concats:
                concats.append(op)
    rnn_op = rnn_concat = None
    for cat in concats:
        for op in g.forward(cat.outputs[0], stop_kinds=(RNN, DENSE, CONCAT)):
            if op.kind == RNN:
                rnn_op, rnn_concat = op, cat
                break
        if rnn_op is not None:
            break
    if rnn_op is None:
        raise DecoderNotFound("no recurrent (GRU) loop fed by the input stacks")
    out_concat = next((c for c in concats if c is not rnn_concat), None)
    if out_concat is None:
        raise DecoderNotFound("no concat of the input stacks with the GRU output")

    def order(cat):
        keys = []
        for t in cat.inputs:
            if t in g.consts:
                continue
            prod, tt = g.back_through_pass(t)
            if tt in end_keys:
                keys.append(end_keys[tt])
            elif prod is rnn_op:
                keys.append("rnn")
            else:
                raise DecoderNotFound(f"concat {cat.name!r} has an input that is neither a stack nor the GRU")
        return keys

    rnn_order, out_order = order(rnn_concat), order(out_concat)
    if sorted(rnn_order) != sorted(starts) or sorted(out_order) != sorted(list(starts) + ["rnn"]):
        raise DecoderNotFound(f"unexpected concat inputs {rnn_order} / {out_order}")
    dense = first_dense(g, out_concat.outputs[0])
    out_stack = []
    if dense is not None and _is_hidden_layer(g, dense):
        out_stack, end = read_stack(g, dense)
        dense = first_dense(g, end)
    if dense is None:
        raise DecoderNotFound("no output dense layer after the output stack")
    kernel, bias, out = _dense_with_bias(g, dense)
    splits, exps = _read_head(g, out)
    if sum(splits) != kernel.shape[1] or len(splits) != 3 or splits[0] != 1:
        raise DecoderNotFound(f"output split {splits} is not (1, n_harmonics, n_noise) of {kernel.shape[1]}")
    return DecoderSpec(stacks=stacks, rnn_order=rnn_order, out_order=out_order, gru=rnn_op.attrs["gru"],
                       out_stack=out_stack, dense_kernel=kernel, dense_bias=bias, splits=splits,
                       exp_sigmoid=exps)
