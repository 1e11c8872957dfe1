"""tfjs 2.8.6's random draws, reproduced: seedrandom's ``alea``, the CPU ``Multinomial`` kernel, JS number strings.

Source: tfjs-core 2.8.6 ``ops/multinomial.js`` (``seed = seed || Math.random()``), tfjs-backend-cpu 2.8.6
``kernels/Multinomial.js``, seedrandom 2.4.4 ``lib/alea.js``; MUSICGEN.md section 6.

A tfjs op without a seed draws ``seed = Math.random()`` per call and builds ``alea(String(seed))``; the
multinomial kernel takes float32 ``softmax(logits)``, a cumulative float32 cdf over the first ``n - 1`` events,
and returns the first event with ``r < cdf[e]`` (else the last) for ``r`` = alea's first draw. Given the same
``Math.random`` values, :class:`TfjsMultinomial` picks the same events as magenta.js bit for bit; with a NumPy
generator instead (:class:`CdfSampler`) the same cdf rule is used with NumPy's uniform draws.

:func:`mulberry32` is the seeded ``Math.random`` replacement the Node parity harnesses install, so tests can
reproduce their draws here.
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Callable

import numpy as np

__all__ = ["alea", "mulberry32", "js_number_to_string", "multinomial_from_probs", "CdfSampler",
           "TfjsMultinomial", "softmax32", "check_temperature", "MAX_TEMPERATURE",
           "MIN_TEMPERATURE"]

#: The largest sampling temperature accepted. ``softmax(logits / T)`` is within 1 % of uniform well before it for
#: the logits of Magenta's models (|logit| < 50), and a float32 ``T`` overflows to inf past 3.4e38 (numpy warned
#: "overflow encountered in cast" for ``--temperature 1e308`` and sampled uniformly).
MAX_TEMPERATURE = 100.0
#: Temperatures above 0 and under this sample as argmax: the float32 logits divided by 1e-40 overflowed to inf and
#: the softmax to NaN (MusicRNN and MusicVAE then always drew the last class); the limit of sampling as the
#: temperature falls is argmax.
MIN_TEMPERATURE = 1e-6

_TWO_M32 = 2.3283064365386963e-10  # 2 ** -32


def _uint32(x: float) -> int:
    """ECMAScript ToUint32 of a finite number."""
    return int(math.trunc(x)) % 4294967296


def _mash() -> Callable[[str], float]:
    n = 0xEFC8249D

    def mash(data: str) -> float:
        nonlocal n
        for unit in memoryview(str(data).encode("utf-16-le")).cast("H"):  # UTF-16 code units (charCodeAt)
            n += unit
            h = 0.02519603282416938 * n
            n = _uint32(h)
            h -= n
            h *= n
            n = _uint32(h)
            h -= n
            n += h * 4294967296.0
        return _uint32(n) * _TWO_M32

    return mash


def alea(seed: str) -> Callable[[], float]:
    """seedrandom 2.4.4 ``alea(seed)``: a generator of floats in [0, 1), identical to Node's for the same string.

    Parameters
    ----------
    seed : str
        The seed string (tfjs passes ``String(Math.random())``: see :func:`js_number_to_string`).
    """
    mash = _mash()
    s0, s1, s2 = mash(" "), mash(" "), mash(" ")
    c = 1.0
    s0 -= mash(seed)
    if s0 < 0:
        s0 += 1
    s1 -= mash(seed)
    if s1 < 0:
        s1 += 1
    s2 -= mash(seed)
    if s2 < 0:
        s2 += 1

    def nxt() -> float:
        nonlocal s0, s1, s2, c
        t = 2091639 * s0 + c * _TWO_M32
        s0, s1 = s1, s2
        c = float(int(math.trunc(t)))  # t | 0 (t is in [0, 2091640))
        s2 = t - c
        return s2

    return nxt


def mulberry32(seed: int) -> Callable[[], float]:
    """The mulberry32 PRNG (``Math.random`` replacement of the Node harnesses): floats in [0, 1)."""
    a = int(seed) & 0xFFFFFFFF

    def imul(x: int, y: int) -> int:
        return (x * y) & 0xFFFFFFFF

    def nxt() -> float:
        nonlocal a
        a = (a + 0x6D2B79F5) & 0xFFFFFFFF
        t = imul(a ^ (a >> 15), 1 | a)
        t = ((t + imul(t ^ (t >> 7), 61 | t)) & 0xFFFFFFFF) ^ t
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296.0

    return nxt


def js_number_to_string(x: float) -> str:
    """ECMAScript ``Number.prototype.toString()`` of a finite float (shortest round-trip digits; exponent form
    below 1e-6 and from 1e21, as ``1e-7`` and ``1.5e+21``)."""
    x = float(x)
    if x == 0:
        return "0"
    if x < 0:
        return "-" + js_number_to_string(-x)
    _, digits, exp = Decimal(repr(x)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    k = len(ds)
    n = len(digits) + exp  # x = 0.ds * 10**n
    if k <= n <= 21:
        return ds + "0" * (n - k)
    if 0 < n <= 21:
        return ds[:n] + "." + ds[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + ds
    e = n - 1
    sign = "+" if e >= 0 else "-"
    mant = ds if k == 1 else ds[0] + "." + ds[1:]
    return f"{mant}e{sign}{abs(e)}"


def check_temperature(temperature) -> float | None:
    """A sampling temperature as the samplers use it: ``None`` for argmax (``None``, 0, or above 0 and under
    :data:`MIN_TEMPERATURE`), else a float.

    Parameters
    ----------
    temperature : float or None
        0 or None (argmax) or a finite number in (0, :data:`MAX_TEMPERATURE`].

    Returns
    -------
    float or None

    Raises
    ------
    UsageError
        A negative, NaN, infinite, non-numeric or larger value (one sentence with the range).
    """
    from tonehost.exports.errors import UsageError

    if temperature is None or (not isinstance(temperature, str) and temperature == 0):
        return None
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        t = float("nan")
    if isinstance(temperature, (str, bool)) or not (math.isfinite(t) and 0 < t <= MAX_TEMPERATURE):
        raise UsageError(f"temperature must be 0 (argmax) or a number in (0, {MAX_TEMPERATURE:g}], got "
                         f"{temperature!r}")
    return None if t < MIN_TEMPERATURE else t


def softmax32(logits: np.ndarray) -> np.ndarray:
    """float32 softmax over the last axis (max-subtracted, as tfjs's CPU kernel)."""
    x = np.asarray(logits, dtype=np.float32)
    e = np.exp(x - x.max(axis=-1, keepdims=True)).astype(np.float32)
    return (e / e.sum(axis=-1, keepdims=True, dtype=np.float32)).astype(np.float32)


def multinomial_from_probs(probs: np.ndarray, r: float) -> int:
    """The tfjs CPU ``Multinomial`` rule for one row: the first event ``e`` with ``r < cdf[e]`` where ``cdf`` is
    the float32 running sum of the first ``n - 1`` probabilities, else the last event."""
    p = np.asarray(probs, dtype=np.float32).reshape(-1)
    cdf = np.add.accumulate(p[:-1], dtype=np.float32)  # sequential float32 sums, as the Float32Array loop
    hit = np.flatnonzero(np.float64(r) < cdf.astype(np.float64))
    return int(hit[0]) if hit.size else len(p) - 1


class CdfSampler:
    """Draw events with the tfjs rule (:func:`multinomial_from_probs`) and a NumPy generator's uniforms.

    Parameters
    ----------
    rng : int, numpy.random.Generator or None
        A seed or a generator (None: fresh entropy).
    """

    def __init__(self, rng=None):
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    def __call__(self, probs: np.ndarray) -> int:
        return multinomial_from_probs(probs, self.rng.random())


class TfjsMultinomial:
    """Draw events exactly as ``tf.multinomial(logits, 1)`` does in Node, given its ``Math.random`` stream.

    Parameters
    ----------
    math_random : callable
        Returns the successive ``Math.random()`` values (e.g. :func:`mulberry32` with the harness's seed).
    """

    def __init__(self, math_random: Callable[[], float]):
        self.math_random = math_random

    def __call__(self, probs: np.ndarray) -> int:
        seed = self.math_random()
        while not seed:  # seed = seed || Math.random(): a 0 draws again
            seed = self.math_random()
        return multinomial_from_probs(probs, alea(js_number_to_string(seed))())
