"""Cache ONNX exports of layers checkpoints: build once, reuse while the checkpoint's files are unchanged.

The same scheme as the Onsets and Frames export (:func:`tonehost.exports.convert.onsets_frames.export_checkpoint`):
the model goes next to the checkpoint (``<checkpoint>/<name>``), or into ``cache_dir("exports")/<fingerprint>/``
when that folder is not writable or is the package's own data, with a ``.json`` beside it holding the
fingerprint. The fingerprint hashes ``weights_manifest.json``, ``config.json``, the shards' names, sizes and
mtimes, the export kind and its version, so a changed checkpoint or a newer exporter rebuilds.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from tonehost.exports.errors import CheckpointError, UsageError
from tonehost.exports.paths import SHIPPED_DIR, atomic_output, cache_dir

__all__ = ["layers_checkpoint_dir", "checkpoint_fingerprint", "cached_export", "cached_derived"]


def layers_checkpoint_dir(checkpoint: str | os.PathLike,
                          fix: str = "pass a checkpoint directory (or an id from `tonehost checkpoints list`)",
                          error: type[CheckpointError] = CheckpointError) -> Path:
    """The folder of a tfjs layers checkpoint, given as the folder or as its ``weights_manifest.json``.

    Parameters
    ----------
    checkpoint : path
        The checkpoint folder or its manifest.
    fix : str
        What the user should pass instead, for the message (names the model family where the caller knows it).
    error : type
        The :class:`CheckpointError` subclass to raise.

    Returns
    -------
    Path
        The folder (holding ``weights_manifest.json``).

    Raises
    ------
    CheckpointError
        (``error``) No ``weights_manifest.json`` there: ``"<folder> has no weights_manifest.json; <fix>"``.
    """
    d = Path(checkpoint)
    if d.is_file() and d.name == "weights_manifest.json":
        d = d.parent
    if not (d / "weights_manifest.json").is_file():
        raise error(f"{d} has no weights_manifest.json; {fix}", d)
    return d


def checkpoint_fingerprint(checkpoint: Path, salt: str = "") -> str:
    """SHA-256 hex of the manifest, config.json, and the shards' names, sizes and mtimes, plus ``salt``."""
    h = hashlib.sha256()
    for name in ("weights_manifest.json", "config.json"):
        f = checkpoint / name
        h.update(f.read_bytes() if f.is_file() else b"-")
    for p in sorted(checkpoint.iterdir()):
        if p.is_file() and p.name.startswith("group"):
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(salt.encode())
    return h.hexdigest()


def cached_export(checkpoint: str | os.PathLike, name: str, build: Callable[[Path], bytes], version: int,
                  output: str | os.PathLike | None = None, force: bool = False) -> tuple[Path, bool]:
    """The ONNX export ``name`` of a checkpoint directory, built by ``build(checkpoint)`` unless cached.

    Parameters
    ----------
    checkpoint : path
        A layers checkpoint directory (or its ``weights_manifest.json``).
    name : str
        File name of the export, e.g. ``tonehost-music-rnn-v1.onnx``.
    build : callable
        ``build(checkpoint_dir) -> bytes`` (a serialized ONNX model).
    version : int
        The exporter's version, part of the fingerprint.
    output : path, optional
        Also copy the model there (and return that path).
    force : bool
        Rebuild even when a cached export matches.

    Returns
    -------
    (Path, bool)
        The model's path and whether a cached export was reused.

    Raises
    ------
    CheckpointError
        No ``weights_manifest.json``, or nowhere writable for the export.
    """
    ckpt = layers_checkpoint_dir(checkpoint)
    fp = checkpoint_fingerprint(ckpt, f"{name}:v{version}")
    candidates = [ckpt / name, cache_dir("exports") / fp[:16] / name]
    if ckpt.resolve().parent == SHIPPED_DIR.resolve() or SHIPPED_DIR.resolve() in ckpt.resolve().parents:
        candidates = candidates[1:]  # never write exports into the package's own data
    cached, reused = None, False
    for c in candidates:
        meta = c.with_suffix(".json")
        if not force and c.is_file() and meta.is_file():
            try:
                if json.loads(meta.read_text()).get("fingerprint") == fp:
                    cached, reused = c, True
                    break
            except (OSError, ValueError):
                pass
    if cached is None:
        t0 = time.perf_counter()
        data = build(ckpt)
        cached = _store_first(candidates, data, {"fingerprint": fp, "export_version": version,
                                                "seconds": round(time.perf_counter() - t0, 3)})
        if cached is None:
            raise CheckpointError(f"cannot write the ONNX export next to {ckpt} nor in {cache_dir('exports')}; "
                                  "set TONEHOST_CACHE to a writable folder", ckpt)
    if output is not None:
        out = Path(output)
        if out.resolve() != cached.resolve():
            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(out) as tmp:
                shutil.copyfile(cached, tmp)
        return out, reused
    return cached, reused


