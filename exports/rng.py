"""The random generator behind every seeded call of the Python API: one check of what a caller may pass.

``MusicVAE(seed=...)``, ``MusicVAE.sample/similar/decode(rng=...)`` and ``MusicRNN.continue_sequence/stream(rng=...)``
take a seed or a generator; a string, a float or a negative seed used to end in a TypeError or ValueError from
inside numpy's ``SeedSequence``.
"""
from __future__ import annotations

import numpy as np

from tonehost.exports.errors import UsageError

__all__ = ["as_generator"]


def as_generator(rng, what: str = "rng") -> np.random.Generator:
    """``rng`` as a :class:`numpy.random.Generator`.

    Parameters
    ----------
    rng : None, int, sequence of int, numpy.random.Generator, SeedSequence or BitGenerator
        None: fresh entropy; a non-negative int (or a sequence of them): a reproducible seed; a generator: used
        as it is (its state advances).
    what : str
        The argument's name in the message.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    UsageError
        ``rng`` is none of these (a string, a float, a bool, a negative number); the message names ``what``.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if not isinstance(rng, (bool, np.bool_, str, bytes, float)):
        try:
            return np.random.default_rng(rng)
        except (TypeError, ValueError, OverflowError):
            pass
    raise UsageError(f"{what} must be None, a whole number >= 0 (a seed) or a numpy.random.Generator, got "
                     f"{type(rng).__name__} {rng!r:.60}")
