"""Magenta's hosted checkpoints: the index, verified downloads, and the models tonehost ships.

The same three actions as ``tonehost checkpoints``::

    from tonehost import checkpoints
    checkpoints.list()                    # [Checkpoint(id='ddsp_violin', model='DDSP', ...), ...]
    checkpoints.info("onsets_frames_uni")  # one entry: urls, mirrors, format, known files
    checkpoints.fetch("ddsp_violin")       # -> Path of the complete, verified directory in the cache
    checkpoints.shipped_models()          # {'basic_rnn_folk': Path(...), ...}: the models that work offline

Modules: :mod:`~tonehost.exports.checkpoints.index` (the 35 hosted checkpoints, the DDSP-VST pitch model and user
index files), :mod:`~tonehost.exports.checkpoints.download` (resumable, verified, atomic fetching with mirrors and
an offline mode), :mod:`~tonehost.exports.checkpoints.shipped` (the models trained by the project).
"""
from __future__ import annotations

import builtins
import os
from pathlib import Path

from tonehost.exports.checkpoints.download import cached_path, default_cache_dir, fetch_checkpoint
from tonehost.exports.checkpoints.index import Checkpoint, FileSpec, all_checkpoints, get_checkpoint

__all__ = ["list", "info", "fetch", "cached", "cache_dir", "shipped_models", "Checkpoint", "FileSpec"]


def list(extra_index=None) -> builtins.list[Checkpoint]:  # noqa: A001 - the CLI's verb
    """Every checkpoint of the index (built-in entries, then ``$TONEHOST_INDEX`` and ``extra_index`` files).

    Parameters
    ----------
    extra_index : str, os.PathLike or list of them, optional
        User index files (JSON lists of ``{id, model, sizeMb, description, url[, mirrors, format, files]}``).

    Returns
    -------
    list of Checkpoint

    Raises
    ------
    CheckpointError
        An index file that is missing or malformed.
    UsageError
        ``extra_index`` is not a file name or a list of them (``list(3)`` was "'int' object is not iterable").
    """
    return builtins.list(all_checkpoints(extra_index).values())


def info(checkpoint_id: str, extra_index=None) -> Checkpoint:
    """The index entry of ``checkpoint_id``.

    Parameters
    ----------
    checkpoint_id : str
        An id of :func:`list` (``onsets_frames_uni``, ``mel_2bar_small``, ...).
    extra_index : str, os.PathLike or list of them, optional
        User index files.

    Returns
    -------
    Checkpoint
        ``id, model, size_mb, description, url``, mirrors, format and known files.

    Raises
    ------
    CheckpointNotFoundError
        Unknown id (the message suggests the nearest ones), or the name of a shipped model (it says so).
    UsageError
        ``checkpoint_id`` is not a string (None, a number).
    """
    from tonehost.exports.checkpoints.shipped import SHIPPED_MODELS
    from tonehost.exports.errors import CheckpointNotFoundError

    try:
        return get_checkpoint(checkpoint_id, extra_index)
    except CheckpointNotFoundError as exc:
        if checkpoint_id not in SHIPPED_MODELS:
            raise
        # (it was "unknown checkpoint id 'basic_rnn_folk'. Did you mean basic_rnn?")
        close = exc.user_message.partition("Did you mean ")[2].partition("?")[0]
        raise CheckpointNotFoundError(f"{checkpoint_id} is shipped with tonehost, not hosted: it needs no download "
                                      "and works offline (checkpoints.shipped_models() says where it is)"
                                      + (f"; hosted ones like it: {close}" if close else "")) from None


def fetch(source: str | os.PathLike, to: str | os.PathLike | None = None, offline: bool = False,
          progress: bool = False, **options) -> Path:
    """Download (or find in the cache) a checkpoint, verified, and return its directory.

    Parameters
    ----------
    source : str or os.PathLike
        An index id, an http(s) URL of a checkpoint directory, or a local checkpoint directory.
    to : str or os.PathLike, optional
        Directory to create instead of the cache entry.
    offline : bool
        Never use the network: the cached copy or an error.
    progress : bool
        Draw a progress bar on standard error.
    **options
        ``cache_dir``, ``extra_index``, ``retries``, ``backoff``, ``timeout``, ``force``
        (:func:`~tonehost.exports.checkpoints.download.fetch_checkpoint`).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    CheckpointError
        Unknown id, 404 everywhere, failure after retries and mirrors, size/hash mismatch, corrupt files, offline
        without a cached copy; the message names the file and the fix.
    UsageError
        ``source``, ``to`` or ``cache_dir`` is not a ``str`` or ``os.PathLike`` (None, a number, bytes); an
        unknown option; ``retries`` outside 0..100, ``backoff`` or ``timeout`` outside 0..3600 s
        (:func:`~tonehost.exports.checkpoints.download.check_fetch_options`).
    """
    known = ("cache_dir", "extra_index", "retries", "backoff", "timeout", "force")
    unknown = sorted(set(options) - set(known))
    if unknown:  # fetch_checkpoint's TypeError ("unexpected keyword argument 'retry'")
        from tonehost.exports.errors import UsageError

        raise UsageError(f"checkpoints.fetch has no option {', '.join(unknown)}; it takes to, offline, progress and "
                         f"{', '.join(known)}")
    return fetch_checkpoint(source, to=to, offline=offline, progress=progress, **options)


def cached(source: str, extra_index=None) -> Path | None:
    """The cached directory of ``source``, or None when it is not (completely) in the cache.

    A download is moved into the cache only once complete and verified; this looks it up without reading or
    hashing its files again (:func:`fetch` does that).

    Parameters
    ----------
    source : str or os.PathLike
        An index id, an http(s) URL or a local checkpoint directory (returned as it is).
    extra_index : str, os.PathLike or list of them, optional
        User index files.

    Returns
    -------
    pathlib.Path or None

    Raises
    ------
    CheckpointNotFoundError
        An unknown id.
    UsageError
        ``source`` is not a ``str`` or ``os.PathLike``.
    """
    return cached_path(source, None, extra_index)


def shipped_models() -> dict[str, Path | None]:
    """The models shipped with tonehost, which work offline (``onsets_frames_small``, ``violin``,
    ``basic_rnn_folk``, ``mel_2bar_folk``: the defaults), and where each is (None: installed without its data).
    :func:`list` holds the hosted ones; :func:`fetch` of a shipped name returns its folder.

    Returns
    -------
    dict of str to pathlib.Path or None
    """
    from tonehost.exports.checkpoints import shipped

    return shipped.shipped_models()


def cache_dir() -> Path:
    """Where checkpoints are cached: ``$TONEHOST_CACHE/checkpoints`` or ``~/.cache/tonehost/checkpoints``."""
    return default_cache_dir()
