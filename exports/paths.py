"""Where tonehost keeps and finds files: the cache, the shipped models, the shared data of the source tree.

One function per place, so every module agrees:

- :func:`cache_dir` -- ``$TONEHOST_CACHE`` or ``$XDG_CACHE_HOME/tonehost`` (``~/.cache/tonehost``), with one
  sub-folder per kind of file (``checkpoints``, ``exports``, ``ddsp_onnx``, ``ddsp_vst``, ``salamander``);
- :data:`SHIPPED_DIR` -- the models trained by the project, installed as package data;
- :func:`shared_dir` -- ``$TONEHOST_SHARED`` or the ``shared/`` folder beside a source checkout (recordings with
  ground truth and the DDSP-VST pitch model used by tests and benches; absent from an installed wheel);
- :func:`atomic_output` -- how every output file is written: through a temporary file beside it, moved into place
  only when complete, with the mode the umask gives (:func:`current_umask`).
"""
from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import tempfile
from pathlib import Path

from tonehost.exports.errors import UsageError

__all__ = ["SHIPPED_DIR", "cache_dir", "shared_dir", "shared_data_dir", "atomic_output", "atomic_leftovers",
           "write_failure", "current_umask"]

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


def current_umask() -> int:
    """The process's umask (read from ``/proc/self/status`` where it is, else set and restored at once)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_PART = ".part"  # atomic_output's temporary files are named .NAME.XXXXXXXX.part


@contextlib.contextmanager
def atomic_output(path):
    """Write ``path`` through a temporary file beside it, moved over ``path`` when the block ends without error.

    The temporary file is ``.NAME.XXXXXXXX.part`` in the target's folder (:func:`atomic_leftovers` finds those a
    killed process left).

    Yields
    ------
    pathlib.Path
        The temporary file to write (it exists, empty, with mode ``0666 & ~umask``); its name does not end in the
        target's extension, so give writers the format explicitly.

    Raises
    ------
    UsageError
        The folder cannot be written or the disk is full (the message names the file), also where the writer
        inside the block fails so: an ``OSError`` of a full disk or quota, or a soundfile error (``render`` and
        ``pitch`` on a full disk ended in a traceback of libsndfile's "System error." or of an ``OSError``).
        On any error, Ctrl-C included, the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=str(path.parent or "."), prefix=f".{path.name}.", suffix=_PART)
        os.fchmod(fd, 0o666 & ~current_umask())
        os.close(fd)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}; pick a writable place", path) from None
    try:
        yield Path(tmp)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}; pick a writable place", path) from None
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        failed = write_failure(exc, path.parent)
        if failed:
            reason, full = failed
            fix = "free some space or pick another place" if full else "pick another place or format"
            raise UsageError(f"cannot write {path}: {reason}; {fix}", path) from None
        raise


#: errno values that only a write gives: the disk, the quota or the file size limit is full.
_FULL_ERRNOS = frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, n))


def write_failure(exc: BaseException, folder) -> tuple[str, bool] | None:
    """What went wrong, when ``exc`` is a write into ``folder`` failing (``None`` otherwise), and whether it was
    for lack of room: an ``OSError`` of a full disk, quota or file size limit (its ``strerror``; full), or an error
    of soundfile's (libsndfile says only "System error." for a failed write(2): taken as room lacking, as the
    disk's free space is named where it ran out).

    Parameters
    ----------
    exc : BaseException
        The exception a writer raised.
    folder : str or os.PathLike
        Where it wrote.

    Returns
    -------
    (str, bool) or None
        The reason, and whether the disk, quota or file size limit was full.
    """
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return exc.strerror or str(exc), True
    if type(exc).__module__.split(".")[0] == "soundfile" and isinstance(exc, Exception):
        said = f"libsndfile: {(str(exc).splitlines() or ['?'])[0]}"
        try:
            full = shutil.disk_usage(folder).free < (1 << 20)
        except OSError:
            full = False
        if full:
            return f"{os.strerror(errno.ENOSPC)} ({said})", True
        return said, "System error" in said  # (SFE_SYSTEM: the operating system refused the write)
    return None


def atomic_leftovers(path) -> list[Path]:
    """The temporary files :func:`atomic_output` made for ``path`` and never removed (its process was killed).

    Parameters
    ----------
    path : str or os.PathLike
        The target file.

    Returns
    -------
    list of pathlib.Path
        ``.NAME.*.part`` files beside ``path``, sorted (empty when its folder does not exist). Only delete them
        once no process is writing ``path``.
    """
    p = Path(path)
    return sorted(p.parent.glob(f".{glob.escape(p.name)}.*{_PART}"))
