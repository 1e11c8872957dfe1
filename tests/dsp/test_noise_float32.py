"""Filtered noise in float32 arithmetic (the 48 kHz instrument pipeline's) and the mirrored half FIR: DDSP's
FilteredNoise numpy reference within float32 rounding, block-size independence bit for bit, the same white noise."""
import numpy as np
import pytest

from tonehost.dsp import noise as N
from tonehost.dsp.noise import make_noise_state, noise_block, white_noise

from tests.dsp.test_noise import ddsp_fft_convolve_full, ddsp_frequency_impulse_response


def _render(mags, hop, seed, dtype, block=0, sym=None, window_size=0):
    n_frames, B = mags.shape
    state = make_noise_state(B, seed, window_size, dtype=dtype)
    if sym is not None:
        state[N._SYM] = sym
    total = n_frames * hop
    out = np.zeros(total)
    step = total if block == 0 else block
    rp = 0
    for a in range(0, total, step):
        m = min(step, total - a)
        rp = noise_block(out[a:a + m], m, mags, rp, n_frames, state, hop)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("window_size", [0, 64, 63])
def test_matches_ddsp_within_the_arithmetics_rounding(dtype, window_size):
    rng = np.random.default_rng(1)
    n_frames, hop, B = 30, 192, 193  # the pipeline's 48 kHz filter: 384 taps, bands above 8 kHz zero
    mags = np.zeros((n_frames, B))
    mags[:, :65] = rng.random((n_frames, 65)) ** 2 * 0.1
    y = _render(mags, hop, 5, dtype, window_size=window_size)
    ref = ddsp_fft_convolve_full(white_noise(n_frames * hop, seed=5),
                                 ddsp_frequency_impulse_response(mags, window_size))[:len(y)]
    err = np.max(np.abs(y - ref)) / np.max(np.abs(ref))
    assert err < (2e-6 if dtype is np.float32 else 1e-12)
    assert np.std(y) > 1e-3


@pytest.mark.parametrize("block", [1, 3, 4, 8, 77, 128, 191])
def test_float32_block_size_independent_bit_for_bit(block):
    rng = np.random.default_rng(2)
    mags = rng.random((20, 65)).astype(np.float32)
    whole = _render(mags, 192, 3, np.float32)
    parts = _render(mags, 192, 3, np.float32, block=block)
    np.testing.assert_array_equal(whole, parts)


def test_mirrored_half_fir_equals_the_whole_fir():
    rng = np.random.default_rng(4)
    mags = rng.random((12, 65))
    state = make_noise_state(65, 0)
    assert state[N._SYM] == 1.0  # the default zero-phase Hann: an even FIR
    assert make_noise_state(65, 0, window_size=63)[N._SYM] == 0.0  # odd window: not symmetric, whole FIR computed
    a = _render(mags, 100, 7, np.float64)
    b = _render(mags, 100, 7, np.float64, sym=0.0)
    np.testing.assert_array_equal(a, b)  # the table is made exactly symmetric: mirroring changes no value


def test_the_white_noise_is_the_same_in_both_precisions():
    # a flat spectrum of magnitude 1 with a 2-band filter (N = 2): the output is the noise itself, scaled
    mags = np.ones((4, 2))
    a = _render(mags, 64, 11, np.float64)
    b = _render(mags, 64, 11, np.float32)
    np.testing.assert_array_equal(a, b)
    assert np.std(a) > 0.1


def test_dtype_must_be_float32_or_float64():
    with pytest.raises(ValueError, match="dtype"):
        make_noise_state(65, dtype=np.int64)
    with pytest.raises(ValueError, match="dtype"):
        make_noise_state(65, dtype=np.float16)
