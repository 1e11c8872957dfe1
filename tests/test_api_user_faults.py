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


@pytest.fixture(scope="module")
def piano():
    return tonehost.OnsetsAndFrames()


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
