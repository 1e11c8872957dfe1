"""Audio files in: the one reader every command and pipeline uses, whole or in blocks.

:class:`AudioFile` opens any format libsndfile knows (wav, flac, ogg, aiff, ...), at any rate and channel count,
and reads it as float32 in blocks (:meth:`AudioFile.blocks`, memory flat in the file's length) or whole
(:func:`read_audio`). Both share one set of checks, so every command sees a bad file the same way:

- a missing, unreadable or non-audio file, a file with no samples, a file whose header promises more samples than
  it holds (a cut-off download or copy) or that fails to decode part way: one
  :class:`~tonehost.exports.errors.AudioFileError` naming the file and the fix, never an empty or short result;
- NaN and infinite samples (float WAV/AIFF can store them) are replaced by zeros, and one
  :class:`~tonehost.exports.errors.NonFiniteAudioWarning` names the file and the count once the file is read.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np

from tonehost.dsp._checks import pcm_as_float, zero_non_finite
from tonehost.dsp.channels import cancelled_channel
from tonehost.exports.errors import AudioFileError, NonFiniteAudioWarning

__all__ = ["AudioFile", "read_audio", "read_blocks", "to_mono", "replace_non_finite", "warn_non_finite",
           "audio_array", "check_sample_rate", "BLOCK_FRAMES", "MIN_FILE_RATE", "MAX_FILE_RATE"]

#: Frames per block of :meth:`AudioFile.blocks` (about 3 s at 44.1 kHz: 1.5 MB as stereo float32).
BLOCK_FRAMES = 1 << 17
#: The sample rates (Hz) an audio file may declare. Outside, the header is damaged or the file is no recording: a
#: WAV saying 1 Hz made 16000 samples four and a half hours of audio (the transcriber ran for hours), one saying
#: 5 MHz ended in the resampler's ValueError. The top is the resampler's (:data:`tonehost.dsp._checks.MAX_RATE`).
MIN_FILE_RATE, MAX_FILE_RATE = 1000, 1_000_000

# libsndfile's header log says "data : 352800 (should be 4956)" (WAV) or "SSND : ... (should be ...)" (AIFF)
# when the header promises more bytes than the file holds.
_SHORT_CHUNK = re.compile(r"^\s*(data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Mix ``[n]`` or ``[n, channels]`` audio down to mono float32: the mean of the channels, or the loudest
    channel where the channels are in opposite polarity and the mean cancels them
    (:func:`tonehost.dsp.channels.cancelled_channel`: a laptop mic with one channel inverted).

    Parameters
    ----------
    audio : numpy.ndarray, shape (n,) or (n, channels)

    Returns
    -------
    numpy.ndarray, shape (n,), float32
    """
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        return a
    if a.shape[1] > 8 or a.shape[0] == 0:
        s = a.mean(axis=1, dtype=np.float64)
    else:
        # The same sums in the same order as ``a.mean(axis=1, dtype=float64)`` (bit for bit), a column at a time:
        # about 5x faster than numpy's reduction over a short inner axis (it was 6 % of a 10-minute transcription's
        # CPU).
        s = a[:, 0].astype(np.float64)
        for c in range(1, a.shape[1]):
            s += a[:, c]
        s /= a.shape[1]
    k = cancelled_channel(a, s)
    return s.astype(np.float32) if k < 0 else a[:, k].copy()


def check_sample_rate(sample_rate, what: str = "sample_rate", lowest: int = 1) -> int:
    """A sample rate given to the Python API as an ``int``: a whole number of Hz from ``lowest`` to
    :data:`tonehost.dsp._checks.MAX_RATE` (``sample_rate=float("nan")`` or ``10**9`` used to end in a ValueError from
    deep inside the resampler).

    Parameters
    ----------
    sample_rate : int-like
    what : str
        Its name in the message.
    lowest : int
        The lowest rate taken (the voice path: :data:`tonehost.dsp.features.MIN_VOICE_RATE`).

    Raises
    ------
    UsageError
        Not a whole number in that range (the message names ``what`` and the value).
    """
    from tonehost.dsp._checks import MAX_RATE, check_int
    from tonehost.exports.errors import UsageError

    try:
        return check_int(what, sample_rate, lowest, MAX_RATE)
    except ValueError:
        raise UsageError(f"{what} must be a whole number of Hz from {lowest} to {MAX_RATE} (e.g. 44100), got "
                         f"{sample_rate!r}") from None


