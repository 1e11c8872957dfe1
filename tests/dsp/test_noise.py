"""Filtered noise: DDSP FilteredNoise numpy/scipy reference, block-size independence, determinism, cfunc."""
import ctypes

import numpy as np
import pytest
import scipy.signal
from numba import carray, cfunc, types

from tonehost.dsp.noise import (DDSP_CROP, make_noise_frame_buffer, make_noise_state, noise_block, render_noise,
                       white_noise)


def ddsp_frequency_impulse_response(mags, window_size=0):
    """numpy port of DDSP core.frequency_impulse_response (irfft, zero-phase Hann, causal fftshift)."""
    ir = np.fft.irfft(mags.astype(np.complex128), axis=-1)
    n = ir.shape[-1]
    if window_size <= 0 or window_size > n:
        window_size = n
    win = scipy.signal.get_window("hann", window_size)  # periodic, as tf.signal.hann_window
    pad = n - window_size
    if pad > 0:
        half = (window_size + 1) // 2
        win = np.concatenate([win[half:], np.zeros(pad), win[:half]])
    else:
        win = np.fft.fftshift(win)
    return np.fft.fftshift(ir * win, axes=-1)


def ddsp_fft_convolve_full(audio, irs):
    """Frame-wise FFT convolution with overlap-add, no crop (DDSP fft_convolve before crop_and_compensate)."""
    n_frames, ir_size = irs.shape
    frame = int(np.ceil(len(audio) / n_frames))
    frames = np.zeros((n_frames, frame))
    frames.reshape(-1)[:len(audio)] = audio
    fft_size = int(2 ** np.ceil(np.log2(frame + ir_size - 1)))
    y = np.fft.irfft(np.fft.rfft(frames, fft_size) * np.fft.rfft(irs, fft_size), fft_size)
    out = np.zeros((n_frames - 1) * frame + fft_size)
    for i in range(n_frames):
        out[i * frame:i * frame + fft_size] += y[i]
    return out


def ddsp_filtered_noise(mags, noise, window_size=0):
    """DDSP FilteredNoise with padding='same', delay_compensation=-1 (crop (N-1)//2 - 1 from the front)."""
    irs = ddsp_frequency_impulse_response(mags, window_size)
    full = ddsp_fft_convolve_full(noise, irs)
    start = (irs.shape[1] - 1) // 2 - 1
    return full[start:start + len(noise)]


@pytest.mark.parametrize("window_size", [0, 64])
def test_matches_ddsp_filtered_noise(window_size):
    rng = np.random.default_rng(1)
    n_frames, hop, B = 40, 320, 65
    mags = rng.random((n_frames, B)) ** 2
    y = render_noise(mags, hop, seed=5, window_size=window_size)
    noise = white_noise(n_frames * hop, seed=5)
    full = ddsp_fft_convolve_full(noise, ddsp_frequency_impulse_response(mags, window_size))
    np.testing.assert_allclose(y, full[:len(y)], atol=1e-12)
    ref = ddsp_filtered_noise(mags, noise, window_size)
    assert DDSP_CROP == 62
    np.testing.assert_allclose(y[DDSP_CROP:], ref[:len(y) - DDSP_CROP], atol=1e-12)


def test_white_noise_is_uniform_and_seeded():
    a = white_noise(200000, seed=1)
    assert a.min() >= -1.0 and a.max() < 1.0
    assert abs(a.mean()) < 0.01 and abs(a.var() - 1 / 3) < 0.01
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 0.01
    assert not np.array_equal(a[:100], white_noise(100, seed=2))
    np.testing.assert_array_equal(a[:100], white_noise(100, seed=1))


@pytest.mark.parametrize("block", [64, 128, 480, 1, 77])
def test_block_size_independent(block):
    rng = np.random.default_rng(2)
    mags = rng.random((30, 65))
    whole = render_noise(mags, 960, seed=3, out_dtype=np.float32)
    parts = render_noise(mags, 960, seed=3, block_size=block, out_dtype=np.float32)
    assert np.max(np.abs(whole - parts)) <= 1e-6


def test_flat_magnitudes_give_white_spectrum_lowpass_is_lowpass():
    n_frames, hop = 200, 256
    flat = render_noise(np.ones((n_frames, 65)), hop, seed=9)
    # flat magnitude 1 -> IR ~ delta (windowed) -> output ~ the noise delayed by 64 samples
    noise = white_noise(n_frames * hop, seed=9)
    assert np.corrcoef(flat[64:], noise[:-64])[0, 1] > 0.99
    lp = np.zeros((n_frames, 65))
    lp[:, :16] = 1.0  # below a quarter of Nyquist
    y = render_noise(lp, hop, seed=9)
    f, p = scipy.signal.welch(y, nperseg=512)
    assert p[f < 0.1].mean() > 1000 * p[f > 0.2].mean()


def test_callable_from_cfunc():
    B, hop, nf, n = 65, 64, 4, 128
    ns = len(make_noise_state(B))
    sig = types.int64(types.CPointer(types.float32), types.CPointer(types.float32),
                      types.CPointer(types.float64), types.int64, types.int64, types.int64)

    @cfunc(sig)
    def callback(out_ptr, frames_ptr, state_ptr, nn, rp, wp):
        out = carray(out_ptr, (nn,))
        frames = carray(frames_ptr, (nf, B))
        state = carray(state_ptr, (ns,))
        return noise_block(out, nn, frames, rp, wp, state, hop)

    frames = make_noise_frame_buffer(nf, B)
    frames[:] = 0.5
    state = make_noise_state(B, seed=4)
    out = np.zeros(n, dtype=np.float32)
    fp = ctypes.POINTER(ctypes.c_float)
    rp = callback.ctypes(out.ctypes.data_as(fp), frames.ctypes.data_as(fp),
                         state.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), n, 0, nf)
    assert rp == 2
    ref = render_noise(frames[:2].astype(np.float64), hop, seed=4)
    np.testing.assert_allclose(out, ref, atol=1e-6)
    assert np.std(out) > 0.01
