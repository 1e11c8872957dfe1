"""Every public tonehost.dsp entry taking a size, hop, rate, count or window rejects a bad one with ONE ValueError
naming the argument, raised before any work (not a ZeroDivisionError or a range() error from deep inside)."""
from __future__ import annotations

import numpy as np
import pytest

from tonehost.dsp import harmonic, loudness, mel, noise, onset, resample, reverb, scheduled
from tonehost.dsp.errors import ArgumentError, TonehostError

NAN = float("nan")
ABSURD = 10 ** 12
AUDIO = np.zeros(4000)
F0 = np.full(5, 220.0)
AMP = np.full(5, 0.1)
DIST = np.full((5, 4), 0.25)
MAGS = np.full((5, 65), 0.01)

# (name, argument, callable taking the argument's value)
CASES = [
    ("render_harmonic", "hop_length", lambda v: harmonic.render_harmonic(F0, AMP, DIST, 16000, v)),
    ("render_harmonic", "block_size", lambda v: harmonic.render_harmonic(F0, AMP, DIST, 16000, 64, block_size=v)),
    ("render_harmonic", "sample_rate", lambda v: harmonic.render_harmonic(F0, AMP, DIST, v, 64)),
    ("make_harmonic_state", "n_harmonics", lambda v: harmonic.make_harmonic_state(v)),
    ("make_frame_buffer", "capacity", lambda v: harmonic.make_frame_buffer(v, 4)),
    ("make_frame_buffer", "n_harmonics", lambda v: harmonic.make_frame_buffer(8, v)),
    ("render_noise", "hop_length", lambda v: noise.render_noise(MAGS, v)),
    ("render_noise", "block_size", lambda v: noise.render_noise(MAGS, 64, block_size=v)),
    ("render_noise", "window_size", lambda v: noise.render_noise(MAGS, 64, window_size=v)),
    ("make_noise_state", "n_bands", lambda v: noise.make_noise_state(v)),
    ("make_noise_frame_buffer", "capacity", lambda v: noise.make_noise_frame_buffer(v)),
    ("zero_phase_window", "ir_size", lambda v: noise.zero_phase_window(v)),
    ("white_noise", "n", lambda v: noise.white_noise(v)),
    ("vst_power", "hop", lambda v: loudness.vst_power(AUDIO, hop=v)),
    ("vst_power", "frame", lambda v: loudness.vst_power(AUDIO, frame=v)),
    ("mjs_power", "frame_rate", lambda v: loudness.mjs_power(AUDIO, frame_rate=v)),
    ("mjs_power", "sample_rate", lambda v: loudness.mjs_power(AUDIO, sample_rate=v)),
    ("make_power_state", "hop", lambda v: loudness.make_power_state(hop=v)),
    ("make_power_state", "frame", lambda v: loudness.make_power_state(frame=v)),
    ("compute_loudness", "frame_rate", lambda v: loudness.compute_loudness(AUDIO, frame_rate=v)),
    ("compute_loudness", "sample_rate", lambda v: loudness.compute_loudness(AUDIO, sample_rate=v)),
    ("compute_loudness", "n_fft", lambda v: loudness.compute_loudness(AUDIO, n_fft=v)),
    ("compute_loudness_streaming", "block_size", lambda v: loudness.compute_loudness_streaming(AUDIO, block_size=v)),
    ("compute_loudness_streaming", "frame_rate", lambda v: loudness.compute_loudness_streaming(AUDIO, frame_rate=v)),
    ("compute_loudness_streaming", "n_fft", lambda v: loudness.compute_loudness_streaming(AUDIO, n_fft=v)),
    ("make_aloudness_state", "sample_rate", lambda v: loudness.make_aloudness_state(sample_rate=v)),
    ("resample", "target_rate", lambda v: resample.resample(AUDIO, 16000, v)),
    ("resample", "sample_rate", lambda v: resample.resample(AUDIO, v, 16000)),
    ("resample", "block_size", lambda v: resample.resample(AUDIO, 16000, 8000, block_size=v)),
    ("resample_to", "target_rate", lambda v: resample.resample_to(AUDIO, 16000, v)),
    ("Resampler", "sample_rate", lambda v: resample.Resampler(v, 16000)),
    ("Resampler", "zero_crossings", lambda v: resample.Resampler(48000, 16000, zero_crossings=v)),
    ("design_polyphase", "L", lambda v: resample.design_polyphase(v, 3)),
    ("mel_filterbank", "n_fft", lambda v: mel.mel_filterbank(n_fft=v)),
    ("mel_filterbank", "sample_rate", lambda v: mel.mel_filterbank(sample_rate=v)),
    ("mel_filterbank", "n_mels", lambda v: mel.mel_filterbank(n_mels=v)),
    ("hann_window", "length", lambda v: mel.hann_window(v)),
    ("decaying_noise_ir", "sample_rate", lambda v: reverb.decaying_noise_ir(v)),
    ("decaying_noise_ir", "decay_s", lambda v: reverb.decaying_noise_ir(16000, decay_s=v)),
    ("Reverb", "sample_rate", lambda v: reverb.Reverb(v)),
    ("OnsetLoudness", "sample_rate", lambda v: onset.OnsetLoudness(sample_rate=v)),
    ("OnsetLoudness", "window", lambda v: onset.OnsetLoudness(window=v)),
    ("ScheduledSynth", "sample_rate", lambda v: scheduled.ScheduledSynth(4, 0, v)),
    ("ScheduledSynth", "capacity", lambda v: scheduled.ScheduledSynth(4, 0, 16000.0, capacity=v)),
    ("ScheduledSynth", "n_harmonics", lambda v: scheduled.ScheduledSynth(v, 0, 16000.0)),
    ("ScheduledSynth", "n_noise_bands", lambda v: scheduled.ScheduledSynth(4, v, 16000.0)),
]