def audio_array(audio, where: str = "audio") -> np.ndarray:
    """Audio handed to the Python API as the mono float32 array the pipelines take.

    Parameters
    ----------
    audio : array-like, shape (n,) or (n, channels)
        Samples (any real dtype; channels, soundfile's layout, are averaged). NaN/inf samples are replaced by
        zeros with one :class:`~tonehost.exports.errors.NonFiniteAudioWarning` (as for files).
    where : str
        What to call it in messages.

    Returns
    -------
    numpy.ndarray, shape (n,), float32
        A new array when anything was converted or replaced (the caller's array is never modified).

    Raises
    ------
    UsageError
        A file name instead of samples, a non-numeric array, more than 2 dimensions, or a ``[channels, n]`` array
        (librosa's layout: it used to be averaged over the wrong axis, giving 2 samples for a stereo minute).
    """
    from tonehost.dsp._checks import check_audio
    from tonehost.exports.errors import UsageError

    try:
        a = check_audio(audio, where)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if a.dtype.kind in "iu":  # whole-number PCM: scaled to [-1, 1) as soundfile reads it (unsigned: offset binary)
        a = pcm_as_float(a).astype(np.float32)
    mono = to_mono(a)
    if mono is audio or np.shares_memory(mono, np.asarray(audio)):
        if not np.isfinite(np.add.reduce(mono, axis=None)):
            mono = mono.copy()
    warn_non_finite(where, replace_non_finite(mono), stacklevel=4)  # at the API's caller
    return mono


def replace_non_finite(audio: np.ndarray) -> int:
    """Replace NaN and +-inf samples by 0 in place.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples of any shape (modified in place).

    Returns
    -------
    int
        How many samples were replaced (a clean block costs one sum and no copy).
    """
    clean, bad = zero_non_finite(audio)  # a clean block: one sum, nothing copied
    if bad:
        audio[...] = clean
    return bad


def warn_non_finite(where, count: int, stacklevel: int = 3) -> None:
    """Issue the one :class:`~tonehost.exports.errors.NonFiniteAudioWarning` for ``count`` replaced samples of
    ``where`` (a file or an input's name); nothing when ``count`` is 0."""
    if count:
        warnings.warn(f"{where}: {count} non-finite sample{'s' if count != 1 else ''} (NaN or infinity) "
                      "replaced by silence; check the recording or the program that wrote it",
                      NonFiniteAudioWarning, stacklevel=stacklevel)


def _file_name(path) -> str | os.PathLike:
    """``path`` as a name :class:`pathlib.Path` takes: bytes decoded as the OS does (``os.fsdecode``); samples, None
    or a number refused in one sentence (``read_audio(samples)`` was ``TypeError: expected str, bytes or
    os.PathLike object, not ndarray`` and ``read_audio(b"take.wav")`` a TypeError too)."""
    from tonehost.exports.errors import UsageError

    if isinstance(path, bytes):
        return os.fsdecode(path)
    if isinstance(path, (str, os.PathLike)):
        return path
    hint = (": these are already samples (pass them with their sample rate to the function that takes audio)"
            if isinstance(path, (np.ndarray, list, tuple)) else "")
    raise UsageError(f"an audio file name (str or pathlib.Path) is needed, got {type(path).__name__}{hint}")


