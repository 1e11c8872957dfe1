"""yin_cmnd's block cache (dsp/yin.py): a window that moved by whole blocks reuses the blocks it still holds, and the
values are exactly those of a fresh computation (same data, same operations), whatever the hop, the parameters, the
call history or a change of the data; they agree with the reference kernel (every lag summed afresh, the kernel
before the cache) to rounding; the tracker's frames are the same with either kernel."""
import numpy as np
import pytest

from bench.tracker_speed import reference_kernel, reference_scratch
from tonehost.dsp.features import TrackerConfig, VoiceTracker, voice_like
from tonehost.dsp.yin import _cache_length, scratch, window_length, yin_cmnd, yin_frame

SR = 16000
# (width, max_lag, adaptive): the tracker's, a non-adaptive one (test_features), widths that are not a multiple of
# the 32-sample block, a width above max_lag, tiny ones
PARAMS = [(128, 320, True), (192, 246, False), (100, 300, True), (128, 320, False), (40, 50, True),
          (33, 97, True), (300, 64, True), (7, 40, False)]


def _signal(seed, n=16000):
    """Noise with a level that jumps every 500 samples, a stretch of digital silence and a tone."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * np.repeat(rng.uniform(0.0, 1.0, n // 500 + 1), 500)[:n]
    x[3000:4500] = 0.0
    x[6000:9000] = 0.3 * np.sin(2 * np.pi * 147.0 * np.arange(3000) / SR)
    return x


def _bits(a):
    return np.asarray(a).view(np.int64)


def _fresh(x, start, width, max_lag, adaptive):
    d, c = scratch(max_lag, width)
    yin_cmnd(x, start, width, max_lag, d, c, adaptive)
    return d[:max_lag + 1].copy(), c[:max_lag + 1].copy()


def _direct(x, start, width, max_lag, adaptive):
    """The reference path (a ``d`` with room for the window copy only)."""
    d = np.zeros(max_lag + 2 + window_length(width, max_lag, adaptive))
    c = np.zeros(max_lag + 2)
    yin_cmnd(x, start, width, max_lag, d, c, adaptive)
    return d[:max_lag + 1].copy(), c[:max_lag + 1].copy()


def _same(d, c, ref, max_lag):
    return (np.array_equal(_bits(d[:max_lag + 1]), _bits(ref[0]))
            and np.array_equal(_bits(c[:max_lag + 1]), _bits(ref[1])))


@pytest.mark.parametrize("width,max_lag,adaptive", PARAMS)
def test_cached_equals_fresh_bit_for_bit(width, max_lag, adaptive):
    """Windows that move by whole blocks (hops 32, 64, 160, the same window again) and single jumps (back, or by
    a part of a block) between them: every call gives the values of a fresh computation, bit for bit."""
    x = _signal(width)
    L = window_length(width, max_lag, adaptive)
    d, c = scratch(max_lag, width)
    assert len(d) >= _cache_length(width, max_lag, adaptive)  # the cache is used
    end = L + 40
    ends = []
    for hop in (32, 64, 0, 160, -96, 32, 17, 32, 32, -5000, 64):
        for _ in range(1 if hop in (-96, 17, -5000) else 25):
            end = max(L, end + hop) if end + hop + 1 < len(x) else L
            ends.append(end)
    prev, missed = None, False
    for end in ends:
        yin_cmnd(x, end - L, width, max_lag, d, c, adaptive)
        aligned = prev is not None and 0 <= end - prev < L and (end - prev) % 32 == 0
        if aligned or not missed:
            assert _same(d, c, _fresh(x, end - L, width, max_lag, adaptive), max_lag), end
        else:  # a second jump in a row (the sequence wrapped around): the reference path, unless the data match
            assert (_same(d, c, _fresh(x, end - L, width, max_lag, adaptive), max_lag)
                    or _same(d, c, _direct(x, end - L, width, max_lag, adaptive), max_lag)), end
        missed = not aligned and prev is not None
        prev = end


@pytest.mark.parametrize("width,max_lag,adaptive", PARAMS[:3])
def test_unaligned_hop_uses_reference_path(width, max_lag, adaptive):
    """A stream whose hop is no multiple of the block (80, 1 samples): its first call and first miss build the
    cache (the fresh values), from its second miss in a row on it sums afresh (the reference values, bit for bit, at the reference
    kernel's cost instead of rebuilding the cache every call); back on whole-block moves the cache is rebuilt."""
    x = _signal(width + 3)
    L = window_length(width, max_lag, adaptive)
    for hop in (80, 1):
        d, c = scratch(max_lag, width)
        for i, end in enumerate(range(L + 100, L + 100 + 30 * hop, hop)):
            yin_cmnd(x, end - L, width, max_lag, d, c, adaptive)
            ref = _fresh if i <= 1 else _direct
            assert _same(d, c, ref(x, end - L, width, max_lag, adaptive), max_lag), (hop, i)
        for i in range(20):
            end += 32
            yin_cmnd(x, end - L, width, max_lag, d, c, adaptive)
            assert _same(d, c, _fresh(x, end - L, width, max_lag, adaptive), max_lag), (hop, i)


@pytest.mark.parametrize("width,max_lag,adaptive", PARAMS)
def test_agrees_with_reference_kernel(width, max_lag, adaptive):
    """Block sums reorder each lag's sum: the same values to rounding (relative 1e-12)."""
    x = _signal(width + 1)
    L = window_length(width, max_lag, adaptive)
    d, c = scratch(max_lag, width)
    dr = np.zeros(max_lag + 2 + L)  # room for the window copy only: the reference path
    cr = np.zeros(max_lag + 2)
    for end in range(L, len(x), 32):
        yin_cmnd(x, end - L, width, max_lag, d, c, adaptive)
        yin_cmnd(x, end - L, width, max_lag, dr, cr, adaptive)
        ref = dr[1:max_lag + 1]
        assert np.all(np.abs(d[1:max_lag + 1] - ref) <= 1e-12 * ref + 1e-300)
        assert np.allclose(c[:max_lag + 1], cr[:max_lag + 1], rtol=1e-10, atol=1e-12)


def test_changed_data_is_not_reused():
    """The cache is checked against the data: a sample changed inside the window, a different array with other
    values at the same place, or another parameter set on the same scratch all give the fresh values."""
    width, max_lag = 128, 320
    L = window_length(width, max_lag, True)
    x = _signal(5)
    d, c = scratch(max_lag)
    end = 6000
    yin_cmnd(x, end - L, width, max_lag, d, c, True)
    y = x.copy()
    y[end - 100] += 1e-9  # inside the overlap of this window and the next
    yin_cmnd(y, end + 32 - L, width, max_lag, d, c, True)
    fd, fc = _fresh(y, end + 32 - L, width, max_lag, True)
    assert np.array_equal(_bits(c[:max_lag + 1]), _bits(fc))
    ref_x, _ = _fresh(x, end + 32 - L, width, max_lag, True)
    assert not np.array_equal(fd, ref_x)  # the change shows (the check above is not vacuous)
    # then (a second miss in a row: the reference path) another array, other parameters, the first again: the
    # values of the data at hand, never the cache's
    z = _signal(6)
    for arr, e, w, m, a in ((z, end + 64, width, max_lag, True), (z, end + 96, 192, 246, False),
                            (z, end + 128, width, max_lag, True), (x, end + 160, width, max_lag, True)):
        start = e - window_length(w, m, a)
        yin_cmnd(arr, start, w, m, d, c, a)
        assert (_same(d, c, _fresh(arr, start, w, m, a), m) or _same(d, c, _direct(arr, start, w, m, a), m))
    yin_cmnd(x, end + 192 - L, width, max_lag, d, c, True)  # a whole-block move: the cache again
    assert _same(d, c, _fresh(x, end + 192 - L, width, max_lag, True), max_lag)


def test_small_scratch_uses_reference_path():
    """A ``d`` without room for the cache (any length >= max_lag + 1) still gives the difference function."""
    width, max_lag = 128, 320
    L = window_length(width, max_lag, True)
    x = _signal(7)
    ref = _fresh(x, 4000 - L, width, max_lag, True)[1]
    for n in (max_lag + 1, max_lag + 2 + L, len(scratch(max_lag)[0]) - 1):
        d, c = np.zeros(n), np.zeros(max_lag + 2)
        yin_cmnd(x, 4000 - L, width, max_lag, d, c, True)
        assert np.allclose(c[:max_lag + 1], ref, rtol=1e-10, atol=1e-12)
    d, c = scratch(max_lag)
    p, a = yin_frame(x, 8000 - L, width, 8, max_lag, 0.15, 0.0, 0.25, d, c, True)
    assert abs(SR / p - 147.0) < 1.0 and a < 0.05


def test_tracker_frames_unchanged():
    """VoiceTracker with the cached kernel vs the reference kernel on a gliding voice with pauses and noise, fed
    in uneven blocks: every output frame the same (the f0/voicing decisions do not see the reordered sums)."""
    rng = np.random.default_rng(3)
    t = np.arange(3 * SR) / SR
    f0 = np.where((t % 1.0) < 0.7, 110.0 * 2 ** (2 * t), 0.0)
    x = voice_like(f0) + 0.003 * rng.standard_normal(len(t))
    cuts = np.cumsum(rng.integers(1, 700, 200))
    blocks = np.split(x, cuts[cuts < len(x)])
    new = VoiceTracker()
    with reference_kernel():
        old = VoiceTracker()
    assert len(old._d) == len(reference_scratch(TrackerConfig().max_lag)[0]) < len(new._d)
    a = [old.process(b) for b in blocks]
    b = [new.process(b) for b in blocks]
    for name in ("f0_hz", "confidence", "voiced", "raw_f0_hz", "power_db"):
        va = np.concatenate([getattr(f, name) for f in a])
        vb = np.concatenate([getattr(f, name) for f in b])
        assert np.array_equal(va, vb), name
    assert np.concatenate([f.voiced for f in b]).mean() > 0.4


def test_power_partials_in_one_pass_are_the_two_kernels_values():
    """predominant_lag's one pass (_power_partials2) gives windowed_mean_square's and partial_power2's values bit
    for bit (same operations per quantity), on speech-like noise, silence and odd lengths."""
    from tonehost.dsp.yin import _power_partials2, partial_power2, windowed_mean_square
    rng = np.random.default_rng(11)
    x = _signal(11)[2000:7000]
    for _ in range(2000):
        n = int(rng.integers(2, 700))
        st = int(rng.integers(0, len(x) - n))
        fa = float(rng.uniform(1e-3, 0.5))
        ms, a, b = _power_partials2(x, st, n, fa, 2 * fa)
        a0, b0 = partial_power2(x, st, n, fa, 2 * fa)
        assert (ms, a, b) == (windowed_mean_square(x, st, n), a0, b0)
