"""The one audio reader (realtime/io.py): blocks == whole, truncated/damaged files raise, NaN/inf -> zeros + one
warning naming the file and the count."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf

from tonehost.exports.errors import AudioFileError, NonFiniteAudioWarning
from tonehost.realtime.io import AudioFile, read_audio, read_blocks


@pytest.fixture()
def stereo(tmp_path):
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((44100 * 2, 2))).astype(np.float32)
    p = tmp_path / "take.wav"
    sf.write(p, x, 44100, subtype="PCM_16")
    return p


def test_blocks_equal_whole_read(stereo):
    whole, sr = read_audio(stereo, mono=False)
    blocks = [b for b, _ in read_blocks(stereo, block_frames=10007, mono=False)]
    assert sr == 44100 and all(len(b) == 10007 for b in blocks[:-1])
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    mono = np.concatenate([b for b, _ in read_blocks(stereo, block_frames=4096)])
    np.testing.assert_allclose(mono, whole.mean(axis=1), atol=1e-7)


@pytest.mark.parametrize("fmt", ["wav", "flac", "aiff"])
def test_truncated_file_is_an_error_naming_it(stereo, tmp_path, fmt):
    x, sr = sf.read(stereo, dtype="float32")
    full = tmp_path / f"full.{fmt}"
    sf.write(full, x, sr, subtype="PCM_16")
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(full.read_bytes()[:5000 if fmt != "flac" else len(full.read_bytes()) // 2])
    with pytest.raises(AudioFileError, match=f"cut.{fmt}.*(truncated|damaged)"):
        read_audio(cut)
    with pytest.raises(AudioFileError, match=f"cut.{fmt}"):
        for _ in read_blocks(cut, block_frames=1024):
            pass


def test_non_finite_samples_become_zeros_with_one_warning(tmp_path):
    x = (0.1 * np.sin(np.arange(16000) / 10)).astype(np.float32)
    x[[100, 5000, 12000]] = np.nan
    x[7000] = np.inf
    p = tmp_path / "nan.wav"
    sf.write(p, x, 16000, subtype="FLOAT")
    for read in (lambda: read_audio(p)[0],
                 lambda: np.concatenate([b for b, _ in read_blocks(p, block_frames=1000)])):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = read()
        msgs = [str(w.message) for w in caught if issubclass(w.category, NonFiniteAudioWarning)]
        assert len(msgs) == 1 and "nan.wav" in msgs[0] and "4 non-finite samples" in msgs[0], msgs
        assert np.isfinite(y).all() and (y[[100, 5000, 7000, 12000]] == 0).all()
        np.testing.assert_array_equal(np.delete(y, [100, 5000, 7000, 12000]),
                                      np.delete(x, [100, 5000, 7000, 12000]))


def test_empty_missing_and_not_audio(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioFileError, match="holds no audio"):
        read_audio(tmp_path / "empty.wav")
    assert len(read_audio(tmp_path / "empty.wav", allow_empty=True)[0]) == 0
    with pytest.raises(AudioFileError, match="missing.wav not found"):
        AudioFile(tmp_path / "missing.wav")
    (tmp_path / "t.wav").write_text("hello")
    with pytest.raises(AudioFileError, match="t.wav as audio"):
        read_audio(tmp_path / "t.wav")


def test_live_input_non_finite_samples_are_zeroed_once_warned():
    """The one worker loop (engine input, files played live) zeroes NaN/inf before the pipeline sees them."""
    from tonehost.realtime.audio.worker import ArraySource, Worker

    x = np.sin(np.arange(20000) / 7).astype(np.float32)
    x[[10, 9000, 15000]] = np.nan
    x[12000] = -np.inf
    seen = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w = Worker(ArraySource(x, 16000), lambda b: seen.append(b.copy()), max_block=4096)
        w.start()
        w.join(60)                     # a deadline, not a pace: a loaded machine may take a while
    got = np.concatenate(seen)
    assert np.isfinite(got).all() and len(got) == len(x) and w.non_finite == 4
    np.testing.assert_array_equal(np.delete(got, [10, 9000, 12000, 15000]), np.delete(x, [10, 9000, 12000, 15000]))
    msgs = [str(c.message) for c in caught if issubclass(c.category, NonFiniteAudioWarning)]
    assert len(msgs) == 1 and "ArraySource" in msgs[0], msgs
