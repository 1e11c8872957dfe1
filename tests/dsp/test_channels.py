"""Channels in opposite polarity (a laptop's two-capsule mic with one channel inverted, a stereo file wired out of
phase) cancelled to silence when mixed to mono: a hummed 220 Hz recorded as [x, -x] was unvoiced throughout and
rendered silent. The loudest channel stands in where the mean cancels; anywhere else the mean is kept bit for bit.
"""
from __future__ import annotations

import numpy as np
import soundfile as sf

from tonehost.dsp.channels import cancelled_channel, mix_to_mono
from tonehost.dsp.features import track_pitch, voice_like

SR = 16000


def _tone(seconds=1.0, f0=220.0, amp=0.3):
    return voice_like(np.full(int(seconds * SR), f0), SR, amp)


def test_opposite_polarity_takes_the_loudest_channel():
    x = _tone()
    assert np.array_equal(mix_to_mono(np.c_[x, -x]), x)
    assert np.array_equal(mix_to_mono(np.c_[-0.5 * x, x]), x)
    assert cancelled_channel(np.c_[x, -0.9 * x], 0.05 * x) == 0


def test_other_channel_layouts_keep_the_mean_bit_for_bit():
    rng = np.random.default_rng(0)
    x = _tone()
    cases = [np.c_[x, x], np.c_[x, np.zeros_like(x)], np.c_[x, 0.5 * x + 0.01 * rng.standard_normal(len(x))],
             rng.standard_normal((len(x), 2)), rng.standard_normal((len(x), 6)), 1e-7 * np.c_[x, -x],
             np.zeros((len(x), 2))]
    for a in cases:
        assert np.array_equal(mix_to_mono(a), a.mean(axis=1))


def test_the_tracker_hears_an_inverted_stereo_hum():
    x = _tone(2.0)
    t, f0, conf = track_pitch(np.c_[x, -x], SR)
    m = t > 0.1
    assert np.mean(f0[m] > 0) > 0.98  # was 0: the mean was silence
    assert abs(np.median(f0[m]) - 220.0) < 1.0


def test_read_audio_mono_of_an_inverted_stereo_file(tmp_path):
    from tonehost.realtime.io import to_mono
    x = _tone().astype(np.float32)
    assert np.array_equal(to_mono(np.c_[x, -x]), x)
    y = np.c_[x, 0.3 * x]
    assert np.array_equal(to_mono(y), y.mean(axis=1, dtype=np.float64).astype(np.float32))


def test_render_of_an_inverted_stereo_take_matches_its_mono_take(tmp_path):
    from tonehost.realtime.cli import main
    x = _tone(2.0).astype(np.float32)
    sf.write(tmp_path / "mono.wav", x, SR)
    sf.write(tmp_path / "inverted.wav", np.c_[x, -x], SR)
    levels = []
    for name in ("mono", "inverted"):
        assert main(["render", str(tmp_path / f"{name}.wav"), "-o", str(tmp_path / f"{name}_out.wav")]) == 0
        y, sr = sf.read(tmp_path / f"{name}_out.wav")
        levels.append(10 * np.log10(np.mean(y[sr // 2:] ** 2) + 1e-20))
    assert levels[0] > -60 and abs(levels[1] - levels[0]) < 0.5
