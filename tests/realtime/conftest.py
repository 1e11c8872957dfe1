"""Fixtures shared by the command-line fault tests (test_cli_user_faults, test_cli_outputs_and_caps): a short
take and a short melody, written per test."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture
def wav(tmp_path) -> Path:
    p = tmp_path / "take.wav"
    sf.write(p, (0.1 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)).astype(np.float32), 16000)
    return p


@pytest.fixture
def mid(tmp_path) -> Path:
    from tonehost.exports.note_sequence import Note, NoteSequence

    seq = NoteSequence(notes=[Note(pitch=60 + k, velocity=80, start_time=0.25 * k, end_time=0.25 * k + 0.2)
                              for k in range(8)])
    return seq.to_midi(tmp_path / "melody.mid")
