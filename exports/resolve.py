"""What the user names -> the file tonehost runs: one resolver for instruments and transcribers.

A user names a model as an index id (``ddsp_violin``, ``onsets_frames_uni``), an http(s) URL, a checkpoint
directory, an exported ``.onnx``, or nothing (the models the project ships). These functions turn that into a
local path, fetching (verified, :mod:`tonehost.exports.checkpoints.download`) and exporting to ONNX once (cached)
when needed. Every failure is a :class:`~tonehost.exports.errors.TonehostError` naming the file and the fix.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from tonehost.exports.errors import ModelError

__all__ = ["INSTRUMENTS", "checkpoint_dir", "instrument_model", "transcriber_model", "music_rnn_checkpoint",
           "MUSIC_RNN_IDS", "transkun_model", "TRANSKUN_INSTALL"]

#: The MusicRNN checkpoints of the index.
MUSIC_RNN_IDS = ("basic_rnn", "melody_rnn", "drum_kit_rnn", "chord_pitches_improv")

#: The DDSP instruments of the index (``ddsp_<name>``); ``violin`` is also shipped with tonehost.
INSTRUMENTS = ("violin", "flute", "trumpet", "tenor_saxophone")


def checkpoint_dir(source: str | os.PathLike, offline: bool = False, progress: bool | None = None) -> Path:
    """A local checkpoint directory for an index id, a URL, a directory or a ``weights_manifest.json``/``model.json``.

    Parameters
    ----------
    source : str or os.PathLike
        A directory, a ``weights_manifest.json``/``model.json``, the name of a shipped layers checkpoint
        (``basic_rnn_folk``, ``mel_2bar_folk``: the folder inside the package), an index id or a URL.
    offline : bool
        Never use the network (a cached copy or an error).
    progress : bool, optional
        Draw a download progress bar (default: when standard error is a terminal).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    CheckpointError
        Unknown id, failed or unverifiable download, offline without a cached copy.
    """
    p = Path(source).expanduser()
    if p.is_dir():
        return p
    if p.is_file() and p.name in ("weights_manifest.json", "model.json"):
        return p.parent
    from tonehost.exports.checkpoints.shipped import shipped_checkpoint

    shipped = shipped_checkpoint(str(source))
    if shipped is not None:
        return shipped
    from tonehost.exports.checkpoints.download import fetch_checkpoint

    show = sys.stderr.isatty() if progress is None else progress
    return fetch_checkpoint(str(source), offline=offline, progress=show)


def transcriber_model(checkpoint: str | os.PathLike | None = None, offline: bool = False) -> Path:
    """The stream-form Onsets and Frames ONNX model for ``checkpoint``.

    Parameters
    ----------
    checkpoint : str or os.PathLike, optional
        ``None``: the shipped ``onsets_frames_small``; a ``.onnx`` (an export of the stream form); otherwise any
        ``source`` of :func:`checkpoint_dir` (exported once with
        :func:`tonehost.exports.convert.onsets_frames.export_checkpoint`, cached).
    offline : bool

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ModelError, CheckpointError
    """
    if checkpoint is not None and str(checkpoint).endswith(".onnx"):
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise ModelError(f"model file {path} not found; export one with `tonehost export onsets-frames "
                             "CHECKPOINT -o MODEL.onnx` or pass a checkpoint id or directory", path)
        return path
    from tonehost.exports.convert.onsets_frames import export_checkpoint

    if checkpoint is None:
        from tonehost.exports.checkpoints.shipped import default_transcriber_dir

        ckpt = default_transcriber_dir()
    else:
        ckpt = checkpoint_dir(checkpoint, offline)
    return export_checkpoint(ckpt)[0]


def instrument_model(instrument: str | None = None, checkpoint: str | os.PathLike | None = None,
                     offline: bool = False) -> Path:
    """The ``.onnx`` DDSP controls model for an instrument name or a checkpoint.

    Parameters
    ----------
    instrument : str, optional
        A name of :data:`INSTRUMENTS` (default ``violin``). One the project ships resolves to the model inside
        the package; any other to the hosted ``ddsp_<name>`` checkpoint.
    checkpoint : str or os.PathLike, optional
        Wins over ``instrument``: a ``.onnx`` in the contract, an index id, a URL or a checkpoint directory
        (``model.json`` + ``settings.json``, or a DDSP-VST ``.tflite``), exported once into
        ``cache_dir("ddsp_onnx")``.
    offline : bool

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ModelError, CheckpointError
        ``instrument`` not one of :data:`INSTRUMENTS` is a :class:`~tonehost.exports.errors.UsageError` listing them
        (``DDSP(instrument="kazoo")`` said "unknown checkpoint id 'ddsp_kazoo'").
    """
    if checkpoint is None and instrument is not None and instrument not in INSTRUMENTS:
        from tonehost.exports.errors import UsageError

        raise UsageError(f"unknown instrument {instrument!r}: one of {', '.join(INSTRUMENTS)} (or your own model "
                         "with checkpoint=DIR|ID|model.onnx)")
    if checkpoint is None:
        from tonehost.exports.checkpoints.shipped import default_instrument_path

        path = default_instrument_path(instrument or "violin")
        if path is not None:
            return path
    if checkpoint is not None and str(checkpoint).endswith(".onnx"):
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise ModelError(f"{path}: no such model file (pass a .onnx exported with `tonehost export ddsp`, a "
                             "checkpoint directory or an id from `tonehost checkpoints list`)", path)
        return path
    from tonehost.exports.convert.ddsp_export import export_ddsp
    from tonehost.exports.paths import cache_dir

    if checkpoint is not None and Path(checkpoint).expanduser().is_file() and str(checkpoint).endswith(".tflite"):
        ckpt = Path(checkpoint).expanduser()
        digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()[:12]
    else:
        ckpt = checkpoint_dir(checkpoint or f"ddsp_{instrument or 'violin'}", offline)
        model_json = ckpt / "model.json"
        digest = hashlib.sha256(model_json.read_bytes()).hexdigest()[:12] if model_json.is_file() else "x"
    out = cache_dir("ddsp_onnx") / f"{ckpt.name}-{digest}.onnx"
    if not out.is_file():
        export_ddsp(ckpt, out)
    return out


def music_rnn_checkpoint(checkpoint: str | os.PathLike | None = None, offline: bool = False) -> Path:
    """The local directory of a MusicRNN checkpoint (its ONNX export is made by
    :func:`tonehost.exports.convert.music_rnn.export_music_rnn`, cached beside it).

    Parameters
    ----------
    checkpoint : str or os.PathLike, optional
        None (the default): the shipped melody model ``basic_rnn_folk``, no network needed; an id of
        :data:`MUSIC_RNN_IDS` (fetched and verified once), an http(s) URL or a checkpoint directory
        (``weights_manifest.json`` + shards + ``config.json``).
    offline : bool

    Returns
    -------
    pathlib.Path

    Raises
    ------
    CheckpointError
        Unknown id, failed download (the hosted files need the network once), offline without a cached copy,
        a directory without ``weights_manifest.json``, or the shipped model missing from the installation.
    """
    from tonehost.exports.convert.export_cache import layers_checkpoint_dir
    from tonehost.exports.errors import CheckpointNotFoundError

    if checkpoint is None:
        from tonehost.exports.checkpoints.shipped import default_music_rnn_dir

        return default_music_rnn_dir()
    return layers_checkpoint_dir(checkpoint_dir(checkpoint, offline), f"pass a MusicRNN checkpoint directory or one "
                                 f"of {', '.join(MUSIC_RNN_IDS)}", CheckpointNotFoundError)


#: How a user gets the Transkun backend (its declared torchaudio dependency would pull another torch build).
TRANSKUN_INSTALL = "pip install 'tonehost[transkun]' && pip install --no-deps transkun==2.0.1"


def transkun_model() -> tuple[Path, Path]:
    """Transkun V2's weights and config, shipped inside the ``transkun`` wheel (``pretrained/2.0.pt``, 56 MB).

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The ``.pt`` checkpoint and its JSON ``.conf``.

    Raises
    ------
    ModelError
        torch or transkun is not installed, or the wheel lacks its weights (the message says how to install).
    """
    import importlib.util

    for mod in ("torch", "transkun"):
        if importlib.util.find_spec(mod) is None:
            raise ModelError(f"--model transkun needs {mod}, which is not installed; {TRANSKUN_INSTALL}")
    folder = Path(importlib.util.find_spec("transkun").origin).parent / "pretrained"
    weights, conf = folder / "2.0.pt", folder / "2.0.conf"
    if not weights.is_file() or not conf.is_file():
        raise ModelError(f"Transkun's weights are missing from {folder}; reinstall: {TRANSKUN_INSTALL}", folder)
    return weights, conf
