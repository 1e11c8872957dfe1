"""The one error type of the checkpoint code: every reader, index and downloader failure is a CheckpointError.

``str(exc)`` and ``exc.user_message`` are the same sentence: what is wrong, which file, and how to fix it. The
CLI prints ``user_message`` without a traceback.
"""
from __future__ import annotations

from pathlib import Path


class CheckpointError(Exception):
    """A checkpoint that cannot be found, fetched, verified or read.

    Parameters
    ----------
    message : str
        One clear sentence (or two) naming the file and the fix; also ``str(exc)``.
    path : str or Path, optional
        The file or URL concerned, kept for programs that want it.
    """

    def __init__(self, message: str, path: str | Path | None = None):
        super().__init__(message)
        self.user_message = message
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        return self.user_message


class CheckpointFormatError(CheckpointError):
    """A manifest, model.json or shard that is not a valid TensorFlow.js checkpoint (corrupt, truncated, bad JSON)."""


class CheckpointNotFoundError(CheckpointError):
    """An unknown checkpoint id, or a file that is missing locally or on every server (404)."""


class CheckpointDownloadError(CheckpointError):
    """A download that failed after every retry and every mirror (network error, HTTP 5xx, dropped connection)."""


class CheckpointIntegrityError(CheckpointError):
    """A file whose size or SHA-256 differs from the index or the lock file."""


class CheckpointOfflineError(CheckpointError):
    """Offline mode was asked for, and the checkpoint is not (completely) in the cache."""
