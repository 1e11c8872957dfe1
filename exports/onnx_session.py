"""The one factory of ONNX Runtime sessions: every model tonehost runs goes through :func:`make_session`.

CPU execution provider, ``threads`` intra-op threads (1 by default: one model per worker, predictable latency),
one inter-op thread, every graph optimisation on.
"""
from __future__ import annotations

import os
from pathlib import Path

from tonehost.exports.errors import ModelError, UsageError

__all__ = ["make_session"]


def make_session(model, threads: int = 1):
    """An ``onnxruntime.InferenceSession`` on the CPU.

    Parameters
    ----------
    model : str, os.PathLike, bytes or onnx.ModelProto
        A ``.onnx`` file, its serialized bytes, or an in-memory model.
    threads : int
        Intra-op threads, clamped to 1 .. 4x the machine's cores (the CLI's ``--threads`` bound: 100000 made ONNX
        Runtime start that many threads).

    Returns
    -------
    onnxruntime.InferenceSession

    Raises
    ------
    ModelError
        The file is missing or is not a model ONNX Runtime can load.
    UsageError
        ``threads`` not a whole number.
    """
    import math

    import onnxruntime as ort

    try:  # threads="x" (OnsetsAndFrames, MusicRNN, MusicVAE take it) was a ValueError from int() in here
        n = float(threads)
    except (TypeError, ValueError):
        n = float("nan")
    if isinstance(threads, (str, bool)) or not (math.isfinite(n) and n == int(n)):
        raise UsageError(f"threads must be a whole number (taken as 1 .. {4 * (os.cpu_count() or 1)}: fewer is 1, "
                         f"more is the most), got {threads!r}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = min(max(1, int(n)), 4 * (os.cpu_count() or 1))
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if hasattr(model, "SerializeToString"):
        src = model.SerializeToString()
    elif isinstance(model, (bytes, bytearray)):
        src = bytes(model)
    else:
        path = Path(os.fspath(model))
        if not path.is_file():
            raise ModelError(f"model file {path} not found", path)
        src = str(path)
    try:
        return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/InvalidProtobuf types
        where = src if isinstance(src, str) else "the in-memory model"
        raise ModelError(f"{where} is not a usable ONNX model ({str(exc).splitlines()[0]})", where) from None
