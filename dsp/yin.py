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

__all__ = ["yin_cmnd", "window_length", "yin_first_dip", "yin_frame", "partial_power", "predominant_lag",
           "sub_octave_lag", "SUB_OCTAVE_RATIO", "SUB_OCTAVE_MARGIN", "tail_aperiodicity", "tail_sums", "median3",
           "glide", "scratch"]


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


@njit(nogil=True, cache=True, fastmath=True)
def _yin_acc(d, x, j, lo, hi):
    """``d[tau] += (x[j] - x[j - tau])^2`` for ``tau`` in ``[lo, hi)`` (slices: no index wrap-around checks, so
    the loop vectorises)."""
    n = hi - lo
    if n <= 0:
        return
    dd = d[lo:hi]
    xs = x[j - hi + 1:j - lo + 1]  # xs[n - 1 - i] = x[j - lo - i]
    v = x[j]
    top = np.uint64(n - 1)
    for i in range(n):
        diff = v - xs[top - np.uint64(i)]  # unsigned: no wrap-around check, so the loop vectorises
        dd[i] += diff * diff


@njit(nogil=True, cache=True, fastmath=True)
def _yin_acc4(d, x, j, lo, hi):
    """:func:`_yin_acc` for samples ``j, j-1, j-2, j-3`` in that order, in one pass over ``d[lo:hi]``."""
    n = hi - lo
    if n <= 0:
        return
    dd = d[lo:hi]
    x0 = x[j - hi + 1:j - lo + 1]
    x1 = x[j - hi:j - lo]
    x2 = x[j - hi - 1:j - lo - 1]
    x3 = x[j - hi - 2:j - lo - 2]
    v0 = x[j]
    v1 = x[j - 1]
    v2 = x[j - 2]
    v3 = x[j - 3]
    top = np.uint64(n - 1)
    for i in range(n):
        r = top - np.uint64(i)  # unsigned: no wrap-around check, so the loop vectorises
        t = dd[i]
        a = v0 - x0[r]
        t += a * a
        a = v1 - x1[r]
        t += a * a
        a = v2 - x2[r]
        t += a * a
        a = v3 - x3[r]
        t += a * a
        dd[i] = t


@njit(nogil=True, cache=True, fastmath=True)
def _yin_acc_fwd(d, xr, r, lo, hi):
    """:func:`_yin_acc` on the reversed window ``xr`` (``xr[m] = x[end - 1 - m]``): sample ``xr[r]``, lag tau's
    partner ``xr[r + tau]``."""
    n = hi - lo
    if n <= 0:
        return
    dd = d[lo:hi]
    xs = xr[r + lo:r + hi]
    v = xr[r]
    for i in range(n):
        diff = v - xs[i]
        dd[i] += diff * diff


@njit(nogil=True, cache=True, fastmath=True)
def _yin_acc4_fwd(d, xr, r, lo, hi):
    """:func:`_yin_acc4` on the reversed window: samples ``xr[r], xr[r+1], xr[r+2], xr[r+3]`` in that order."""
    n = hi - lo
    if n <= 0:
        return
    dd = d[lo:hi]
    x0 = xr[r + lo:r + hi]
    x1 = xr[r + 1 + lo:r + 1 + hi]
    x2 = xr[r + 2 + lo:r + 2 + hi]
    x3 = xr[r + 3 + lo:r + 3 + hi]
    v0 = xr[r]
    v1 = xr[r + 1]
    v2 = xr[r + 2]
    v3 = xr[r + 3]
    for i in range(n):
        t = dd[i]
        a = v0 - x0[i]
        t += a * a
        a = v1 - x1[i]
        t += a * a
        a = v2 - x2[i]
        t += a * a
        a = v3 - x3[i]
        t += a * a
        dd[i] = t


#: Samples per block of the cached difference function (:func:`yin_cmnd`): windows that move by a multiple of this
#: (the tracker's 2 ms hop) reuse every block but the newest.
_BLOCK = 32
_HDR = 8  # header doubles of the block cache in ``d`` (see _cached_d)


@njit(nogil=True, cache=True)
def _block_count(width, max_lag, adaptive):
    """Blocks the cached difference function keeps: ``ceil(longest integration width / _BLOCK)``."""
    longest = max_lag if (adaptive and max_lag > width) else width
    return (longest + _BLOCK - 1) // _BLOCK


def _cache_length(width: int, max_lag: int, adaptive: bool) -> int:
    """Length ``d`` needs for :func:`yin_cmnd`'s block cache (lags, header, window copy, block rows)."""
    k = int(_block_count(width, max_lag, adaptive))
    return max_lag + 2 + _HDR + int(window_length(width, max_lag, adaptive)) + 2 * k * (max_lag + 1)


