"""Small in-place radix-2 complex FFT for Numba kernels (numba has no ``np.fft`` in nopython mode).

A plan is one float64 array (so it can live inside a caller-owned state array)::

    plan[0]              n (power of two)
    plan[1 : 1+n]        bit-reversal permutation (as exact floats)
    plan[1+n : 1+n+n/2]  cos(2*pi*k/n)
    plan[1+3n/2 : 1+2n]  sin(2*pi*k/n)
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tonehost.dsp.errors import ArgumentError


def plan_size(n: int) -> int:
    """Length of the plan array for an ``n``-point FFT."""
    return 1 + 2 * n


def make_fft_plan(n: int) -> np.ndarray:
    """Build the plan for an ``n``-point FFT (``n`` a power of two)."""
    if n < 2 or n & (n - 1):
        raise ArgumentError(f"FFT size must be a power of two >= 2, got {n}")
    bits = n.bit_length() - 1
    idx = np.arange(n)
    rev = np.zeros(n, dtype=np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    k = np.arange(n // 2)
    plan = np.empty(plan_size(n), dtype=np.float64)
    plan[0] = n
    plan[1:1 + n] = rev
    plan[1 + n:1 + n + n // 2] = np.cos(2 * np.pi * k / n)
    plan[1 + n + n // 2:1 + 2 * n] = np.sin(2 * np.pi * k / n)
    return plan


@njit(nogil=True, cache=True)
def fft_inplace(re, im, plan, p0):
    """Forward FFT (``exp(-2*pi*i*k*n/N)``) of ``re + i*im`` in place, using the plan stored at ``plan[p0:]``."""
    n = int(plan[p0])
    rev = p0 + 1
    cs = p0 + 1 + n
    sn = p0 + 1 + n + n // 2
    for i in range(n):
        j = int(plan[rev + i])
        if j > i:
            t = re[i]
            re[i] = re[j]
            re[j] = t
            t = im[i]
            im[i] = im[j]
            im[j] = t
    size = 2
    while size <= n:
        halfsize = size // 2
        step = n // size
        for start in range(0, n, size):
            k = 0
            for j in range(start, start + halfsize):
                c = plan[cs + k]
                s = plan[sn + k]
                l = j + halfsize
                tr = re[l] * c + im[l] * s
                ti = im[l] * c - re[l] * s
                re[l] = re[j] - tr
                im[l] = im[j] - ti
                re[j] += tr
                im[j] += ti
                k += step
        size *= 2


def fft(x) -> np.ndarray:
    """Convenience (allocating) complex FFT using :func:`fft_inplace` (for tests)."""
    x = np.asarray(x, dtype=np.complex128)
    re = np.ascontiguousarray(x.real).copy()
    im = np.ascontiguousarray(x.imag).copy()
    fft_inplace(re, im, make_fft_plan(len(x)), 0)
    return re + 1j * im

