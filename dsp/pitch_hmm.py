"""Causal pitch-candidate tracking for the live voice tracker: a forward (filtering) HMM over log-frequency bins.

Plain YIN decides each frame on its own: the first dip of the cumulative-mean-normalised difference (CMND) under
a threshold. Where the voice is weak - at the ends and starts of voiced stretches, in breathy or creaky voice - the
CMND has several shallow dips of similar depth and the frame's own choice jumps between them (a 140 Hz voice read
as 206, 258 or 580 Hz for a frame). Following Mauch & Dixon's pYIN (ICASSP 2014), each dip gets the share of a
threshold distribution for which it would be YIN's choice, and a hidden Markov model over pitch bins weighs those
shares against the pitch of the frames before. Unlike pYIN's Viterbi pass over the whole file this runs forward
only (the filtering distribution of the newest frame): no look-ahead, so it adds no latency.

- Observation: dip ``j`` (a local minimum of the CMND, in lag order) is YIN's first dip for thresholds
  ``s`` in ``(c_j, min_{i<j} c_i]``; with ``s ~ Beta(2, b)`` (mean ``2 / (2 + b)``) it gets
  ``F(min_{i<j} c_i) - F(c_j)``, ``F(x) = 1 - (1 - x)^b (1 + b x)``; thresholds below every dip give their share
  (times ``absmin``) to the deepest dip. The shares land in the bins of the dips' (interpolated) frequencies, over
  a ``floor`` that lets the prior carry a frame whose dips are all shallow.
- Transition: a triangular kernel of ``band`` bins per frame (the voice's fastest pitch movements), mixed with a
  jump to any bin with probability ``jump`` (a new note or a new speaker).
- Output: the most probable bin, reported at the frequency of the dip in it (or next to it): the interpolated
  period, not the bin's centre. A clear YIN pick restarts the state when the track's dip is clearly shallower, or
  when the track sits on a multiple of the pick's period (a sub-harmonic) without a clearly deeper dip.

All kernels are Numba ``nogil`` functions that allocate nothing per call.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from tonehost.dsp.yin import _refine

__all__ = ["n_bins", "transition_kernel", "hmm_reset", "hmm_seed", "hmm_step", "threshold_share"]


def n_bins(fmin: float, fmax: float, bin_cents: float) -> int:
    """Number of log-frequency bins from ``fmin`` to ``fmax`` (both included) at ``bin_cents`` spacing."""
    return int(math.ceil(1200.0 * math.log2(fmax / fmin) / bin_cents)) + 1


def transition_kernel(band: int) -> np.ndarray:
    """Triangular transition weights over ``-band..band`` bins (sum 1)."""
    k = float(band) + 1.0 - np.abs(np.arange(-band, band + 1, dtype=np.float64))
    return k / k.sum()


@njit(nogil=True, cache=True)
def hmm_reset(post):
    """Uniform state (no pitch known)."""
    n = post.shape[0]
    for b in range(n):
        post[b] = 1.0 / n


@njit(nogil=True, cache=True)
def hmm_seed(post, f0, fmin, bin_cents):
    """Restart the state at ``f0`` (Hz): all probability in its bin."""
    nb = post.shape[0]
    b = int(math.floor(1200.0 / bin_cents * math.log2(max(f0, 1e-9) / fmin) + 0.5))
    if 0 <= b < nb:
        for i in range(nb):
            post[i] = 0.0
        post[b] = 1.0


@njit(nogil=True, cache=True)
def threshold_share(x, beta_b):
    """``P(s <= x)`` for YIN thresholds ``s ~ Beta(2, beta_b)``: ``1 - (1 - x)^b (1 + b x)`` on [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return 1.0 - (1.0 - x) ** beta_b * (1.0 + beta_b * x)


@njit(nogil=True, cache=True)
def _predict(kern, post, pred, band):
    """``pred[b] = sum_i kern[i - b + band] post[i]`` over ``|i - b| <= band`` (in ``[0, nb)``), each sum in
    ascending ``i`` from 0.0 as a loop over ``b`` per kernel tap (the same operations per bin; vectorises)."""
    nb = post.shape[0]
    for b in range(nb):
        pred[b] = 0.0
    for o in range(-band, band + 1):
        kv = kern[o + band]
        blo = max(0, -o)
        bhi = min(nb, nb - o)
        if bhi <= blo:
            continue
        pp = pred[blo:bhi]
        ps = post[blo + o:bhi + o]
        for j in range(bhi - blo):
            pp[j] += kv * ps[j]


@njit(nogil=True, cache=True)
def hmm_step(cmnd, min_lag, max_lag, sample_rate, par, kern, post, pred, obs, lags, mass, freqs, move_from, move_to,
             yin_lag, yin_val):
    """One frame of the forward HMM; returns the tracked f0 in Hz.

    Parameters
    ----------
    cmnd : float64 array
        The frame's CMND over lags ``0..max_lag`` (:func:`tonehost.dsp.yin.yin_cmnd`).
    min_lag, max_lag : int
        Lag range searched (``[min_lag, max_lag)``, as YIN's).
    sample_rate : float
        Rate (Hz).
    par : float64 array
        ``fmin, bin_cents, beta_b, absmin, floor, jump, reseed_margin, reseed_max, yin_weight, mean_bins``
        and optionally ``[10]`` (the caller's onset-seed flag, unused here), ``[11] sub_margin`` and ``[12]
        reseed_scale``: the lowest bin's frequency (Hz), the bin spacing (cents), the threshold distribution
        ``Beta(2, beta_b)``, the deepest dip's weight for thresholds below every dip, the observation floor, the
        jump probability (see the module docstring), and the YIN pick's terms below (``sub_margin`` negative or
        absent: no sub-multiple restart; ``reseed_scale`` absent: 0).
    kern : float64 array, length 2 * band + 1
        :func:`transition_kernel`.
    post : float64 array, length n_bins
        The state: filtering probabilities of the bins, updated in place.
    pred, obs : float64 arrays, length n_bins
        Scratch.
    lags, mass, freqs : arrays of length >= max_lag (int64, float64, float64)
        Scratch for the dips.
    move_from, move_to : float
        Periods (samples): the share of a dip within 3 % of ``move_from`` goes to ``move_to`` (the predominant
        tone when ``move_from`` is only the common period of two tones, :func:`tonehost.dsp.yin.predominant_lag`);
        0 for none.
    yin_lag, yin_val : float
        The frame's own YIN pick (period in samples, its CMND value). When its dip is under ``reseed_max`` it
        adds ``yin_weight`` to its bin's observation (YIN's own rule - the first dip under its threshold, octave
        checks, the predominant tone - helps decide clear frames, the threshold shares the unclear ones), and
        when the most probable bin's dip is more than ``reseed_margin + reseed_scale * yin_val`` shallower (a
        noisy pick is no clear pick: in heavy noise every multiple of the period dips 0.15-0.45), the pick wins
        and the state restarts there (a new note is followed as fast as by YIN alone). It also wins when the tracked period is a
        multiple (2x, 3x, ... within 6 %) of the pick's and its dip is not deeper than the pick's by more than
        ``sub_margin``: a periodic signal dips about as deep at every multiple of its period, so the threshold
        shares alone keep a track that locked on a sub-harmonic (a creaky onset, an octave-up step) there for tens
        of milliseconds; YIN's rule, the shortest period among equally deep dips, decides.

    Returns
    -------
    float
        f0 in Hz of the most probable bin (the frequency of its dip).
    """
    nb = post.shape[0]
    band = (kern.shape[0] - 1) // 2
    fmin = par[0]
    bin_cents = par[1]
    beta_b = par[2]
    absmin = par[3]
    floor = par[4]
    jump = par[5]
    reseed_margin = par[6]
    reseed_max = par[7]
    yin_weight = par[8]
    mean_bins = int(par[9])
    sub_margin = par[11] if par.shape[0] > 11 else -1.0
    reseed_scale = par[12] if par.shape[0] > 12 else 0.0
    # dips in lag order and their threshold shares
    nm = 0
    for t in range(max(min_lag, 1), max_lag):
        if cmnd[t] < cmnd[t - 1] and cmnd[t] <= cmnd[t + 1]:
            lags[nm] = t
            nm += 1
    scale = 1200.0 / bin_cents
    for b in range(nb):
        obs[b] = floor
    if nm > 0:
        prefix = 1e9
        f_prefix = threshold_share(prefix, beta_b)  # F(prefix), kept from the dip that set it (same value)
        gmin = 0
        for j in range(nm):
            c = cmnd[lags[j]]
            if c < cmnd[lags[gmin]]:
                gmin = j
            m = 0.0
            if c < prefix:
                f_c = threshold_share(c, beta_b)
                m = f_prefix - f_c
                prefix = c
                f_prefix = f_c
            mass[j] = m
            freqs[j] = sample_rate / _refine(cmnd, lags[j], max_lag)
        mass[gmin] += absmin * threshold_share(cmnd[lags[gmin]], beta_b)
        if move_from > 0.0 and move_to > 0.0:
            moved = 0.0
            for j in range(nm):
                if abs(lags[j] - move_from) <= 0.03 * move_from + 1.0:
                    moved += mass[j]
                    mass[j] = 0.0
            if moved > 0.0:
                b = int(math.floor(scale * math.log2(sample_rate / move_to / fmin) + 0.5))
                if 0 <= b < nb:
                    obs[b] += moved
        for j in range(nm):
            b = int(math.floor(scale * math.log2(freqs[j] / fmin) + 0.5))
            if 0 <= b < nb:
                obs[b] += mass[j]
    if yin_lag > 0.0 and yin_val < reseed_max and yin_weight > 0.0:
        b = int(math.floor(scale * math.log2(sample_rate / yin_lag / fmin) + 0.5))
        if 0 <= b < nb:
            obs[b] += yin_weight
    # predict (triangular kernel + jump), update
    _predict(kern, post, pred, band)
    tot = 0.0
    for b in range(nb):
        tot += pred[b]
    tot = tot if tot > 0.0 else 1.0
    z = 0.0
    best = 0
    for b in range(nb):
        p = ((1.0 - jump) * pred[b] / tot + jump / nb) * obs[b]
        post[b] = p
        z += p
        if p > post[best]:
            best = b
    if z > 0.0:
        for b in range(nb):
            post[b] /= z
    else:
        hmm_reset(post)
    # report the dip in (or next to) the most probable bin
    fb = fmin * 2.0 ** (best / scale)
    out = fb
    bd = 1.5
    # only dips within 3 bins can be within 1.5 (no logarithm for the others; the same choice)
    f_lo = fb * 2.0 ** (-3.0 / scale)
    f_hi = fb * 2.0 ** (3.0 / scale)
    for j in range(nm):
        if freqs[j] < f_lo or freqs[j] > f_hi:
            continue
        d = abs(scale * math.log2(freqs[j] / fb))
        if d <= bd:
            bd = d
            out = freqs[j]
    if move_from > 0.0 and move_to > 0.0:
        fm = sample_rate / move_to
        if abs(scale * math.log2(fm / fb)) <= bd:
            out = fm
    if mean_bins > 0:
        # weak frames lean on the posterior's local mean (the recent track) rather than this frame's dip
        w = min(max(obs[best] - floor, 0.0), 1.0)
        acc = 0.0
        tot = 0.0
        for b in range(max(0, best - mean_bins), min(nb, best + mean_bins + 1)):
            acc += post[b] * b
            tot += post[b]
        if tot > 0.0:
            fm = fmin * 2.0 ** (acc / tot / scale)
            out = 2.0 ** (w * math.log2(out) + (1.0 - w) * math.log2(fm))
    if yin_lag > 0.0 and yin_val < reseed_max:
        t = int(sample_rate / out + 0.5)
        if t >= max_lag:
            t = max_lag - 1
        # the CMND at the reported frequency's own dip (its lag, or the deeper neighbour)
        c_out = min(cmnd[t], cmnd[max(t - 1, 1)], cmnd[t + 1])
        # a track on a multiple k >= 2 of the pick's period (its sub-harmonic: every multiple of a period dips as
        # deep, so the pick's dip alone never beats it) restarts at the pick unless its dip is clearly deeper
        ratio = (sample_rate / out) / yin_lag
        k = math.floor(ratio + 0.5)
        sub = sub_margin >= 0.0 and k >= 2 and abs(ratio - k) < 0.06 * k and c_out > yin_val - sub_margin
        if c_out > yin_val * (1.0 + reseed_scale) + reseed_margin or sub:
            out = sample_rate / yin_lag
            hmm_seed(post, out, fmin, bin_cents)
    return out
