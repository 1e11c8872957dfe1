"""Loudness: DDSP-VST power, magenta.js RMS power, DDSP A-weighted loudness vs librosa; streaming; FFT; cfunc."""
import ctypes

import librosa
import numpy as np
import pytest
from numba import carray, cfunc, types

from tonehost.dsp.fft import fft
from tonehost.dsp.loudness import (MODE_MJS, MODE_VST, a_weighting_db, aloudness_block, compute_loudness,
                          compute_loudness_streaming, make_aloudness_state, make_power_state, mjs_power,
                          power_block, vst_power, vst_power_db, vst_power_scaled)


def test_fft_matches_numpy():
    rng = np.random.default_rng(0)
    for n in (2, 8, 256, 2048):
        x = rng.normal(size=n) + 1j * rng.normal(size=n)
        np.testing.assert_allclose(fft(x), np.fft.fft(x), atol=1e-9 * n)


def test_vst_power_formula():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=1024) * 0.1).astype(np.float32)
    ref = max(10 * np.log10(max(1e-8, np.mean(x.astype(np.float64) ** 2))), -80)
    assert vst_power_db(x, 1024) == pytest.approx(ref, abs=1e-6)
    assert vst_power_scaled(ref) == pytest.approx(ref / 80 + 1)
    assert vst_power_db(np.zeros(1024), 1024) == -80.0
    assert vst_power_db(np.full(1024, 1e-5), 1024) == -80.0  # 1e-10 mean square -> floored
    # full-scale sine: mean square 0.5 -> -3.01 dB -> scaled 0.962
    s = np.sin(2 * np.pi * 440 * np.arange(1024) / 16000)
    db, scaled = vst_power(np.tile(s, 4), 1024, 320)
    assert db[0] == pytest.approx(10 * np.log10(np.mean(s ** 2)), abs=1e-9)
    assert scaled[0] == pytest.approx(db[0] / 80 + 1)


def _tf_same_rms_reference(audio, frame, stride):
    """Direct loop version of tf.conv1d(x**2, ones/frame, stride, 'same') -> sqrt -> dB - 20.7, floor -120."""
    n = len(audio)
    n_out = -(-n // stride)
    pad_left = max((n_out - 1) * stride + frame - n, 0) // 2
    out = []
    for i in range(n_out):
        s = 0.0
        for j in range(frame):
            t = i * stride - pad_left + j
            if 0 <= t < n:
                s += audio[t] ** 2
        out.append(max(20 * np.log10(max(1e-20, np.sqrt(s / frame))) - 20.7, -120.0))
    return np.array(out)


def test_magentajs_power_matches_tf_same_conv():
    rng = np.random.default_rng(2)
    audio = rng.normal(size=3000) * np.linspace(0, 0.5, 3000)
    audio[:300] = 0.0
    got = mjs_power(audio, 16000, 1024, 250)
    ref = _tf_same_rms_reference(audio, 1024, 64)
    assert len(got) == len(ref) == 47
    np.testing.assert_allclose(got, ref, atol=1e-9)
    assert got.min() >= -120.0


@pytest.mark.parametrize("mode", [MODE_VST, MODE_MJS])
def test_power_block_streaming(mode):
    rng = np.random.default_rng(3)
    x = rng.normal(size=5000) * 0.05
    frame, hop = 1024, 320
    st = make_power_state(frame, hop, mode)
    outs, i = [], 0
    while i < len(x):
        m = int(rng.integers(1, 500))
        buf = np.zeros(m // hop + 1)
        k = power_block(x[i:i + m], len(x[i:i + m]), st, buf)
        outs.append(buf[:k])
        i += m
    got = np.concatenate(outs)
    padded = np.concatenate([np.zeros(frame), x])
    ref = []
    for t in range(hop - 1, len(x), hop):
        seg = padded[t + 1:t + 1 + frame]
        ms = np.mean(seg ** 2)
        ref.append(max(10 * np.log10(max(1e-8, ms)), -80) if mode == MODE_VST
                   else max(20 * np.log10(max(1e-20, np.sqrt(ms))) - 20.7, -120))
    np.testing.assert_allclose(got, ref, atol=1e-9)


def test_a_weighting_matches_librosa():
    f = np.linspace(0, 8000, 1025)
    np.testing.assert_allclose(a_weighting_db(f), librosa.A_weighting(f), atol=1e-9)


def ddsp_compute_loudness_librosa(audio, sample_rate=16000, frame_rate=250, n_fft=2048, range_db=120.0,
                                  ref_db=20.7):
    """DDSP spectral_ops.compute_loudness (numpy path) written with librosa, as in DDSP."""
    hop = sample_rate // frame_rate
    n_frames = int(np.ceil(len(audio) / hop))
    pad = (n_frames - 1) * hop + n_fft - len(audio)
    audio = np.pad(audio, (0, pad))
    s = librosa.stft(y=audio, n_fft=n_fft, hop_length=hop, center=False).T
    power_db = 20.0 * np.log10(np.maximum(1e-20, np.abs(s)))
    a = librosa.A_weighting(librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft))[None, :]
    loud = np.maximum(power_db + a - ref_db, -range_db).mean(-1)
    expected = int(len(audio[:len(audio) - pad]) / float(sample_rate) * frame_rate)
    return loud[:expected]


def test_a_weighted_loudness_matches_ddsp_librosa():
    rng = np.random.default_rng(4)
    t = np.arange(16000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) + rng.normal(size=len(t))) * np.linspace(0.001, 0.3, len(t))
    audio = audio.astype(np.float32).astype(np.float64)
    got = compute_loudness(audio)
    ref = ddsp_compute_loudness_librosa(audio)
    assert len(got) == len(ref) == 250
    # librosa computes the STFT in float32
    np.testing.assert_allclose(got, ref, atol=2e-3)
    assert got[200] > got[20] + 10  # crescendo (the last frames hold DDSP's end padding)


