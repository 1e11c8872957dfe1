"""Size limits of the generators, one place for the API and the command line.

A MusicRNN continuation or a MusicVAE batch costs time and memory in proportion to its size, and nothing else stops
a caller that asks for a billion: ``MusicVAE().sample(10**9)`` ended in numpy's MemoryError (954 GiB of z),
``continue --steps 100000000`` ran for hours without a word. :class:`~tonehost.realtime.pipelines.music_rnn.MusicRNN`,
:class:`~tonehost.realtime.pipelines.music_vae.MusicVAE` and the ``continue`` / ``vae`` commands all check against
these numbers (the commands while parsing, the classes on every call), so one refusal reads the same everywhere.

Kept free of heavy imports: the command line's parser reads the numbers for its ranges and help.
"""
from __future__ import annotations

from tonehost.exports.errors import UsageError

__all__ = ["MAX_STEPS", "MAX_ANSWER_BARS", "MAX_BATCH", "check_steps", "check_batch"]

#: The most new steps one MusicRNN continuation draws (``continue_sequence``, ``MusicRNNStream.take``,
#: ``tonehost continue --steps``): 256 bars of sixteenths (8.5 minutes at 120 qpm), a few seconds of CPU.
MAX_STEPS = 4096

#: The longest answer of :class:`~tonehost.realtime.pipelines.jam.CallAndResponse` (``jam --answer-bars``), drawn
#: in one go: :data:`MAX_STEPS` in 4/4 bars of sixteenths.
MAX_ANSWER_BARS = MAX_STEPS // 16

#: The most sequences one MusicVAE call decodes (``sample`` n, ``interpolate``'s points or grid width x height,
#: ``similar`` n, ``decode`` z rows; ``tonehost vae -n/--steps/--grid``): about 10 s of decoding for the 2-bar
#: models on one core.
MAX_BATCH = 1000


def _whole(what: str, value, hi: int, fix: str) -> int:
    from tonehost.dsp._checks import check_int

    try:  # a whole number: NaN, 2.5, "8" and True are refused as well as the range
        return check_int(what, value, 1, hi)
    except ValueError as exc:
        raise UsageError(f"{exc}{fix if _is_big(value, hi) else ''}") from None


def _is_big(value, hi: int) -> bool:
    try:
        return float(value) > hi
    except (TypeError, ValueError, OverflowError):
        return False


def check_steps(steps, what: str = "steps") -> int:
    """``steps`` as an ``int`` in ``1 .. MAX_STEPS``.

    Parameters
    ----------
    steps : int-like
        New MusicRNN steps to draw.
    what : str
        The argument's name in the message.

    Returns
    -------
    int

    Raises
    ------
    UsageError
        Not a whole number, below 1 or above :data:`MAX_STEPS` (the message names the value and the range, and
        for too many says how to get more).
    """
    return _whole(what, steps, MAX_STEPS, "; continue a continuation (or draw from a stream) for more")


def check_batch(n, what: str) -> int:
    """``n`` as an ``int`` in ``1 .. MAX_BATCH``.

    Parameters
    ----------
    n : int-like
        Sequences one MusicVAE call decodes.
    what : str
        What ``n`` counts, for the message (``"the number of samples"``).

    Returns
    -------
    int

    Raises
    ------
    UsageError
        Not a whole number, below 1 or above :data:`MAX_BATCH` (the message names the value and the range, and
        for too many says to split the work).
    """
    return _whole(what, n, MAX_BATCH, f"; decode in several calls of at most {MAX_BATCH}")
