"""Single-producer/single-consumer lock-free ring buffers of float32 samples.

A ring is two numpy arrays: ``data`` (float32, capacity a power of two) and ``idx`` (int64[16]) holding the
monotonic write counter at ``idx[WRITE]`` and read counter at ``idx[READ]`` on separate cache lines. Only the
producer moves the write counter and only the consumer the read counter, each with a release store after
touching the data, and each reads the other's counter with an acquire load: no locks, no allocation.

The kernels are ``@njit(nogil=True)`` so the same code runs inside the Numba ``@cfunc`` audio callback and,
without holding the GIL, in worker threads (through :class:`Ring`).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tonehost.realtime.audio.atomics import load_acquire, store_release

WRITE = 0
READ = 8


@njit(nogil=True, cache=True)
def ring_available(idx):
    """Samples ready to read."""
    return load_acquire(idx, WRITE) - load_acquire(idx, READ)


@njit(nogil=True, cache=True)
def ring_push(data, idx, src, n):
    """Producer: append ``src[:n]`` if it fits whole; return ``n`` or 0 (the caller counts the drop)."""
    cap = data.shape[0]
    w = idx[WRITE]
    free = cap - (w - load_acquire(idx, READ))
    if n > free:
        return 0
    mask = cap - 1
    for i in range(n):
        data[(w + i) & mask] = src[i]
    store_release(idx, WRITE, w + n)
    return n


@njit(nogil=True, cache=True)
def ring_pop(data, idx, dst, n):
    """Consumer: move up to ``n`` samples into ``dst``; return how many."""
    cap = data.shape[0]
    r = idx[READ]
    m = min(n, load_acquire(idx, WRITE) - r)
    mask = cap - 1
    for i in range(m):
        dst[i] = data[(r + i) & mask]
    store_release(idx, READ, r + m)
    return m


@njit(nogil=True, cache=True)
def ring_discard_older(idx, keep):
    """Consumer: drop all but the newest ``keep`` samples (bounds latency after a stall); return how many."""
    r = idx[READ]
    w = load_acquire(idx, WRITE)
    extra = (w - r) - keep
    if extra <= 0:
        return 0
    store_release(idx, READ, r + extra)
    return extra


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


class Ring:
    """A float32 SPSC ring; Python methods call the nogil kernels (safe from one producer + one consumer)."""

    def __init__(self, capacity: int):
        self.data = np.zeros(_next_pow2(capacity), dtype=np.float32)
        self.idx = np.zeros(16, dtype=np.int64)

    @property
    def capacity(self) -> int:
        """Samples the ring holds at most (``capacity`` rounded up to a power of two)."""
        return self.data.shape[0]

    def available(self) -> int:
        """Samples queued for the consumer."""
        return int(ring_available(self.idx))

    def push(self, src: np.ndarray) -> int:
        """Producer: queue as much of ``src`` as fits; returns how many samples were queued."""
        src = np.ascontiguousarray(src, dtype=np.float32)
        return int(ring_push(self.data, self.idx, src, src.shape[0]))

    def pop(self, dst: np.ndarray) -> int:
        """Consumer: move up to ``len(dst)`` queued samples into ``dst``; returns how many."""
        return int(ring_pop(self.data, self.idx, dst, dst.shape[0]))

    def discard_older(self, keep: int) -> int:
        """Consumer: drop all but the newest ``keep`` queued samples; returns how many were dropped."""
        return int(ring_discard_older(self.idx, keep))
