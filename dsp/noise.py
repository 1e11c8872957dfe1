"""Streaming filtered-noise synthesizer (DDSP ``FilteredNoise`` / DDSP-VST noise synth).

Per control frame, ``B`` band magnitudes (65 by default) become an FIR of ``N = 2*(B-1)`` taps (128) as in DDSP's
``frequency_impulse_response``: inverse real FFT (zero-phase IR), times a zero-phase periodic Hann window, then a
rotation by ``N/2`` that makes it causal. The inverse FFT, the window and the rotation are folded into one
precomputed ``B x N`` table, so a frame costs one small matrix-vector product.

White noise, uniform in [-1, 1), comes from a seeded xorshift64* generator whose state lives in the state array,
so the output is deterministic and independent of the block size. Each noise sample of hop ``i`` is convolved
with frame ``i``'s FIR and the results overlap-add (DDSP ``fft_convolve`` frame-wise, computed here as a direct
scatter convolution, N multiply-adds per sample: up to eight samples of one hop per pass, one vector loop over a
zero-padded FIR into a linear accumulator; each output time receives the samples' contributions in time order,
so every block size gives the same values). The arithmetic is the state's dtype: float64 by default, float32 on
request (:func:`make_noise_state`; the 48 kHz instrument pipeline's 384-tap filter).

The stream is causal: DDSP's offline ``frequency_filter`` crops ``(N-1)//2 - 1`` = 62 samples from the front,
so ``ddsp[n] == stream[n + DDSP_CROP]``; the filter's true (linear-phase) group delay is ``N/2`` samples.

Frames come from a caller-owned ring buffer ``frames`` of shape ``(capacity, B)`` exactly like
:mod:`tonehost.dsp.harmonic`: frame ``w`` at row ``w % capacity``; the kernel returns its new read counter. Frame ``i``
is consumed at the start of hop ``i``; with no frame available the previous FIR is held; before the first frame
the output is silence.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tonehost.dsp.errors import ArgumentError
from tonehost.dsp._checks import MAX_BLOCK, MAX_FRAME, MAX_HOP, check_int

#: Most magnitudes per noise frame accepted (FIR 8192; DDSP uses 65).
MAX_BANDS = 4097

# scalar header of the float64 state
_POS = 0        # position inside the hop; -1 => need a frame
_STARTED = 1
_NB = 2         # number of bands B
_NT = 3         # FIR length N
_IDX = 4        # accumulator ring index
_RNG_HI = 5     # xorshift64* state: bits 42..63 (22 bits: exact in float32 as in float64)
_RNG_MID = 6    # bits 21..41
_RNG_LO = 7     # bits 0..20
_SYM = 8        # 1: every FIR is symmetric (f[m] == f[N - m]): half of it is computed, the rest mirrored
_HDR = 12
_PAD = 7        # zeros before the FIR (and after it, up to a pass's length): a pass is one loop over its times
_SHIFT = 3      # the accumulator holds _SHIFT passes' output times; its live part moves to the front when full


@njit(nogil=True, cache=True, inline="always")
def _pass_len(N):
    """Output times one pass of up to eight samples adds to (``N + 7``), rounded up to 32 (whole vector loops).

    The one formula of the state's layout (:func:`_layout`, from Python) and of the kernels that read it
    (:func:`_load_fir`, :func:`noise_block`: inlined into them by Numba)."""
    return ((N + 7 + 31) // 32) * 32


def _layout(n_bands: int):
    """Offsets in the state: the padded FIR, the accumulator, the scratch; and the state's length."""
    N = fir_length(n_bands)
    T = _pass_len(N)
    fir = _HDR + n_bands * N
    acc = fir + T + _PAD
    scr = acc + _SHIFT * T
    return fir, acc, scr, scr + 8


def fir_length(n_bands: int) -> int:
    """FIR length for ``n_bands`` magnitudes: ``2 * (n_bands - 1)``."""
    return 2 * (n_bands - 1)


