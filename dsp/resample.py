"""Streaming rational (L/M) polyphase resampler with a Kaiser-windowed sinc.

``target_rate / sample_rate = L / M`` (reduced). The prototype low-pass runs at ``L * sample_rate``; its cutoff sits at
``rolloff`` times the lower of the two Nyquist frequencies and it spans ``zero_crossings`` sinc zero crossings
(at the lower rate) on each side, i.e. ``2 * half + 1`` taps with ``half = zero_crossings * max(L, M)``. It is
split into ``L`` phases of ``T`` taps (stored time-reversed so each output is one contiguous dot product).

Streaming: the state holds the last ``T`` inputs (doubled ring, so reads are contiguous) and the position of the
next output between input samples; inputs of any block size produce exactly the same outputs as one call.

Group delay: the filter is linear phase, centred at ``half`` upsampled samples, so output ``y[m]`` approximates
the input at time ``(m * M - half) / L`` input samples: the delay is ``half / L`` input samples
= ``half / M`` output samples (:meth:`Resampler.delay_in`, :meth:`Resampler.delay_out`; with the defaults
exactly 32 samples at the 16 kHz side for 48k<->16k and 44.1k<->16k).
"""
from __future__ import annotations

from math import gcd

import numpy as np
from numba import njit

__all__ = ["Resampler", "design_polyphase", "make_resample_state", "resample_block", "resample", "resample_to"]

_W = 0     # ring write index (0..T-1)
_OFF = 1   # next output's upsampled time minus current input's upsampled time (integer)
_HDR = 4


