"""Streaming rational (L/M) polyphase resampler with a Kaiser-windowed sinc.

``target_rate / sample_rate = L / M`` (reduced). The prototype low-pass runs at ``L * sample_rate``; its cutoff sits at
``rolloff`` times the lower of the two Nyquist frequencies and it spans ``zero_crossings`` sinc zero crossings
(at the lower rate) on each side, i.e. ``2 * half + 1`` taps with ``half = zero_crossings * max(L, M)``. It is
split into ``L`` phases of ``T`` taps (stored time-reversed so each output is one contiguous dot product).

Streaming: the state holds the last ``T + 64`` inputs (doubled ring, so reads are contiguous) and the position of
the next output between input samples; inputs of any block size produce exactly the same outputs as one call.
Each output is one sequential float64 dot product; :func:`resample_block` computes four at a time (independent
chains) and :func:`resample_batch` (long blocks, :meth:`Resampler.process`) the outputs of one phase side by
side from the input's polyphase streams, both with the same sums in the same order, so every path gives the
same values bit for bit.

Group delay: the filter is linear phase, centred at ``half`` upsampled samples, so output ``y[m]`` approximates
the input at time ``(m * M - half) / L`` input samples: the delay is ``half / L`` input samples
= ``half / M`` output samples (:meth:`Resampler.delay_in`, :meth:`Resampler.delay_out`; with the defaults
exactly 32 samples at the 16 kHz side for 48k<->16k and 44.1k<->16k).
"""
from __future__ import annotations

from math import gcd

import numpy as np
from numba import njit

from tonehost.dsp._checks import MAX_BLOCK, MAX_RATE, check_int, check_real

