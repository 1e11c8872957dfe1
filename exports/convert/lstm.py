"""tfjs ``basicLSTMCell`` / ``multiRNNCell`` step graphs in ONNX, shared by the MusicRNN and MusicVAE ports.

The cell (tfjs-core 2.8.6 ``basic_lstm_cell.js``; MUSICGEN.md section 2, verified against @magenta/music in
Node)::

    r  = concat([x, h], axis=1) @ K + b          K: [in + H, 4H], b: [4H]
    i, j, f, o = split(r, 4, axis=1)              gate order i, j (candidate), f, o -- TF's "icfo" layout
    c' = sigmoid(i) * tanh(j) + c * sigmoid(f + forget_bias)
    h' = tanh(c') * sigmoid(o)

``forget_bias`` is the scalar 1.0 in every MusicRNN/MusicVAE use, added at run time (the checkpoint's bias does
not contain it). No peepholes, no projection. ``tf.multiRNNCell`` runs the layers in order within one time
step, layer ``l`` reading layer ``l - 1``'s *new* h. The graph is written op for op (Concat, MatMul, Add, Split,
Sigmoid, Tanh, Mul) rather than with ONNX's ``LSTM`` operator, so nothing is permuted or folded and the
arithmetic is tfjs's.

Pieces:

* :class:`OnnxGraph` -- a small builder (inputs, outputs, constants, nodes -> a checked ``ModelProto``).
* :class:`LSTMCellWeights` and :func:`find_cells` -- a stack of ``(kernel, bias)`` found by probing a name
  pattern (``.../cell_%d/...``) as magenta.js does; every width comes from the shapes.
* :func:`basic_lstm_cell` / :func:`multi_rnn_cell` -- add one step of a cell / a stack to a graph.
* :func:`lstm_step_model` -- a standalone step model with the state as inputs and outputs
  (:func:`state_names` naming: ``c0, h0, c1, h1, ...`` in, the same with ``_out`` out).
* :func:`basic_lstm_cell_np` / :func:`multi_rnn_cell_np` -- the NumPy reference of the same math.

Shapes: ``B`` is a dynamic batch dimension everywhere; x ``[B, in]``, c and h ``[B, H]``, all float32.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tonehost.exports.errors import CheckpointFormatError

__all__ = ["OnnxGraph", "LSTMCellWeights", "find_cells", "basic_lstm_cell", "multi_rnn_cell", "lstm_step_model",
           "state_names", "basic_lstm_cell_np", "multi_rnn_cell_np", "FORGET_BIAS", "OPSET", "IR_VERSION"]

#: tfjs ``basicLSTMCell``'s forget bias in every magenta.js model (``tf.scalar(1.0)``).
FORGET_BIAS = 1.0
OPSET = 17
IR_VERSION = 8


class OnnxGraph:
    """A minimal ONNX graph builder: declare inputs/outputs, add constants and nodes, get a checked model.

    Node outputs are named from ``name`` when given (so a value can be a graph output), else numbered.

    Examples
    --------
    >>> g = OnnxGraph("demo")
    >>> x = g.input("x", ["B", 3])
    >>> y = g.op1("Relu", [x], name="y")
    >>> g.output("y", ["B", 3])
    >>> model = g.model()
    """

    def __init__(self, name: str):
        self.name = name
        self.nodes: list = []
        self.inits: list = []
        self.inputs: list = []
        self.outputs: list = []
        self._n = 0
        self._consts: dict[str, str] = {}

    def input(self, name: str, shape: Sequence, dtype: int = TensorProto.FLOAT) -> str:
        """Declare a graph input (``shape`` may hold strings for dynamic dimensions); returns its name."""
        self.inputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
        return name

    def output(self, name: str, shape: Sequence, dtype: int = TensorProto.FLOAT) -> str:
        """Declare an existing value as a graph output; returns its name."""
        self.outputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
        return name

    def const(self, name: str, value) -> str:
        """An initializer (``value`` as a numpy array of its final dtype); a name used twice gets a suffix."""
        base, k = name, 1
        while name in self._consts:
            k += 1
            name = f"{base}_{k}"
        self._consts[name] = name
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], n_out: int = 1, name: str | None = None, **attrs) -> list[str]:
        """Add a node; returns its output names (``name`` or ``name_0..``; numbered when None)."""
        self._n += 1
        base = name or f"{op_type.lower()}_{self._n}"
        outs = [base] if n_out == 1 else [f"{base}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=f"n{self._n}_{op_type}", **attrs))
        return outs

    def op1(self, op_type: str, inputs: Sequence[str], name: str | None = None, **attrs) -> str:
        """:meth:`op` with one output; returns its name."""
        return self.op(op_type, inputs, 1, name, **attrs)[0]

    def model(self, doc: str = "", props: Mapping[str, str] | None = None) -> onnx.ModelProto:
        """The model (opset 17, IR 8), checked with ``onnx.checker`` (full check)."""
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tonehost",
                                  doc_string=doc)
        model.ir_version = IR_VERSION
        if props:
            helper.set_model_props(model, {str(k): str(v) for k, v in props.items()})
        onnx.checker.check_model(model, full_check=True)
        return model


class LSTMCellWeights(NamedTuple):
    """One tfjs LSTM cell: ``kernel`` ``[in + H, 4H]`` and ``bias`` ``[4H]`` float32 (gates i, j, f, o)."""

    kernel: np.ndarray
    bias: np.ndarray

    @property
    def units(self) -> int:
        """H = ``len(bias) // 4``."""
        return int(self.bias.shape[0]) // 4

    @property
    def input_size(self) -> int:
        """``in`` = kernel rows - H."""
        return int(self.kernel.shape[0]) - self.units


