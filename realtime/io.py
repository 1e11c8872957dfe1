"""Audio files in: the one reader every command and pipeline uses.

:func:`read_audio` reads any format libsndfile knows (wav, flac, ogg, aiff, ...), at any rate and channel count,
as float32, and turns every way a file can be bad into one :class:`~tonehost.exports.errors.AudioFileError`
naming the file and the fix.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tonehost.exports.errors import AudioFileError

__all__ = ["read_audio", "to_mono"]


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Mix ``[n]`` or ``[n, channels]`` audio down to mono float32 (the mean of the channels).

    Parameters
    ----------
    audio : numpy.ndarray, shape (n,) or (n, channels)

    Returns
    -------
    numpy.ndarray, shape (n,), float32
    """
    a = np.asarray(audio, dtype=np.float32)
    return a if a.ndim == 1 else a.mean(axis=1, dtype=np.float64).astype(np.float32)


def read_audio(path: str | os.PathLike, mono: bool = True, allow_empty: bool = False) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 samples in [-1, 1].

    Parameters
    ----------
    path : str or os.PathLike
        Any file libsndfile reads (wav, flac, ogg, aiff, ...).
    mono : bool
        Mix the channels down to one (``[n]``); otherwise ``[n, channels]``.
    allow_empty : bool
        Return a 0-sample array for a file with no samples instead of raising.

    Returns
    -------
    (numpy.ndarray, int)
        The samples (float32, ``[n]`` or ``[n, channels]``) and the sample rate in Hz.

    Raises
    ------
    AudioFileError
        The file is missing, unreadable, not audio, or (unless ``allow_empty``) holds no samples.
    """
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise AudioFileError(f"audio file {p} not found", p)
    try:
        audio, sample_rate = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises RuntimeError / LibsndfileError / TypeError for bad files
        raise AudioFileError(f"cannot read {p} as audio ({exc}); use wav, flac or ogg", p) from None
    if len(audio) == 0 and not allow_empty:
        raise AudioFileError(f"{p} holds no audio samples", p)
    return (to_mono(audio) if mono else audio), int(sample_rate)
