"""What every data converter shares: the base class, the errors, one-hot and magenta.js's array quirks.

Source: ``music/src/core/data.ts`` (``DataConverter``), ``sequences.ts`` (``createQuantizedNoteSequence``,
``assertIs*QuantizedSequence``) of magenta-js at v1.23.1, and tfjs-core 2.8.6 (``oneHot``, ``TensorBuffer``).

The converters of this package copy magenta.js to the bit, including what its typed arrays do silently:

* ``tf.oneHot`` writes an all-zero row for an index outside ``[0, depth)`` (:func:`one_hot`);
* a write past the end of an ``Int32Array`` is dropped, and so is a write at a negative index;
* ``Array.prototype.sort`` is V8's stable TimSort; for a comparator that is not a total order (magenta.js's
  multitrack track order) the result depends on the algorithm, so :func:`js_sort` runs V8's own steps.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence, TypeVar

import numpy as np

from tonehost.exports.note_sequence import (DEFAULT_QPM, NoteSequence, QuantizationInfo, SequenceError, Tempo)

__all__ = ["ConverterError", "DataConverter", "DEFAULT_STEPS_PER_QUARTER", "one_hot", "js_sort", "camel_kwargs",
           "melody_kwargs", "quantized_sequence", "assert_quantized", "assert_relative_quantized", "js_round"]

#: magenta.js ``constants.DEFAULT_STEPS_PER_QUARTER``.
DEFAULT_STEPS_PER_QUARTER = 4

T = TypeVar("T")


class ConverterError(SequenceError):
    """A NoteSequence a data converter cannot encode (not quantized, not monophonic, a pitch out of range, too
    long), a tensor it cannot decode, or a converter spec it does not know."""


def one_hot(indices, depth: int, dtype=np.int32) -> np.ndarray:
    """``tf.oneHot(indices, depth)``: ``[..., depth]`` with a 1 at each index; an index outside ``[0, depth)``
    gives an all-zero row (tfjs-core 2.8.6 CPU kernel ``OneHot``).

    Parameters
    ----------
    indices : array_like of int
        Any shape.
    depth : int
        Number of classes.
    dtype : numpy dtype
        Of the result (tfjs: int32).

    Returns
    -------
    numpy.ndarray
        ``indices.shape + (depth,)``.
    """
    idx = np.asarray(indices, dtype=np.int64)
    out = np.zeros(idx.shape + (int(depth),), dtype=dtype)
    ok = (idx >= 0) & (idx < depth)
    flat = out.reshape(-1, int(depth))
    rows = np.flatnonzero(ok.reshape(-1))
    flat[rows, idx.reshape(-1)[rows]] = 1
    return out


def js_round(x: float) -> int:
    """JavaScript ``Math.round``: halves round up (``floor(x + 0.5)``), unlike Python's ``round``."""
    return int(math.floor(x + 0.5))


def js_sort(items: Sequence[T], compare: Callable[[T, T], float]) -> list[T]:
    """``Array.prototype.sort(compare)`` as V8 (Node 20) runs it, for arrays of fewer than 64 elements.

    V8 sorts with TimSort; below 64 elements that is one run found by ``CountAndMakeRun`` (a strictly
    descending start is reversed) extended by binary insertion. For a consistent comparator any stable sort
    gives the same order; for an inconsistent one (magenta.js's multitrack track comparator with two drum
    tracks) only these exact steps do. A NaN comparison counts as 0. Longer arrays fall back to Python's stable
    sort, which agrees whenever the comparator is consistent.

    Parameters
    ----------
    items : sequence
    compare : callable
        ``compare(a, b)``: negative when ``a`` goes first (NaN allowed).

    Returns
    -------
    list
        A new sorted list.
    """
    import functools

    def cmp(a, b) -> float:
        r = compare(a, b)
        return 0.0 if r is None or (isinstance(r, float) and math.isnan(r)) else r

    a = list(items)
    n = len(a)
    if n < 2:
        return a
    if n >= 64:
        return sorted(a, key=functools.cmp_to_key(lambda x, y: (cmp(x, y) > 0) - (cmp(x, y) < 0)))
    # CountAndMakeRun(0, n)
    run = 2
    descending = cmp(a[1], a[0]) < 0
    prev = a[1]
    for i in range(2, n):
        order = cmp(a[i], prev)
        if (descending and order >= 0) or (not descending and order < 0):
            break
        prev = a[i]
        run += 1
    if descending:
        a[:run] = a[:run][::-1]
    # BinaryInsertionSort(0, run, n)
    for start in range(run, n):
        pivot = a[start]
        left, right = 0, start
        while left < right:
            mid = left + ((right - left) >> 1)
            if cmp(pivot, a[mid]) < 0:
                right = mid
            else:
                left = mid + 1
        a[left + 1:start + 1] = a[left:start]
        a[left] = pivot
    return a