def ddsp_crop(n_bands: int = 65) -> int:
    """Samples DDSP's offline filter crops from the front: ``(N - 1) // 2 - 1`` (62 for 65 bands)."""
    return (fir_length(n_bands) - 1) // 2 - 1


DDSP_CROP = ddsp_crop(65)


def _splitmix64(seed: int) -> int:
    z = (seed + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z = z ^ (z >> 31)
    return z or 0x1234567


def zero_phase_window(ir_size: int, window_size: int = 0) -> np.ndarray:
    """DDSP's zero-phase periodic Hann window (``apply_window_to_impulse_response``) of length ``ir_size``.

    Raises
    ------
    ArgumentError
        ``ir_size`` not in 1..2**20 or ``window_size`` not in 0..2**20 (whole numbers).
    """
    ir_size = check_int("ir_size", ir_size, 1, MAX_FRAME)
    window_size = check_int("window_size", window_size, 0, MAX_FRAME)
    if window_size <= 0 or window_size > ir_size:
        window_size = ir_size
    n = np.arange(window_size)
    win = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / window_size)  # periodic Hann, like tf.signal.hann_window
    pad = ir_size - window_size
    if pad > 0:
        half = (window_size + 1) // 2
        return np.concatenate([win[half:], np.zeros(pad), win[:half]])
    return np.roll(win, -(window_size // 2))  # fftshift (even length)


def make_noise_state(n_bands: int = 65, seed: int = 0, window_size: int = 0, dtype=np.float64) -> np.ndarray:
    """Allocate the state for :func:`noise_block`.

    Parameters
    ----------
    n_bands : int
        Magnitudes per frame B (2..4097); FIR length is ``2*(B-1)``.
    seed : int
        Seed of the white-noise generator.
    window_size : int
        DDSP ``window_size`` (0 = the whole FIR length; larger than the FIR also means the whole FIR, as DDSP).
    dtype : numpy.float64 or numpy.float32
        The arithmetic of the filter (table, FIR, overlap-add): float64 (the default; DDSP's numpy reference
        to 1e-12), or float32 (DDSP's own precision, TensorFlow float32: about 1e-7 relative, twice the
        multiply-adds per vector instruction). The white noise is the same in both (exact in float32).

    Returns
    -------
    numpy.ndarray
        ``dtype`` state: header, IR-synthesis table (B x N), current FIR (N, 7 zeros before it and zeros after
        it up to ``T + 7``, ``T = N + 7`` rounded up to 32), overlap-add accumulator (``3 T`` output times),
        scratch (8: the noise samples of one pass).

    Raises
    ------
    ArgumentError
        ``n_bands`` not a whole number in 2..4097, ``window_size`` not in 0..2**20, or ``dtype`` not float32 or
        float64.
    """
    n_bands = check_int("n_bands", n_bands, 2, MAX_BANDS)
    window_size = check_int("window_size", window_size, 0, MAX_FRAME)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ArgumentError(f"dtype must be float32 or float64, got {dtype}")
    N = fir_length(n_bands)
    k = np.arange(n_bands)[:, None]
    wz = zero_phase_window(N, window_size)
    # irfft weights: DC and Nyquist once, the others twice, all / N
    wk = np.full(n_bands, 2.0 / N)
    wk[0] = 1.0 / N
    wk[-1] = 1.0 / N
    m = np.arange(N)
    src = (m + N // 2) % N  # causal rotation (fftshift): causal[m] = zero_phase[(m + N/2) % N]
    table = wk[:, None] * np.cos(2.0 * np.pi * k * src[None, :] / N) * wz[src][None, :]
    # a zero-phase (even) window makes every FIR even about N/2 (cosines of a real spectrum): the table's columns
    # m and N - m are equal but for rounding; made equal, the kernel computes columns 0..N/2 and mirrors them
    mirror = (N - m) % N
    sym = bool(np.allclose(wz, wz[(-m) % N], rtol=0.0, atol=1e-15)) and N >= 4
    if sym:
        table[:, N // 2 + 1:] = table[:, mirror[N // 2 + 1:]]
    state = np.zeros(_layout(n_bands)[3], dtype=dtype)
    state[_POS] = -1.0
    state[_NB] = n_bands
    state[_NT] = N
    state[_SYM] = 1.0 if sym else 0.0
    s = _splitmix64(int(seed))
    state[_RNG_HI] = float(s >> 42)
    state[_RNG_MID] = float((s >> 21) & 0x1FFFFF)
    state[_RNG_LO] = float(s & 0x1FFFFF)
    state[_HDR:_HDR + n_bands * N] = table.reshape(-1)
    return state


def make_noise_frame_buffer(capacity: int, n_bands: int = 65, dtype=np.float32) -> np.ndarray:
    """Allocate a ring buffer of ``capacity`` frames of ``n_bands`` magnitudes.

    Raises
    ------
    ArgumentError
        ``capacity`` not in 1..2**24 or ``n_bands`` not in 2..4097.
    """
    capacity = check_int("capacity", capacity, 1, MAX_BLOCK)
    n_bands = check_int("n_bands", n_bands, 2, MAX_BANDS)
    return np.zeros((capacity, n_bands), dtype=dtype)


@njit(nogil=True, cache=True)
def _next_uniform(x):
    """One xorshift64* step; returns (new_state, uniform in [-1, 1))."""
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    r = x * np.uint64(0x2545F4914F6CDD1D)
    u = float(r >> np.uint64(40)) * (1.0 / 8388608.0) - 1.0
    return x, u


@njit(nogil=True, cache=True)
def _rng_get(state):
    """The xorshift64* state kept in three header slots (22 + 21 + 21 bits)."""
    return ((np.uint64(int(state[_RNG_HI])) << np.uint64(42)) | (np.uint64(int(state[_RNG_MID])) << np.uint64(21))
            | np.uint64(int(state[_RNG_LO])))


@njit(nogil=True, cache=True)
def _rng_put(state, x):
    state[_RNG_HI] = float(x >> np.uint64(42))
    state[_RNG_MID] = float((x >> np.uint64(21)) & np.uint64(0x1FFFFF))
    state[_RNG_LO] = float(x & np.uint64(0x1FFFFF))


@njit(nogil=True, cache=True)
def _load_fir(frames, row, state):
    """The FIR of frame ``row``: ``sum_k mag_k * table[k]`` over the non-zero magnitudes, in band order (each tap
    the same sequential sum as one band per pass), four bands per pass over the taps, in the state's precision
    (the magnitudes rounded to it). A symmetric table (``_SYM``): taps ``0..N/2`` computed, the others mirrored."""
    B = int(state[_NB])
    N = int(state[_NT])
    tab = _HDR
    T = _pass_len(N)
    fir = _HDR + B * N + _PAD
    firv = state[fir:fir + N]
    scr = fir + T + _SHIFT * T
    g = state[scr:scr + 8]  # scratch: the magnitudes in the state's dtype
    H = N // 2 + 1 if state[_SYM] > 0.5 else N
    for m in range(N):
        firv[m] = 0.0
    k = 0
    while k < B:
        # the next (up to) four bands with a non-zero magnitude
        cnt = 0
        k0 = k1 = k2 = k3 = 0
        while k < B and cnt < 4:
            mag = frames[row, k]
            if mag != 0.0:
                g[cnt] = mag
                if cnt == 0:
                    k0 = k
                elif cnt == 1:
                    k1 = k
                elif cnt == 2:
                    k2 = k
                else:
                    k3 = k
                cnt += 1
            k += 1
        if cnt == 4:
            g0, g1, g2, g3 = g[0], g[1], g[2], g[3]
            t0 = state[tab + k0 * N:tab + k0 * N + H]
            t1 = state[tab + k1 * N:tab + k1 * N + H]
            t2 = state[tab + k2 * N:tab + k2 * N + H]
            t3 = state[tab + k3 * N:tab + k3 * N + H]
            fh = firv[:H]
            for m in range(H):
                v = fh[m]
                v += g0 * t0[m]
                v += g1 * t1[m]
                v += g2 * t2[m]
                v += g3 * t3[m]
                fh[m] = v
        else:
            for c in range(cnt):
                kk = k0 if c == 0 else (k1 if c == 1 else k2)
                gc = g[c]
                tc = state[tab + kk * N:tab + kk * N + H]
                for m in range(H):
                    firv[m] += gc * tc[m]
    for m in range(H, N):
        firv[m] = firv[N - m]
    state[_STARTED] = 1.0


@njit(nogil=True, cache=True)
def _run8(accv, fpad, j0, d0, d1, u):
    """``acc[j0 + m] += u[0] f[d] ; += u[1] f[d-1] ; ... ; += u[7] f[d-7]`` for ``d = d0 + m`` in ``[d0, d1)``
    (in that order; ``f[d] = fpad[d + 7]``, zero outside ``0..N-1``)."""
    L = d1 - d0
    if L <= 0:
        return
    a = accv[j0:j0 + L]
    f = fpad[d0:d1 + 7]  # one view (offsets from one pointer: one alias check against ``a``, so it vectorises)
    u0, u1, u2, u3, u4, u5, u6, u7 = u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7]
    for m in range(L):
        t = a[m]
        t += u0 * f[m + 7]
        t += u1 * f[m + 6]
        t += u2 * f[m + 5]
        t += u3 * f[m + 4]
        t += u4 * f[m + 3]
        t += u5 * f[m + 2]
        t += u6 * f[m + 1]
        t += u7 * f[m]
        a[m] = t


@njit(nogil=True, cache=True)
def _scatter(accv, fpad, idx, T, u, q, out, i):
    """``q`` (1..8) consecutive samples ``u[:q]`` (one FIR; ``u[q:8]`` zero) into the overlap-add accumulator whose
    slot ``idx`` is the first one's output time, in one pass over output times ``0 .. T - 1`` (the padded FIR is
    zero outside its taps: later times add zeros, as do the zero samples); then writes ``out[i:i+q]`` from the first
    ``q`` slots and empties them. Every slot receives the samples' contributions in time order, as ``q``
    single-sample steps would, plus exact zeros: the same values."""
    _run8(accv, fpad, idx, 0, T, u)
    for e in range(q):
        out[i + e] = accv[idx + e]
        accv[idx + e] = 0.0


@njit(nogil=True, cache=True)
def noise_block(out, n, frames, read_pos, write_pos, state, hop_length):
    """Render ``n`` samples of filtered noise into ``out[:n]`` (per-block kernel).

    Parameters
    ----------
    out : float32 or float64 array, shape (>= n,)
    n : int
    frames : float32 or float64 array, shape (capacity, B)
        Ring buffer of band magnitudes.
    read_pos, write_pos : int
        Monotonic frame counters (frames ``read_pos .. write_pos-1`` are available).
    state : float64 or float32 array
        From :func:`make_noise_state` (its dtype is the filter's arithmetic).
    hop_length : int
        Audio samples per frame.

    Returns
    -------
    int
        The new read counter.
    """
    B = int(state[_NB])
    N = int(state[_NT])
    T = _pass_len(N)  # output times a pass adds to
    A = _SHIFT * T  # accumulator: output time idx + d at slot idx + d (no wrap), moved to the front when full
    fir = _HDR + B * N
    acc = fir + T + _PAD
    cap = frames.shape[0]
    fpad = state[fir:fir + T + _PAD]
    accv = state[acc:acc + A]
    u8 = state[acc + A:acc + A + 8]
    pos = int(state[_POS])
    if pos < 0:
        pos = hop_length
    idx = int(state[_IDX])
    x = _rng_get(state)
    rp = read_pos
    i = 0
    while i < n:
        if pos >= hop_length:
            if rp < write_pos:
                _load_fir(frames, rp % cap, state)
                rp += 1
            pos = 0
        if state[_STARTED] < 0.5:
            out[i] = 0.0
            pos = hop_length
            i += 1
            continue
        if idx + T > A:
            # the live output times to the front (they end before A: the last pass fitted), the rest zero
            L = A - idx
            for m in range(L):
                accv[m] = accv[idx + m]
            for m in range(L, A):
                accv[m] = 0.0
            idx = 0
        # up to eight samples of one hop in one pass over the accumulator (each slot's contributions still in
        # time order: the values of single-sample steps); the uniforms stored in the state's dtype (exact in
        # float32: 24-bit), so every path multiplies in it; fewer than eight (a hop's or a block's end): zeros
        if pos + 8 <= hop_length and i + 8 <= n:
            q = 8  # (the common case spelt out: constant trip counts, unrolled)
            for e in range(8):
                x, ue = _next_uniform(x)
                u8[e] = ue
            _run8(accv, fpad, idx, 0, T, u8)
            for e in range(8):
                out[i + e] = accv[idx + e]
                accv[idx + e] = 0.0
        else:
            q = min(8, hop_length - pos, n - i)
            for e in range(q):
                x, ue = _next_uniform(x)
                u8[e] = ue
            for e in range(q, 8):
                u8[e] = 0.0
            _scatter(accv, fpad, idx, T, u8, q, out, i)
        idx += q
        pos += q
        i += q
    state[_POS] = pos
    state[_IDX] = idx
    _rng_put(state, x)
    return rp


@njit(nogil=True, cache=True)
def _fill_noise(out, state):
    x = _rng_get(state)
    for i in range(out.shape[0]):
        x, u = _next_uniform(x)
        out[i] = u
    _rng_put(state, x)


def white_noise(n: int, seed: int = 0) -> np.ndarray:
    """The exact uniform [-1, 1) sequence that :func:`noise_block` uses for ``seed`` (for references/tests).

    Raises
    ------
    ArgumentError
        ``n`` not a whole number in 0..2**24.
    """
    n = check_int("n", n, 0, MAX_BLOCK)
    state = make_noise_state(2, seed)
    out = np.empty(n, dtype=np.float64)
    _fill_noise(out, state)
    return out


def render_noise(magnitudes, hop_length, seed=0, block_size=0, window_size=0, out_dtype=np.float64):
    """Offline wrapper: filtered noise for a magnitude sequence, causal stream of ``n_frames * hop_length`` samples.

    Parameters
    ----------
    magnitudes : array_like, shape (n_frames, B)
    hop_length : int
        Samples per frame (1..2**20).
    seed : int
    block_size : int
        0 = one call; otherwise render in blocks of this size (1..2**24).
    window_size : int
        DDSP window size (0 = whole FIR).

    Returns
    -------
    numpy.ndarray
        Audio; DDSP's offline ``FilteredNoise`` output is ``result[DDSP_CROP:]`` (plus the tail).

    Raises
    ------
    ArgumentError
        ``hop_length``, ``block_size``, ``window_size`` or the band count ``B`` outside those ranges.
    """
    hop_length = check_int("hop_length", hop_length, 1, MAX_HOP)
    block_size = check_int("block_size", block_size, 0, MAX_BLOCK)
    mags = np.atleast_2d(np.asarray(magnitudes, dtype=np.float64))
    n_frames, B = mags.shape
    state = make_noise_state(B, seed, window_size)
    total = n_frames * hop_length
    out = np.zeros(total, dtype=out_dtype)
    step = max(1, total if block_size == 0 else block_size)
    rp = 0
    for start in range(0, total, step):
        m = min(step, total - start)
        rp = noise_block(out[start:start + m], m, mags, rp, n_frames, state, int(hop_length))
    return out
