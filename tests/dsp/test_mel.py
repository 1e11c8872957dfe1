"""The magenta.js log-mel front end (dsp/mel.py): against librosa, and streaming == offline."""
from __future__ import annotations

import librosa
import numpy as np
import pytest

from tonehost.dsp.mel import MelStream, frame_count, log_mel, mel_filterbank


def _librosa_log_mel(x):
    s = librosa.feature.melspectrogram(y=x, sr=16000, n_fft=2048, hop_length=512, n_mels=229, fmin=30,
                                       htk=True, window=np.hanning(2048), pad_mode="reflect", power=2.0)
    db = 10 * np.log10(np.maximum(1e-10, s)).T
    return np.maximum(db, db.max(axis=1, keepdims=True) - 80.0)


def test_filterbank_is_htk_librosa():
    ref = librosa.filters.mel(sr=16000, n_fft=2048, n_mels=229, fmin=30, htk=True)
    np.testing.assert_allclose(mel_filterbank(), ref, atol=2e-6)


def test_log_mel_matches_librosa_with_symmetric_hann_and_per_frame_top_db():
    rng = np.random.default_rng(1)
    t = np.arange(16000 * 2) / 16000
    x = (0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.5) + 1e-3 * rng.standard_normal(len(t))).astype(np.float32)
    mel = log_mel(x)
    assert mel.shape == (frame_count(len(x)), 229) == (63, 229)
    np.testing.assert_allclose(mel, _librosa_log_mel(x), atol=2e-3)
    # per-frame clipping: every frame spans at most 80 dB, and quiet frames are not clipped to the loud ones
    assert np.all(mel.max(1) - mel.min(1) <= 80.0 + 1e-4)
    assert mel[:10].max() < mel[-10:].max() - 40


@pytest.mark.parametrize("block", [1, 127, 512, 1000, 3001])
def test_stream_equals_offline(block):
    rng = np.random.default_rng(block)
    x = (0.1 * rng.standard_normal(16000 + 777)).astype(np.float32)
    ms = MelStream()
    parts, seen = [], 0
    for i in range(0, len(x), block):
        out = ms.push(x[i:i + block])
        seen += len(out)
        # a frame is out as soon as its last real sample is in (frame 0 also needs sample 1024)
        n = min(i + block, len(x))
        assert seen == (0 if n < 1025 else (n - 1024) // 512 + 1)
        parts.append(out)
    parts.append(ms.finish())
    np.testing.assert_array_equal(np.concatenate(parts), log_mel(x))


def test_stream_short_input_and_silence():
    x = np.zeros(800, dtype=np.float32)
    ms = MelStream()
    assert len(ms.push(x)) == 0
    out = ms.finish()
    np.testing.assert_array_equal(out, log_mel(x))
    assert np.all(out == -100.0)


def test_onset_levels_at_a_mask_are_the_full_levels():
    """A decoder asks for key levels at its onsets only: the same values as computing every frame and key."""
    from tonehost.dsp.mel import onset_levels, pitch_band_weights, pitch_levels_db

    rng = np.random.default_rng(3)
    x = (rng.normal(size=16000 * 3) * np.repeat(rng.random(30), 1600)).astype(np.float32)
    mel = log_mel(x)
    w = pitch_band_weights()
    peak, rise = onset_levels(mel, 3, 80, w)
    lv = pitch_levels_db(mel, w)
    assert np.array_equal(peak[10], lv[13:16].max(axis=0))
    assert np.array_equal(rise[10], peak[10] - lv[10:13].max(axis=0))
    mask = rng.random((80, 88)) < 0.02
    p2, r2 = onset_levels(mel, 3, 80, w, mask)
    assert np.array_equal(p2[mask], peak[mask]) and np.array_equal(r2[mask], rise[mask])
    assert np.all(np.isneginf(p2[~mask]))
