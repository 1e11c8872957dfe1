"""One reader for TensorFlow Lite flatbuffers (pure Python, the ``tflite`` package): models, subgraphs, constants.

Both converters of ``.tflite`` files (:mod:`tonehost.exports.convert.ddsp_tflite`, the DDSP-VST controls model,
and :mod:`tonehost.exports.convert.pitch_model`, the DDSP-VST pitch model) read their files through this module.
The schema is TensorFlow's ``tensorflow/lite/schema/schema.fbs``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tonehost.exports.errors import CheckpointFormatError

__all__ = ["read_model", "builtin_names", "Subgraph", "NUMPY_TYPES"]

#: TFLite ``TensorType`` -> numpy dtype (FLOAT32, FLOAT16, INT32, INT64, BOOL, INT8).
NUMPY_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64, 6: np.bool_, 9: np.int8}


def _tflite():
    try:
        import tflite
    except ImportError as exc:  # pragma: no cover - tflite is a dependency
        raise CheckpointFormatError("reading .tflite models needs the 'tflite' package: pip install tflite") from exc
    return tflite


def read_model(path: str | os.PathLike):
    """Parse a ``.tflite`` file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    tflite.Model
        The flatbuffer's root table (its byte buffer is kept alive by the returned object).

    Raises
    ------
    CheckpointFormatError
        The file is missing, not a TFLite flatbuffer, or has no subgraph.
    """
    tflite = _tflite()
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CheckpointFormatError(f"{p}: cannot read ({exc.strerror or exc})", p) from None
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        n_sub = model.SubgraphsLength()
    except Exception as exc:  # flatbuffers raise assorted errors on garbage
        raise CheckpointFormatError(f"{p}: not a TFLite flatbuffer ({exc}); re-download the model", p) from None
    if n_sub < 1:
        raise CheckpointFormatError(f"{p}: TFLite model without subgraphs; re-download the model", p)
    return model


def builtin_names() -> dict[int, str]:
    """``BuiltinOperator`` code -> name (``{3: "CONV_2D", ...}``)."""
    tflite = _tflite()
    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


class Subgraph:
    """One subgraph of a TFLite model: tensor names and shapes, constant tensors, operators in order.

    Parameters
    ----------
    model : tflite.Model
        From :func:`read_model`.
    index : int
        Subgraph index (0 is the main graph; ``WHILE`` bodies are others).
    op_names : dict, optional
        From :func:`builtin_names` (computed when not given).

    Attributes
    ----------
    names : list of str
        Tensor names by index.
    shapes : dict of int -> tuple of int
    consts : dict of int -> numpy.ndarray
        Tensors backed by a buffer (float16 widened to float32).
    ops : list of (str, list of int, list of int, tflite.Operator)
        ``(builtin name, input tensor indices (-1 = none), output tensor indices, operator)``.
    inputs, outputs : list of int
        The subgraph's input and output tensor indices.
    """

    def __init__(self, model, index: int = 0, op_names: dict[int, str] | None = None):
        self._tflite = _tflite()
        op_names = op_names if op_names is not None else builtin_names()
        self.model = model
        self.g = g = model.Subgraphs(index)
        self.names = [g.Tensors(i).Name().decode() for i in range(g.TensorsLength())]
        self.shapes: dict[int, tuple] = {}
        self.consts: dict[int, np.ndarray] = {}
        for i in range(g.TensorsLength()):
            t = g.Tensors(i)
            shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            self.shapes[i] = shape
            buf = model.Buffers(t.Buffer())
            if buf is not None and buf.DataLength() and t.Type() in NUMPY_TYPES:
                arr = np.frombuffer(buf.DataAsNumpy().tobytes(), NUMPY_TYPES[t.Type()]).reshape(shape)
                self.consts[i] = arr.astype(np.float32) if arr.dtype == np.float16 else arr.copy()
        self.ops = []
        for i in range(g.OperatorsLength()):
            op = g.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            opname = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            ins = [int(op.Inputs(j)) for j in range(op.InputsLength())]
            outs = [int(op.Outputs(j)) for j in range(op.OutputsLength())]
            self.ops.append((opname, ins, outs, op))
        self.inputs = [int(g.Inputs(i)) for i in range(g.InputsLength())]
        self.outputs = [int(g.Outputs(i)) for i in range(g.OutputsLength())]

    def options(self, op, cls_name: str):
        """The operator's builtin options table as ``tflite.<cls_name>`` (e.g. ``"Conv2DOptions"``)."""
        table = op.BuiltinOptions()
        opts = getattr(self._tflite, cls_name)()
        opts.Init(table.Bytes, table.Pos)
        return opts

    def dequantize_consts(self) -> None:
        """Fold ``DEQUANTIZE`` ops on constants (float16 weights) into float32 constants."""
        for name, ins, outs, _ in self.ops:
            if name == "DEQUANTIZE" and ins[0] in self.consts:
                self.consts[outs[0]] = self.consts[ins[0]].astype(np.float32)

    def signature(self, side: str = "inputs") -> dict[str, int]:
        """The model's first SignatureDef: ``{name: tensor index}`` of its ``inputs`` or ``outputs`` (empty if
        the model has none)."""
        m = self.model
        if not m.SignatureDefsLength():
            return {}
        sd = m.SignatureDefs(0)
        n = sd.InputsLength() if side == "inputs" else sd.OutputsLength()
        get = sd.Inputs if side == "inputs" else sd.Outputs
        return {get(i).Name().decode(): int(get(i).TensorIndex()) for i in range(n)}