def test_a_weighted_streaming_equals_offline():
    rng = np.random.default_rng(5)
    audio = rng.normal(size=8000) * 0.1
    off = compute_loudness(audio)
    for bs in (64, 100):
        np.testing.assert_allclose(compute_loudness_streaming(audio, block_size=bs), off, atol=1e-9)


def test_callable_from_cfunc():
    n = 640
    pst = make_power_state(1024, 320, MODE_VST)
    ast = make_aloudness_state(16000, 250, 512)
    np_, na = len(pst), len(ast)
    sig = types.int64(types.CPointer(types.float32), types.int64, types.CPointer(types.float64),
                      types.CPointer(types.float64), types.CPointer(types.float64), types.CPointer(types.float64))

    @cfunc(sig)
    def callback(x_ptr, nn, pst_ptr, pout_ptr, ast_ptr, aout_ptr):
        x = carray(x_ptr, (nn,))
        k1 = power_block(x, nn, carray(pst_ptr, (np_,)), carray(pout_ptr, (8,)))
        k2 = aloudness_block(x, nn, carray(ast_ptr, (na,)), carray(aout_ptr, (16,)))
        return k1 * 100 + k2

    x = (np.random.default_rng(6).normal(size=n) * 0.1).astype(np.float32)
    pout, aout = np.zeros(8), np.zeros(16)
    dp = ctypes.POINTER(ctypes.c_double)
    r = callback.ctypes(x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n, pst.ctypes.data_as(dp),
                        pout.ctypes.data_as(dp), ast.ctypes.data_as(dp), aout.ctypes.data_as(dp))
    assert r == 2 * 100 + 3  # 2 power values (hop 320); A-weighted frames end at 512, 576, 640
    ref = compute_loudness(np.concatenate([x.astype(np.float64), np.zeros(512)]), n_fft=512)
    np.testing.assert_allclose(aout[:3], ref[:3], atol=1e-6)
    assert pout[1] == pytest.approx(vst_power_db(np.concatenate([np.zeros(384), x]).astype(np.float64), 1024))
