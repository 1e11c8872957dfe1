"""Fetch hosted checkpoints onto disk: complete, verified, resumable, atomic, with mirrors and an offline mode.

``fetch_checkpoint(source)`` takes an index id, an http(s) URL of a checkpoint directory, or a local directory,
and returns the path of a complete checkpoint directory:

- layers checkpoints: ``weights_manifest.json``, every shard of every group, ``config.json`` when there is one;
- graph checkpoints: ``model.json``, its shards, ``settings.json``;
- ``files`` entries (the DDSP-VST pitch model): exactly the listed files.

Files go into ``.<name>.partial/`` next to the destination (``name.part`` while incomplete, resumed with HTTP
``Range``); sizes and SHA-256 are checked against the index and the lock file, the checkpoint is decoded once
to prove it loads, and only then is the directory renamed into place. So a directory in the cache is always
complete and verified, and an interrupted or failed download leaves nothing that loads. Transient errors (dropped
connections, 5xx, timeouts) are retried with exponential backoff; a 404, or a file failing verification, moves
on to the next mirror. The first verified download records every file's size and SHA-256 in
``checkpoints.lock.json`` in the cache; every later fetch (including cache hits, i.e. every load) checks them.

The cache is ``$TONEHOST_CACHE/checkpoints`` when ``TONEHOST_CACHE`` is set (the tonehost cache root, as in
:mod:`tonehost.exports.convert.pitch_model`), else ``$XDG_CACHE_HOME/tonehost/checkpoints`` (``~/.cache/tonehost/checkpoints``).
``TONEHOST_OFFLINE=1`` forbids network access.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from tonehost.exports.paths import atomic_output, cache_dir
from tonehost.exports.errors import (CheckpointDownloadError, CheckpointError, CheckpointFormatError, CheckpointIntegrityError,
                     CheckpointNotFoundError, CheckpointOfflineError, DownloadRetryWarning, UsageError)
from tonehost.exports.checkpoints.index import Checkpoint, FileSpec, get_checkpoint
from tonehost.exports.tfjs.manifest import (CONFIG_NAME, MANIFEST_NAME, check_relative_path, parse_manifest,
                            parse_manifest_json)

MODEL_JSON = "model.json"
SETTINGS_JSON = "settings.json"
LOCK_NAME = "checkpoints.lock.json"
CHUNK = 64 * 1024
FULL_DECODE_LIMIT = 512 * 2**20  # decode checkpoints up to this size after download (NaN/inf, dtype checks)
USER_AGENT = "tonehost-checkpoints/0.1"


def default_cache_dir() -> Path:
    """The checkpoint cache: ``cache_dir("checkpoints")`` (:func:`tonehost.exports.paths.cache_dir`)."""
    return cache_dir("checkpoints")


#: The longest pause between two tries of a download (seconds): the backoff doubles up to it (``--retries 100``
#: used to sleep 0.5 * 2**99 s, i.e. forever, after its 60th failure).
MAX_BACKOFF_S = 30.0

# ------------------------------------------------------------------------------------------------ sources

@dataclass
class Source:
    """What to fetch: lock key, directory name, base URLs (or a local directory) and what is known of it."""

    key: str
    name: str
    urls: list[str]
    local: Path | None = None
    format: str | None = None  # None: detect (weights_manifest.json, else model.json)
    files: dict[str, FileSpec] = field(default_factory=dict)
    entry: Checkpoint | None = None
    subdir: str = ""  # under the cache dir


def _slug(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    tail = [p for p in parsed.path.split("/") if p][-1:] or [parsed.netloc or "checkpoint"]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", tail[0]).strip("._") or "checkpoint"
    return f"{name}-{hashlib.sha256(url.encode()).hexdigest()[:10]}"


def _quote_url(url: str) -> str:
    """``url`` with its path percent-encoded (a space in a folder name made urllib refuse the URL as holding
    control characters, retried 4 times as a network error); an already encoded path is left as it is."""
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.quote(parts.path, safe="/%~:@!$&'()*+,;=-._")
    return urllib.parse.urlunsplit(parts._replace(path=path))


def _holds_checkpoint(path: Path) -> bool:
    """Whether a local folder holds a checkpoint: a tfjs manifest or graph, or a model file (DDSP-VST's
    ``.tflite``, an ``.onnx``). ``checkpoints fetch ""`` or ``fetch ~`` used to return (or, with ``--to``, copy)
    any folder at all."""
    if (path / MANIFEST_NAME).is_file() or (path / MODEL_JSON).is_file():
        return True
    try:
        return any(c.suffix in (".tflite", ".onnx") and c.is_file() for c in path.iterdir())
    except OSError:
        return False


def resolve_source(source: str | os.PathLike, extra_index=None) -> Source:
    """Turn an id, URL or directory into a :class:`Source`.

    Raises
    ------
    CheckpointNotFoundError
        When ``source`` is neither a known id, an http(s)/file URL, nor an existing directory.
    UsageError
        ``source`` is not a ``str`` or ``os.PathLike`` (:func:`~tonehost.exports.checkpoints.index.check_source`).
    """
    from tonehost.exports.checkpoints.index import check_source

    s = os.fspath(check_source(source))
    if not str(s).strip():
        raise CheckpointNotFoundError("the checkpoint source is empty; give an index id (`tonehost checkpoints "
                                      "list`), an http(s) URL or a checkpoint directory", s)
    if s.startswith(("http://", "https://")):
        url = _quote_url(s.strip().rstrip("/"))
        return Source(key=url, name=_slug(url), urls=[url], subdir="url")
    if s.startswith("file://"):
        s = urllib.parse.unquote(urllib.parse.urlsplit(s).path)
    p = Path(s).expanduser()
    if "/" not in s and not s.startswith("~"):
        from tonehost.exports.checkpoints.index import all_checkpoints
        if s in all_checkpoints(extra_index):  # an id wins over a same-named folder in the working directory
            p = Path("/nonexistent-tonehost-id-path")
    if p.exists():  # a folder, or a file given where a folder is wanted ("mono.mid" was an "unknown checkpoint id")
        if not p.is_dir():
            raise CheckpointNotFoundError(f"{p} is a file; a checkpoint source is a directory (the folder with "
                                          "weights_manifest.json or model.json), an id or a URL", p)
        p = p.resolve()
        if not _holds_checkpoint(p):
            raise CheckpointNotFoundError(f"{p} holds no checkpoint (no {MANIFEST_NAME}, {MODEL_JSON}, .tflite or "
                                          ".onnx); give the checkpoint's own folder, an id or a URL", p)
        return Source(key=p.as_uri(), name=p.name, urls=[p.as_uri()], local=p)
    if "/" in s:
        raise CheckpointNotFoundError(f"checkpoint source {s!r} is not an id, an http(s) URL or an existing "
                                      "directory", s)
    entry = get_checkpoint(s, extra_index)
    return Source(key=entry.id, name=entry.id, urls=entry.urls, format=entry.format,
                  files={f.name: f for f in entry.files}, entry=entry)


# ------------------------------------------------------------------------------------------------ lock file

class LockFile:
    """``checkpoints.lock.json``: per source key, the size and SHA-256 of every file of its first verified
    download. Written atomically under an advisory lock."""

    def __init__(self, cache_dir: Path):
        self.path = Path(cache_dir) / LOCK_NAME

    def read(self) -> dict:
        """Every record: ``{key: {"files": {name: {"size", "sha256"}}, "recorded": iso_time}}`` ({} if none).

        Raises
        ------
        CheckpointFormatError
            The lock file exists but is not JSON.
        """
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointFormatError(f"lock file {self.path} is unreadable ({exc}); fix or delete it (its "
                                        "hashes are then recorded again on the next download)", self.path) from None
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> dict | None:
        """The record of source ``key``, or None."""
        return self.read().get(key)

    def record(self, key: str, record: dict) -> None:
        """Store ``record`` under ``key`` (read-modify-write under an advisory lock, then an atomic rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _flock(self.path.with_name(LOCK_NAME + ".lck")):
            data = self.read()
            data[key] = record
            try:  # no temporary file left and the old lock file kept on any failure
                with atomic_output(self.path) as tmp:
                    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            except OSError as exc:
                raise _disk_error(self.path, exc) from None
            except UsageError as exc:  # the temporary file could not be made or moved into place
                raise CheckpointDownloadError(exc.user_message, self.path) from None


@contextlib.contextmanager
def _flock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ transport

class _Missing(Exception):
    """The file is not at this base URL (404/410/403, or no such local file)."""


class _Transient(Exception):
    """A failure worth retrying (network error, dropped connection, 5xx, 429, timeout)."""


#: getaddrinfo's "no such host" codes (not EAI_AGAIN, "temporary failure in name resolution", which is retried).
_NO_SUCH_HOST = frozenset(getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY")
                          if hasattr(socket, n))


class _Unreachable(_Transient):
    """The server's host name does not resolve (no network, no DNS, a typo): retrying the same host only waits
    (8-15 s of retries before the one error, on a machine without a network); the next mirror is still tried."""


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + urllib.parse.quote(name)


class Transport:
    """Reads ``base/name`` from http(s) or file URLs, from a byte offset (for resuming)."""

    def __init__(self, timeout: float = 30.0):
        self.timeout = timeout

    @contextlib.contextmanager
    def open(self, url: str, start: int = 0):
        """Yield ``(chunks, first_byte, total)``: an iterator of byte chunks beginning at ``first_byte`` (0 or
        ``start``) and the file's full size when known."""
        if url.startswith("file://"):
            path = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
            if not path.is_file():
                raise _Missing(f"no file {path}")
            with open(path, "rb") as f:
                total = path.stat().st_size
                f.seek(min(start, total))
                yield iter(lambda: f.read(CHUNK), b""), min(start, total), total
            return
        headers = {"User-Agent": USER_AGENT}
        if start:
            headers["Range"] = f"bytes={start}-"
        req = urllib.request.Request(url, headers=headers)
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (404, 410, 403):
                raise _Missing(f"HTTP {exc.code} for {url}") from None
            if exc.code == 416 and start:
                raise _Transient("HTTP 416 (range not satisfiable)") from None
            if exc.code >= 500 or exc.code in (408, 429):
                raise _Transient(f"HTTP {exc.code} for {url}") from None
            raise _Missing(f"HTTP {exc.code} for {url}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, socket.gaierror) and reason.errno in _NO_SUCH_HOST:
                host = urllib.parse.urlsplit(url).hostname
                raise _Unreachable(f"the host name {host} was not found ({reason.strerror}; no network or DNS "
                                   "here?)") from None
            raise _Transient(f"{exc.__class__.__name__}: {reason}") from None
        with resp:
            first, total = 0, None
            length = resp.headers.get("Content-Length")
            if resp.status == 206:
                m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
                if not m:
                    raise _Transient("206 response without a valid Content-Range")
                first = int(m.group(1))
                total = int(m.group(3)) if m.group(3) != "*" else None
            elif length is not None and length.isdigit():
                total = int(length)

            def chunks():
                try:
                    for block in iter(lambda: resp.read(CHUNK), b""):
                        yield block
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(f"connection dropped ({exc.__class__.__name__})") from None

            yield chunks(), first, total


# ------------------------------------------------------------------------------------------------ downloader

class _Progress:
    def __init__(self, enabled: bool, desc: str):
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                            leave=False, dynamic_ncols=True)

    def add_total(self, n: int) -> None:
        if self.bar is not None:
            self.bar.total = (self.bar.total or 0) + n
            self.bar.refresh()

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class _Expect:
    size: int | None = None
    sha256: str | None = None
    origin: str = ""


class Downloader:
    """Downloads the files of one checkpoint into a work directory, verifying each one."""

    def __init__(self, source: Source, work: Path, expected: dict[str, _Expect], *, retries: int, backoff: float,
                 timeout: float, progress: _Progress, max_resumes: int = 50):
        self.source, self.work, self.expected = source, work, expected
        self.retries, self.backoff, self.max_resumes = retries, backoff, max_resumes
        self.transport = Transport(timeout)
        self.progress = progress
        self.hashes: dict[str, tuple[int, str]] = {}
        self._counted: set[str] = set()  # files whose size is in the progress bar's total

    # one file from one base URL, resuming a .part file
    def _download_from(self, base: str, name: str, part: Path) -> None:
        url = _join(base, name)
        failures, resumes, last = 0, 0, ""
        while True:
            have = part.stat().st_size if part.exists() else 0
            exp = self.expected.get(name)
            if exp and exp.size is not None and have > exp.size:
                part.unlink()
                have = 0
            if exp and exp.size is not None and have == exp.size and have > 0:
                return
            got_bytes = 0
            try:
                with self.transport.open(url, have) as (chunks, first, total):
                    mode = "ab" if (first == have and have) else "wb"
                    if total is not None and name not in self._counted:
                        self._counted.add(name)
                        self.progress.add_total(total)
                        if mode == "ab":
                            self.progress.update(have)  # the part kept from an earlier run
                    with open(part, mode) as f:
                        for block in chunks:
                            f.write(block)
                            got_bytes += len(block)
                            self.progress.update(len(block))
                        f.flush()
                        os.fsync(f.fileno())
                    size = part.stat().st_size
                    if total is not None and size < total:
                        raise _Transient(f"connection closed after {size} of {total} bytes")
                    if total is not None and size > total:
                        part.unlink()
                        raise _Transient(f"server sent {size} bytes, more than its {total}")
                    return
            except _Transient as exc:
                last = str(exc)
                if isinstance(exc, _Unreachable):
                    raise
                if got_bytes > 0 and resumes < self.max_resumes:
                    resumes += 1  # progress was made: resume at once, without counting a failure
                    continue
                if "416" in last and part.exists():
                    part.unlink()
                failures += 1
                if failures > self.retries:
                    raise _Transient(f"{last} (after {self.retries} retries)") from None
                pause = min(self.backoff * (2 ** min(failures - 1, 30)), MAX_BACKOFF_S)
                warnings.warn(f"{url}: {last}; retry {failures} of {self.retries} in {pause:g} s",
                              DownloadRetryWarning, stacklevel=2)
                time.sleep(pause)

    def _verify(self, name: str, path: Path) -> tuple[int, str]:
        size = path.stat().st_size
        digest = sha256_file(path)
        exp = self.expected.get(name)
        if exp and exp.size is not None and size != exp.size:
            raise CheckpointIntegrityError(
                f"{name} of {self.source.key}: {size} bytes, expected {exp.size} ({exp.origin})", name)
        if exp and exp.sha256 and digest != exp.sha256:
            raise CheckpointIntegrityError(
                f"{name} of {self.source.key}: sha256 {digest}, expected {exp.sha256} ({exp.origin})", name)
        return size, digest

    def fetch(self, name: str, optional: bool = False) -> Path | None:
        """Download ``name`` (trying every base URL) into the work dir; return its path, or None when optional
        and absent everywhere. Raises CheckpointError naming the file when it cannot be had."""
        check_relative_path(name, self.source.key)
        final = self.work / name
        final.parent.mkdir(parents=True, exist_ok=True)
        part = final.with_name(final.name + ".part")
        if final.exists():  # complete from an earlier, interrupted run
            try:
                self.hashes[name] = self._verify(name, final)
                return final
            except CheckpointIntegrityError:
                final.unlink()
        exp = self.expected.get(name)
        if exp and exp.size:
            self.progress.add_total(exp.size)
            self._counted.add(name)
        problems: list[str] = []
        missing = 0
        for base in self.source.urls:
            for attempt in range(2):
                resumed = part.exists() and part.stat().st_size > 0
                try:
                    self._download_from(base, name, part)
                    self.hashes[name] = self._verify(name, part)
                    os.replace(part, final)
                    return final
                except _Missing as exc:
                    missing += 1
                    problems.append(f"{base}: {exc}")
                    break
                except _Transient as exc:
                    problems.append(f"{base}: {exc}")
                    break
                except CheckpointIntegrityError as exc:
                    problems.append(f"{base}: {exc}")
                    part.unlink(missing_ok=True)
                    if not resumed:  # a resumed file may mix two versions: try once more from scratch
                        break
        url0 = _join(self.source.urls[0], name)
        if missing == len(self.source.urls):
            if optional:
                return None
            raise CheckpointNotFoundError(
                f"{name} of checkpoint {self.source.key} is missing on every server ({url0} and "
                f"{len(self.source.urls) - 1} mirror(s)): is the URL right? ({'; '.join(problems)})", url0)
        if any("sha256" in p or "bytes, expected" in p for p in problems):
            raise CheckpointIntegrityError(
                f"{name} of checkpoint {self.source.key} failed verification on every server: "
                f"{'; '.join(problems)}. Nothing was installed; if the checkpoint really changed upstream, "
                f"remove its entry from {LOCK_NAME} in the cache and fetch again", url0)
        raise CheckpointDownloadError(
            f"could not download {name} of checkpoint {self.source.key}: {'; '.join(problems)}. Check the "
            "network and run the same fetch again: finished files and partial ones are kept and resumed", url0)


def _read_json(path: Path) -> object:
    return parse_manifest_json(path.read_bytes(), str(path))


def _plan_and_download(dl: Downloader, fmt: str | None) -> tuple[str, list[str]]:
    """Download the entry file, derive every other file from it, download those; return (format, files)."""
    src = dl.source
    names: list[str] = []
    if fmt == "files":
        for name in src.files:
            dl.fetch(name)
            names.append(name)
        return fmt, names
    if fmt in (None, "layers"):
        got = dl.fetch(MANIFEST_NAME, optional=(fmt is None))
        if got is not None:
            fmt = "layers"
            manifest = _read_json(got)
            shard_paths = [p for paths, _ in parse_manifest(manifest, str(got)) for p in paths]
            names.append(MANIFEST_NAME)
            optional_extra = [(CONFIG_NAME, CONFIG_NAME not in src.files)]
        elif fmt is None:
            fmt = "graph"
    if fmt == "graph":
        got = dl.fetch(MODEL_JSON)
        model = _read_json(got)
        if not isinstance(model, dict) or "weightsManifest" not in model:
            raise CheckpointFormatError(f"{got}: model.json has no 'weightsManifest'; the source is not a "
                                        "TensorFlow.js graph model", got)
        shard_paths = [p for paths, _ in parse_manifest(model["weightsManifest"], str(got)) for p in paths]
        names.append(MODEL_JSON)
        optional_extra = [(SETTINGS_JSON, SETTINGS_JSON not in src.files)]
    for p in shard_paths:
        dl.fetch(p)
        names.append(p)
    for extra, optional in optional_extra:
        if dl.fetch(extra, optional=optional) is not None:
            names.append(extra)
    for extra in src.files:  # any other file the index lists
        if extra not in names:
            dl.fetch(extra)
            names.append(extra)
    return fmt, names


def check_checkpoint_dir(path: Path, fmt: str, decode: bool = True) -> None:
    """Prove that a checkpoint directory loads: shard sizes match the manifest, and (``decode``) every weight
    decodes to finite values. Raises CheckpointError naming the file."""
    if fmt == "files":
        return
    from tonehost.exports.tfjs.graph import read_graph_model
    from tonehost.exports.tfjs.manifest import read_layers_checkpoint
    if fmt == "layers":
        manifest_file = path / MANIFEST_NAME
        manifest = _read_json(manifest_file)
    else:
        manifest_file = path / MODEL_JSON
        model = _read_json(manifest_file)
        manifest = model.get("weightsManifest") if isinstance(model, dict) else None
    groups = parse_manifest(manifest, str(manifest_file))
    for gi, (paths, specs) in enumerate(groups):
        have = sum((path / p).stat().st_size for p in paths if (path / p).exists())
        need = sum(s.nbytes for s in specs)
        missing = [p for p in paths if not (path / p).exists()]
        if missing:
            raise CheckpointNotFoundError(f"{path}: shard {missing[0]} listed in {manifest_file.name} is missing",
                                          path / missing[0])
        if have != need:
            raise CheckpointFormatError(f"{manifest_file}: group {gi + 1} shards hold {have} bytes but its weights "
                                        f"need {need}: a shard is truncated or does not belong to this manifest",
                                        manifest_file)
    if decode:
        (read_layers_checkpoint if fmt == "layers" else read_graph_model)(path)


def _detect_format(path: Path) -> str:
    if (path / MANIFEST_NAME).exists():
        return "layers"
    if (path / MODEL_JSON).exists():
        return "graph"
    return "files"


def verify_checkpoint(path: str | os.PathLike, record: dict | None, *, key: str = "",
                      decode: bool = False) -> None:
    """Check a checkpoint directory against its lock record (every file present, same size, same SHA-256) and
    that its shards match its manifest.

    Raises
    ------
    CheckpointIntegrityError
        A file differs from the lock file (the message names it and the fix).
    """
    path = Path(path)
    if record:
        for name, spec in record.get("files", {}).items():
            f = path / name
            if not f.is_file():
                raise CheckpointIntegrityError(f"{f} is missing from the cached checkpoint {key}; delete {path} and "
                                               "fetch it again", f)
            size = f.stat().st_size
            if size != spec.get("size"):
                raise CheckpointIntegrityError(f"{f} has {size} bytes but {LOCK_NAME} recorded {spec.get('size')}; "
                                               f"the cached file is damaged: delete {path} and fetch it again", f)
            digest = sha256_file(f)
            if digest != spec.get("sha256"):
                raise CheckpointIntegrityError(f"{f} has sha256 {digest} but {LOCK_NAME} recorded "
                                               f"{spec.get('sha256')}; the cached file is damaged or was replaced: "
                                               f"delete {path} and fetch it again", f)
    fmt = (record or {}).get("format") or _detect_format(path)
    check_checkpoint_dir(path, fmt, decode=decode)


def _expected_for(source: Source, lock_record: dict | None) -> dict[str, _Expect]:
    out: dict[str, _Expect] = {}
    for name, f in source.files.items():
        out[name] = _Expect(f.size, f.sha256, "tonehost's index")
    if lock_record:
        for name, spec in lock_record.get("files", {}).items():
            e = out.setdefault(name, _Expect(origin=f"{LOCK_NAME}"))
            if e.size is None:
                e.size = spec.get("size")
            if e.sha256 is None:
                e.sha256 = spec.get("sha256")
            if not e.origin:
                e.origin = LOCK_NAME
            elif "lock" not in e.origin:
                e.origin += f" and {LOCK_NAME}"
    return out


def _copy_or_download(source: Source, dest: Path, lock: LockFile, *, retries: int, backoff: float,
                      timeout: float, progress: bool) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.name}.partial"
    with _flock(dest.parent / f".{dest.name}.lock"):
        record = lock.get(source.key)
        if dest.exists():  # another process finished it while we waited
            verify_checkpoint(dest, record, key=source.key)
            return dest
        work.mkdir(parents=True, exist_ok=True)
        bar = _Progress(progress, source.name)
        try:
            dl = Downloader(source, work, _expected_for(source, record), retries=retries, backoff=backoff,
                            timeout=timeout, progress=bar)
            fmt, names = _plan_and_download(dl, source.format)
            total = sum(dl.hashes[n][0] for n in names)
            check_checkpoint_dir(work, fmt, decode=total <= FULL_DECODE_LIMIT)
        except (CheckpointFormatError, CheckpointIntegrityError):
            # complete files that do not make a valid checkpoint: keeping them would only fail again
            shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            bar.close()
        for stray in work.rglob("*.part"):
            stray.unlink()
        new_record = {"url": source.urls[0], "format": fmt,
                      "files": {n: {"size": dl.hashes[n][0], "sha256": dl.hashes[n][1]} for n in names},
                      "recorded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        if record:
            extra = set(record.get("files", {})) ^ set(names)
            if extra:
                shutil.rmtree(work, ignore_errors=True)
                raise CheckpointIntegrityError(
                    f"checkpoint {source.key} now has files {sorted(set(names))} but {LOCK_NAME} recorded "
                    f"{sorted(record.get('files', {}))}; if it changed upstream on purpose, remove its entry from "
                    f"{lock.path} and fetch again", source.key)
        else:
            lock.record(source.key, new_record)
        os.rename(work, dest)
        with contextlib.suppress(OSError):
            (dest.parent / f".{dest.name}.lock").unlink()
        return dest


def fetch_checkpoint(source: str | os.PathLike, to: str | os.PathLike | None = None,
                     cache_dir: str | os.PathLike | None = None, offline: bool = False, progress: bool = True,
                     *, extra_index=None, retries: int = 4, backoff: float = 0.5, timeout: float = 30.0,
                     force: bool = False) -> Path:
    """Get a checkpoint onto disk, complete and verified, and return its directory.

    Parameters
    ----------
    source : str or Path
        An index id (``tonehost checkpoints list``), an http(s) URL of a checkpoint directory, or a local
        checkpoint directory.
    to : str or Path, optional
        The checkpoint directory to create (default: ``<cache>/<id>``, ``<cache>/url/<name-hash>``; a local
        directory is used in place).
    cache_dir : str or Path, optional
        Cache directory (default :func:`default_cache_dir`); holds the lock file.
    offline : bool
        Never touch the network (also ``TONEHOST_OFFLINE=1``): return the cached copy or raise.
    progress : bool
        Show a progress bar on stderr.
    extra_index : path or list of paths, optional
        User index files (besides ``$TONEHOST_INDEX``).
    retries, backoff, timeout :
        Retries per file and server for transient errors, first backoff in seconds (doubling), socket timeout.
    force : bool
        Re-download even if the destination exists (it is replaced only once the new copy is verified).

    Returns
    -------
    Path
        The checkpoint directory.

    Raises
    ------
    CheckpointError
        With a message naming the file: unknown id, missing file (404 everywhere), download failure after
        retries and mirrors, size/hash mismatch, corrupt manifest, offline without a cached copy, a disk that
        cannot take the files (full, read-only: :class:`CheckpointDownloadError`).
    UsageError
        An argument of the wrong kind or range (:func:`check_fetch_options`), before anything is fetched.
    """
    check_fetch_options(source, to=to, cache_dir=cache_dir, extra_index=extra_index, retries=retries,
                        backoff=backoff, timeout=timeout)
    from tonehost.exports.checkpoints.shipped import SHIPPED_MODELS, shipped_models
    if isinstance(source, str) and source in SHIPPED_MODELS and to is None:  # on disk, complete: its folder
        path = shipped_models()[source]
        if path is not None:
            return path
    try:
        return _fetch_checkpoint(source, to, cache_dir, offline, progress, extra_index=extra_index,
                                 retries=retries, backoff=backoff, timeout=timeout, force=force)
    except CheckpointError:
        raise
    except OSError as exc:  # the network's errors are CheckpointErrors by now: this is the local disk
        raise _disk_error(exc.filename or to or cache_dir or default_cache_dir(), exc) from None


#: The most retries per file and server (``tonehost checkpoints fetch --retries`` 0..100).
MAX_RETRIES = 100


def check_fetch_options(source, *, to=None, cache_dir=None, extra_index=None, retries=4, backoff=0.5,
                        timeout=30.0) -> None:
    """Refuse what :func:`fetch_checkpoint` cannot use, with one UsageError naming the argument.

    ``retries=10**9`` retried for ever, ``retries="x"`` was a TypeError from a comparison, ``timeout=-1`` the
    socket's ValueError, ``backoff=-1`` time.sleep's, ``to=3`` or ``cache_dir=3`` pathlib's TypeError.

    Raises
    ------
    UsageError
        ``source``, ``to``, ``cache_dir`` or ``extra_index`` not a file name (``str`` or ``os.PathLike``;
        ``extra_index`` also a list of them); ``retries`` not a whole number 0 .. :data:`MAX_RETRIES`;
        ``backoff`` not 0 .. 3600 s; ``timeout`` not more than 0 and at most 3600 s.
    """
    import math
    import numbers

    from tonehost.dsp._checks import check_int
    from tonehost.exports.checkpoints.index import check_source, check_index_argument

    check_source(source)
    for name, value in (("to", to), ("cache_dir", cache_dir)):
        if value is not None and not (isinstance(value, (str, os.PathLike)) and
                                      not isinstance(os.fspath(value), bytes)):
            raise UsageError(f"{name} must be a folder name (str or pathlib.Path), got {type(value).__name__} "
                             f"{value!r:.40}")
    check_index_argument(extra_index)
    try:
        check_int("retries", retries, 0, MAX_RETRIES)
    except ValueError as exc:
        raise UsageError(f"{exc} (retries per file and server)") from None

    def seconds(name, value, lo_open):
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and \
            (value > 0 if lo_open else value >= 0) and value <= 3600
        if not ok:
            raise UsageError(f"{name} must be {'more than' if lo_open else 'at least'} 0 and at most 3600 seconds, "
                             f"got {value!r:.40}")

    seconds("backoff", backoff, False)
    seconds("timeout", timeout, True)


def _disk_error(where, exc: OSError) -> CheckpointDownloadError:
    """The error for a local disk that cannot take a checkpoint's files (full, read-only), naming ``where``."""
    return CheckpointDownloadError(
        f"cannot write {where}: {exc.strerror or exc}; free some space or fetch into another folder (--to DIR "
        "or $TONEHOST_CACHE); what was downloaded is kept and resumed", where)


def _fetch_checkpoint(source, to, cache_dir, offline, progress, *, extra_index, retries, backoff, timeout,
                      force) -> Path:
    src = resolve_source(source, extra_index)
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    lock = LockFile(cache)
    offline = offline or os.environ.get("TONEHOST_OFFLINE", "") not in ("", "0")
    if src.local is not None and to is None:
        check_checkpoint_dir(src.local, _detect_format(src.local), decode=False)
        return src.local
    dest = Path(to).expanduser() if to else cache / src.subdir / src.name
    if dest.is_dir() and not any(dest.iterdir()):
        dest.rmdir()  # an empty directory (e.g. made for --to) is no checkpoint: fill it
    if dest.exists() and not force:
        if not dest.is_dir():
            raise CheckpointError(f"{dest} exists and is not a directory; choose another --to", dest)
        record = lock.get(src.key)
        if record is None and to is not None and any(dest.iterdir()):
            raise CheckpointError(f"{dest} already exists and is not a checkpoint fetched from {src.key}; choose "
                                  "another --to or delete it", dest)
        verify_checkpoint(dest, record, key=src.key)
        if record is None:
            fmt = _detect_format(dest)
            files = [p for p in dest.rglob("*") if p.is_file()]
            lock.record(src.key, {"url": src.urls[0], "format": fmt,
                                  "files": {p.relative_to(dest).as_posix(): {"size": p.stat().st_size,
                                                                             "sha256": sha256_file(p)}
                                            for p in files},
                                  "recorded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
        return dest
    if offline and src.local is None:
        raise CheckpointOfflineError(
            f"checkpoint {src.key} is not in the cache ({dest}) and offline mode is on; run `tonehost "
            f"checkpoints fetch {source}` with network access first", dest)
    if force and dest.exists():
        tmp_dest = dest.parent / f".{dest.name}.new"
        if tmp_dest.exists():
            shutil.rmtree(tmp_dest)
        _copy_or_download(src, tmp_dest, lock, retries=retries, backoff=backoff, timeout=timeout,
                          progress=progress)
        old = dest.parent / f".{dest.name}.old"
        if old.exists():
            shutil.rmtree(old)
        os.rename(dest, old)
        os.rename(tmp_dest, dest)
        shutil.rmtree(old, ignore_errors=True)
        return dest
    return _copy_or_download(src, dest, lock, retries=retries, backoff=backoff, timeout=timeout,
                             progress=progress)


def cached_path(source: str, cache_dir: str | os.PathLike | None = None, extra_index=None) -> Path | None:
    """The cached checkpoint directory of ``source`` if it is there (not verified), else None."""
    src = resolve_source(source, extra_index)
    if src.local is not None:
        return src.local
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    dest = cache / src.subdir / src.name
    return dest if dest.is_dir() else None


__all__ = ["fetch_checkpoint", "check_fetch_options", "MAX_RETRIES", "default_cache_dir", "resolve_source", "verify_checkpoint", "cached_path",
           "check_checkpoint_dir", "LockFile", "sha256_file", "LOCK_NAME"]
