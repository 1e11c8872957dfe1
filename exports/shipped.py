"""Models trained by the tonehost project and shipped inside the package (``exports/shipped/``).

They work on a fresh machine with no access to the hosted checkpoints, and go through the same loaders and
runners as those: the piano transcriber is a tfjs layers checkpoint of magenta.js's Onsets and Frames family
(see ``exports/recipes/train_piano.py`` for how it was made).
"""
from __future__ import annotations

from pathlib import Path

from .errors import CheckpointError

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
PIANO_TRANSCRIBER = "onsets_frames_small"


def default_transcriber_dir() -> Path:
    """The shipped piano transcription checkpoint (the default of ``tonehost transcribe``).

    Returns
    -------
    pathlib.Path
        ``exports/shipped/onsets_frames_small``: ``weights_manifest.json`` + q2 shards, an Onsets and Frames
        layers checkpoint with small widths (conv 16/16/32, fc 256, LSTM 128).

    Raises
    ------
    CheckpointError
        When the package was installed without its data (the directory or its manifest is missing).
    """
    d = SHIPPED_DIR / PIANO_TRANSCRIBER
    if not (d / "weights_manifest.json").is_file():
        raise CheckpointError(f"the shipped piano model is missing from this installation ({d}); reinstall "
                              "tonehost with its package data, or pass --checkpoint onsets_frames_uni", d)
    return d
