"""Faults found by trying ``import tonehost`` as a developer building on it would (outside the voice path).

Each test fails on the code before its fix: a user's mistake used to end in a traceback from inside numpy, pathlib
or difflib, a hang, or a silently wrong result; it is now one :class:`tonehost.TonehostError` naming the argument
and the fix, before any model loads where the argument alone decides.
"""
from __future__ import annotations

import numpy as np
import pytest

import tonehost
from tonehost.exports import errors
from tonehost.exports.note_sequence import Note, NoteSequence


@pytest.fixture(scope="module")
def piano():
    return tonehost.OnsetsAndFrames()


@pytest.fixture(scope="module")
def vae():
    return tonehost.MusicVAE(seed=1)


@pytest.fixture(scope="module")
def rnn():
    return tonehost.MusicRNN()


@pytest.fixture
def melody():
    """Eight rising sixteenths-ish notes, quantized per quarter (a MusicRNN/MusicVAE primer)."""
    return NoteSequence(notes=[Note(60 + k, 80, 0.25 * k, 0.25 * k + 0.2) for k in range(8)],
                        total_time=4.0).quantize(4)


# -- Onsets and Frames -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_chunk", [0, -1, 1.5, "8", None])
def test_stream_max_chunk_is_checked(piano, max_chunk):
    """``stream(sr, max_chunk=0)`` looped for ever at the first push (no model call, no progress); -1 was numpy's
    "negative dimensions are not allowed", 1.5 a TypeError from slicing the mel frames."""
    with pytest.raises(errors.UsageError, match="max_chunk must be a whole number from 1"):
        piano.stream(16000, max_chunk=max_chunk)
    assert len(piano.stream(16000, max_chunk=np.int64(4)).push(np.zeros(16000, np.float32))) == 0


@pytest.mark.parametrize("rate", [1, 100, 999])
def test_transcription_refuses_rates_it_would_upsample_into_gigabytes(piano, rate):
    """``transcribe(x, 1)`` upsampled 16000-fold (100 000 samples: 1.6e9 at 16 kHz, gigabytes of memory) and
    ``stream(1)`` was accepted; the floor is read_audio's (1000 Hz)."""
    with pytest.raises(errors.UsageError, match="sample_rate must be a whole number of Hz from 1000"):
        piano.transcribe(np.zeros(100_000, np.float32), rate)
    with pytest.raises(errors.UsageError, match="from 1000"):
        piano.stream(rate)
    assert piano.transcribe(np.zeros(1000, np.float32), 1000).total_time == pytest.approx(1.0)


def test_decoding_is_checked_before_the_model_loads():
    from tonehost.realtime.pipelines.transcriber import MAGENTA_DECODING, Decoding

    with pytest.raises(errors.UsageError, match="decoding must be a .*Decoding"):
        tonehost.OnsetsAndFrames(decoding="magenta")  # an AttributeError inside session_for
    with pytest.raises(errors.UsageError, match="velocity must be 'model' or 'loudness'"):
        Decoding(velocity="midi")  # ran without the velocity head: every note velocity 10
    with pytest.raises(errors.UsageError, match="onset_threshold must be a probability"):
        Decoding(onset_threshold=1.5)  # no onset can pass it: no notes, no word
    with pytest.raises(errors.UsageError, match="ghost_frames"):
        Decoding(ghost_frames=-1)
    assert Decoding(onset_threshold=np.float32(0.4), ghost_frames=np.int64(1)).ghost_frames == 1
    assert tonehost.OnsetsAndFrames(decoding=MAGENTA_DECODING).decoding is MAGENTA_DECODING


# -- checkpoints: the argument's type, everywhere a checkpoint is taken -------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: tonehost.OnsetsAndFrames(3),
    lambda: tonehost.MusicRNN(3),
    lambda: tonehost.MusicVAE(["mel_2bar_small"]),
    lambda: tonehost.checkpoints.info(None),
    lambda: tonehost.checkpoints.fetch(3),
    lambda: tonehost.checkpoints.fetch(b"mel_2bar_small"),
], ids=["OnsetsAndFrames", "MusicRNN", "MusicVAE", "info", "fetch", "fetch-bytes"])
def test_a_checkpoint_that_is_not_a_name_is_one_usage_error(make):
    """A TypeError from pathlib (``Path(3)``), difflib (``info(None)``) or os.fspath."""
    with pytest.raises(errors.UsageError, match="an index id .*an http\\(s\\) URL or a checkpoint folder"):
        make()


def test_an_id_in_the_wrong_case_gets_its_suggestion():
    with pytest.raises(errors.CheckpointNotFoundError, match="Did you mean onsets_frames_uni"):
        tonehost.checkpoints.info("ONSETS_FRAMES_UNI")


# -- MusicRNN / MusicVAE: seeds and generators -----------------------------------------------------------------

@pytest.mark.parametrize("bad", ["x", 1.5, -1, True])
def test_a_bad_seed_or_rng_is_one_usage_error(bad, rnn, vae, melody):
    """numpy's ``SeedSequence expects int or sequence of ints`` / ``expected non-negative integer``, from four
    places: MusicVAE(seed=), its rng= per call, MusicRNN.continue_sequence(rng=) and MusicRNN.stream(rng=)."""
    with pytest.raises(errors.UsageError, match="seed must be None, a whole number >= 0"):
        tonehost.MusicVAE(seed=bad)
    with pytest.raises(errors.UsageError, match="rng must be None, a whole number >= 0"):
        vae.decode(np.zeros((1, vae.z_dims), np.float32), temperature=1.0, rng=bad)
    with pytest.raises(errors.UsageError, match="rng must be None"):
        vae.sample(1, rng=bad)
    with pytest.raises(errors.UsageError, match="rng must be None"):
        rnn.continue_sequence(melody, 4, temperature=1.0, rng=bad)
    with pytest.raises(errors.UsageError, match="rng must be None"):
        rnn.stream(temperature=1.0, rng=bad)


def test_seeds_still_reproduce(rnn, vae, melody):
    def key(seq):
        return [(n.pitch, n.quantized_start_step, n.quantized_end_step) for n in seq.notes]

    a = rnn.continue_sequence(melody, 16, 1.0, rng=np.int64(3))
    assert key(a) == key(rnn.continue_sequence(melody, 16, 1.0, rng=3))
    assert [key(s) for s in tonehost.MusicVAE(seed=[5, 1]).sample(2)] == \
        [key(s) for s in tonehost.MusicVAE(seed=[5, 1]).sample(2)]
    z = vae.encode([melody])
    assert [key(s) for s in vae.decode(z, 1.0, rng=np.random.default_rng(2))] == \
        [key(s) for s in vae.decode(z, 1.0, rng=2)]
