"""YIN, the one pitch-period estimator of tonehost, tuned for humming and singing, and f0 smoothing helpers.

de Cheveigne & Kawahara, "YIN, a fundamental frequency estimator for speech and music", JASA 111(4), 2002:
difference function (their eq. 6), cumulative-mean-normalised difference (eq. 8), absolute threshold (step 4),
parabolic interpolation (step 5).

:func:`yin_frame` computes YIN's cumulative-mean-normalised difference (CMND) of one analysis window and picks a
period. Unlike plain YIN (first dip under the threshold) it takes a *continuity hint*: the period of the previous
stable note. When the CMND dip at the hinted period (or at an octave of the first pick) is nearly as deep as the
first pick's, the hinted one wins - this removes the octave jumps YIN makes at note starts and ends, where the
signal is weak and the first dip is shallow.

:func:`median3` and :func:`glide` are small helpers for the streaming post-processing in
:mod:`tonehost.dsp.features`. All functions are Numba ``nogil`` kernels that allocate nothing per call (callable
from a ``cfunc``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["yin_cmnd", "yin_first_dip", "yin_frame", "median3", "glide", "scratch"]


@njit(nogil=True, cache=True)
def yin_first_dip(cmnd, lo, hi, threshold):
    """YIN's lag choice (step 4): the first dip of ``cmnd[lo:hi]`` under ``threshold``, followed down to its
    bottom; else the global minimum over ``[lo, hi)``.

    Parameters
    ----------
    cmnd : float64 array
        Cumulative-mean-normalised difference d'(tau).
    lo, hi : int
        Lag range searched, ``[lo, hi)``.
    threshold : float
        Absolute threshold on d'.

    Returns
    -------
    int
        The chosen lag.
    """
    t = lo
    while t < hi:
        if cmnd[t] < threshold:
            while t + 1 < hi and cmnd[t + 1] < cmnd[t]:
                t += 1
            return t
        t += 1
    best = lo
    for t in range(lo, hi):
        if cmnd[t] < cmnd[best]:
            best = t
    return best


@njit(nogil=True, cache=True)
def yin_cmnd(x, start, width, max_lag, d, cmnd):
    """YIN difference function and its cumulative-mean normalisation for one window.

    The integration window is aligned to the *newest* samples: ``d(tau) = sum (x[j] - x[j - tau])^2`` over the
    last ``width`` samples of the window, so a period T only looks back ``width + T`` samples (a high note is
    detected sooner than a low one; classic YIN looks forward from the oldest sample instead).

    Parameters
    ----------
    x : float array
        Signal; the window is ``x[start : start + width + max_lag]``.
    start, width, max_lag : int
        Window start, integration width W and largest lag.
    d, cmnd : float64 arrays of length >= max_lag + 1
        Outputs: d[tau] and d'[tau] (d'[0] = 1).
    """
    d[0] = 0.0
    cmnd[0] = 1.0
    running = 0.0
    newest = start + max_lag
    for tau in range(1, max_lag + 1):
        acc = 0.0
        for j in range(newest, newest + width):
            diff = x[j] - x[j - tau]
            acc += diff * diff
        d[tau] = acc
        running += acc
        cmnd[tau] = acc * tau / running if running > 0.0 else 1.0


@njit(nogil=True, cache=True)
def _local_min_near(cmnd, lag, min_lag, max_lag, radius):
    """Index of the smallest cmnd value within +-radius of lag (clamped to [min_lag, max_lag-1])."""
    lo = max(min_lag, lag - radius)
    hi = min(max_lag - 1, lag + radius)
    best = lo
    for t in range(lo, hi + 1):
        if cmnd[t] < cmnd[best]:
            best = t
    return best


@njit(nogil=True, cache=True)
def _refine(cmnd, t, max_lag):
    """Parabolic interpolation of the dip at t."""
    if t <= 1 or t >= max_lag - 1:
        return float(t)
    a = cmnd[t - 1]
    b = cmnd[t]
    c = cmnd[t + 1]
    den = a - 2.0 * b + c
    if den <= 0.0:
        return float(t)
    shift = 0.5 * (a - c) / den
    if shift > 0.5:
        shift = 0.5
    elif shift < -0.5:
        shift = -0.5
    return t + shift


@njit(nogil=True, cache=True)
def yin_frame(x, start, width, min_lag, max_lag, threshold, hint_lag, octave_tolerance, d, cmnd):
    """Estimate the period of one window with YIN plus octave-error suppression.

    Parameters
    ----------
    x : float array
        Signal; the window is ``x[start : start + width + max_lag]``.
    start, width : int
        Window start and YIN integration width.
    min_lag, max_lag : int
        Period search range in samples (fmax and fmin).
    threshold : float
        YIN absolute threshold (0.1-0.2).
    hint_lag : float
        Period of the previous stable note in samples, or 0 for none.
    octave_tolerance : float
        How much shallower (in CMND units) a dip at the hinted period may be and still be preferred over the
        first pick (half of it for the hint-free check of the half period).
    d, cmnd : float64 scratch arrays of length >= max_lag + 1

    Returns
    -------
    (period, aperiodicity) : (float, float)
        Period in samples (fractional) and the CMND value at it (0 = perfectly periodic, ~1 = noise).
    """
    yin_cmnd(x, start, width, max_lag, d, cmnd)
    # Plain YIN: first dip under the threshold, followed to its bottom; else the global minimum.
    pick = yin_first_dip(cmnd, min_lag, max_lag, threshold)
    best = pick
    best_val = cmnd[pick]
    # Octave-down error (picked 2T): the dip at T/2 is nearly as deep -> the true period is T/2.
    half = pick // 2
    if half >= min_lag:
        h = _local_min_near(cmnd, half, min_lag, max_lag, 2)
        if cmnd[h] < best_val + 0.5 * octave_tolerance and cmnd[h] < 0.5:
            best = h
            best_val = cmnd[h]
    # Continuity: a dip at the previous note's period that is nearly as good wins (suppresses octave jumps).
    if hint_lag > 0.0:
        hl = int(hint_lag + 0.5)
        if min_lag <= hl < max_lag:
            ratio = best / hint_lag
            near_octave = abs(ratio - 2.0) < 0.12 or abs(ratio - 0.5) < 0.06 or abs(ratio - 3.0) < 0.15
            if near_octave:
                h = _local_min_near(cmnd, hl, min_lag, max_lag, 2)
                if cmnd[h] < best_val + octave_tolerance:
                    best = h
                    best_val = cmnd[h]
    return _refine(cmnd, best, max_lag), best_val


@njit(nogil=True, cache=True)
def median3(a, b, c):
    """Median of three floats."""
    if a > b:
        a, b = b, a
    if b > c:
        b = c
    return a if a > b else b


@njit(nogil=True, cache=True)
def glide(current, target, coeff):
    """One step of a one-pole glide in log-frequency: returns the new f0 (Hz).

    ``coeff`` is the fraction of the remaining distance covered per step (1 = jump).
    """
    if current <= 0.0:
        return target
    if target <= 0.0:
        return current
    lc = math.log(current)
    return math.exp(lc + coeff * (math.log(target) - lc))


def scratch(max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Allocate the ``d`` and ``cmnd`` scratch arrays for :func:`yin_frame`."""
    return np.zeros(max_lag + 2), np.zeros(max_lag + 2)