def design_polyphase(L: int, M: int, zero_crossings: int = 32, rolloff: float = 0.9, beta: float = 8.0):
    """Design the polyphase filter bank.

    Parameters
    ----------
    L, M : int
        Up and down factors (reduced).
    zero_crossings : int
        Sinc zero crossings per side at the lower of the two rates.
    rolloff : float
        Cutoff as a fraction of the lower Nyquist frequency.
    beta : float
        Kaiser window beta (8.0 gives about 80 dB stopband).

    Returns
    -------
    (numpy.ndarray, int)
        ``(bank, half)``: bank float64 of shape ``(L, T)`` with time-reversed taps (gain ``L`` included), and the
        prototype's centre index ``half``.
    """
    R = max(L, M)
    half = zero_crossings * R
    n = np.arange(-half, half + 1, dtype=np.float64)
    fc = rolloff * 0.5 / R  # cycles per upsampled sample
    h = 2.0 * fc * np.sinc(2.0 * fc * n) * np.kaiser(2 * half + 1, beta)
    h *= L / h.sum() * 1.0  # DC gain L in the upsampled domain -> unity overall
    T = -(-(2 * half + 1) // L)
    hp = np.zeros(T * L)
    hp[:2 * half + 1] = h
    bank = hp.reshape(T, L).T  # bank[p, j] = h[p + j*L]
    return np.ascontiguousarray(bank[:, ::-1]), half


class Resampler:
    """Filter design and state for :func:`resample_block` (the object itself never enters the hot path).

    Parameters
    ----------
    sample_rate, target_rate : int
        Sample rates in Hz (integers).
    zero_crossings, rolloff, beta :
        See :func:`design_polyphase`.

    Attributes
    ----------
    L, M : int
        Reduced up/down factors.
    bank : numpy.ndarray
        float64 ``(L, T)`` polyphase bank to pass to :func:`resample_block`.
    state : numpy.ndarray
        float64 state to pass to :func:`resample_block`.
    """

    def __init__(self, sample_rate: int, target_rate: int, zero_crossings: int = 32, rolloff: float = 0.9,
                 beta: float = 8.0):
        g = gcd(int(sample_rate), int(target_rate))
        self.sample_rate, self.target_rate = int(sample_rate), int(target_rate)
        self.L, self.M = int(target_rate) // g, int(sample_rate) // g
        self.bank, self.half = design_polyphase(self.L, self.M, zero_crossings, rolloff, beta)
        self.state = make_resample_state(self.bank)

    @property
    def taps(self) -> int:
        """Taps per phase T."""
        return self.bank.shape[1]

    def delay_in(self) -> float:
        """Group delay in input samples (``half / L``)."""
        return self.half / self.L

    def delay_out(self) -> float:
        """Group delay in output samples (``half / M``)."""
        return self.half / self.M

    def max_out(self, n_in: int) -> int:
        """Output capacity that is always enough for ``n_in`` inputs."""
        return (n_in * self.L) // self.M + 2

    def reset(self) -> None:
        self.state[:] = make_resample_state(self.bank)

    def process(self, x) -> np.ndarray:
        """Convenience (allocating) call: resample a block and return the outputs it produced."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        out = np.zeros(self.max_out(len(x)))
        n = resample_block(x, len(x), out, self.state, self.bank, self.L, self.M)
        return out[:n]


def make_resample_state(bank: np.ndarray) -> np.ndarray:
    """Allocate the state for :func:`resample_block` for a bank of shape ``(L, T)`` (zeros history)."""
    T = bank.shape[1]
    return np.zeros(_HDR + 2 * T, dtype=np.float64)


@njit(nogil=True, cache=True)
def resample_block(x, n_in, out, state, bank, L, M):
    """Resample ``x[:n_in]`` and write the outputs it completes to ``out`` (per-block kernel).

    Parameters
    ----------
    x : float32 or float64 array
        Input block.
    n_in : int
        Number of input samples to consume.
    out : float32 or float64 array
        Output buffer; needs ``n_in * L // M + 2`` slots.
    state : float64 array
        From :func:`make_resample_state` (or ``Resampler.state``).
    bank : float64 array, shape (L, T)
        From :func:`design_polyphase` (or ``Resampler.bank``).
    L, M : int
        Up/down factors.

    Returns
    -------
    int
        Number of output samples written (varies by block; never more than the capacity above).
    """
    T = bank.shape[1]
    buf = _HDR
    w = int(state[_W])
    off = int(state[_OFF])
    n_out = 0
    cap = out.shape[0]
    for i in range(n_in):
        v = float(x[i])
        state[buf + w] = v
        state[buf + w + T] = v
        start = buf + w + 1  # oldest .. newest: state[start : start + T]
        while off < L:
            acc = 0.0
            for q in range(T):
                acc += bank[off, q] * state[start + q]
            if n_out < cap:
                out[n_out] = acc
                n_out += 1
            off += M
        off -= L
        w += 1
        if w == T:
            w = 0
    state[_W] = w
    state[_OFF] = off
    return n_out


def resample(x, sample_rate: int, target_rate: int, block_size: int = 0, compensate_delay: bool = False, **design):
    """Offline wrapper: resample a whole signal.

    Parameters
    ----------
    x : array_like
    sample_rate, target_rate : int
    block_size : int
        0 = one call; otherwise stream in blocks of this size (for tests).
    compensate_delay : bool
        If True, feed zeros to flush the filter and drop the first ``delay_out`` outputs so the result is aligned
        with the input (length ``ceil(len(x) * L / M)``).

    Returns
    -------
    numpy.ndarray
        float64 output.
    """
    rs = Resampler(sample_rate, target_rate, **design)
    x = np.asarray(x, dtype=np.float64)
    if compensate_delay:
        x = np.concatenate([x, np.zeros(int(np.ceil(rs.delay_in())) + rs.taps)])
    step = len(x) if block_size <= 0 else block_size
    parts = [rs.process(x[s:s + step]) for s in range(0, len(x), max(step, 1))]
    y = np.concatenate(parts) if parts else np.zeros(0)
    if compensate_delay:
        d = int(round(rs.delay_out()))
        n_expect = -(-(len(x) - int(np.ceil(rs.delay_in())) - rs.taps) * rs.L // rs.M)
        y = y[d:d + n_expect]
    return y


def resample_to(x, sample_rate: int, target_rate: int) -> np.ndarray:
    """Offline resampling of a whole signal from ``sample_rate`` to ``target_rate`` (Hz), aligned with the input.

    Polyphase FIR filtering with a Kaiser window (``scipy.signal.resample_poly``, up ``target/g``, down
    ``sample_rate/g`` for ``g = gcd``), zero-phase: output sample ``i`` is at time ``i / target_rate``. The streaming
    :class:`Resampler` is the real-time counterpart (causal, with a reported delay).

    Parameters
    ----------
    x : array_like, shape (n,) or (n, channels)
        Samples (resampled along axis 0).
    sample_rate, target_rate : int
        Rates in Hz (positive integers).

    Returns
    -------
    numpy.ndarray
        float64, ``ceil(n * target_rate / sample_rate)`` samples; ``x`` itself (as float64) when the rates are equal.

    Raises
    ------
    ValueError
        A rate that is not a positive integer.
    """
    from scipy.signal import resample_poly

    sr, tr = int(sample_rate), int(target_rate)
    if sr <= 0 or tr <= 0 or sr != sample_rate or tr != target_rate:
        raise ValueError(f"sample rates must be positive integers, got {sample_rate} -> {target_rate}")
    x = np.asarray(x, np.float64)
    if sr == tr:
        return x
    g = gcd(sr, tr)
    return resample_poly(x, tr // g, sr // g, axis=0)
