"""Argument checks for the public (Python-level) entries of :mod:`tonehost.dsp`.

One home for "bad size or rate -> one clear :class:`~tonehost.dsp.errors.ArgumentError` (a ``UsageError`` and a
``ValueError``) naming the argument, its value and the allowed range", raised before any work. Called only from
Python wrappers and constructors, never from Numba kernels (the audio callback calls those, with arguments checked
when their state was made).
"""
from __future__ import annotations

import math
import numbers
import os

import numpy as np

from tonehost.dsp.errors import ArgumentError

__all__ = ["check_int", "check_real", "check_audio", "pcm_as_float", "zero_non_finite", "MAX_RATE", "MAX_HOP",
           "MAX_BLOCK", "MAX_FRAME"]

#: Largest sample or frame rate accepted (Hz).
MAX_RATE = 1_000_000
#: Largest hop (samples per frame) accepted by offline wrappers.
MAX_HOP = 1 << 20
#: Largest block size accepted by offline wrappers (0 often means "one call").
MAX_BLOCK = 1 << 24
#: Largest analysis frame / FFT length accepted (samples).
MAX_FRAME = 1 << 20


def check_int(name: str, value, lo: int, hi: int | None) -> int:
    """``value`` as an ``int`` if it is a whole number in ``[lo, hi]`` (``hi`` None: no upper bound).

    Parameters
    ----------
    name : str
        Argument name, quoted in the message.
    value : int-like
        Python or numpy integer, or a float with a whole value (16000.0).
    lo, hi : int
        Allowed range, both included; ``hi`` None for none.

    Returns
    -------
    int

    Raises
    ------
    ArgumentError
        ``value`` is not a whole number (NaN, 2.5, a string, a bool) or lies outside ``[lo, hi]``; the message names
        ``name``, the value and the range.
    """
    ok = False
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        ok = True
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = float(value)
        ok = math.isfinite(v) and v == math.floor(v)
    if ok and lo <= int(value) and (hi is None or int(value) <= hi):
        return int(value)
    raise ArgumentError(f"{name} must be a whole number " + (f"of {lo} or more" if hi is None else f"from {lo} to {hi}")
                     + f", got {value!r}")


def check_real(name: str, value, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` as a ``float`` if it is finite and in ``[lo, hi]`` (``lo`` excluded with ``lo_open``, ``hi`` with
    ``hi_open``; +-inf for no bound).

    Raises
    ------
    ArgumentError
        ``value`` is not a real number, is NaN or infinite, or lies outside the range; the message names ``name``,
        the value and the range.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = float(value)
        if math.isfinite(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi):
            return v
    left, right = "(" if lo_open else "[", ")" if hi_open else "]"
    raise ArgumentError(f"{name} must be a finite number in {left}{lo:g}, {hi:g}{right}, got {value!r}")


def check_audio(audio, name: str = "audio") -> np.ndarray:
    """``audio`` as an array ``[n]`` or ``[n, channels]`` of numbers (not converted, not copied where it is one).

    Parameters
    ----------
    audio : array_like
        Samples, soundfile's layout (frames first).
    name : str
        What to call it in messages.

    Returns
    -------
    numpy.ndarray
        ``np.asarray(audio)``: real or integer dtype, 1-D or 2-D.

    Raises
    ------
    ArgumentError
        A file name instead of samples (with how to read it), something that is not an array of numbers, 64-bit
        integers (a list of Python ints: no audio format's PCM), more than 2 dimensions, or ``[channels, n]`` (librosa's layout, at most 8 rows of over 64 columns: it used to be
        taken as 2 frames of thousands of channels, giving no frames and no error).
    """
    if isinstance(audio, (str, bytes, os.PathLike)):
        raise ArgumentError(f"{name} is a file name ({os.fsdecode(audio)!r}), not samples; read it first: "
                         "audio, sr = tonehost.read_audio(path)")
    try:
        a = np.asarray(audio)
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"{name} is not an array of samples ({exc}); pass a numpy array [n] or [n, channels]") \
            from None
    if a.dtype.kind not in "fiu" or a.ndim not in (1, 2):
        raise ArgumentError(f"{name} must be a numeric array [n] or [n, channels], got {a.dtype} of shape "
                         f"{list(a.shape)}")
    if a.dtype.kind in "iu" and a.dtype.itemsize > 4:
        # no audio format stores 64-bit integers, but a Python list of ints becomes int64: scaled as PCM by 2**63
        # it was silence (transcribe found no notes, the instrument stayed mute)
        raise ArgumentError(f"{name} holds {a.dtype} samples, which no audio format stores (a list of Python ints "
                         "becomes int64); pass floats in [-1, 1] or whole-number PCM as int16/int32, e.g. "
                         "np.asarray(samples, np.int16)")
    if a.ndim == 2 and a.shape[0] <= 8 < 64 < a.shape[1]:  # >64 "channels" of <=8 frames: [channels, n]
        raise ArgumentError(f"{name} has shape {list(a.shape)}: tonehost takes [n, channels] (soundfile's layout); "
                         "for librosa's [channels, n] pass audio.T")
    return a


def pcm_as_float(a: np.ndarray) -> np.ndarray:
    """Whole-number PCM (int16, int32, uint8) as float64 in [-1, 1), as soundfile reads it (unsigned: offset
    binary); float arrays as float64 (not copied where they already are).

    int16 samples taken as they are read +-32767: 90 dB above the tracker's energy gate, so a quiet hiss read as
    voice. Source of the scaling: libsndfile's integer-to-float conversion (divide by 2**(bits - 1)).
    """
    if a.dtype.kind in "iu":
        half = 2.0 ** (8 * a.dtype.itemsize - 1)
        return (a.astype(np.float64) - (half if a.dtype.kind == "u" else 0.0)) / half
    return a.astype(np.float64, copy=False)


def zero_non_finite(x: np.ndarray) -> tuple[np.ndarray, int]:
    """``x`` with NaN and +-inf samples replaced by 0, and how many were.

    One NaN kept in a filter's or a model's state silences everything after it, so inputs are cleaned before
    they reach one. A clean block costs one sum (NaN/inf propagate into it) and is returned as it is; a block with
    bad samples is copied (the caller's array is left alone).

    Parameters
    ----------
    x : numpy.ndarray
        Float samples of any shape.

    Returns
    -------
    (numpy.ndarray, int)
        The clean samples (``x`` itself when nothing was replaced) and the count replaced.
    """
    if np.isfinite(np.add.reduce(x, axis=None)):
        return x, 0
    bad = ~np.isfinite(x)
    return np.where(bad, 0.0, x).astype(x.dtype, copy=False), int(np.count_nonzero(bad))