__all__ = ["Resampler", "design_polyphase", "make_resample_state", "resample_block", "resample_batch", "resample",
           "resample_to"]

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

    Raises
    ------
    ArgumentError
        ``L`` or ``M`` not in 1..1e6, ``zero_crossings`` not in 1..1024, ``rolloff`` not in (0, 1], or ``beta``
        not in [0, 100].
    """
    L = check_int("L", L, 1, MAX_RATE)
    M = check_int("M", M, 1, MAX_RATE)
    zero_crossings = check_int("zero_crossings", zero_crossings, 1, 1024)
    rolloff = check_real("rolloff", rolloff, 0.0, 1.0, lo_open=True)
    beta = check_real("beta", beta, 0.0, 100.0)
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
        Sample rates in Hz (whole numbers, 1..1e6).
    zero_crossings, rolloff, beta :
        See :func:`design_polyphase`.

    Raises
    ------
    ArgumentError
        A rate outside 1..1e6 (or not a whole number), or a design argument as :func:`design_polyphase`.

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
        sample_rate = check_int("sample_rate", sample_rate, 1, MAX_RATE)
        target_rate = check_int("target_rate", target_rate, 1, MAX_RATE)
        g = gcd(sample_rate, target_rate)
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
        """Convenience (allocating) call: resample a block and return the outputs it produced.

        Long blocks (``>= 2048`` samples and four periods of ``M``) take :func:`resample_batch`, several times
        faster than :func:`resample_block` and the same values bit for bit (and the same state after), so the two
        can be mixed freely.
        """
        x = np.ascontiguousarray(x, dtype=np.float64)
        if len(x) >= max(2048, 4 * self.M):
            return resample_batch(x, self.state, self.bank, self.L, self.M)
        out = np.zeros(self.max_out(len(x)))
        n = resample_block(x, len(x), out, self.state, self.bank, self.L, self.M)
        return out[:n]


#: Ring slack beyond the ``T`` taps: how many inputs a computed-later output's window survives in the ring.
_SLACK = 64


def make_resample_state(bank: np.ndarray) -> np.ndarray:
    """Allocate the state for :func:`resample_block` for a bank of shape ``(L, T)`` (zeros history)."""
    T = bank.shape[1]
    return np.zeros(_HDR + 2 * (T + _SLACK), dtype=np.float64)


@njit(nogil=True, cache=True)
def _dot4(bank, p0, p1, p2, p3, ring, s0, s1, s2, s3, T):
    """Four outputs' dot products side by side: each the same sequential sum as :func:`_dot1` (so the same
    value, bit for bit), but four independent chains keep the adder busy where one waits on each add."""
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    for q in range(T):
        a0 += bank[p0, q] * ring[s0 + q]
        a1 += bank[p1, q] * ring[s1 + q]
        a2 += bank[p2, q] * ring[s2 + q]
        a3 += bank[p3, q] * ring[s3 + q]
    return a0, a1, a2, a3


@njit(nogil=True, cache=True)
def _dot1(bank, p, ring, s, T):
    acc = 0.0
    for q in range(T):
        acc += bank[p, q] * ring[s + q]
    return acc


@njit(nogil=True, cache=True)
def _flush(bank, ph, st, nq, state, T, out, n_out):
    cap = out.shape[0]
    if nq == 4:
        a0, a1, a2, a3 = _dot4(bank, ph[0], ph[1], ph[2], ph[3], state, st[0], st[1], st[2], st[3], T)
        vals = (a0, a1, a2, a3)
        for j in range(4):
            if n_out < cap:
                out[n_out] = vals[j]
                n_out += 1
        return n_out
    for j in range(nq):
        acc = _dot1(bank, ph[j], state, st[j], T)
        if n_out < cap:
            out[n_out] = acc
            n_out += 1
    return n_out


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

    Notes
    -----
    Each output is the sequential float64 sum ``sum_q bank[phase, q] * window[q]`` over its ``T`` inputs, oldest
    first. The outputs are computed four at a time (interleaved, each sum in that same order, so the values do
    not depend on the grouping or on the block sizes): the ring keeps ``T + 64`` inputs, so a window stays intact
    until its group is full, the ring is about to overwrite it, or the block ends. No allocation (callable from a
    ``cfunc`` in an audio callback).
    """
    T = bank.shape[1]
    R = (state.shape[0] - _HDR) // 2
    buf = _HDR
    w = int(state[_W])
    off = int(state[_OFF])
    n_out = 0
    ph = [0, 0, 0, 0]
    st = [0, 0, 0, 0]
    nq = 0
    age = 0
    for i in range(n_in):
        v = float(x[i])
        state[buf + w] = v
        state[buf + w + R] = v
        start = buf + w + R - T + 1  # oldest .. newest: state[start : start + T] (the ring's second copy)
        while off < L:
            if nq == 0:
                age = -1
            ph[nq] = off
            st[nq] = start
            nq += 1
            if nq == 4:
                n_out = _flush(bank, ph, st, nq, state, T, out, n_out)
                nq = 0
            off += M
        off -= L
        w += 1
        if w == R:
            w = 0
        if nq:
            age += 1
            if age >= R - T:  # the next input would overwrite the oldest waiting window
                n_out = _flush(bank, ph, st, nq, state, T, out, n_out)
                nq = 0
    if nq:
        n_out = _flush(bank, ph, st, nq, state, T, out, n_out)
    state[_W] = w
    state[_OFF] = off
    return n_out


#: Outputs of one phase summed side by side in :func:`_resample_periods` (their accumulators stay in L1).
_TILE = 256


