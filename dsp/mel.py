"""The Onsets-and-Frames front end of magenta.js: log-mel spectrogram, offline and streaming.

Matches ``music/src/transcription/audio_utils.ts`` of ``@magenta/music`` (1.23.1) step by step, including its
float32 roundings: 16 kHz audio, n_fft 2048, hop 512, a *symmetric* Hann window (``cos(2 pi i / (N - 1))``),
reflect padding of n_fft/2 at both ends (frames centred on ``i * 512``), power spectrum, 229 HTK mel bands from
30 Hz to 8 kHz with Slaney-style area normalisation, then ``10 log10(max(1e-10, p))`` clipped to 80 dB below the
maximum of *each frame* (not of the file).

:class:`MelStream` produces the same frames as :func:`log_mel` while audio arrives: frame ``i`` is out as soon as
sample ``i * 512 + 1023`` is in (frame 0 needs sample 1024 for its reflected left edge); the last frames, which
need the reflected right edge, come from :meth:`MelStream.finish`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from tonehost.dsp._checks import MAX_FRAME, MAX_RATE, check_int

SAMPLE_RATE = 16000
N_FFT = 2048
HOP = 512
N_MELS = 229
F_MIN = 30.0
AMIN = 1e-10
TOP_DB = 80.0
_PAD = N_FFT // 2


def _linear_space(start: float, end: float, count: int) -> np.ndarray:
    delta = (end - start) / (count - 1)
    return (start + delta * np.arange(count, dtype=np.float64)).astype(np.float32)


def hann_window(length: int = N_FFT) -> np.ndarray:
    """Symmetric Hann window as magenta.js builds it (float32).

    Parameters
    ----------
    length : int
        Window length in samples.

    Returns
    -------
    numpy.ndarray
        float32 ``0.5 * (1 - cos(2 pi i / (length - 1)))``.

    Raises
    ------
    ArgumentError
        ``length`` not a whole number in 2..2**20.
    """
    length = check_int("length", length, 2, MAX_FRAME)
    i = np.arange(length, dtype=np.float64)
    return (0.5 * (1.0 - np.cos(2.0 * np.pi * i / (length - 1)))).astype(np.float32)


def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   f_min: float = F_MIN, f_max: float | None = None) -> np.ndarray:
    """HTK-mel triangular filterbank with Slaney area normalisation, float32 as in magenta.js.

    Parameters
    ----------
    sample_rate, n_fft, n_mels, f_min, f_max
        As ``createMelFilterbank`` (``f_max`` defaults to Nyquist).

    Returns
    -------
    numpy.ndarray
        float32 ``[n_mels, n_fft // 2 + 1]``.

    Raises
    ------
    ArgumentError
        ``sample_rate`` not in 1..1e6, ``n_fft`` not in 2..2**20, or ``n_mels`` not in 1..1024 (whole numbers).
    """
    sample_rate = check_int("sample_rate", sample_rate, 1, MAX_RATE)
    n_fft = check_int("n_fft", n_fft, 2, MAX_FRAME)
    n_mels = check_int("n_mels", n_mels, 1, 1024)
    f_max = sample_rate / 2 if f_max is None else f_max
    fft_freqs = _linear_space(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_min = 1125.0 * math.log(1 + f_min / 700.0)
    mel_max = 1125.0 * math.log(1 + f_max / 700.0)
    mels = _linear_space(mel_min, mel_max, n_mels + 2)
    hz = (700.0 * (np.exp(mels.astype(np.float64) / 1125.0) - 1)).astype(np.float32)
    diff = (hz[1:].astype(np.float64) - hz[:-1]).astype(np.float32).astype(np.float64)
    ramps = (hz[:, None].astype(np.float64) - fft_freqs[None, :]).astype(np.float32).astype(np.float64)
    lower = -ramps[:n_mels] / diff[:n_mels, None]
    upper = ramps[2:] / diff[1:n_mels + 1, None]
    weights = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)
    enorm = 2.0 / (hz[2:n_mels + 2].astype(np.float64) - hz[:n_mels])
    return (weights.astype(np.float64) * enorm[:, None]).astype(np.float32)


_WINDOW = hann_window()
_FB = mel_filterbank()
_FB64 = _FB.astype(np.float64)
_FB_LO = np.array([np.flatnonzero(r)[0] for r in _FB], dtype=np.int64)
_FB_HI = np.array([np.flatnonzero(r)[-1] + 1 for r in _FB], dtype=np.int64)


@njit(nogil=True, cache=True)
def _mel_db(power, fb, lo, hi, out):
    """Filterbank (float32 products, float64 sums as JS ``reduce``) then per-frame dB with top_db clipping."""
    n_frames = power.shape[0]
    n_mels = fb.shape[0]
    for t in range(n_frames):
        peak = -np.inf
        for m in range(n_mels):
            acc = 0.0
            for k in range(lo[m], hi[m]):
                acc += np.float32(power[t, k] * fb[m, k])
            v = np.float32(acc)
            db = np.float32(10.0 * np.log10(max(AMIN, np.float64(v))))
            out[t, m] = db
            if db > peak:
                peak = db
        floor = np.float64(peak) - TOP_DB
        for m in range(n_mels):
            out[t, m] = np.float32(max(np.float64(out[t, m]), floor))


@njit(nogil=True, cache=True)
def _spec_mel_db(spec, fb, lo, hi, out):
    """Power spectrum as magenta.js rounds it (``float32(|X|)`` squared into float32, from float32 real and
    imaginary parts) row by row, then :func:`_mel_db`: the same values as the numpy chain, without its five
    full-size temporaries."""
    n_bins = spec.shape[1]
    power = np.empty((1, n_bins), np.float32)
    for t in range(spec.shape[0]):
        for k in range(n_bins):
            re = np.float64(np.float32(spec[t, k].real))
            im = np.float64(np.float32(spec[t, k].imag))
            mag = np.float64(np.float32(np.sqrt(re * re + im * im)))
            power[0, k] = np.float32(mag * mag)
        _mel_db(power, fb, lo, hi, out[t:t + 1])


def frames_to_log_mel(frames: np.ndarray) -> np.ndarray:
    """Log-mel features of already-framed audio.

    Parameters
    ----------
    frames : numpy.ndarray
        float32 ``[T, 2048]``: padded audio cut into frames (not windowed yet).

    Returns
    -------
    numpy.ndarray
        float32 ``[T, 229]`` log-mel (dB) frames.
    """
    frames = np.asarray(frames, dtype=np.float32)
    out = np.empty((frames.shape[0], N_MELS), dtype=np.float32)
    if frames.shape[0] == 0:
        return out
    spec = np.fft.rfft(frames * _WINDOW, axis=1)
    _spec_mel_db(np.ascontiguousarray(spec), _FB, _FB_LO, _FB_HI, out)
    return out


def reflect_pad(audio: np.ndarray, pad: int = _PAD) -> np.ndarray:
    """Reflect padding exactly as magenta.js ``padReflect`` (numpy 'reflect' for audio longer than ``pad``)."""
    audio = np.asarray(audio, dtype=np.float32)
    out = np.zeros(len(audio) + 2 * pad, dtype=np.float32)
    out[pad:pad + len(audio)] = audio
    n = len(out)
    for i in range(pad):  # same order of reads and writes as the JS loop, so short inputs also match
        out[i] = out[2 * pad - i]
        out[n - i - 1] = out[n - 2 * pad + i - 1]
    return out


def _frames(padded: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` frames of ``padded`` (``N_FFT`` samples every ``HOP``) as a read-only strided view."""
    if n <= 0:
        return np.zeros((0, N_FFT), np.float32)
    return np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[:(n - 1) * HOP + 1:HOP]


def frame_count(n_samples: int) -> int:
    """Number of mel frames magenta.js produces for ``n_samples`` of 16 kHz audio (0 for no audio)."""
    if n_samples <= 0:  # (the formula gives one frame of nothing; reflecting an empty signal is undefined)
        return 0
    return (n_samples + 2 * _PAD - N_FFT) // HOP + 1


def log_mel(audio: np.ndarray) -> np.ndarray:
    """Offline magenta.js log-mel spectrogram of 16 kHz mono audio.

    Parameters
    ----------
    audio : numpy.ndarray
        Mono float samples at 16 kHz (at least 1025 samples for the reference's reflect padding to be defined
        like numpy's; shorter input is still handled the way the JS loop handles it).

    Returns
    -------
    numpy.ndarray
        float32 ``[frame_count(len(audio)), 229]``; no rows for no audio.
    """
    if len(audio) == 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    padded = reflect_pad(audio)
    n = frame_count(len(audio))
    return frames_to_log_mel(_frames(padded, n))


class MelStream:
    """Streaming log-mel: push 16 kHz audio, get the frames that are complete, identical to :func:`log_mel`.

    Examples
    --------
    >>> ms = MelStream()
    >>> parts = [ms.push(block) for block in blocks] + [ms.finish()]
    >>> mel = np.concatenate(parts)   # == log_mel(np.concatenate(blocks))
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget all audio; the next sample is sample 0 of a new stream."""
        self._head = np.zeros(0, dtype=np.float32)   # raw audio until the left pad can be built
        self._buf = np.zeros(0, dtype=np.float32)    # padded audio from frame ``_next`` on
        self._next = 0                                # index of the next frame to emit
        self._n = 0                                   # samples received
        self._started = False
        self._finished = False

    @property
    def frames_out(self) -> int:
        """How many frames have been returned so far."""
        return self._next

    @property
    def samples_in(self) -> int:
        """How many samples have been pushed so far."""
        return self._n

    def push(self, audio: np.ndarray) -> np.ndarray:
        """Add samples; return the new complete frames, float32 ``[k, 229]`` (k may be 0)."""
        if self._finished:
            raise RuntimeError("MelStream.push after finish(); call reset() first")
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        self._n += len(audio)
        if not self._started:
            self._head = np.concatenate([self._head, audio])
            if len(self._head) < _PAD + 1:
                return np.zeros((0, N_MELS), dtype=np.float32)
            left = self._head[1:_PAD + 1][::-1]
            self._buf = np.concatenate([left, self._head])
            self._head = np.zeros(0, dtype=np.float32)
            self._started = True
        else:
            self._buf = np.concatenate([self._buf, audio])
        k = (len(self._buf) - N_FFT) // HOP + 1 if len(self._buf) >= N_FFT else 0
        return self._emit(k)

    def _emit(self, k: int) -> np.ndarray:
        if k <= 0:
            return np.zeros((0, N_MELS), dtype=np.float32)
        out = frames_to_log_mel(_frames(self._buf, k))
        self._buf = self._buf[k * HOP:]
        self._next += k
        return out

    def finish(self) -> np.ndarray:
        """End of stream: return the remaining frames (those that need the reflected right edge)."""
        if self._finished:
            return np.zeros((0, N_MELS), dtype=np.float32)
        self._finished = True
        if not self._started:  # short input: nothing emitted yet, compute it whole like the reference
            mel = log_mel(self._head)
            self._next = len(mel)
            return mel
        # right reflect: padded[n + k] = data[N - 2 - k]; the buffer holds the last >= 1025 samples
        tail = self._buf[len(self._buf) - _PAD - 1:len(self._buf) - 1][::-1]
        self._buf = np.concatenate([self._buf, tail])
        total = frame_count(self._n)
        return self._emit(total - self._next)


def pitch_band_weights(harmonics: tuple[int, ...] = (1, 2, 3), min_pitch: int = 21, n_pitches: int = 88,
                       width_semitones: float = 0.5) -> np.ndarray:
    """Which mel bands carry each piano key's first partials: weights to sum mel power into per-key levels.

    A mel band whose centre frequency lies within ``width_semitones`` of partial ``h * f0`` of key ``p``
    (``f0 = 440 * 2 ** ((p - 69) / 12)``) gets weight ``1 - distance / width`` (a triangle in semitones);
    partials above 7.9 kHz are left out. Used to measure how loud a key is at its onset
    (:func:`pitch_levels_db`).

    Parameters
    ----------
    harmonics : tuple of int
        Partial numbers summed (1 = fundamental; the low keys' fundamentals are weak or below 30 Hz).
    min_pitch, n_pitches : int
        MIDI pitch of the first key and the number of keys (piano: 21, 88).
    width_semitones : float
        Half-width of each triangle.

    Returns
    -------
    numpy.ndarray
        float32 ``[n_pitches, 229]``.
    """
    fft_freqs = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    centre = (_FB64 * fft_freqs).sum(axis=1) / _FB64.sum(axis=1)
    w = np.zeros((n_pitches, N_MELS))
    for i in range(n_pitches):
        f0 = 440.0 * 2.0 ** ((i + min_pitch - 69) / 12.0)
        for h in harmonics:
            if h * f0 > 7900.0:
                continue
            d = np.abs(12.0 * np.log2(np.maximum(centre, 1.0) / (h * f0)))
            w[i] += np.maximum(0.0, 1.0 - d / width_semitones)
    return w.astype(np.float32)


def _sparse_weights(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bands [P, J] int64, weights [P, J] float64, counts [P]): each key's non-zero mel bands, in band order."""
    w = np.asarray(weights, np.float64)
    counts = (w != 0).sum(axis=1)
    J = max(1, int(counts.max(initial=0)))
    bands = np.zeros((w.shape[0], J), np.int64)
    wts = np.zeros((w.shape[0], J), np.float64)
    for p in range(w.shape[0]):
        nz = np.flatnonzero(w[p])
        bands[p, :len(nz)] = nz
        wts[p, :len(nz)] = w[p, nz]
    return bands, wts, counts.astype(np.int64)


_SPARSE = {}


def _sparse_for(weights: np.ndarray):
    key = (id(weights), weights.shape)
    hit = _SPARSE.get(key)
    if hit is None or hit[0] is not weights:
        hit = (weights, _sparse_weights(weights))
        _SPARSE.clear()
        _SPARSE[key] = hit
    return hit[1]


@njit(nogil=True, cache=True)
def _key_level(mel_db, t, p, bands, wts, counts):
    """One key's level at one frame: ``float32(10 log10(sum_j w_j 10 ** (mel_db[t, band_j] / 10) + 1e-10))``,
    the sum over the key's non-zero bands in band order."""
    acc = 0.0
    for j in range(counts[p]):
        acc += wts[p, j] * 10.0 ** (np.float64(mel_db[t, bands[p, j]]) / 10.0)
    return np.float32(10.0 * np.log10(acc + 1e-10))


@njit(nogil=True, cache=True)
def _levels_all(mel_db, bands, wts, counts, out):
    for t in range(mel_db.shape[0]):
        for p in range(out.shape[1]):
            out[t, p] = _key_level(mel_db, t, p, bands, wts, counts)


@njit(nogil=True, cache=True)
def _onset_levels_at(mel_db, first, ks, ps, bands, wts, counts, peak, rise):
    n = mel_db.shape[0]
    for i in range(ks.shape[0]):
        k = ks[i]
        p = ps[i]
        f = first + k
        hi = np.float32(-np.inf)
        for t in range(f, min(n, f + 3)):
            v = _key_level(mel_db, t, p, bands, wts, counts)
            if v > hi:
                hi = v
        peak[k, p] = hi
        if f > 0:
            lo = np.float32(-np.inf)
            for t in range(max(0, f - 3), f):
                v = _key_level(mel_db, t, p, bands, wts, counts)
                if v > lo:
                    lo = v
            rise[k, p] = np.float32(hi - lo)
        else:
            rise[k, p] = np.float32(np.inf)


def pitch_levels_db(mel_db: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-key level in dB: ``10 log10(sum_m weights[p, m] * 10 ** (mel_db[t, m] / 10) + 1e-10)``.

    Summed over each key's non-zero bands in band order, in float64 (the same value whichever frames are asked
    for, so offline and live runs agree).

    Parameters
    ----------
    mel_db : numpy.ndarray
        ``[T, 229]`` log-mel frames (dB, :func:`log_mel` / :class:`MelStream`).
    weights : numpy.ndarray
        ``[P, 229]`` from :func:`pitch_band_weights`.

    Returns
    -------
    numpy.ndarray
        float32 ``[T, P]``.
    """
    mel_db = np.ascontiguousarray(mel_db, np.float32)
    bands, wts, counts = _sparse_for(weights)
    out = np.empty((mel_db.shape[0], len(counts)), np.float32)
    _levels_all(mel_db, bands, wts, counts, out)
    return out


def onset_levels(mel_db: np.ndarray, first: int, count: int, weights: np.ndarray,
                 mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-key level at each frame's onset, and how much it rose: what a struck key adds to the spectrum.

    Parameters
    ----------
    mel_db : numpy.ndarray
        ``[T, 229]`` log-mel frames holding frames ``first - 3 .. first + count + 2`` where they exist.
    first, count : int
        The frames asked for (indices into ``mel_db``).
    weights : numpy.ndarray
        ``[P, 229]`` from :func:`pitch_band_weights`.
    mask : numpy.ndarray, optional
        bool ``[count, P]``: compute only these (frame, key) pairs (a decoder needs levels at onsets only: ~1 %
        of them); elsewhere ``peak`` is ``-inf`` and ``rise`` ``+inf``. Default: all.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``peak`` float32 ``[count, P]``: the key's level (:func:`pitch_levels_db`) at most over frames
        ``f .. f + 2`` (the attack peaks within ~64 ms); ``rise`` ``[count, P]``: ``peak`` minus the key's highest
        level over frames ``f - 3 .. f - 1`` (``+inf`` for frame 0).
    """
    mel_db = np.ascontiguousarray(mel_db, np.float32)
    bands, wts, counts = _sparse_for(weights)
    P = len(counts)
    if mask is None:
        ks, ps = np.divmod(np.arange(count * P, dtype=np.int64), P)
    else:
        ks, ps = np.nonzero(np.asarray(mask, bool)[:count])
        ks, ps = ks.astype(np.int64), ps.astype(np.int64)
    peak = np.full((count, P), -np.inf, np.float32)
    rise = np.full((count, P), np.inf, np.float32)
    _onset_levels_at(mel_db, int(first), ks, ps, bands, wts, counts, peak, rise)
    return peak, rise
