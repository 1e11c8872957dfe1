"""Streaming harmonic (additive) synthesizer, DDSP / DDSP-VST style.

Controls arrive at a control rate (one frame every ``hop_length`` audio samples). A frame is a row of a caller-owned
float array ``frames`` of shape ``(capacity, 2 + K)``::

    frames[i, 0]      f0 in Hz
    frames[i, 1]      overall amplitude
    frames[i, 2:2+K]  harmonic distribution (non-negative, any scale)

``frames`` is used as a ring buffer: the caller writes frame number ``w`` at row ``w % capacity`` and bumps its
write counter; :func:`harmonic_block` consumes frames in order and returns the new read counter.

Timing: when frame ``i`` is consumed (at the start of hop ``i``), the synthesizer ramps linearly from the
previous frame to frame ``i`` over the next ``hop_length`` samples (DDSP-VST: "f0 and amplitudes interpolated over the
hop"). The first frame ever consumed is also used as its own predecessor. If a hop starts and no frame is
available the last frame is held (the ramp target is repeated), so a starving producer gives a sustained note,
not a click.

Per frame, harmonics at or above Nyquist are zeroed and the distribution renormalised to sum 1, times the
amplitude (DDSP ``Harmonic.get_controls``). Per sample, harmonics whose interpolated frequency is at or above
Nyquist are silenced (DDSP ``oscillator_bank``). Phase follows DDSP: ``phi[n] = phi[n-1] + 2*pi*f0[n]/sr``
(inclusive cumulative sum, starting at 0) and harmonic k has phase ``k*phi``.

Oscillator: ``cos(phi)`` and ``sin(phi)`` are computed exactly once per sample (fdlibm's polynomial kernels
after a reduction by pi/2, absolute error below 2e-16, in plain float64 arithmetic, so the loop vectorises and
every path gives the same values), and the harmonics by Chebyshev's recurrence
``sin((k+1) phi) = 2 cos(phi) sin(k phi) - sin((k-1) phi)`` (one multiply and one subtraction per harmonic, half
the multiplies of a complex rotation ``z_k = z_{k-1} z_1``), vectorised across chunks of up to 64 samples inside
a hop (scratch arrays in the state). The fundamental is re-synchronised every sample, so errors cannot accumulate
across time; across harmonics the error grows at most like ``k * min(k, 1/sin(phi)) * 1e-16`` (below 1e-11 for
100 harmonics, tests/dsp/test_harmonic.py checks 1e-9 against numpy's ``sin(k * phi)``).
Every sample is computed from the state by the same float operations whatever the block size, so block-wise
rendering is bit-identical to one-shot rendering.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from tonehost.dsp._checks import MAX_BLOCK, MAX_HOP, MAX_RATE, check_int, check_real

MAX_HARMONICS = 100

# State layout (float64 array): scalars, then prev/next harmonic amplitude vectors.
_PHASE = 0      # fundamental phase, wrapped to [0, 2*pi)
_POS = 1        # position inside the current hop (0..hop_length-1); == hop_length means "need a frame"
_STARTED = 2    # 1 once a first frame has been consumed
_F0_PREV = 3
_F0_NEXT = 4
_K = 5          # number of harmonics the state was sized for
_KA_PREV = 6    # harmonics up to the highest non-zero one, previous frame (the others add exact zeros: skipped)
_KA_NEXT = 7    # same, next frame
_HDR = 8
_CH = 64        # samples per vectorised chunk (scratch arrays live at the end of the state)


# fdlibm's kernels (__kernel_sin, __kernel_cos: |error| < 1 ulp on [-pi/4, pi/4]) and a Cody-Waite reduction by
# pi/2: plain float64 arithmetic, no branches, so a vectorised loop and a scalar one give the same values
_PIO2_1 = 1.57079632673412561417e+00   # first 33 bits of pi/2
_PIO2_1T = 6.07710050650619224932e-11  # pi/2 - _PIO2_1
_TWO_OVER_PI = 6.36619772367581382433e-01
_S1 = -1.66666666666666324348e-01
_S2 = 8.33333333332248946124e-03
_S3 = -1.98412698298579493134e-04
_S4 = 2.75573137070700676789e-06
_S5 = -2.50507602534068634195e-08
_S6 = 1.58969099521155010221e-10
_C1 = 4.16666666666666019037e-02
_C2 = -1.38888888888741095749e-03
_C3 = 2.48015872894767294178e-05
_C4 = -2.75573143513906633035e-07
_C5 = 2.08757232129817482790e-09
_C6 = -1.13596475577881948265e-11


@njit(nogil=True, cache=True, inline="always")
def _sincos(x):
    """``(cos(x), sin(x))`` for ``0 <= x < 2*pi`` (a phase), absolute error below 2e-16.

    Source: fdlibm ``__kernel_sin`` / ``__kernel_cos`` (Sun Microsystems, 1993) after a two-part Cody-Waite
    reduction by pi/2."""
    qi = int(x * _TWO_OVER_PI + 0.5)  # quadrant 0..4 (x >= 0: truncation is the floor; integer ops vectorise)
    q = float(qi)
    r = (x - q * _PIO2_1) - q * _PIO2_1T     # |r| <= pi/4 (q * _PIO2_1 is exact)
    z = r * r
    sr = r + r * z * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))))
    hz = 0.5 * z
    w = 1.0 - hz
    cr = w + (((1.0 - w) - hz) + z * z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6))))))
    n = qi & 3  # q mod 4
    odd = n & 1  # 1 in quadrants 1 and 3: sine and cosine swap
    a = sr if odd == 1 else cr
    b = cr if odd == 1 else sr
    sc = -1.0 if (n == 1 or n == 2) else 1.0  # cos negative in quadrants 1, 2
    ss = -1.0 if n >= 2 else 1.0             # sin negative in quadrants 2, 3
    return a * sc, b * ss


def make_harmonic_state(n_harmonics: int) -> np.ndarray:
    """Allocate the state array for :func:`harmonic_block`.

    Parameters
    ----------
    n_harmonics : int
        Number of harmonics K (1..100); must equal ``frames.shape[1] - 2``.

    Returns
    -------
    numpy.ndarray
        float64 state of length ``8 + 2*K + 7*64`` (phase, hop position, previous/next frame, scratch).

    Raises
    ------
    ArgumentError
        ``n_harmonics`` not a whole number in 1..100.
    """
    n_harmonics = check_int("n_harmonics", n_harmonics, 1, MAX_HARMONICS)
    state = np.zeros(_HDR + 2 * n_harmonics + 7 * _CH, dtype=np.float64)
    state[_K] = n_harmonics
    state[_POS] = -1.0  # resolved to "need a frame" on first call
    return state


def make_frame_buffer(capacity: int, n_harmonics: int, dtype=np.float32) -> np.ndarray:
    """Allocate a control ring buffer of ``capacity`` frames of ``2 + n_harmonics`` values.

    Raises
    ------
    ArgumentError
        ``capacity`` not in 1..2**24 or ``n_harmonics`` not in 1..100.
    """
    capacity = check_int("capacity", capacity, 1, MAX_BLOCK)
    n_harmonics = check_int("n_harmonics", n_harmonics, 1, MAX_HARMONICS)
    return np.zeros((capacity, 2 + n_harmonics), dtype=dtype)


@njit(nogil=True, cache=True)
def _load_frame(frames, row, state, sample_rate):
    """Shift next->prev and normalise frame ``row`` into the 'next' slot (no allocation)."""
    K = int(state[_K])
    nyq = 0.5 * sample_rate
    f0 = float(frames[row, 0])
    if not (f0 >= 0.0):  # also catches NaN
        f0 = 0.0
    amp = float(frames[row, 1])
    if not (amp >= 0.0):
        amp = 0.0
    total = 0.0
    for k in range(K):
        if (k + 1) * f0 < nyq:
            d = float(frames[row, 2 + k])
            if d > 0.0:
                total += d
    scale = amp / total if total > 0.0 else 0.0
    prev = _HDR
    nxt = _HDR + K
    started = state[_STARTED] > 0.5
    top = 0
    for k in range(K):
        a = 0.0
        if (k + 1) * f0 < nyq:
            d = float(frames[row, 2 + k])
            if d > 0.0:
                a = d * scale
        if a != 0.0:
            top = k + 1
        state[prev + k] = state[nxt + k] if started else a
        state[nxt + k] = a
    state[_KA_PREV] = state[_KA_NEXT] if started else top
    state[_KA_NEXT] = top
    state[_F0_PREV] = state[_F0_NEXT] if started else f0
    state[_F0_NEXT] = f0
    state[_STARTED] = 1.0


@njit(nogil=True, cache=True)
def harmonic_block(out, n, frames, read_pos, write_pos, state, sample_rate, hop_length):
    """Render ``n`` samples of the harmonic synthesizer into ``out[:n]`` (per-block kernel).

    Parameters
    ----------
    out : float32 or float64 array, shape (>= n,)
        Caller-owned output; ``out[:n]`` is overwritten.
    n : int
        Number of samples to render.
    frames : float32 or float64 array, shape (capacity, 2 + K)
        Control ring buffer (see module docstring).
    read_pos, write_pos : int
        Monotonic frame counters; frames ``read_pos .. write_pos-1`` are available at rows ``pos % capacity``.
    state : float64 array
        From :func:`make_harmonic_state`.
    sample_rate : float
        Audio sample rate in Hz.
    hop_length : int
        Audio samples per control frame.

    Returns
    -------
    int
        The new read counter (``read_pos`` plus the number of frames consumed).
    """
    K = int(state[_K])
    cap = frames.shape[0]
    nyq = 0.5 * sample_rate
    two_pi = 2.0 * math.pi
    w_scale = two_pi / sample_rate
    inv_hop = 1.0 / hop_length
    prev = _HDR
    nxt = _HDR + K
    scr = _HDR + 2 * K
    c2 = state[scr:scr + _CH]  # 2 cos(phi) per sample
    ph = state[scr + _CH:scr + 2 * _CH]  # phase per sample
    sp = state[scr + 2 * _CH:scr + 3 * _CH]  # sin((k - 1) phi)
    sk = state[scr + 3 * _CH:scr + 4 * _CH]  # sin(k phi)
    fj = state[scr + 4 * _CH:scr + 5 * _CH]
    tj = state[scr + 5 * _CH:scr + 6 * _CH]
    acc = state[scr + 6 * _CH:scr + 7 * _CH]
    pos = int(state[_POS])
    if pos < 0:
        pos = hop_length
    phase = state[_PHASE]
    rp = read_pos
    i = 0
    while i < n:
        if pos >= hop_length:
            if rp < write_pos:
                _load_frame(frames, rp % cap, state, sample_rate)
                rp += 1
            elif state[_STARTED] > 0.5:
                # starving: hold the last frame
                for k in range(K):
                    state[prev + k] = state[nxt + k]
                state[_F0_PREV] = state[_F0_NEXT]
                state[_KA_PREV] = state[_KA_NEXT]
            pos = 0
        if state[_STARTED] < 0.5:
            out[i] = 0.0
            pos = hop_length
            i += 1
            continue
        # a chunk of samples inside one hop: the fundamental's phase per sample, then the harmonics by
        # Chebyshev's recurrence, vectorised across the samples of the chunk
        m = n - i
        if hop_length - pos < m:
            m = hop_length - pos
        if _CH < m:
            m = _CH
        f0p = state[_F0_PREV]
        df = state[_F0_NEXT] - f0p
        fmax = 0.0
        for j in range(m):
            t = (pos + j) * inv_hop
            f0 = f0p + df * t
            phase += f0 * w_scale
            if phase >= two_pi:
                phase -= two_pi * math.floor(phase / two_pi)
            ph[j] = phase
            fj[j] = f0
            tj[j] = t
            acc[j] = 0.0
            if f0 > fmax:
                fmax = f0
        # the fundamental's cos/sin per sample (a vector loop): harmonic 0 and 1 of the recurrence
        for j in range(m):
            c, sn = _sincos(ph[j])
            c2[j] = 2.0 * c
            sp[j] = 0.0
            sk[j] = sn
        # harmonics above the highest non-zero amplitude of both frames would add exact zeros: not computed
        ka = int(max(state[_KA_PREV], state[_KA_NEXT]))
        # harmonics 1..kb are below Nyquist for every sample of the chunk (the others are silenced from the
        # first one at or above it on, f >= 0)
        kb = 0
        while kb < ka and (kb + 1.0) * fmax < nyq:
            kb += 1
        # four harmonics per pass over the chunk (the recurrence and the sum in registers): per sample the same
        # operations in the same order as one harmonic per pass, so the same values bit for bit
        k = 0
        while k + 4 <= kb:
            a0 = state[prev + k]
            d0 = state[nxt + k] - a0
            a1 = state[prev + k + 1]
            d1 = state[nxt + k + 1] - a1
            a2 = state[prev + k + 2]
            d2 = state[nxt + k + 2] - a2
            a3 = state[prev + k + 3]
            d3 = state[nxt + k + 3] - a3
            for j in range(m):
                t = tj[j]
                c = c2[j]
                s0 = sp[j]
                s1 = sk[j]
                v = acc[j]
                v += (a0 + d0 * t) * s1
                s0 = c * s1 - s0
                v += (a1 + d1 * t) * s0
                s1 = c * s0 - s1
                v += (a2 + d2 * t) * s1
                s0 = c * s1 - s0
                v += (a3 + d3 * t) * s0
                s1 = c * s0 - s1
                acc[j] = v
                sp[j] = s0
                sk[j] = s1
            k += 4
        while k < kb:
            ap = state[prev + k]
            da = state[nxt + k] - ap
            for j in range(m):
                acc[j] += (ap + da * tj[j]) * sk[j]
                nx = c2[j] * sk[j] - sp[j]
                sp[j] = sk[j]
                sk[j] = nx
            k += 1
        # the chunk's highest harmonics may be below Nyquist for some samples only
        if fmax > 0.0:
            for k in range(ka):
                fk = k + 1.0
                if fk * fmax < nyq:
                    continue
                ap = state[prev + k]
                da = state[nxt + k] - ap
                any_below = False
                for j in range(m):
                    if fk * fj[j] < nyq:
                        any_below = True
                        acc[j] += (ap + da * tj[j]) * sk[j]
                    nx = c2[j] * sk[j] - sp[j]
                    sp[j] = sk[j]
                    sk[j] = nx
                if not any_below:
                    break
        for j in range(m):
            out[i + j] = acc[j]
        i += m
        pos += m
    state[_PHASE] = phase
    state[_POS] = pos
    return rp


def render_harmonic(f0_hz, amplitude, distribution, sample_rate, hop_length, block_size=0, out_dtype=np.float64):
    """Offline wrapper: render a whole control sequence.

    Parameters
    ----------
    f0_hz, amplitude : array_like, shape (n_frames,)
    distribution : array_like, shape (n_frames, K)
    sample_rate : float
        Output rate in Hz, in (0, 1e6].
    hop_length : int
        Audio samples per frame (1..2**20); the output has ``n_frames * hop_length`` samples.
    block_size : int
        0 renders in one call; otherwise the render is split into blocks of this size (1..2**24, for tests).

    Returns
    -------
    numpy.ndarray
        Audio, shape ``(n_frames * hop_length,)``.

    Raises
    ------
    ArgumentError
        ``sample_rate``, ``hop_length`` or ``block_size`` outside those ranges (or not a number).
    """
    sample_rate = check_real("sample_rate", sample_rate, 0.0, MAX_RATE, lo_open=True)
    hop_length = check_int("hop_length", hop_length, 1, MAX_HOP)
    block_size = check_int("block_size", block_size, 0, MAX_BLOCK)
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    amplitude = np.asarray(amplitude, dtype=np.float64)
    distribution = np.atleast_2d(np.asarray(distribution, dtype=np.float64))
    n_frames, K = distribution.shape
    frames = np.empty((n_frames, 2 + K), dtype=np.float64)
    frames[:, 0] = f0_hz
    frames[:, 1] = amplitude
    frames[:, 2:] = distribution
    state = make_harmonic_state(K)
    total = n_frames * hop_length
    out = np.zeros(total, dtype=out_dtype)
    step = max(1, total if block_size == 0 else block_size)
    rp = 0
    for start in range(0, total, step):
        m = min(step, total - start)
        view = out[start:start + m]
        rp = harmonic_block(view, m, frames, rp, n_frames, state, float(sample_rate), int(hop_length))
    return out


@njit(nogil=True, cache=True)
def frames_due(state, n, hop_length):
    """How many control frames :func:`harmonic_block` will want while rendering the next ``n`` samples.

    Comparing this with the frames it actually consumed tells a caller how many hops it held the previous
    controls because no frame had arrived (a late producer). Before the first frame nothing is due.
    """
    if state[_STARTED] < 0.5:
        return 0
    pos = int(state[_POS])
    if pos < 0 or pos > hop_length:
        pos = hop_length
    first = hop_length - pos
    if first >= n:
        return 0
    return 1 + (n - 1 - first) // hop_length
