"""Models trained by the tonehost project and shipped inside the package (``exports/shipped/``).

They work on a fresh machine with no access to the hosted checkpoints, and go through the same loaders and
runners as those:

- the piano transcriber (``onsets_frames_small/``) is a tfjs layers checkpoint of magenta.js's Onsets and
  Frames family (``exports/recipes/train_piano.py``);
- each DDSP instrument (``violin.onnx``) is a controls model in the streaming ONNX contract
  (:mod:`tonehost.exports.contracts.ddsp`) built by the same :mod:`tonehost.exports.convert.ddsp_onnx` builder as converted hosted
  checkpoints (``exports/recipes/make_violin_data.py``, ``exports/recipes/train_violin.py``);
- the melody MusicRNN (``basic_rnn_folk/``) is a layers checkpoint in basic_rnn's format (same variable names,
  config.json, a 2-layer LSTM) trained on melodies of music21's corpus
  (``exports/training/recipes/make_melody_data.py``, ``train_melody_rnn.py``);
- the 2-bar melody MusicVAE (``mel_2bar_folk/``) is a layers checkpoint in mel_2bar_small's format (uint16 like
  the hosted ``_q2`` files) trained on 2-bar windows of the same melodies and split
  (``exports/training/recipes/train_melody_vae.py``).

The hosted checkpoints stay one option away: ``--checkpoint onsets_frames_uni`` / ``ddsp_violin`` / ``basic_rnn``
/ ``mel_2bar_small`` (index ids), a checkpoint directory or an exported ``.onnx``.
"""
from __future__ import annotations

from pathlib import Path

from tonehost.exports.errors import CheckpointError
from tonehost.exports.paths import SHIPPED_DIR

PIANO_TRANSCRIBER = "onsets_frames_small"
SHIPPED_INSTRUMENTS = ("violin",)
#: The shipped melody MusicRNN (the default of ``tonehost continue``, ``tonehost jam`` and ``MusicRNN()``).
MELODY_RNN = "basic_rnn_folk"
#: The shipped 2-bar melody MusicVAE (the default of ``tonehost vae`` and ``MusicVAE()``).
MELODY_VAE = "mel_2bar_folk"


class ShippedModelMissing(CheckpointError):
    """The package was installed without its data; ``user_message`` says what to do."""


def transcriber_source(checkpoint):
    """``checkpoint`` as the transcribers take it: ``None`` (the shipped piano model, with its calibrated
    decoding) for ``None`` or the shipped model's own name ``onsets_frames_small``, else ``checkpoint`` unchanged.

    The one place that maps the name to the default (``OnsetsAndFrames(checkpoint)`` and ``tonehost transcribe
    --checkpoint``), so naming the default gives the same model, notes and velocities as giving nothing.

    Parameters
    ----------
    checkpoint : str or os.PathLike or None
        An index id, URL, directory or ``.onnx`` (see :class:`tonehost.OnsetsAndFrames`).

    Returns
    -------
    str or os.PathLike or None

    Raises
    ------
    UsageError
        ``checkpoint`` is neither None, a ``str`` nor an ``os.PathLike``
        (:func:`~tonehost.exports.checkpoints.index.check_source`).
    """
    if checkpoint is None:
        return None
    from tonehost.exports.checkpoints.index import check_source

    if str(check_source(checkpoint)) == PIANO_TRANSCRIBER:
        return None
    return checkpoint


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


def _shipped_checkpoint(name: str, hosted: str, what: str) -> Path:
    d = SHIPPED_DIR / name
    if not (d / "weights_manifest.json").is_file() or not (d / "config.json").is_file():
        raise ShippedModelMissing(f"the shipped {what} is missing from this installation ({d}); reinstall tonehost "
                                  f"with its package data, or pass --checkpoint {hosted}", d)
    return d


def default_music_rnn_dir() -> Path:
    """The shipped melody MusicRNN checkpoint (default of ``MusicRNN()``, ``tonehost continue`` and ``jam``).

    Returns
    -------
    pathlib.Path
        ``exports/shipped/basic_rnn_folk``: ``config.json`` (basic_rnn's ``MelodyConverter {minPitch 48,
        maxPitch 83}``), ``weights_manifest.json`` and float32 shards of a 2-layer LSTM.

    Raises
    ------
    CheckpointError
        When the package was installed without its data.
    """
    return _shipped_checkpoint(MELODY_RNN, "basic_rnn", "melody model")


def default_music_vae_dir() -> Path:
    """The shipped 2-bar melody MusicVAE checkpoint (default of ``MusicVAE()`` and ``tonehost vae``).

    Returns
    -------
    pathlib.Path
        ``exports/shipped/mel_2bar_folk``: ``config.json`` (``MelodyConverter {numSteps 32, minPitch 21,
        maxPitch 108}``), ``weights_manifest.json`` and uint16 shards in mel_2bar_small's layout.

    Raises
    ------
    CheckpointError
        When the package was installed without its data.
    """
    return _shipped_checkpoint(MELODY_VAE, "mel_2bar_small", "2-bar melody VAE")


def shipped_checkpoint(name: str) -> Path | None:
    """The shipped layers checkpoint called ``name`` (``basic_rnn_folk``, ``mel_2bar_folk``,
    ``onsets_frames_small``), else None. (``--checkpoint onsets_frames_small``, the name ``transcribe --help`` gives
    the default, was an "unknown checkpoint id".)

    Raises
    ------
    CheckpointError
        ``name`` is shipped but missing from this installation.
    """
    if name == MELODY_RNN:
        return default_music_rnn_dir()
    if name == MELODY_VAE:
        return default_music_vae_dir()
    if name == PIANO_TRANSCRIBER:
        return default_transcriber_dir()
    return None


#: The models shipped inside the package, by the name ``--checkpoint`` takes: ``(model family, description)``.
SHIPPED_MODELS = {
    PIANO_TRANSCRIBER: ("OnsetsAndFrames", "piano transcription, Onsets and Frames' layers format (the default of "
                                           "tonehost transcribe and OnsetsAndFrames())"),
    "violin": ("DDSP", "the violin, a controls model in the streaming ONNX contract (the default of play, render "
                       "and DDSP())"),
    MELODY_RNN: ("MusicRNN", "melodies, basic_rnn's format, trained on music21's folk tunes (the default of "
                             "continue, jam and MusicRNN())"),
    MELODY_VAE: ("MusicVAE", "2-bar melodies, mel_2bar_small's format, trained on the same tunes (the default of "
                             "vae and MusicVAE())"),
}


def shipped_models() -> dict[str, Path | None]:
    """Each model shipped with tonehost (:data:`SHIPPED_MODELS`, they work offline) and its path in this
    installation (None where the package was installed without its data).

    Returns
    -------
    dict of str to pathlib.Path or None
    """
    out: dict[str, Path | None] = {}
    for name in SHIPPED_MODELS:
        try:
            out[name] = default_instrument_path(name) if name in SHIPPED_INSTRUMENTS else shipped_checkpoint(name)
        except CheckpointError:
            out[name] = None
    return out