def quantized_sequence(steps_per_quarter: int | None = None, qpm: float | None = None) -> NoteSequence:
    """magenta.js ``createQuantizedNoteSequence(stepsPerQuarter = 4, qpm = 120)``: an empty sequence with
    ``quantization_info.steps_per_quarter`` and one tempo at time 0 (``None`` takes the default, as JS's
    ``undefined`` does)."""
    spq = DEFAULT_STEPS_PER_QUARTER if steps_per_quarter is None else int(steps_per_quarter)
    q = DEFAULT_QPM if qpm is None else float(qpm)
    return NoteSequence(tempos=[Tempo(0.0, q)], quantization_info=QuantizationInfo(steps_per_quarter=spq))


def assert_quantized(seq: NoteSequence, what: str = "this converter") -> None:
    """magenta.js ``assertIsQuantizedSequence``: steps per quarter or per second set.

    Raises
    ------
    ConverterError
    """
    if not isinstance(seq, NoteSequence):
        raise ConverterError(f"{what} needs a NoteSequence, got {type(seq).__name__}")
    if not seq.is_quantized:
        raise ConverterError(f"{what} needs a quantized NoteSequence; call seq.quantize(steps_per_quarter=4) "
                             "first")


def assert_relative_quantized(seq: NoteSequence, what: str = "this converter") -> None:
    """magenta.js ``assertIsRelativeQuantizedSequence``: quantized with steps per quarter (not per second).

    Raises
    ------
    ConverterError
    """
    if not isinstance(seq, NoteSequence):
        raise ConverterError(f"{what} needs a NoteSequence, got {type(seq).__name__}")
    q = seq.quantization_info
    if q is None or q.steps_per_quarter <= 0:
        raise ConverterError(f"{what} needs a NoteSequence quantized in steps per quarter; call "
                             "seq.quantize(steps_per_quarter=4) first")


def _steps(note, which: str) -> int:
    value = note.quantized_start_step if which == "start" else note.quantized_end_step
    if value is None:
        raise ConverterError(f"note of pitch {note.pitch} has no quantized {which} step; quantize the sequence "
                             "first (seq.quantize(steps_per_quarter=4))")
    return int(value)


class DataConverter:
    """Base of magenta.js's data converters (``core/data.ts``): NoteSequence <-> ``[steps, depth]`` array.

    Attributes
    ----------
    depth : int
        Width of the tensor (the model's event vocabulary; GrooveConverter: 3, see its docs).
    num_steps : int or None
        ``numSteps`` (``None``: the sequence's ``total_quantized_steps``).
    num_segments : int or None
        ``numSegments`` (conductor steps of a hierarchical MusicVAE; ``None``: flat).
    num_splits : int
        Number of core decoders (``NUM_SPLITS``): 3 for trio, else 0.
    segmented_by_track : bool
        ``SEGMENTED_BY_TRACK``: True for multitrack only.
    end_tensor : numpy.ndarray or None
        The end-token one-hot of multitrack (``endTensor``), else None.
    """

    depth: int = 0
    num_splits: int = 0
    segmented_by_track: bool = False
    end_tensor: np.ndarray | None = None

    def __init__(self, num_steps: int | None = None, num_segments: int | None = None):
        self.num_steps = None if num_steps is None else int(num_steps)
        self.num_segments = None if num_segments is None else int(num_segments)

    def to_tensor(self, seq: NoteSequence) -> np.ndarray:  # pragma: no cover - abstract
        """Encode a quantized NoteSequence as a ``[steps, depth]`` array (see each converter)."""
        raise NotImplementedError

    def to_note_sequence(self, tensor: np.ndarray, steps_per_quarter: int | None = None,
                         qpm: float | None = None) -> NoteSequence:  # pragma: no cover - abstract
        """Decode a ``[steps, depth]`` array (see each converter)."""
        raise NotImplementedError

    def tensor_steps(self, tensor: np.ndarray) -> int:
        """``tensorSteps``: the number of rows."""
        return int(np.shape(tensor)[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(depth={self.depth}, num_steps={self.num_steps})"


_NAMES = {"numSteps": "num_steps", "numSegments": "num_segments", "minPitch": "min_pitch",
          "maxPitch": "max_pitch", "ignorePolyphony": "ignore_polyphony", "pitchClasses": "pitch_classes",
          "melArgs": "mel_args", "bassArgs": "bass_args", "drumsArgs": "drums_args",
          "stepsPerQuarter": "steps_per_quarter", "totalSteps": "total_steps",
          "numVelocityBins": "num_velocity_bins", "splitInstruments": "split_instruments"}


def camel_kwargs(args: dict) -> dict:
    """A converter spec's camelCase arguments as keyword arguments (snake_case names pass through)."""
    return {_NAMES.get(k, k): v for k, v in args.items()}


def melody_kwargs(args: dict) -> dict:
    """Melody arguments (``minPitch``, ``maxPitch``, ``ignorePolyphony``) as keyword arguments, without
    ``num_steps``/``num_segments`` (the trio sets those)."""
    kw = camel_kwargs(args)
    kw.pop("num_steps", None)
    kw.pop("num_segments", None)
    return kw
