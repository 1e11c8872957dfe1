"""Streaming resampler: block-size independence, sine fidelity, reported delay vs measured, stopband."""
import ctypes

import numpy as np
import pytest
from numba import carray, cfunc, types

from tonehost.dsp.resample import Resampler, make_resample_state, resample, resample_block

PAIRS = [(48000, 16000), (16000, 48000), (44100, 16000), (16000, 44100)]


@pytest.mark.parametrize("fs_in,fs_out", PAIRS)
def test_random_blocks_equal_one_shot(fs_in, fs_out):
    rng = np.random.default_rng(fs_in + fs_out)
    x = rng.normal(size=fs_in // 4)
    whole = Resampler(fs_in, fs_out).process(x)
    rs = Resampler(fs_in, fs_out)
    parts, i = [], 0
    while i < len(x):
        m = int(rng.integers(1, 700))
        parts.append(rs.process(x[i:i + m]))
        i += m
    got = np.concatenate(parts)
    assert len(got) == len(whole)
    assert np.max(np.abs(got - whole)) < 1e-12
    # output count is exactly ceil(n_in * L / M)
    assert len(whole) == -(-len(x) * rs.L // rs.M)


def _fit_sine(y, f, fs):
    t = np.arange(len(y)) / fs
    A = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)], 1)
    (a, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    amp = np.hypot(a, b)
    phase = np.arctan2(b, a)  # y = amp * sin(2 pi f t + phase)
    resid = y - A @ np.array([a, b])
    return amp, phase, np.sqrt(np.mean(resid ** 2))


@pytest.mark.parametrize("fs_in,fs_out", PAIRS)
@pytest.mark.parametrize("f", [440.3, 3001.7])
def test_sine_frequency_amplitude_and_delay(fs_in, fs_out, f):
    rs = Resampler(fs_in, fs_out)
    n = fs_in // 2
    x = np.sin(2 * np.pi * f * np.arange(n) / fs_in)
    y = rs.process(x)
    skip = int(rs.delay_out()) + rs.taps * rs.L // rs.M + 10  # past the start-up transient
    seg = y[skip:]
    amp, phase, resid = _fit_sine(seg, f, fs_out)
    assert abs(20 * np.log10(amp)) < 0.05  # passband gain within 0.05 dB
    assert resid < 1e-3  # the fitted frequency explains the output (right frequency, no distortion)
    # y[m] = sin(2 pi f (m - delay)/fs_out)  ->  phase at m=skip is 2 pi f (skip - delay)/fs_out
    measured_delay = skip - ((phase / (2 * np.pi * f / fs_out)))
    period = fs_out / f
    err = (measured_delay - rs.delay_out() + period / 2) % period - period / 2
    assert abs(err) < 0.01


@pytest.mark.parametrize("fs_in,fs_out", [(48000, 16000), (16000, 48000), (44100, 16000)])
def test_impulse_peak_at_reported_delay(fs_in, fs_out):
    rs = Resampler(fs_in, fs_out)
    # choose the impulse position so that the response centre falls on an output sample
    i0 = next(i for i in range(1, 2000) if (i * rs.L + rs.half) % rs.M == 0)
    x = np.zeros(i0 + 4 * rs.taps + 10)
    x[i0] = 1.0
    y = rs.process(x)
    centre = (i0 * rs.L + rs.half) // rs.M
    assert int(np.argmax(y)) == centre
    assert centre - i0 * rs.L / rs.M == pytest.approx(rs.delay_out())
    # symmetric around the peak (linear phase)
    k = 20
    np.testing.assert_allclose(y[centre - k:centre], y[centre + 1:centre + k + 1][::-1], atol=1e-12)


@pytest.mark.parametrize("fs_in,fs_out,f_alias", [(48000, 16000, 9000.0), (48000, 16000, 20000.0),
                                                  (44100, 16000, 8500.0), (16000, 48000, 1000.0),
                                                  (16000, 44100, 1000.0)])
def test_stopband_attenuation(fs_in, fs_out, f_alias):
    """Down: a tone above the output Nyquist is suppressed; up: images of an in-band tone are suppressed."""
    rs = Resampler(fs_in, fs_out)
    n = fs_in
    x = np.sin(2 * np.pi * f_alias * np.arange(n) / fs_in)
    y = rs.process(x)[rs.taps * 4:]
    w = np.hanning(len(y))
    spec = np.abs(np.fft.rfft(y * w)) / (w.sum() / 2)
    freqs = np.fft.rfftfreq(len(y), 1 / fs_out)
    if fs_out < fs_in:
        assert 20 * np.log10(spec.max() + 1e-20) < -70
    else:
        inband = spec[np.abs(freqs - f_alias) < 50].max()
        images = spec[freqs > fs_in / 2 + 200].max()
        assert inband > 0.5  # the tone itself passes (its exact gain is checked by the sine fit)
        assert 20 * np.log10(images / inband) < -70


def test_offline_wrapper_compensates_delay():
    x = np.sin(2 * np.pi * 500 * np.arange(4800) / 48000)
    y = resample(x, 48000, 16000, compensate_delay=True)
    assert len(y) == 1600
    ref = np.sin(2 * np.pi * 500 * np.arange(1600) / 16000)
    assert np.max(np.abs(y[100:-100] - ref[100:-100])) < 2e-3


def test_callable_from_cfunc():
    rs = Resampler(48000, 16000)
    L, M = rs.L, rs.M
    T = rs.taps
    ns = len(rs.state)
    sig = types.int64(types.CPointer(types.float32), types.int64, types.CPointer(types.float32), types.int64,
                      types.CPointer(types.float64), types.CPointer(types.float64))

    @cfunc(sig)
    def callback(x_ptr, n_in, out_ptr, cap, state_ptr, bank_ptr):
        x = carray(x_ptr, (n_in,))
        out = carray(out_ptr, (cap,))
        state = carray(state_ptr, (ns,))
        bank = carray(bank_ptr, (L, T))
        return resample_block(x, n_in, out, state, bank, L, M)

    x = np.random.default_rng(0).normal(size=128).astype(np.float32)
    out = np.zeros(rs.max_out(128), dtype=np.float32)
    state = make_resample_state(rs.bank)
    fp = ctypes.POINTER(ctypes.c_float)
    dp = ctypes.POINTER(ctypes.c_double)
    n = callback.ctypes(x.ctypes.data_as(fp), 128, out.ctypes.data_as(fp), len(out),
                        state.ctypes.data_as(dp), rs.bank.ctypes.data_as(dp))
    ref = Resampler(48000, 16000).process(x.astype(np.float64))
    assert n == len(ref) == 43
    np.testing.assert_allclose(out[:n], ref, atol=1e-6)


@pytest.mark.parametrize("fs_in,fs_out", PAIRS + [(22050, 16000), (96000, 16000), (48000, 250)])
def test_batch_path_is_the_kernel_bit_for_bit(fs_in, fs_out):
    """Long blocks go through resample_batch (periods side by side): the same outputs as the per-sample kernel,
    bit for bit, and the same state, so blocks of any size can follow each other."""
    from tonehost.dsp.resample import resample_batch

    rng = np.random.default_rng(fs_in + fs_out)
    x = rng.normal(size=fs_in).astype(np.float32)
    ref_rs = Resampler(fs_in, fs_out)
    ref = np.zeros(ref_rs.max_out(len(x)))
    n = resample_block(x, len(x), ref, ref_rs.state, ref_rs.bank, ref_rs.L, ref_rs.M)
    rs, parts, i = Resampler(fs_in, fs_out), [], 0
    while i < len(x):
        m = int(rng.choice([1, 7, 300, 2048, 5000, 20000]))
        blk = x[i:i + m]
        parts.append(resample_batch(blk, rs.state, rs.bank, rs.L, rs.M) if m >= 2048 else rs.process(blk))
        i += m
    got = np.concatenate(parts)
    assert np.array_equal(got, ref[:n])
    assert np.array_equal(rs.state, ref_rs.state)