def find_cells(weights: Mapping[str, np.ndarray], pattern: str, source: str = "checkpoint",
               input_size: int | None = None) -> list[LSTMCellWeights]:
    """The cells ``pattern % 0, pattern % 1, ...`` (each + ``kernel`` / ``bias``) until a kernel is missing, as
    magenta.js probes ``cell_%d``; shapes checked and chained (layer ``l``'s input is layer ``l - 1``'s H).

    Parameters
    ----------
    weights : mapping of str to numpy.ndarray
        Checkpoint variables (:func:`tonehost.exports.tfjs.read_layers_checkpoint`).
    pattern : str
        With one ``%d``, e.g. ``"rnn/multi_rnn_cell/cell_%d/basic_lstm_cell/"``.
    source : str
        Named in errors.
    input_size : int, optional
        Expected input width of layer 0 (checked when given).

    Returns
    -------
    list of LSTMCellWeights
        Possibly empty (no ``cell_0``).

    Raises
    ------
    CheckpointFormatError
        A kernel without its bias, a bias not divisible by 4, a kernel of the wrong width, or layers whose widths
        do not chain.
    """
    cells: list[LSTMCellWeights] = []
    while True:
        prefix = pattern % len(cells)
        k_name, b_name = prefix + "kernel", prefix + "bias"
        if k_name not in weights:
            break
        if b_name not in weights:
            raise CheckpointFormatError(f"{source}: {k_name} has no {b_name}; the checkpoint is corrupt or not a "
                                        "magenta.js LSTM checkpoint", source)
        k = np.asarray(weights[k_name], dtype=np.float32)
        b = np.asarray(weights[b_name], dtype=np.float32)
        if b.ndim != 1 or b.shape[0] % 4 or k.ndim != 2 or k.shape[1] != b.shape[0] or k.shape[0] <= b.shape[0] // 4:
            raise CheckpointFormatError(f"{source}: LSTM cell {prefix} has kernel {list(k.shape)} and bias "
                                        f"{list(b.shape)}, not [in + H, 4H] and [4H]", source)
        cell = LSTMCellWeights(k, b)
        want = input_size if not cells else cells[-1].units
        if want is not None and cell.input_size != want:
            raise CheckpointFormatError(f"{source}: LSTM cell {prefix} reads {cell.input_size} inputs but gets "
                                        f"{want} (kernel {list(k.shape)})", source)
        cells.append(cell)
    return cells


def state_names(n_layers: int) -> list[str]:
    """``["c0", "h0", "c1", "h1", ...]``: the state inputs of :func:`lstm_step_model` (outputs add ``_out``)."""
    return [f"{s}{l}" for l in range(n_layers) for s in ("c", "h")]


def basic_lstm_cell(g: OnnxGraph, x: str, c: str, h: str, cell: LSTMCellWeights, prefix: str,
                    forget_bias: float = FORGET_BIAS, c_out: str | None = None,
                    h_out: str | None = None, pre: str | None = None) -> tuple[str, str]:
    """Add one tfjs ``basicLSTMCell`` step to ``g``.

    Parameters
    ----------
    g : OnnxGraph
    x, c, h : str
        Values ``[B, in]``, ``[B, H]``, ``[B, H]``.
    cell : LSTMCellWeights
    prefix : str
        Prefix of the constants' names.
    forget_bias : float
        Added to the f gate before its sigmoid (1.0 in magenta.js).
    c_out, h_out : str, optional
        Names of the new state values (to make them graph outputs).
    pre : str, optional
        A ``[B, 4H]`` value added to ``concat([x, h]) @ K`` before the bias: the product of input rows that stay
        the same over many steps (MusicVAE's z), computed once elsewhere; ``cell.kernel`` then holds only the
        other rows. ``(a @ K_a + b @ K_b)`` equals ``concat([a, b]) @ K`` up to float32 summation order.

    Returns
    -------
    (str, str)
        The new ``c`` and ``h`` ``[B, H]``.
    """
    k = g.const(f"{prefix}/kernel", np.asarray(cell.kernel, np.float32))
    b = g.const(f"{prefix}/bias", np.asarray(cell.bias, np.float32))
    xh = g.op1("Concat", [x, h], axis=1)
    xk = g.op1("MatMul", [xh, k])
    if pre is not None:
        xk = g.op1("Add", [xk, pre])
    r = g.op1("Add", [xk, b])
    i, j, f, o = g.op("Split", [r, g.const(f"{prefix}/split", np.full(4, cell.units, np.int64))], 4, axis=1)
    fb = g.op1("Add", [f, g.const(f"{prefix}/forget_bias", np.array(forget_bias, np.float32))])
    new_c = g.op1("Add", [g.op1("Mul", [g.op1("Sigmoid", [i]), g.op1("Tanh", [j])]),
                          g.op1("Mul", [c, g.op1("Sigmoid", [fb])])], name=c_out)
    new_h = g.op1("Mul", [g.op1("Tanh", [new_c]), g.op1("Sigmoid", [o])], name=h_out)
    return new_c, new_h


