"""The root of tonehost's errors and warnings, in the lowest layer so that every layer raises the same classes.

:mod:`tonehost.exports.errors` re-exports these and holds the rest of the hierarchy (files, devices, models,
checkpoints); programs catch :class:`TonehostError` (``tonehost.TonehostError``) whichever layer raised it.

- :class:`TonehostError` -- the root: one sentence naming the file, device or argument and the fix.
- :class:`UsageError` -- an argument or option of the wrong kind or range.
- :class:`ArgumentError` -- a bad argument to a :mod:`tonehost.dsp` function (``track_pitch(x, 0)``): a
  :class:`UsageError`, and a ``ValueError`` as :mod:`tonehost.dsp` raised before it had this root.
- :class:`TonehostWarning`, :class:`NonFiniteAudioWarning` -- something was repaired and the run goes on.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["TonehostError", "UsageError", "ArgumentError", "TonehostWarning", "NonFiniteAudioWarning"]


class TonehostError(Exception):
    """Root of tonehost's errors: one clear sentence naming the file or device and the fix.

    Parameters
    ----------
    message : str
        The sentence; also ``str(exc)`` and ``exc.user_message``.
    path : str or Path, optional
        The file, URL or device concerned, kept for programs that want it.
    """

    def __init__(self, message: str, path: str | Path | None = None):
        super().__init__(message)
        self.user_message = message
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        return self.user_message


class UsageError(TonehostError):
    """An option value or a combination of arguments that cannot work (``--blocksize 0``, no output given)."""


class ArgumentError(UsageError, ValueError):
    """A bad argument to a :mod:`tonehost.dsp` function (a rate, size, array or config that cannot work).

    Also a ``ValueError``: :mod:`tonehost.dsp` raised plain ``ValueError`` before, and callers that catch that
    keep working. ``tonehost.track_pitch(x, 0)`` raised a ``ValueError`` that ``except tonehost.TonehostError``
    did not catch.
    """

    def __init__(self, message: str):
        super().__init__(message)


class TonehostWarning(UserWarning):
    """Root of tonehost's warnings: something was repaired and the run goes on; the command line prints the one
    sentence as ``tonehost: warning: ...``."""


class NonFiniteAudioWarning(TonehostWarning, RuntimeWarning):
    """An audio file or input held NaN or infinite samples; they were replaced by zeros (the message names the
    file or argument and the count). Also a ``RuntimeWarning``, as :func:`tonehost.track_pitch` warned before."""