class AudioFile:
    """An audio file open for reading, whole or in blocks of bounded size.

    Parameters
    ----------
    path : str or os.PathLike
        Any file libsndfile reads (wav, flac, ogg, aiff, ...).
    mono : bool
        Mix the channels down to one (blocks ``[n]``); otherwise blocks are ``[n, channels]``.
    allow_empty : bool
        Accept a file with no samples (reading it gives nothing) instead of raising.

    Attributes
    ----------
    sample_rate : int
        Hz.
    channels : int
        Channels in the file (before any mix-down).
    frames : int
        Samples per channel the file holds.
    non_finite : int
        NaN/inf samples replaced by zeros so far (counted over all channels, before the mix-down).

    Raises
    ------
    AudioFileError
        The file is missing, not audio, truncated (its header promises more than it holds) or, unless
        ``allow_empty``, holds no samples.

    Examples
    --------
    >>> with AudioFile("take.flac") as f:
    ...     for block in f.blocks():      # float32 [n], n <= BLOCK_FRAMES
    ...         consume(block, f.sample_rate)
    """

    def __init__(self, path: str | os.PathLike, mono: bool = True, allow_empty: bool = False):
        import soundfile as sf

        self.path = Path(_file_name(path))
        self.mono = mono
        self.non_finite = 0
        self._warned = False
        if self.path.is_dir():
            raise AudioFileError(f"{self.path} is a folder, not an audio file; give a file inside it", self.path)
        if not self.path.is_file():
            if str(path) == "-" or self.path.exists():  # standard input, a pipe, a device: no length, no seeking
                raise AudioFileError(f"{self.path} is not a regular file (standard input, a pipe or a device); "
                                     "save the audio to a file and give its name", self.path)
            raise AudioFileError(f"audio file {self.path} not found", self.path)
        try:
            size = self.path.stat().st_size
        except OSError:
            size = -1
        if size == 0:
            raise AudioFileError(f"{self.path} is empty (0 bytes), not an audio file; record or copy it again",
                                 self.path)
        try:
            self._file = sf.SoundFile(str(self.path))
        except Exception as exc:  # soundfile raises RuntimeError / LibsndfileError / TypeError for bad files
            raise AudioFileError(f"cannot read {self.path} as audio ({exc}); use wav, flac or ogg",
                                 self.path) from None
        self.sample_rate = int(self._file.samplerate)
        self.channels = int(self._file.channels)
        self.frames = int(self._file.frames)
        if not MIN_FILE_RATE <= self.sample_rate <= MAX_FILE_RATE:
            self._file.close()
            raise AudioFileError(f"{self.path} says its sample rate is {self.sample_rate} Hz; tonehost reads "
                                 f"{MIN_FILE_RATE}..{MAX_FILE_RATE} Hz (a damaged header?): export it again at a "
                                 "usual rate", self.path)
        short = _SHORT_CHUNK.search(self._file.extra_info or "")
        if short and int(short.group(2)) not in (0, 0xFFFFFFFF) and int(short.group(2)) > int(short.group(3)):
            declared, held = int(short.group(2)), int(short.group(3))
            self._file.close()
            raise AudioFileError(f"{self.path} is truncated: its header promises {declared} bytes of audio but the "
                                 f"file holds {held} ({100 * held / declared:.1f} %); copy or download it again",
                                 self.path)
        if self.frames == 0 and not allow_empty:
            self._file.close()
            raise AudioFileError(f"{self.path} holds no audio samples (a header and no sound); record or export "
                                 "it again", self.path)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    def __enter__(self) -> "AudioFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._file.close()

    def _read(self, n: int) -> np.ndarray:
        try:
            block = self._file.read(n, dtype="float32", always_2d=True)
        except Exception as exc:  # a FLAC/OGG stream cut or damaged part way
            at = self._file.tell() / self.sample_rate if not self._file.closed else 0.0
            raise AudioFileError(f"{self.path} cannot be decoded past {at:.1f} s of {self.duration:.1f} s ({exc}); "
                                 "the file is truncated or damaged: copy or download it again", self.path) from None
        self.non_finite += replace_non_finite(block)
        return to_mono(block) if self.mono else block

    def _done(self, got: int) -> None:
        if got < self.frames:
            raise AudioFileError(f"{self.path} is truncated: it ends after {got / self.sample_rate:.1f} s of the "
                                 f"{self.duration:.1f} s its header promises; copy or download it again", self.path)
        if not self._warned:
            self._warned = True
            warn_non_finite(self.path, self.non_finite, stacklevel=4)

    def blocks(self, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """Read the file from its start in blocks.

        Parameters
        ----------
        block_frames : int
            Most frames per block; every block but the last has exactly this many.

        Yields
        ------
        numpy.ndarray
            float32 ``[n]`` (mono) or ``[n, channels]``; a new array each time.

        Raises
        ------
        AudioFileError
            The file ends before the length its header gives, or fails to decode part way (raised when reached,
            after the blocks before it were yielded).

        Warns
        -----
        NonFiniteAudioWarning
            Once, after the last block, when NaN/inf samples were replaced.
        """
        self._file.seek(0)
        got = 0
        while got < self.frames:
            block = self._read(min(int(block_frames), self.frames - got))
            if len(block) == 0:
                break
            got += len(block)
            yield block
        self._done(got)

    def read(self) -> np.ndarray:
        """The whole file as one float32 array ``[frames]`` or ``[frames, channels]`` (see :meth:`blocks` for the
        errors and the warning)."""
        self._file.seek(0)
        audio = self._read(self.frames)
        self._done(len(audio))
        return audio


def read_blocks(path: str | os.PathLike, block_frames: int = BLOCK_FRAMES,
                mono: bool = True) -> Iterator[tuple[np.ndarray, int]]:
    """Read an audio file in blocks: ``for block, sample_rate in read_blocks(path): ...``.

    Parameters
    ----------
    path : str or os.PathLike
    block_frames : int
        Most frames per block.
    mono : bool
        Mix down to ``[n]``; otherwise ``[n, channels]``.

    Yields
    ------
    (numpy.ndarray, int)
        float32 samples and the sample rate in Hz.

    Raises
    ------
    AudioFileError
        As :class:`AudioFile` and :meth:`AudioFile.blocks`.
    """
    with AudioFile(path, mono=mono) as f:
        for block in f.blocks(block_frames):
            yield block, f.sample_rate


def read_audio(path: str | os.PathLike, mono: bool = True, allow_empty: bool = False) -> tuple[np.ndarray, int]:
    """Read a whole audio file as float32 samples: PCM files in [-1, 1), float files as stored (a float WAV may
    hold samples beyond +-1; they are not clipped).

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
        The file is missing, unreadable, not audio, truncated, damaged part way or (unless ``allow_empty``) holds
        no samples.
    UsageError
        ``path`` is not a file name (``str``, ``bytes`` or ``os.PathLike``): an array, None, a number;
        ``mono`` or ``allow_empty`` is not True or False (``read_audio(path, 2)`` read one channel, not two).

    Warns
    -----
    NonFiniteAudioWarning
        NaN/inf samples were replaced by zeros (the message names the file and the count).
    """
    from tonehost.exports.errors import UsageError

    for name, flag in (("mono", mono), ("allow_empty", allow_empty)):
        if not isinstance(flag, (bool, np.bool_)):
            raise UsageError(f"read_audio's {name} must be True or False, got {flag!r:.40}"
                             + ("; read_audio returns every channel with mono=False ([n, channels])"
                                if name == "mono" else ""))
    with AudioFile(path, mono=mono, allow_empty=allow_empty) as f:
        return f.read(), f.sample_rate