def multi_rnn_cell(g: OnnxGraph, x: str, states: Sequence[tuple[str, str]], cells: Sequence[LSTMCellWeights],
                   prefix: str = "cell", forget_bias: float = FORGET_BIAS,
                   out_names: Sequence[tuple[str, str]] | None = None,
                   pre: str | None = None) -> list[tuple[str, str]]:
    """Add one ``tf.multiRNNCell`` step: layer ``l`` reads layer ``l - 1``'s new h.

    Parameters
    ----------
    g : OnnxGraph
    x : str
        ``[B, in_0]``.
    states : sequence of (c, h)
        One pair per layer.
    cells : sequence of LSTMCellWeights
    prefix : str
        Constants are named ``{prefix}_{l}/kernel`` etc.
    forget_bias : float
    out_names : sequence of (str, str), optional
        Names for the new (c, h) of each layer.
    pre : str, optional
        Layer 0's precomputed input rows (see :func:`basic_lstm_cell`).

    Returns
    -------
    list of (str, str)
        The new (c, h) per layer; the last h is the stack's output.
    """
    if len(states) != len(cells):
        raise ValueError(f"{len(states)} states for {len(cells)} cells")
    out = []
    inp = x
    for l, (cell, (c, h)) in enumerate(zip(cells, states)):
        names = out_names[l] if out_names else (None, None)
        nc, nh = basic_lstm_cell(g, inp, c, h, cell, f"{prefix}_{l}", forget_bias, *names,
                                 pre=pre if l == 0 else None)
        out.append((nc, nh))
        inp = nh
    return out


def lstm_step_model(cells: Sequence[LSTMCellWeights], forget_bias: float = FORGET_BIAS,
                    name: str = "lstm_step") -> onnx.ModelProto:
    """A standalone step of a stacked tfjs LSTM with the state as inputs and outputs.

    Inputs ``x`` ``[B, in]`` and :func:`state_names` (``c0, h0, ...`` ``[B, H_l]``); outputs ``c0_out, h0_out,
    ...`` and ``y`` (= the last layer's new h). Building block and reference for the model ports.

    Returns
    -------
    onnx.ModelProto
    """
    g = OnnxGraph(name)
    x = g.input("x", ["B", cells[0].input_size])
    states = []
    for l, cell in enumerate(cells):
        states.append((g.input(f"c{l}", ["B", cell.units]), g.input(f"h{l}", ["B", cell.units])))
    new = multi_rnn_cell(g, x, states, cells, forget_bias=forget_bias,
                         out_names=[(f"c{l}_out", f"h{l}_out") for l in range(len(cells))])
    g.op1("Identity", [new[-1][1]], name="y")
    g.output("y", ["B", cells[-1].units])
    for l, cell in enumerate(cells):
        g.output(f"c{l}_out", ["B", cell.units])
        g.output(f"h{l}_out", ["B", cell.units])
    return g.model("tfjs basicLSTMCell stack, one step (tonehost)")


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-v))).astype(np.float32)


def basic_lstm_cell_np(x, c, h, cell: LSTMCellWeights, forget_bias: float = FORGET_BIAS):
    """NumPy reference of one ``basicLSTMCell`` step (float32): returns ``(c', h')``."""
    r = np.concatenate([x, h], axis=1).astype(np.float32) @ cell.kernel + cell.bias
    i, j, f, o = np.split(r.astype(np.float32), 4, axis=1)
    nc = (_sigmoid(i) * np.tanh(j) + c * _sigmoid(f + np.float32(forget_bias))).astype(np.float32)
    nh = (np.tanh(nc) * _sigmoid(o)).astype(np.float32)
    return nc, nh


def multi_rnn_cell_np(x, states, cells: Sequence[LSTMCellWeights], forget_bias: float = FORGET_BIAS):
    """NumPy reference of one ``multiRNNCell`` step: returns the new ``[(c, h), ...]``."""
    out, inp = [], x
    for cell, (c, h) in zip(cells, states):
        nc, nh = basic_lstm_cell_np(inp, c, h, cell, forget_bias)
        out.append((nc, nh))
        inp = nh
    return out