@njit(nogil=True, cache=True)
def _resample_periods(xx, off, n_out, bank, L, M, out):
    """The ``n_out`` outputs of a block laid out linearly in ``xx`` (``T - 1`` inputs of history, then the
    block), the first at upsampled offset ``off`` from the block's first input.

    Output ``k`` has phase ``(off + k M) % L`` and window ``xx[i_k : i_k + T]`` with ``i_k = (off + k M) // L``;
    outputs ``k`` and ``k + L`` share the phase and lie ``M`` inputs apart. The input is split once into its
    ``M`` polyphase streams (``XS[c, s] = xx[c + s M]``, one copy of each input), in which tap ``q`` of the
    outputs ``r, r + L, r + 2L, ...`` of one phase reads consecutive samples (``XS[(i_r + q) % M, (i_r + q) // M
    + j]``): a vector loop over ``j``, four taps per pass, each output still the sequential float64 sum over its
    taps, oldest first, exactly as :func:`resample_block` computes it.
    """
    T = bank.shape[1]
    if n_out <= 0:
        return
    nph = min(L, n_out)
    nx = xx.shape[0]
    S = -(-nx // M) + 1
    XS = np.zeros((M, S))
    for c in range(min(M, nx)):
        row = XS[c]
        for t in range((nx - c + M - 1) // M):
            row[t] = xx[c + t * M]
    acc = np.zeros(_TILE)
    for r in range(nph):
        u = off + r * M
        i0 = u // L
        ph = u - i0 * L
        jn = -(-(n_out - r) // L)
        b = bank[ph]
        for j0 in range(0, jn, _TILE):
            jt = min(_TILE, jn - j0)
            a = acc[:jt]
            for j in range(jt):
                a[j] = 0.0
            q = 0
            while q + 4 <= T:
                w0 = i0 + q
                r0 = XS[w0 % M, w0 // M + j0:]
                r1 = XS[(w0 + 1) % M, (w0 + 1) // M + j0:]
                r2 = XS[(w0 + 2) % M, (w0 + 2) // M + j0:]
                r3 = XS[(w0 + 3) % M, (w0 + 3) // M + j0:]
                b0 = b[q]
                b1 = b[q + 1]
                b2 = b[q + 2]
                b3 = b[q + 3]
                for j in range(jt):
                    t = a[j]
                    t += b0 * r0[j]
                    t += b1 * r1[j]
                    t += b2 * r2[j]
                    t += b3 * r3[j]
                    a[j] = t
                q += 4
            while q < T:
                w0 = i0 + q
                r0 = XS[w0 % M, w0 // M + j0:]
                b0 = b[q]
                for j in range(jt):
                    a[j] += b0 * r0[j]
                q += 1
            for j in range(jt):
                out[r + (j0 + j) * L] = a[j]


def resample_batch(x: np.ndarray, state: np.ndarray, bank: np.ndarray, L: int, M: int) -> np.ndarray:
    """Resample a whole block at once: the outputs :func:`resample_block` would give, bit for bit, and the same
    ``state`` afterwards, several times faster on long blocks (it allocates: not for an audio callback).

    Parameters
    ----------
    x : numpy.ndarray
        float64 input block.
    state, bank, L, M
        As :func:`resample_block`.

    Returns
    -------
    numpy.ndarray
        float64 outputs completed by the block.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = len(x)
    T = bank.shape[1]
    R = (len(state) - _HDR) // 2
    w = int(state[_W])
    off = int(state[_OFF])
    hist = state[_HDR + R + w - (T - 1):_HDR + R + w]  # the last T - 1 inputs, oldest first (the ring's 2nd copy)
    n_out = max(0, -(-(n * L - off) // M))
    out = np.empty(n_out)
    _resample_periods(np.concatenate([hist, x]), off, n_out, bank, L, M, out)
    k = min(n, R)  # the ring keeps the last R inputs, where resample_block would have written them
    pos = _HDR + (w + np.arange(n - k, n)) % R
    state[pos] = x[n - k:]
    state[pos + R] = x[n - k:]
    state[_W] = (w + n) % R
    state[_OFF] = off + n_out * M - n * L
    return out


def resample(x, sample_rate: int, target_rate: int, block_size: int = 0, compensate_delay: bool = False, **design):
    """Offline wrapper: resample a whole signal.

    Parameters
    ----------
    x : array_like
    sample_rate, target_rate : int
        Rates in Hz (whole numbers, 1..1e6).
    block_size : int
        0 = one call; otherwise stream in blocks of this size (1..2**24, for tests).
    compensate_delay : bool
        If True, feed zeros to flush the filter and drop the first ``delay_out`` outputs so the result is aligned
        with the input (length ``ceil(len(x) * L / M)``).

    Returns
    -------
    numpy.ndarray
        float64 output.

    Raises
    ------
    ArgumentError
        A rate or ``block_size`` outside those ranges, or a ``design`` argument as :func:`design_polyphase`.
    """
    block_size = check_int("block_size", block_size, 0, MAX_BLOCK)
    rs = Resampler(sample_rate, target_rate, **design)
    x = np.asarray(x, dtype=np.float64)
    if compensate_delay:
        x = np.concatenate([x, np.zeros(int(np.ceil(rs.delay_in())) + rs.taps)])
    step = len(x) if block_size == 0 else block_size
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
    ArgumentError
        A rate that is not a whole number in 1..1e6.
    """
    from scipy.signal import resample_poly

    sr = check_int("sample_rate", sample_rate, 1, MAX_RATE)
    tr = check_int("target_rate", target_rate, 1, MAX_RATE)
    x = np.asarray(x, np.float64)
    if sr == tr:
        return x
    g = gcd(sr, tr)
    return resample_poly(x, tr // g, sr // g, axis=0)
