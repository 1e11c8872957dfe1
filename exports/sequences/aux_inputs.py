"""Auxiliary inputs fed to MusicRNN next to the events: magenta.js ``core/aux_inputs.ts``.

Source: magenta-js v1.23.1 ``core/aux_inputs.ts``; MUSICGEN.md section 4. The only kind is the
``BinaryCounter`` of drum_kit_rnn (``auxInputs: [{"type": "BinaryCounter", "args": {"numBits": 6}}]``).
"""
from __future__ import annotations

import numpy as np

from tonehost.exports.sequences.base import ConverterError

__all__ = ["BinaryCounter", "aux_input_from_spec", "binary_counter_row"]


def binary_counter_row(step: int, num_bits: int) -> np.ndarray:
    """Row ``step`` of :meth:`BinaryCounter.get_tensors` (float32 ``[num_bits]``), for step-wise generation."""
    return np.array([1.0 if ((step + 1) >> i) & 1 else -1.0 for i in range(num_bits)], dtype=np.float32)


class BinaryCounter:
    """``BinaryCounter(numBits)``: row ``t``, bit ``i`` is +1 if ``floor((t + 1) / 2**i)`` is odd, else -1
    (least significant bit first: the position of step ``t + 1`` within bars of 2, 4, 8, ... steps).

    Parameters
    ----------
    num_bits : int
    """

    def __init__(self, num_bits: int):
        self.depth = int(num_bits)

    def get_tensors(self, num_steps: int) -> np.ndarray:
        """``[num_steps, num_bits]`` float32 of +1/-1."""
        t = np.arange(int(num_steps))[:, None] + 1
        bits = (t >> np.arange(self.depth)[None, :]) & 1
        return np.where(bits == 1, 1.0, -1.0).astype(np.float32)

    def row(self, step: int) -> np.ndarray:
        """Row ``step`` alone (:func:`binary_counter_row`)."""
        return binary_counter_row(step, self.depth)

    def __repr__(self) -> str:
        return f"BinaryCounter(num_bits={self.depth})"


def aux_input_from_spec(spec: dict) -> BinaryCounter:
    """``auxiliaryInputFromSpec``: ``{"type": "BinaryCounter", "args": {"numBits": n}}``.

    Raises
    ------
    ConverterError
        Unknown type or missing ``numBits``.
    """
    if not isinstance(spec, dict) or spec.get("type") != "BinaryCounter":
        raise ConverterError(f"unknown auxiliary input {spec!r:.80}: the only kind is BinaryCounter")
    args = spec.get("args") or {}
    bits = args.get("numBits", args.get("num_bits"))
    if not isinstance(bits, int) or bits < 0:
        raise ConverterError(f"BinaryCounter needs an integer numBits >= 0, got {bits!r}")
    return BinaryCounter(bits)
