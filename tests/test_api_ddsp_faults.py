"""The DDSP instrument's Python API refuses bad input with one UsageError (a fresh-user trial's findings)."""
import warnings

import numpy as np
import pytest

import tonehost
from tonehost.exports import errors


@pytest.fixture(scope="module")
def violin():
    return tonehost.DDSP()


def test_synthesize_refuses_empty_and_two_dimensional_frames(violin):
    with pytest.raises(errors.UsageError, match="no frames"):
        violin.synthesize([], [])  # was an IndexError from deep inside
    with pytest.raises(errors.UsageError, match="1-D"):
        violin.synthesize(np.full((10, 2), 220.0), np.full((10, 2), -30.0))  # was flattened silently
    with pytest.raises(errors.UsageError, match="arrays of numbers"):
        violin.synthesize(["a"], ["b"])


def test_render_checks_its_samples_and_rate(violin):
    x = np.zeros(4800, np.float32)
    with pytest.raises(errors.UsageError, match="file name"):
        violin.render("take.wav", 16000)
    with pytest.raises(errors.UsageError, match="sample_rate"):
        violin.render(x, float("nan"))
    with pytest.raises(errors.UsageError, match="audio.T"):
        violin.render(np.zeros((2, 16000), np.float32), 16000)  # librosa's [channels, n]: gave 3 samples
    with pytest.raises(errors.UsageError, match="tail_s"):
        violin.render(x, 16000, tail_s=-1.0)


def test_render_replaces_non_finite_samples_with_a_warning(violin):
    sr = 16000
    x = (0.3 * np.sin(2 * np.pi * 220.0 * np.arange(sr) / sr)).astype(np.float32)
    x[100:110] = np.nan
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        y = violin.render(x, sr)
    assert any(issubclass(i.category, errors.NonFiniteAudioWarning) for i in w)
    assert np.all(np.isfinite(y)) and len(y) == 48000
    assert np.isnan(x[100])  # the caller's array is not modified


def test_track_pitch_refuses_what_is_not_samples():
    x = np.zeros(16000, np.float32)
    with pytest.raises(ValueError, match="file name"):
        tonehost.track_pitch("take.wav", 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        tonehost.track_pitch(x, float("nan"))
    with pytest.raises(ValueError, match="audio.T"):
        tonehost.track_pitch(np.zeros((2, 16000), np.float32), 16000)  # gave 0 frames and no error
    with pytest.raises(ValueError, match="numeric"):
        tonehost.track_pitch(np.array(["a"]), 16000)
    times, f0, conf = tonehost.track_pitch(np.zeros((16000, 2), np.float32), 16000)  # soundfile's layout
    assert len(times) == len(f0) == len(conf) == 500


def test_session_threads_are_clamped_to_the_machine():
    import os

    from tonehost.exports.checkpoints.shipped import default_instrument_path
    from tonehost.exports.onnx_session import make_session

    s = make_session(default_instrument_path("violin"), threads=100000)  # started 100000 threads
    assert s.get_session_options().intra_op_num_threads == 4 * (os.cpu_count() or 1)
    assert make_session(default_instrument_path("violin"), threads=0).get_session_options().intra_op_num_threads == 1
