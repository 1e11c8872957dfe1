"""Models trained by the tonehost project and shipped inside the package (``exports/shipped/``).

They work on a fresh machine with no access to the hosted checkpoints, and go through the same loaders and
runners as those:

- the piano transcriber (``onsets_frames_small/``) is a tfjs layers checkpoint of magenta.js's Onsets and
  Frames family (``exports/recipes/train_piano.py``);
- each DDSP instrument (``violin.onnx``) is a controls model in the streaming ONNX contract
  (:mod:`tonehost.exports.contracts.ddsp`) built by the same :mod:`tonehost.exports.convert.ddsp_onnx` builder as converted hosted
  checkpoints (``exports/recipes/make_violin_data.py``, ``exports/recipes/train_violin.py``).

The hosted checkpoints stay one option away: ``--checkpoint onsets_frames_uni`` / ``ddsp_violin`` (index ids), a
checkpoint directory or an exported ``.onnx``.
"""
from __future__ import annotations

from pathlib import Path

from tonehost.exports.errors import CheckpointError
from tonehost.exports.paths import SHIPPED_DIR

PIANO_TRANSCRIBER = "onsets_frames_small"
SHIPPED_INSTRUMENTS = ("violin",)


class ShippedModelMissing(CheckpointError):
    """The package was installed without its data; ``user_message`` says what to do."""


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
        raise ShippedModelMissing(f"the shipped piano model is missing from this installation ({d}); reinstall "
                              "tonehost with its package data, or pass --checkpoint onsets_frames_uni", d)
    return d


def default_instrument_path(name: str = "violin") -> Path | None:
    """The shipped ``.onnx`` controls model for instrument ``name``, or None when the project ships none.

    Raises
    ------
    ShippedModelMissing
        When ``name`` is a shipped instrument but its file is missing from this installation.
    """
    if name not in SHIPPED_INSTRUMENTS:
        return None
    path = SHIPPED_DIR / f"{name}.onnx"
    if not path.is_file():
        raise ShippedModelMissing(
            f"the shipped {name} model is missing from this installation ({path}); reinstall tonehost with its "
            f"package data, or pass --checkpoint ddsp_{name} for the hosted checkpoint", path)
    return path
