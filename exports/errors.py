"""tonehost's errors: one root, :class:`TonehostError`, for every failure a user can do something about.

``str(exc)`` and ``exc.user_message`` are the same sentence: what is wrong, which file or device, and how to fix
it. The command line prints that sentence (``tonehost: error: ...``) without a traceback and catches nothing
else; programs that build on tonehost catch :class:`TonehostError`.

Hierarchy::

    TonehostError              (with UsageError and the warnings' root, defined in tonehost.dsp.errors, the lowest
    |                           layer, so that dsp's argument checks raise them too: dsp.errors.ArgumentError)
    |-- UsageError             a bad option value or argument combination
    |-- AudioFileError         an audio file that is missing, unreadable, truncated or empty
    |-- DeviceError            an audio or MIDI device that is missing or cannot do what was asked
    |-- ModelError             a model file that is not in the expected contract (ONNX metadata, inputs)
    `-- CheckpointError        a checkpoint that cannot be found, fetched, verified or read
        |-- CheckpointFormatError, CheckpointNotFoundError, CheckpointDownloadError,
        `-- CheckpointIntegrityError, CheckpointOfflineError
"""
from __future__ import annotations

from tonehost.dsp.errors import NonFiniteAudioWarning, TonehostError, TonehostWarning, UsageError

__all__ = ["TonehostError", "UsageError", "AudioFileError", "DeviceError", "ModelError", "CheckpointError",
           "CheckpointFormatError", "CheckpointNotFoundError", "CheckpointDownloadError",
           "CheckpointIntegrityError", "CheckpointOfflineError", "TonehostWarning", "NonFiniteAudioWarning",
           "DownloadRetryWarning"]


class AudioFileError(TonehostError):
    """An audio file that is missing, unreadable, truncated or holds no samples."""


class DeviceError(TonehostError):
    """An audio or MIDI device that is missing or cannot do what was asked (rate, channels, block size)."""


class ModelError(TonehostError):
    """A model file (``.onnx``) that is missing or not in the contract tonehost runs."""


class CheckpointError(TonehostError):
    """A checkpoint that cannot be found, fetched, verified or read."""


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


class DownloadRetryWarning(TonehostWarning):
    """A download attempt failed (timeout, dropped connection, HTTP 5xx) and will be retried after a pause: the
    message names the URL, the failure, the pause and the attempt, so a slow or silent server is never a silent
    wait (``tonehost checkpoints fetch`` against a server that never answers waited 2.5 minutes without a word)."""