@njit(nogil=True, cache=True)
def _first_lag(width, max_lag, adaptive, k):
    """Smallest lag whose integration width ``w(tau)`` (``max(width, tau)`` adaptive, else ``width``) reaches
    ``_BLOCK * k`` samples (``max_lag + 1`` when none)."""
    need = _BLOCK * k
    if width >= need:
        return 1
    if adaptive and need <= max_lag:
        return need
    return max_lag + 1


@njit(nogil=True, cache=True)
def _block_sums(xr, L, k, lo, hi, width, adaptive, s, q):
    """One block of the difference function on the reversed window ``xr`` (``xr[m] = x[end - 1 - m]``).

    For lags ``tau`` in ``[lo, hi)``: ``s[tau] = sum (xr[p] - xr[p + tau])^2`` over the block's samples
    ``p = _BLOCK k .. _BLOCK k + _BLOCK - 1`` (newest first, one sample after the other: each lag's sum in sample
    order, no reassociation or fused multiply-add, so a lag's value does not depend on the lag range or on where
    the loop's vector body ends) and ``q[tau]`` = the same sum over the block's first ``w(tau) mod _BLOCK`` samples
    (the partial block of a lag whose width is not a multiple of the block). Samples past the window's oldest
    (``p + tau >= L``) are skipped: only lags whose sums are not needed reach them.
    """
    p0 = _BLOCK * k
    _zero(s[lo:hi])
    _zero(q[lo:hi])
    r0 = width % _BLOCK
    i = 0
    while i < _BLOCK:
        p = p0 + i
        # captures of q for lags whose partial block ends within these four samples (same operations, same order
        # as the vector loop's lane, from the sums before the four)
        for c in range(1, 5):
            r = i + c
            if r >= _BLOCK:
                break
            # lags with w(tau) mod _BLOCK == r: every lag with w = width (when width's remainder is r) ...
            if r == r0:
                top = min(width, hi - 1) if adaptive else hi - 1
                for tau in range(lo, top + 1):
                    q[tau] = _partial4(xr, p, tau, s[tau], c)
            # ... and, adaptive, the lags above width congruent to r
            if adaptive:
                tau = (width // _BLOCK) * _BLOCK + r
                if tau <= width:
                    tau += _BLOCK
                if tau < lo:
                    tau += ((lo - tau + _BLOCK - 1) // _BLOCK) * _BLOCK
                while tau < hi:
                    q[tau] = _partial4(xr, p, tau, s[tau], c)
                    tau += _BLOCK
        # the four samples for every lag that has them all in the window
        top = min(hi, L - p - 3)
        if top > lo:
            _acc4_fwd(s, xr, p, lo, top)
        i += 4


@njit(nogil=True, cache=True)
def _zero(a):
    """``a[:] = 0`` (a loop from 0: vectorises)."""
    for i in range(a.shape[0]):
        a[i] = 0.0


@njit(nogil=True, cache=True, fastmath={"contract"})
def _partial4(xr, p, tau, t, c):
    """``t`` plus the first ``c`` (1-4) of the squared differences ``(xr[p + i] - xr[p + i + tau])^2``, in order."""
    for i in range(c):
        a = xr[p + i] - xr[p + i + tau]
        t += a * a
    return t


@njit(nogil=True, cache=True, fastmath={"contract"})
def _acc4_fwd(s, xr, p, lo, hi):
    """``s[tau] += (xr[p + i] - xr[p + i + tau])^2`` for ``i = 0..3`` in that order, ``tau`` in ``[lo, hi)`` (no
    fastmath: each lag's sum in sample order, the loop vectorises over lags)."""
    n = hi - lo
    ss = s[lo:hi]
    x0 = xr[p + lo:p + hi]
    x1 = xr[p + 1 + lo:p + 1 + hi]
    x2 = xr[p + 2 + lo:p + 2 + hi]
    x3 = xr[p + 3 + lo:p + 3 + hi]
    v0 = xr[p]
    v1 = xr[p + 1]
    v2 = xr[p + 2]
    v3 = xr[p + 3]
    for i in range(n):
        t = ss[i]
        a = v0 - x0[i]
        t += a * a
        a = v1 - x1[i]
        t += a * a
        a = v2 - x2[i]
        t += a * a
        a = v3 - x3[i]
        t += a * a
        ss[i] = t


@njit(nogil=True, cache=True)
def _window_shift(x, end, L, xr):
    """Samples the window moved since the copy ``xr`` of the previous window was taken: the smallest tried multiple
    ``s`` of ``_BLOCK`` (1, 0, 2, 3, ... blocks) with ``x[end - 1 - s - m] == xr[m]`` for every ``m < L - s``;
    ``-1`` when none (the cached blocks then hold other data)."""
    nb = L // _BLOCK
    for t in range(nb):
        m = 1 if t == 0 else (0 if t == 1 else t)
        s = m * _BLOCK
        n = L - s
        if n <= 0:
            continue
        base = end - 1 - s
        # a few samples first (a wrong shift fails at once), then all of them without a branch per sample
        ok = True
        for i in range(min(4, n)):
            if x[base - i] != xr[i]:
                ok = False
                break
        if ok and _mismatches(x[end - L:end - s], xr[:n]) == 0:
            return s
    return -1


@njit(nogil=True, cache=True)
def _mismatches(a, br):
    """How many ``i`` have ``a[n - 1 - i] != br[i]`` (``a`` read backwards; an unsigned index, so the loop
    vectorises)."""
    n = a.shape[0]
    top = np.uint64(n - 1)
    bad = 0
    for i in range(n):
        if a[top - np.uint64(i)] != br[i]:
            bad += 1
    return bad


@njit(nogil=True, cache=True)
def _cached_d(x, start, width, max_lag, d, adaptive):
    """The difference function ``d[1..max_lag]`` (not yet scaled) from per-block sums kept in ``d`` beyond the
    lags, computing only the blocks the window's move brought in (see :func:`yin_cmnd`).

    Layout after the lags: the reversed window (where :func:`_direct_d` keeps it too), a header (blocks valid,
    width, max_lag, adaptive, ring head, window copy valid, calls in a row without a whole-block move), the block
    rows. Returns False, leaving the sums to :func:`_direct_d`, on the second call in a row whose window did not
    move by whole blocks (a stream whose hop is no multiple of the block: the cache would be rebuilt every call).
    """
    L = window_length(width, max_lag, adaptive)
    end = start + L
    K = _block_count(width, max_lag, adaptive)
    R = max_lag + 1
    base = max_lag + 2
    xr = d[base:base + L]
    hdr = d[base + L:base + L + _HDR]
    rows = base + L + _HDR
    params_ok = hdr[1] == width and hdr[2] == max_lag and hdr[3] == (1.0 if adaptive else 0.0)
    s = -1
    if params_ok and hdr[5] == 1.0:
        s = _window_shift(x, end, L, xr)
    blocks_ok = params_ok and hdr[0] == 1.0
    misses = int(hdr[6]) if (params_ok and hdr[5] == 1.0) else -1  # -1: no previous window (no miss)
    hdr[1] = width
    hdr[2] = max_lag
    hdr[3] = 1.0 if adaptive else 0.0
    hdr[5] = 1.0  # the copy below (or _direct_d's, the same) is this window
    if s >= 0 and blocks_ok:
        new = min(K, s // _BLOCK)
        hdr[6] = 0.0
    elif s >= 0 or misses <= 0:
        new = K  # all blocks afresh: a whole-block move (the next will hit), a first call or the first miss
        hdr[6] = 0.0 if s >= 0 else misses + 1.0
    else:
        hdr[0] = 0.0
        hdr[6] = misses + 1.0
        return False
    head = int(hdr[4]) if new < K else 0
    head = (head - new) % K  # block k (0 = newest) lives in slot (head + k) % K
    for m in range(L):
        xr[m] = x[end - 1 - m]
    hi = max_lag + 1
    for k in range(new):
        slot = (head + k) % K
        lo = _first_lag(width, max_lag, adaptive, k)
        if lo < hi:
            _block_sums(xr, L, k, lo, hi, width, adaptive, d[rows + slot * R:rows + (slot + 1) * R],
                        d[rows + (K + slot) * R:rows + (K + slot + 1) * R])
    hdr[0] = 1.0
    hdr[4] = head
    # d(tau) = S_0 + S_1 + ... + S_{nf-1} + Q_nf (full blocks newest first, then the part-block; the first
    # term stored, not added to 0: the same value, the sums being >= +0)
    for k in range(K):
        so = rows + ((head + k) % K) * R
        qo = so + K * R
        a = _first_lag(width, max_lag, adaptive, k)
        b = _first_lag(width, max_lag, adaptive, k + 1)
        _add_row(d, d[so:so + R], b, hi, k == 0)
        _add_row(d, d[qo:qo + R], a, b, k == 0)
    return True


@njit(nogil=True, cache=True)
def _add_row(d, row, lo, hi, first):
    """``d[lo:hi] += row[lo:hi]`` (``=`` when ``first``; slices from 0, so the loops vectorise)."""
    if hi <= lo:
        return
    dd = d[lo:hi]
    rr = row[lo:hi]
    if first:
        for i in range(hi - lo):
            dd[i] = rr[i]
    else:
        for i in range(hi - lo):
            dd[i] += rr[i]


@njit(nogil=True, cache=True, fastmath=True)
def yin_cmnd(x, start, width, max_lag, d, cmnd, adaptive=False):
    """YIN difference function and its cumulative-mean normalisation for one window.

    The integration window is aligned to the *newest* samples: ``d(tau) = sum (x[j] - x[j - tau])^2`` over the
    last ``width`` samples of the window, so a period T only looks back ``width + T`` samples (a high note is
    detected sooner than a low one; classic YIN looks forward from the oldest sample instead).

    With ``adaptive``, lag ``tau`` integrates over the newest ``max(width, tau)`` samples and ``d`` is the mean
    per sample (so lags stay comparable): a short ``width`` keeps high notes fast while a low note still sees a
    whole period (a window shorter than the period makes the difference depend on where in the period it falls).

    Parameters
    ----------
    x : float array
        Signal; the window is ``x[start : start + width + max_lag]`` (``start + 2 * max_lag`` when adaptive and
        ``max_lag > width``: the caller's window must reach that far back, see :func:`window_length`).
    start, width, max_lag : int
        Window start, integration width W and largest lag.
    d, cmnd : float64 arrays of length >= max_lag + 1
        Outputs: d[tau] and d'[tau] (d'[0] = 1). A ``d`` as long as :func:`scratch` makes it also holds, after
        the lags, a *block cache*: each lag's sum split into blocks of 32 samples counted back from the window's
        newest sample, with a copy of the window. When the next call's window is the previous one moved on by
        whole blocks (the tracker's 2 ms hop: one block) over the same samples - checked sample by sample, so a
        changed signal, another array or other parameters just compute afresh - only the new blocks are summed
        and each lag's ``d`` is the sum of its blocks (newest first, then the part-block of a width that is not a
        multiple of 32): about a quarter of the work. Cached or fresh, the values are bit for bit the same; they
        differ from summing each lag in one run, newest sample first (what a shorter ``d`` gets: ``max_lag + 2 +
        window`` or more also holds a reversed copy of the window after the lags), only by the rounding of the
        reordered sums. A stream whose windows do not move by whole blocks (a hop that is no multiple of 32) gets
        the one-run sums from its second such call in a row on (rebuilding the cache every call would cost more).
        So the values are a deterministic function of the sequence of windows; keep one ``d`` per stream.
    adaptive : bool
        Lag-dependent integration width (above).

    Notes
    -----
    Costs on the tracker's parameters (width 128, lags to 320, 2 ms hop, real speech): about 7 us per frame with
    the cache against 15 us summing afresh (``python -m bench.tracker_speed``).
    """
    d[0] = 0.0
    cmnd[0] = 1.0
    L = window_length(width, max_lag, adaptive)
    if d.shape[0] >= max_lag + 2 + _HDR + L + 2 * _block_count(width, max_lag, adaptive) * (max_lag + 1):
        if not _cached_d(x, start, width, max_lag, d, adaptive):
            _direct_d(x, start, width, max_lag, d, adaptive)
    else:
        _direct_d(x, start, width, max_lag, d, adaptive)
    _normalise(d, cmnd, width, max_lag, adaptive)


@njit(nogil=True, cache=True, fastmath=True)
def _normalise(d, cmnd, width, max_lag, adaptive):
    """Scale ``d`` to the mean per sample (adaptive lags above ``width``) and write YIN's ``cmnd``: the running sum
    is a chain, the divisions are not (separate loops over slices from 0, which vectorise; the same operations
    per lag as one loop)."""
    hi = max_lag + 1
    lo = width + 1 if width >= 0 else 1
    if adaptive and lo < hi:
        dd = d[lo:hi]
        for i in range(hi - lo):
            dd[i] *= width / (lo + i)
    running = 0.0
    for tau in range(1, hi):
        running += d[tau]
        cmnd[tau] = running
    dd = d[1:hi]
    cc = cmnd[1:hi]
    for i in range(hi - 1):
        r = cc[i]
        cc[i] = dd[i] * (i + 1) / r if r > 0.0 else 1.0


@njit(nogil=True, cache=True, fastmath=True)
def _direct_d(x, start, width, max_lag, d, adaptive):
    """The difference function ``d[1..max_lag]`` (not yet scaled) summed afresh, every lag newest sample first (the
    kernel before the block cache; used when ``d`` has no room for the cache)."""
    end = start + window_length(width, max_lag, adaptive)
    for tau in range(1, max_lag + 1):
        d[tau] = 0.0
    # sample-major order: for each sample j, every lag whose integration window holds j (a contiguous run of
    # lags, so the inner loop vectorises); lag tau's window is the newest w(tau) samples. Four samples per
    # pass over d, each d[tau] still summed in the same order (newest sample first): the same values as one
    # sample per pass, with a quarter of the loads and stores of d.
    longest = max_lag if (adaptive and max_lag > width) else width
    hi = max_lag + 1
    L = window_length(width, max_lag, adaptive)
    if d.shape[0] >= max_lag + 2 + L:
        # room after the lags (scratch(): 2 * max_lag): the window newest sample first, so both operands of
        # the inner loop run forward in memory
        xr = d[max_lag + 2:max_lag + 2 + L]
        for m in range(L):
            xr[m] = x[end - 1 - m]
        k = 1
        while k <= longest:
            if k + 3 > longest:
                _yin_acc_fwd(d, xr, k - 1, k if k > width else 1, hi)
                k += 1
                continue
            lo3 = (k + 3) if (k + 3) > width else 1
            for kk in range(k, k + 3):
                lk = kk if kk > width else 1
                if lk < lo3:
                    _yin_acc_fwd(d, xr, kk - 1, lk, lo3)
            _yin_acc4_fwd(d, xr, k - 1, lo3, hi)
            k += 4
        k = longest + 1  # done
    else:
        k = 1  # j = end - k
    while k <= longest:
        if k + 3 > longest:
            _yin_acc(d, x, end - k, k if k > width else 1, hi)
            k += 1
            continue
        lo3 = (k + 3) if (k + 3) > width else 1
        for kk in range(k, k + 3):  # lags below lo3 only hold the first samples of the four
            lk = kk if kk > width else 1
            if lk < lo3:
                _yin_acc(d, x, end - kk, lk, lo3)
        _yin_acc4(d, x, end - k, lo3, hi)
        k += 4


@njit(nogil=True, cache=True)
def window_length(width, max_lag, adaptive=False):
    """Samples one YIN window spans: ``width + max_lag``, or ``max(width, max_lag) + max_lag`` when adaptive."""
    if adaptive and max_lag > width:
        return 2 * max_lag
    return width + max_lag


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
def yin_frame(x, start, width, min_lag, max_lag, threshold, hint_lag, octave_tolerance, d, cmnd, adaptive=False):
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
    adaptive : bool
        Lag-dependent integration width (:func:`yin_cmnd`).

    Returns
    -------
    (period, aperiodicity) : (float, float)
        Period in samples (fractional) and the CMND value at it (0 = perfectly periodic, ~1 = noise).
    """
    yin_cmnd(x, start, width, max_lag, d, cmnd, adaptive)
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
def partial_power(x, start, n, freq):
    """Power of the sinusoid at ``freq`` in a Hann-windowed stretch of ``x`` (a one-bin DFT, Goertzel-style).

    Parameters
    ----------
    x : float array
        Signal; the stretch is ``x[start : start + n]``.
    start, n : int
        First sample and length of the stretch.
    freq : float
        Frequency in cycles per sample (Hz / sample_rate).

    Returns
    -------
    float
        ``2 |X(f)|^2 / (sum w)^2``: the power ``A^2 / 2`` of a sinusoid of amplitude A at ``freq``, in the units
        of :func:`windowed_mean_square` (Harris, "On the use of windows for harmonic analysis with the DFT",
        Proc. IEEE 66(1), 1978: coherent gain of the Hann window).
    """
    re = 0.0
    im = 0.0
    sw = 0.0
    # rotating phasors instead of cos/sin per sample
    c_w, s_w = math.cos(2.0 * math.pi / n), math.sin(2.0 * math.pi / n)
    c_f, s_f = math.cos(2.0 * math.pi * freq), math.sin(2.0 * math.pi * freq)
    wc, ws = math.cos(math.pi / n), math.sin(math.pi / n)  # window phase at (i + 0.5) / n
    pc, ps = 1.0, 0.0
    for i in range(n):
        w = 0.5 - 0.5 * wc
        v = x[start + i] * w
        re += v * pc
        im -= v * ps
        sw += w
        wc, ws = wc * c_w - ws * s_w, ws * c_w + wc * s_w
        pc, ps = pc * c_f - ps * s_f, ps * c_f + pc * s_f
    if sw <= 0.0:
        return 0.0
    return 2.0 * (re * re + im * im) / (sw * sw)


@njit(nogil=True, cache=True)
def partial_power2(x, start, n, freq_a, freq_b):
    """:func:`partial_power` at two frequencies in one pass (the same operations per frequency, so the same two
    values; the two phasor chains run side by side)."""
    re_a = 0.0
    im_a = 0.0
    re_b = 0.0
    im_b = 0.0
    sw = 0.0
    c_w, s_w = math.cos(2.0 * math.pi / n), math.sin(2.0 * math.pi / n)
    ca, sa = math.cos(2.0 * math.pi * freq_a), math.sin(2.0 * math.pi * freq_a)
    cb, sb = math.cos(2.0 * math.pi * freq_b), math.sin(2.0 * math.pi * freq_b)
    wc, ws = math.cos(math.pi / n), math.sin(math.pi / n)
    pa, qa = 1.0, 0.0
    pb, qb = 1.0, 0.0
    for i in range(n):
        w = 0.5 - 0.5 * wc
        v = x[start + i] * w
        re_a += v * pa
        im_a -= v * qa
        re_b += v * pb
        im_b -= v * qb
        sw += w
        wc, ws = wc * c_w - ws * s_w, ws * c_w + wc * s_w
        pa, qa = pa * ca - qa * sa, qa * ca + pa * sa
        pb, qb = pb * cb - qb * sb, qb * cb + pb * sb
    if sw <= 0.0:
        return 0.0, 0.0
    return 2.0 * (re_a * re_a + im_a * im_a) / (sw * sw), 2.0 * (re_b * re_b + im_b * im_b) / (sw * sw)


@njit(nogil=True, cache=True)
def _power_partials2(x, start, n, freq_a, freq_b):
    """:func:`windowed_mean_square` and :func:`partial_power2` of one stretch in one pass: the same operations per
    quantity as those two (so the same three values), the window's phasor chain run once instead of twice.

    Returns
    -------
    (ms, p_a, p_b) : (float, float, float)
    """
    num = 0.0
    den = 0.0
    re_a = 0.0
    im_a = 0.0
    re_b = 0.0
    im_b = 0.0
    sw = 0.0
    c_w, s_w = math.cos(2.0 * math.pi / n), math.sin(2.0 * math.pi / n)
    ca, sa = math.cos(2.0 * math.pi * freq_a), math.sin(2.0 * math.pi * freq_a)
    cb, sb = math.cos(2.0 * math.pi * freq_b), math.sin(2.0 * math.pi * freq_b)
    wc, ws = math.cos(math.pi / n), math.sin(math.pi / n)
    pa, qa = 1.0, 0.0
    pb, qb = 1.0, 0.0
    for i in range(n):
        w = 0.5 - 0.5 * wc
        v = x[start + i] * w
        num += v * v
        den += w * w
        re_a += v * pa
        im_a -= v * qa
        re_b += v * pb
        im_b -= v * qb
        sw += w
        wc, ws = wc * c_w - ws * s_w, ws * c_w + wc * s_w
        pa, qa = pa * ca - qa * sa, qa * ca + pa * sa
        pb, qb = pb * cb - qb * sb, qb * cb + pb * sb
    ms = num / den if den > 0.0 else 0.0
    if sw <= 0.0:
        return ms, 0.0, 0.0
    return ms, 2.0 * (re_a * re_a + im_a * im_a) / (sw * sw), 2.0 * (re_b * re_b + im_b * im_b) / (sw * sw)


@njit(nogil=True, cache=True)
def windowed_mean_square(x, start, n):
    """Hann-weighted mean square of ``x[start:start+n]`` (``sum (x w)^2 / sum w^2``): a sinusoid's ``A^2 / 2``."""
    num = 0.0
    den = 0.0
    # the window's cosine by a rotating phasor (as partial_power), not one cos per sample
    c_w, s_w = math.cos(2.0 * math.pi / n), math.sin(2.0 * math.pi / n)
    wc, ws = math.cos(math.pi / n), math.sin(math.pi / n)  # phase at (i + 0.5) / n
    for i in range(n):
        w = 0.5 - 0.5 * wc
        v = x[start + i] * w
        num += v * v
        den += w * w
        wc, ws = wc * c_w - ws * s_w, ws * c_w + wc * s_w
    return num / den if den > 0.0 else 0.0


#: :func:`predominant_lag`: a period without its first two partials stays the period when at least
#: ``COMPLEX_PARTIALS`` of its partials 3..8 each hold ``COMPLEX_SHARE`` of the stretch's power and
#: ``COMPLEX_CONTRAST`` times the mean power half a harmonic either side, and together ``COMPLEX_HELD`` of it (a
#: voice through a high-pass; two tones' common period misses at least two of them, and noise fills the spectrum
#: between partials as much as at them). Chosen on FDA 001-010 high-passed and on synthetic signals only.
COMPLEX_SHARE = 1e-3
COMPLEX_PARTIALS = 5
COMPLEX_HELD = 0.2
COMPLEX_CONTRAST = 1.5


@njit(nogil=True, cache=True)
def predominant_lag(x, start, n, cmnd, lag, min_lag, max_lag, missing_share, max_sub_cmnd):
    """Replace a period that is only the *common* period of several tones by the predominant tone's period.

    Two notes at once (C5 and a quieter G4: a second voice, a backing track, room bleed) are periodic together at
    their common period (C3 here), and YIN picks it with full confidence. A real low note has energy at its own
    fundamental or second harmonic; a common period of higher tones has none. When the partials at ``1/lag`` and
    ``2/lag`` together hold less than ``missing_share`` of the stretch's power, the sub-multiple ``lag / k``
    (k = 2..8) with the deepest CMND dip under ``max_sub_cmnd`` whose own fundamental is present wins: the
    predominant (most periodic) tone, as a monophonic listener - and CREPE-style trackers - would follow. Unless
    the period's partials 3..8 are nearly all there (:data:`COMPLEX_PARTIALS`): that is one voice whose
    fundamental a small mic's high-pass took away (a 100 Hz voice through a phone), not two tones.

    Parameters
    ----------
    x : float array
        Signal; the analysed stretch is ``x[start : start + n]``.
    start, n : int
    cmnd : float64 array
        The window's cumulative-mean-normalised difference (:func:`yin_cmnd`).
    lag : float
        The period YIN picked, in samples.
    min_lag, max_lag : int
        Lag range.
    missing_share : float
        Largest power share of the first two partials for which the fundamental counts as missing (0.02-0.05).
    max_sub_cmnd : float
        A sub-multiple must dip under this CMND value to be taken.

    Returns
    -------
    float
        The period to use (``lag`` itself when it has a fundamental or no sub-multiple qualifies).
    """
    if lag < 2.0 * min_lag:
        return lag
    ms, p1, p2 = _power_partials2(x, start, n, 1.0 / lag, 2.0 / lag)
    if ms <= 0.0:
        return lag
    share = (p1 + p2) / ms
    if share >= missing_share:
        return lag
    # one harmonic complex whose low partials a small mic or a phone filtered away still has a partial at nearly
    # every harmonic number above them; the common period of two tones misses most (C5 + G4 at C3: 5 and 7 of
    # 3..8, a major third 3, 6 and 7): it stays the period
    present = 0
    held = 0.0
    top = min(8, int(math.ceil(0.5 * lag)) - 1)  # the last partial under Nyquist (k / lag < 0.5)
    for k in range(3, 9):
        if k / lag >= 0.5 or present + top - k + 1 < COMPLEX_PARTIALS:
            break  # (too few partials left to make a complex: the answer is known, the rest is not summed)
        p = partial_power(x, start, n, k / lag)
        held += p
        if p >= COMPLEX_SHARE * ms:
            # a partial stands out of the spectrum between its neighbours (noise or leakage fills both alike)
            gap = partial_power(x, start, n, (k - 0.5) / lag) + partial_power(x, start, n, (k + 0.5) / lag)
            if p >= COMPLEX_CONTRAST * 0.5 * gap:
                present += 1
    if present >= COMPLEX_PARTIALS and held >= COMPLEX_HELD * ms:
        return lag
    # the deepest dip under max_sub_cmnd among the sub-multiples whose fundamental is present (the first k on a
    # tie): the dips in order of depth, each one's fundamental summed only until one has it
    tried = 0  # bit k: sub-multiple k tested
    while True:
        best = -1
        best_val = max_sub_cmnd
        best_k = 0
        for k in range(2, 9):
            sub = lag / k
            if sub < min_lag:
                break
            if tried & (1 << k):
                continue
            m = _local_min_near(cmnd, int(sub + 0.5), min_lag, max_lag, 1)
            if cmnd[m] < best_val:
                best = m
                best_val = cmnd[m]
                best_k = k
        if best < 0:
            return lag
        if partial_power(x, start, n, 1.0 / best) / ms >= missing_share:
            return _refine(cmnd, best, max_lag)
        tried |= 1 << best_k


#: :func:`sub_octave_lag`'s defaults (:attr:`tonehost.dsp.features.TrackerConfig.sub_octave_ratio`, ``..._margin``).
SUB_OCTAVE_RATIO = 0.3
SUB_OCTAVE_MARGIN = 0.03


@njit(nogil=True, cache=True)
def sub_octave_lag(d, cmnd, lag, aper, min_lag, max_lag, ratio, margin):
    """Twice YIN's period when the window repeats far better there: a voice whose odd partials are weak.

    A voice whose even partials dominate - a tenor singing /u/ or /i/ (first formant near 300 Hz) at 155 Hz through
    a small mic or a phone that takes the fundamental away - dips under YIN's threshold at half its period (the
    odd partials hold a few percent of the power), and the first-dip rule reads it an octave up for the whole
    note. At the true period T the odd partials cancel too: with ``P_odd`` their power and ``N`` stationary
    noise's, the mean squared difference per sample is about ``4 P_odd + 2 N`` at T/2 and ``2 N`` at T. For a
    period that is right, its double repeats no better (jitter and vibrato make it worse, noise adds the same at
    both, and low-frequency noise more at the longer lag), so a much smaller difference at twice the pick means
    the pick is half the period. The raw difference is compared as well as the CMND, whose running mean favours
    longer lags in coloured noise; and the pick must be clearly imperfect (its CMND ``margin`` over the double's:
    odd partials holding a percent or two of the power), since a clean tone's two differences are both near zero
    and their ratio is noise.

    Parameters
    ----------
    d : float64 array
        The window's difference function per sample of the integration width, lags ``0..max_lag``
        (:func:`yin_cmnd`'s ``d`` after the call).
    cmnd : float64 array
        Its cumulative-mean-normalised difference.
    lag : float
        YIN's period in samples; ``aper`` its CMND value.
    min_lag, max_lag : int
        Lag range.
    ratio : float
        The double's difference must be under ``ratio`` times the pick's (0.3, :data:`SUB_OCTAVE_RATIO`) ...
    margin : float
        ... and its CMND under the pick's by more than ``margin`` (0.03, :data:`SUB_OCTAVE_MARGIN`).

    Returns
    -------
    (period, aperiodicity) : (float, float)
        ``(lag, aper)`` unchanged, or the refined double and its CMND value.
    """
    if lag <= 0.0 or 2.0 * lag >= max_lag - 2:
        return lag, aper
    m1 = _local_min_near(d, int(lag + 0.5), max(min_lag, 1), max_lag, 1)
    m2 = _local_min_near(cmnd, int(2.0 * lag + 0.5), min_lag, max_lag, 2)
    # each dip's floor between the lags (a parabola through the three samples round it): at a high note's short
    # lags the nearest whole lag lies well up the dip's side and its own value would favour the double
    if _dip_floor(cmnd, m2) < _dip_floor(cmnd, m1) - margin and _dip_floor(d, m2) < ratio * _dip_floor(d, m1):
        return _refine(cmnd, m2, max_lag), cmnd[m2]
    return lag, aper


@njit(nogil=True, cache=True)
def _dip_floor(a, i):
    """The lowest value of the parabola through ``a[i - 1], a[i], a[i + 1]`` (``a[i]`` where it has none), at
    least 0."""
    if i < 1 or i + 1 >= a.shape[0]:
        return a[i]
    den = a[i - 1] - 2.0 * a[i] + a[i + 1]
    if den <= 0.0:
        return a[i]
    v = a[i] - (a[i + 1] - a[i - 1]) ** 2 / (8.0 * den)
    return max(v, 0.0)


@njit(nogil=True, cache=True)
def tail_sums(x, end, n, lag):
    """The two sums of :func:`tail_aperiodicity`: ``(sum (x[j] - x[j - T])^2, sum (x[j]^2 + x[j - T]^2))`` over
    ``j`` in ``[end - n, end)``, ``T = round(lag)`` (the second, halved and divided by ``n``, is the level)."""
    t = int(lag + 0.5)
    num = 0.0
    den = 0.0
    for j in range(end - n, end):
        a = x[j]
        b = x[j - t]
        num += (a - b) * (a - b)
        den += a * a + b * b
    return num, den


@njit(nogil=True, cache=True)
def tail_aperiodicity(x, end, n, lag):
    """How far the newest ``n`` samples are from repeating with period ``lag``: 0 = periodic, ~1 = not.

    ``sum (x[j] - x[j - T])^2 / sum (x[j]^2 + x[j - T]^2)`` over ``j`` in ``[end - n, end)`` (a normalised YIN
    difference, de Cheveigne & Kawahara 2002 eq. 6, on a short window): a voice that stops, or turns into
    breath, shows here a few milliseconds before the full window notices.
    """
    num, den = tail_sums(x, end, n, lag)
    return num / den if den > 0.0 else 1.0


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


def scratch(max_lag: int, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Allocate the ``d`` and ``cmnd`` scratch arrays for :func:`yin_frame` / :func:`yin_cmnd`.

    Parameters
    ----------
    max_lag : int
        Largest lag (samples).
    width : int, optional
        Largest integration width the arrays will serve (default ``max_lag``; wider calls still work, without the
        block cache).

    Returns
    -------
    (d, cmnd) : (numpy.ndarray, numpy.ndarray), float64
        ``d`` with room after its lags for :func:`yin_cmnd`'s block cache (header, a reversed copy of the window,
        two rows of ``max_lag + 1`` per block of the longest integration width), ``cmnd`` of ``max_lag + 2``.
        Keep one pair per stream: the cache carries sums from one window to the next.
    """
    w = max_lag if width is None else max(int(width), 1)
    n = max(3 * max_lag + 2, _cache_length(w, max_lag, True), _cache_length(w, max_lag, False))
    return np.zeros(n), np.zeros(max_lag + 2)
