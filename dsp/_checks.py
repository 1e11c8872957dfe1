"""Argument checks for the public (Python-level) entries of :mod:`tonehost.dsp`.

One home for "bad size or rate -> one clear ``ValueError`` naming the argument, its value and the allowed range",
raised before any work. Called only from Python wrappers and constructors, never from Numba kernels (the audio
callback calls those, with arguments checked when their state was made).
"""
from __future__ import annotations

import math
import numbers

__all__ = ["check_int", "check_real", "MAX_RATE", "MAX_HOP", "MAX_BLOCK", "MAX_FRAME"]

#: Largest sample or frame rate accepted (Hz).
MAX_RATE = 1_000_000
#: Largest hop (samples per frame) accepted by offline wrappers.
MAX_HOP = 1 << 20
#: Largest block size accepted by offline wrappers (0 often means "one call").
MAX_BLOCK = 1 << 24
#: Largest analysis frame / FFT length accepted (samples).
MAX_FRAME = 1 << 20


def check_int(name: str, value, lo: int, hi: int) -> int:
    """``value`` as an ``int`` if it is a whole number in ``[lo, hi]``.

    Parameters
    ----------
    name : str
        Argument name, quoted in the message.
    value : int-like
        Python or numpy integer, or a float with a whole value (16000.0).
    lo, hi : int
        Allowed range, both included.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        ``value`` is not a whole number (NaN, 2.5, a string, a bool) or lies outside ``[lo, hi]``; the message names
        ``name``, the value and the range.
    """
    ok = False
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        ok = True
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = float(value)
        ok = math.isfinite(v) and v == math.floor(v)
    if ok and lo <= int(value) <= hi:
        return int(value)
    raise ValueError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")


def check_real(name: str, value, lo: float, hi: float, lo_open: bool = False) -> float:
    """``value`` as a ``float`` if it is finite and in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``).

    Raises
    ------
    ValueError
        ``value`` is not a real number, is NaN or infinite, or lies outside the range; the message names ``name``,
        the value and the range.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = float(value)
        if math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi:
            return v
    left = "(" if lo_open else "["
    raise ValueError(f"{name} must be a finite number in {left}{lo:g}, {hi:g}], got {value!r}")