def cached_derived(source: str | os.PathLike, name: str, build: Callable[[Path], bytes], version: int) -> Path:
    """A model derived from one ``.onnx`` file (a sequence or batched variant of a step model), built once.

    Kept in ``cache_dir("exports")/<fingerprint>/<name>`` with a ``.json`` beside it; the fingerprint hashes the
    source file's bytes, ``name`` and ``version``, so a changed model or a newer builder rebuilds. When the cache is
    not writable the model is built into a temporary folder for this process.

    Parameters
    ----------
    source : path
        The model it is derived from.
    name : str
        File name of the derived model.
    build : callable
        ``build(source) -> bytes`` (a serialized ONNX model).
    version : int
        The builder's version, part of the fingerprint.

    Returns
    -------
    Path
        The derived model's path.
    """
    src = Path(source)
    h = hashlib.sha256(src.read_bytes())
    h.update(f"{name}:v{version}".encode())
    fp = h.hexdigest()
    target = cache_dir("exports") / fp[:16] / name
    meta = target.with_suffix(".json")
    if target.is_file() and meta.is_file():
        try:
            if json.loads(meta.read_text()).get("fingerprint") == fp:
                return target
        except (OSError, ValueError):
            pass
    t0 = time.perf_counter()
    data = build(src)
    out = _store_first([target, Path(tempfile.gettempdir()) / f"tonehost-exports-{os.getuid()}" / fp[:16] / name],
                      data, {"fingerprint": fp, "source": str(src), "export_version": version,
                             "seconds": round(time.perf_counter() - t0, 3)})
    if out is not None:
        return out
    raise CheckpointError(f"cannot write {name} (derived from {src}) into {cache_dir('exports')}; set "
                          "TONEHOST_CACHE to a writable folder", src)


def _store_first(candidates: list[Path], data: bytes, meta: dict) -> Path | None:
    """Write ``data`` to the first of ``candidates`` that can be written, with ``meta`` as JSON beside it.

    Both files go through :func:`tonehost.exports.paths.atomic_output` (a temporary file beside the target,
    moved into place when complete, mode ``0666 & ~umask``): a reader sees the old export or the new one, and a
    failure (full disk, read-only folder) leaves no temporary file and moves on to the next candidate.

    Parameters
    ----------
    candidates : list of Path
        Target files, best first; missing folders are created.
    data : bytes
        The model (a serialized ONNX model).
    meta : dict
        Written as JSON to ``<target>.json`` (``target.with_suffix(".json")``) after the model is in place.

    Returns
    -------
    Path or None
        The target written, or None when none could be.
    """
    for c in candidates:
        try:
            c.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(c) as tmp:
                tmp.write_bytes(data)
            with atomic_output(c.with_suffix(".json")) as tmp:
                tmp.write_text(json.dumps(meta))
            return c
        except (OSError, UsageError):
            continue
    return None
