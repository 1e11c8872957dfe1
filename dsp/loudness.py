"""Loudness features: DDSP-VST power, magenta.js RMS power, and DDSP's A-weighted loudness.

* DDSP-VST: ``pw_db = 10*log10(max(1e-8, mean(x**2)))`` floored at -80, ``pw_scaled = pw_db/80 + 1``
  (one value per 1024-sample frame at 16 kHz, hop 320).
* magenta.js (``loudness_utils.ts computePower``): ``20*log10(max(1e-20, RMS)) - 20.7`` floored at -120; RMS over
  1024-sample frames, hop 64 at 16 kHz, frames placed like TF ``conv1d(..., padding='same')``.
* DDSP ``spectral_ops.compute_loudness``: |STFT| (periodic Hann, ``n_fft`` 2048, hop ``sr/frame_rate``, no
  centring, zero padding at the end) in dB (amin 1e-20), plus librosa's A-weighting (clipped at -80 dB), minus
  ``ref_db`` 20.7, floored at ``-range_db`` (-120), mean over bins, trimmed to ``int(len/sr*frame_rate)``.

Streaming versions keep a ring of the last ``frame`` samples in a caller-owned float64 state and emit one value
every ``hop`` input samples: for the power kernels the ``frame`` samples ending at sample ``(i+1)*hop - 1``, for
the A-weighted one DDSP's frame ``[i*hop, i*hop + n_fft)`` (see each function).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from tonehost.dsp.errors import ArgumentError
from tonehost.dsp._checks import MAX_BLOCK, MAX_FRAME, MAX_HOP, MAX_RATE, check_int
from tonehost.dsp.fft import fft_inplace, make_fft_plan

__all__ = ["power_db", "loudness_db", "vst_power_db", "vst_power_scaled", "mjs_power_db", "make_power_state",
           "power_block", "vst_power", "mjs_power", "a_weighting_db", "compute_loudness", "make_aloudness_state",
           "aloudness_block", "compute_loudness_streaming", "MODE_VST", "MODE_MJS", "PW_FLOOR_DB", "LD_FLOOR_DB",
           "LD_OFFSET_DB"]

MODE_VST = 0   # DDSP-VST pw_db
MODE_MJS = 1   # magenta.js 20*log10(rms) - 20.7


#: DDSP-VST's power floor, magenta.js's loudness floor and offset (dB).
PW_FLOOR_DB = -80.0
LD_FLOOR_DB = -120.0
LD_OFFSET_DB = -20.7


@njit(nogil=True, cache=True)
def power_db(mean_square):
    """DDSP-VST power of a frame from its mean square: ``max(10*log10(max(1e-8, ms)), -80)`` dB.

    The one home of this formula (``ddsp-vst/.../FeatureExtractor``: ``pw_db``); every tracker calls it.
    """
    return max(10.0 * math.log10(max(1e-8, mean_square)), PW_FLOOR_DB)


@njit(nogil=True, cache=True)
def loudness_db(mean_square):
    """magenta.js loudness of a frame from its mean square: ``max(20*log10(max(1e-20, rms)) - 20.7, -120)`` dB.

    The one home of this formula (``music/src/ddsp/loudness_utils.ts computePower``); every tracker calls it.
    """
    return max(20.0 * math.log10(max(1e-20, math.sqrt(mean_square))) + LD_OFFSET_DB, LD_FLOOR_DB)


@njit(nogil=True, cache=True)
def _mean_square(x, n):
    s = 0.0
    for i in range(n):
        v = float(x[i])
        s += v * v
    return s / n if n > 0 else 0.0


@njit(nogil=True, cache=True)
def vst_power_db(x, n):
    """DDSP-VST frame power in dB of ``x[:n]``: :func:`power_db` of its mean square."""
    return power_db(_mean_square(x, n))


@njit(nogil=True, cache=True)
def vst_power_scaled(pw_db):
    """DDSP-VST ``pw_scaled = pw_db / 80 + 1``."""
    return pw_db / 80.0 + 1.0


@njit(nogil=True, cache=True)
def mjs_power_db(x, n):
    """magenta.js frame loudness in dB of ``x[:n]``: :func:`loudness_db` of its mean square."""
    return loudness_db(_mean_square(x, n))


@njit(nogil=True, cache=True)
def _loudness_db_array(mean_squares, out):
    for i in range(mean_squares.shape[0]):
        out[i] = loudness_db(mean_squares[i])
    return out


# ---------------------------------------------------------------------------------------------------------------
# streaming power (VST / magenta.js)
_P_FRAME, _P_HOP, _P_MODE, _P_W, _P_CNT, _P_SEEN = 0, 1, 2, 3, 4, 5
_P_HDR = 8


def make_power_state(frame: int = 1024, hop: int = 320, mode: int = MODE_VST) -> np.ndarray:
    """State for :func:`power_block`: ring of ``frame`` samples; ``mode`` MODE_VST or MODE_MJS.

    Raises
    ------
    ArgumentError
        ``frame`` not in 1..2**20, ``hop`` not in 1..2**20, or ``mode`` not 0 or 1.
    """
    frame = check_int("frame", frame, 1, MAX_FRAME)
    hop = check_int("hop", hop, 1, MAX_HOP)
    mode = check_int("mode", mode, MODE_VST, MODE_MJS)
    st = np.zeros(_P_HDR + 2 * frame, dtype=np.float64)
    st[_P_FRAME], st[_P_HOP], st[_P_MODE] = frame, hop, mode
    return st


@njit(nogil=True, cache=True)
def power_block(x, n, state, out):
    """Feed ``x[:n]``; every ``hop`` samples write one dB value (over the last ``frame`` samples) to ``out``.

    The value written after input sample ``t`` (0-based, ``(t+1) % hop == 0``) covers samples
    ``t-frame+1 .. t`` (zeros before the stream start). ``out`` needs ``n // hop + 1`` slots.

    Returns
    -------
    int
        Number of values written.
    """
    frame = int(state[_P_FRAME])
    hop = int(state[_P_HOP])
    mode = int(state[_P_MODE])
    w = int(state[_P_W])
    cnt = int(state[_P_CNT])
    ring = _P_HDR
    k = 0
    for i in range(n):
        v = float(x[i])
        state[ring + w] = v
        state[ring + w + frame] = v
        w += 1
        if w == frame:
            w = 0
        cnt += 1
        if cnt == hop:
            cnt = 0
            s = 0.0
            for j in range(frame):
                u = state[ring + w + j]
                s += u * u
            ms = s / frame
            val = power_db(ms) if mode == 0 else loudness_db(ms)
            if k < out.shape[0]:
                out[k] = val
                k += 1
    state[_P_W] = w
    state[_P_CNT] = cnt
    return k


def vst_power(audio, frame: int = 1024, hop: int = 320):
    """Offline DDSP-VST power: frames ``[i*hop, i*hop+frame)`` (zero padded at the end).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(pw_db, pw_scaled)``, one value per hop (``ceil(len/hop)`` frames).

    Raises
    ------
    ArgumentError
        ``frame`` or ``hop`` not a whole number in 1..2**20.
    """
    frame = check_int("frame", frame, 1, MAX_FRAME)
    hop = check_int("hop", hop, 1, MAX_HOP)
    audio = np.asarray(audio, dtype=np.float64)
    n_frames = -(-len(audio) // hop)
    pad = np.concatenate([audio, np.zeros(frame)])
    db = np.array([vst_power_db(pad[i * hop:i * hop + frame], frame) for i in range(n_frames)])
    return db, db / 80.0 + 1.0


def mjs_power(audio, sample_rate: int = 16000, frame: int = 1024, frame_rate: int = 250):
    """Offline magenta.js loudness (``computePower``): TF 'same'-padded RMS conv, stride ``sr // frame_rate``.

    Raises
    ------
    ArgumentError
        ``sample_rate`` not in 1..1e6, ``frame`` not in 1..2**20, or ``frame_rate`` not in 1..``sample_rate``.
    """
    sample_rate = check_int("sample_rate", sample_rate, 1, MAX_RATE)
    frame = check_int("frame", frame, 1, MAX_FRAME)
    frame_rate = check_int("frame_rate", frame_rate, 1, sample_rate)
    audio = np.asarray(audio, dtype=np.float64)
    hop = sample_rate // frame_rate
    n = len(audio)
    n_out = -(-n // hop)
    pad_total = max((n_out - 1) * hop + frame - n, 0)
    left = pad_total // 2
    padded = np.concatenate([np.zeros(left), audio, np.zeros(pad_total - left + frame)])
    sq = np.concatenate([[0.0], np.cumsum(padded ** 2)])
    starts = np.arange(n_out) * hop
    ms = np.maximum((sq[starts + frame] - sq[starts]) / frame, 0.0)
    return _loudness_db_array(ms, np.empty_like(ms))


# ---------------------------------------------------------------------------------------------------------------
# A-weighted loudness (DDSP compute_loudness)

def a_weighting_db(frequencies, min_db: float = -80.0) -> np.ndarray:
    """IEC 61672 A-weighting in dB (same formula and -80 dB floor as ``librosa.A_weighting``)."""
    f_sq = np.asarray(frequencies, dtype=np.float64) ** 2
    c = np.array([12194.217, 20.598997, 107.65265, 737.86223]) ** 2
    with np.errstate(divide="ignore"):
        w = 2.0 + 20.0 * (np.log10(c[0]) + 2 * np.log10(f_sq) - np.log10(f_sq + c[0]) - np.log10(f_sq + c[1])
                          - 0.5 * np.log10(f_sq + c[2]) - 0.5 * np.log10(f_sq + c[3]))
    return np.maximum(w, min_db)


def _periodic_hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def compute_loudness(audio, sample_rate: int = 16000, frame_rate: int = 250, n_fft: int = 2048,
                     range_db: float = 120.0, ref_db: float = 20.7) -> np.ndarray:
    """DDSP ``compute_loudness`` (numpy path) without librosa: A-weighted mean dB per frame.

    Parameters
    ----------
    audio : array_like, 1-D
    sample_rate, frame_rate : int
        ``sample_rate`` in 1..1e6, ``frame_rate`` in 1..``sample_rate`` and dividing it.
    n_fft : int
        FFT length, 1..2**20.
    range_db, ref_db : float

    Returns
    -------
    numpy.ndarray
        Loudness in dB, length ``int(len(audio) / sample_rate * frame_rate)``.

    Raises
    ------
    ArgumentError
        ``sample_rate``, ``frame_rate`` or ``n_fft`` outside those ranges, or ``frame_rate`` not dividing
        ``sample_rate``.
    """
    sample_rate = check_int("sample_rate", sample_rate, 1, MAX_RATE)
    frame_rate = check_int("frame_rate", frame_rate, 1, sample_rate)
    n_fft = check_int("n_fft", n_fft, 1, MAX_FRAME)
    if sample_rate % frame_rate:
        raise ArgumentError(f"frame_rate {frame_rate} must divide sample_rate {sample_rate}")
    audio = np.asarray(audio, dtype=np.float64)
    hop = sample_rate // frame_rate
    n_frames = -(-len(audio) // hop)
    padded = np.zeros((n_frames - 1) * hop + n_fft)
    padded[:len(audio)] = audio
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    spec = np.abs(np.fft.rfft(padded[idx] * _periodic_hann(n_fft)[None, :], axis=1))
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    loud = 20.0 * np.log10(np.maximum(1e-20, spec)) + a_weighting_db(freqs)[None, :]
    loud = np.maximum(loud - ref_db, -range_db).mean(axis=1)
    expected = int(len(audio) / float(sample_rate) * frame_rate)
    if len(loud) < expected:
        loud = np.concatenate([loud, np.full(expected - len(loud), -range_db)])
    return loud[:expected]


# streaming A-weighted: state = header | ring(2*n_fft) | window(n_fft) | aweight(n_fft/2+1) | re | im | fft plan
_A_NFFT, _A_HOP, _A_W, _A_CNT, _A_SEEN, _A_RANGE, _A_REF = 0, 1, 2, 3, 4, 5, 6
_A_HDR = 8


def make_aloudness_state(sample_rate: int = 16000, frame_rate: int = 250, n_fft: int = 2048,
                         range_db: float = 120.0, ref_db: float = 20.7) -> np.ndarray:
    """State for :func:`aloudness_block` (all tables included; no allocation in the kernel).

    Raises
    ------
    ArgumentError
        ``sample_rate`` not in 1..1e6, ``frame_rate`` not in 1..``sample_rate``, or ``n_fft`` not a power of two
        in 2..2**20.
    """
    sample_rate = check_int("sample_rate", sample_rate, 1, MAX_RATE)
    frame_rate = check_int("frame_rate", frame_rate, 1, sample_rate)
    n_fft = check_int("n_fft", n_fft, 2, MAX_FRAME)
    if n_fft & (n_fft - 1):
        raise ArgumentError(f"n_fft must be a power of two from 2 to {MAX_FRAME}, got {n_fft}")
    hop = sample_rate // frame_rate
    nb = n_fft // 2 + 1
    freqs = np.arange(nb) * sample_rate / n_fft
    parts = [np.zeros(_A_HDR), np.zeros(2 * n_fft), _periodic_hann(n_fft), a_weighting_db(freqs),
             np.zeros(n_fft), np.zeros(n_fft), make_fft_plan(n_fft)]
    st = np.concatenate(parts)
    st[_A_NFFT], st[_A_HOP], st[_A_RANGE], st[_A_REF] = n_fft, hop, range_db, ref_db
    st[_A_CNT] = 0
    return st


@njit(nogil=True, cache=True)
def aloudness_block(x, n, state, out):
    """Streaming DDSP A-weighted loudness: feed ``x[:n]``, write completed frames to ``out``.

    Frame ``i`` covers input samples ``[i*hop, i*hop + n_fft)`` (as DDSP, no centring) and is written when its
    last sample arrives; feed ``n_fft - hop`` zeros at the end to flush like DDSP's end padding.

    Returns
    -------
    int
        Number of frames written.
    """
    nfft = int(state[_A_NFFT])
    hop = int(state[_A_HOP])
    range_db = state[_A_RANGE]
    ref_db = state[_A_REF]
    nb = nfft // 2 + 1
    ring = _A_HDR
    win = ring + 2 * nfft
    aw = win + nfft
    re_o = aw + nb
    im_o = re_o + nfft
    plan = im_o + nfft
    re = state[re_o:re_o + nfft]
    im = state[im_o:im_o + nfft]
    w = int(state[_A_W])
    cnt = int(state[_A_CNT])
    seen = int(state[_A_SEEN])
    k = 0
    for i in range(n):
        v = float(x[i])
        state[ring + w] = v
        state[ring + w + nfft] = v
        w += 1
        if w == nfft:
            w = 0
        if seen < nfft:
            seen += 1
        cnt += 1
        if seen >= nfft and (cnt - nfft) % hop == 0:
            for j in range(nfft):
                re[j] = state[ring + w + j] * state[win + j]
                im[j] = 0.0
            fft_inplace(re, im, state, plan)
            acc = 0.0
            for b in range(nb):
                amp = math.sqrt(re[b] * re[b] + im[b] * im[b])
                val = 20.0 * math.log10(max(1e-20, amp)) + state[aw + b] - ref_db
                acc += max(val, -range_db)
            if k < out.shape[0]:
                out[k] = acc / nb
                k += 1
        if cnt >= nfft + hop:
            cnt -= hop
    state[_A_W] = w
    state[_A_CNT] = cnt
    state[_A_SEEN] = seen
    return k


def compute_loudness_streaming(audio, sample_rate: int = 16000, frame_rate: int = 250, n_fft: int = 2048,
                               block_size: int = 64) -> np.ndarray:
    """:func:`compute_loudness` computed with :func:`aloudness_block` in blocks (same frames).

    Raises
    ------
    ArgumentError
        ``block_size`` not in 1..2**24, or ``sample_rate``, ``frame_rate``, ``n_fft`` as
        :func:`make_aloudness_state`.
    """
    sample_rate = check_int("sample_rate", sample_rate, 1, MAX_RATE)
    frame_rate = check_int("frame_rate", frame_rate, 1, sample_rate)
    block_size = check_int("block_size", block_size, 1, MAX_BLOCK)
    st = make_aloudness_state(sample_rate, frame_rate, n_fft)  # checks n_fft before any work
    audio = np.asarray(audio, dtype=np.float64)
    hop = sample_rate // frame_rate
    n_frames = -(-len(audio) // hop)
    total = (n_frames - 1) * hop + n_fft
    x = np.zeros(max(total, len(audio)))
    x[:len(audio)] = audio
    out = np.zeros(len(x) // hop + 2)
    k = 0
    for s in range(0, len(x), block_size):
        blk = x[s:s + block_size]
        k += aloudness_block(blk, len(blk), st, out[k:])
    expected = int(len(audio) / float(sample_rate) * frame_rate)
    res = out[:k]
    if len(res) < expected:
        res = np.concatenate([res, np.full(expected - len(res), -120.0)])
    return res[:expected]

