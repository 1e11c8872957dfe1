"""Where tonehost keeps and finds files: the cache, the shipped models, the shared data of the source tree.

One function per place, so every module agrees:

- :func:`cache_dir` -- ``$TONEHOST_CACHE`` or ``$XDG_CACHE_HOME/tonehost`` (``~/.cache/tonehost``), with one
  sub-folder per kind of file (``checkpoints``, ``exports``, ``ddsp_onnx``, ``ddsp_vst``, ``salamander``);
- :data:`SHIPPED_DIR` -- the models trained by the project, installed as package data;
- :func:`shared_dir` -- ``$TONEHOST_SHARED`` or the ``shared/`` folder beside a source checkout (recordings with
  ground truth and the DDSP-VST pitch model used by tests and benches; absent from an installed wheel).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SHIPPED_DIR", "cache_dir", "shared_dir", "shared_data_dir"]

#: Models trained by the tonehost project, shipped inside the package (``exports/shipped/``).
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


def cache_dir(kind: str | None = None) -> Path:
    """The tonehost cache folder, or its sub-folder ``kind``.

    Parameters
    ----------
    kind : str, optional
        Sub-folder: ``"checkpoints"`` (downloaded checkpoints and their lock file), ``"exports"`` (ONNX exports of
        Onsets and Frames), ``"ddsp_onnx"``, ``"ddsp_vst"``, ``"salamander"``.

    Returns
    -------
    pathlib.Path
        ``$TONEHOST_CACHE[/kind]`` when ``TONEHOST_CACHE`` is set, else ``$XDG_CACHE_HOME/tonehost[/kind]``
        (``~/.cache/tonehost[/kind]``). Not created.
    """
    env = os.environ.get("TONEHOST_CACHE")
    if env:
        root = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(xdg).expanduser() / "tonehost"
    return root / kind if kind else root


def shared_dir() -> Path:
    """``$TONEHOST_SHARED``, else ``shared/`` beside the source checkout (may not exist)."""
    env = os.environ.get("TONEHOST_SHARED")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "shared"


def shared_data_dir() -> Path:
    """``shared_dir() / "data"``: recordings with ground truth (see ``shared/data/README.md``)."""
    return shared_dir() / "data"