#: Values that are legal for an argument (0 = "one call" for offline block sizes and window sizes, 0 = no noise).
ALLOWED = {("render_harmonic", "block_size"): {0}, ("render_noise", "block_size"): {0},
           ("render_noise", "window_size"): {0}, ("resample", "block_size"): {0}, ("white_noise", "n"): {0},
           ("ScheduledSynth", "n_noise_bands"): {0}}

BAD = [0, -1, NAN, ABSURD]


@pytest.mark.parametrize("value", BAD, ids=["zero", "negative", "nan", "absurd"])
@pytest.mark.parametrize("name,arg,call", CASES, ids=[f"{n}-{a}" for n, a, _ in CASES])
def test_bad_argument_is_one_clear_value_error(name, arg, call, value):
    if value in ALLOWED.get((name, arg), ()):
        call(value)  # legal: must run
        return
    with pytest.raises(ValueError) as err:
        call(value)
    # one of tonehost's errors as well, caught by ``except tonehost.TonehostError`` (a plain ValueError was not)
    assert isinstance(err.value, TonehostError) and isinstance(err.value, ArgumentError), type(err.value)
    msg = str(err.value)
    assert msg.startswith(arg) or f" {arg} " in f" {msg} ", msg
    assert repr(value) in msg or str(value) in msg, msg


@pytest.mark.parametrize("name,arg,call", CASES, ids=[f"{n}-{a}" for n, a, _ in CASES])
def test_non_integer_size_rejected(name, arg, call):
    """2.5 samples is not a size (whole-valued floats like 16000.0 are accepted for integer arguments)."""
    if arg in ("sample_rate",) and name in ("render_harmonic", "ScheduledSynth"):
        pytest.skip("a real-valued rate")
    if arg == "decay_s":
        pytest.skip("a real-valued duration")
    with pytest.raises(ValueError, match=arg):
        call(2.5)


def test_whole_floats_and_numpy_ints_still_accepted():
    y = harmonic.render_harmonic(F0, AMP, DIST, 16000.0, np.int64(64), block_size=np.int32(100))
    assert y.shape == (5 * 64,)
    assert resample.Resampler(48000.0, np.int64(16000)).L == 1
    np.testing.assert_array_equal(loudness.vst_power(AUDIO, hop=320.0)[0], loudness.vst_power(AUDIO, hop=320)[0])


def test_range_is_in_the_message():
    with pytest.raises(ValueError, match=r"hop_length must be a whole number from 1 to \d+, got 0"):
        noise.render_noise(MAGS, 0)
    with pytest.raises(ValueError, match=r"frame_rate must be a whole number from 1 to 16000, got 20000"):
        loudness.mjs_power(AUDIO, frame_rate=20000)
