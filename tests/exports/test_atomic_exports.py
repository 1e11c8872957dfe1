"""The export cache, the lock file and the model writers write through exports.paths.atomic_output: the mode the
umask gives, the old file kept and no temporary file left on a failure (a full disk is simulated)."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from tonehost.exports.checkpoints.download import LOCK_NAME, LockFile
from tonehost.exports.convert.export_cache import cached_derived, cached_export
from tonehost.exports.errors import CheckpointDownloadError, CheckpointError

DATA = b"an onnx model"


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def ckpt(tmp_path, monkeypatch):
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "weights_manifest.json").write_text("[]")
    return d


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith((".part", ".tmp"))]


def _full_disk_for(monkeypatch, victim: Path):
    """Make writing a temporary file of ``victim`` fail with ENOSPC (once the file exists, as a real full disk)."""
    real = Path.write_bytes

    def write_bytes(self, data):
        if self.parent == victim.parent and self.name.startswith(f".{victim.name}."):
            real(self, data[:3])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def test_cached_export_has_the_umask_mode_and_no_temporaries(ckpt, umask022, tmp_path):
    path, reused = cached_export(ckpt, "m.onnx", lambda d: DATA, 1)
    assert path == ckpt / "m.onnx" and not reused and path.read_bytes() == DATA
    assert path.stat().st_mode & 0o777 == 0o644  # mkstemp's 0600 before
    assert path.with_suffix(".json").stat().st_mode & 0o777 == 0o644
    assert json.loads(path.with_suffix(".json").read_text())["export_version"] == 1
    out, reused = cached_export(ckpt, "m.onnx", lambda d: b"not rebuilt", 1, output=tmp_path / "copy.onnx")
    assert reused and out.read_bytes() == DATA and out.stat().st_mode & 0o777 == 0o644
    assert not _leftovers(tmp_path)


def test_a_full_disk_beside_the_checkpoint_falls_back_to_the_cache_leaving_nothing(ckpt, monkeypatch, tmp_path):
    (ckpt / "m.onnx").write_bytes(b"old export, another fingerprint")
    _full_disk_for(monkeypatch, ckpt / "m.onnx")
    path, _ = cached_export(ckpt, "m.onnx", lambda d: DATA, 1)
    assert path.parent.parent == tmp_path / "cache" / "exports" and path.read_bytes() == DATA
    assert (ckpt / "m.onnx").read_bytes() == b"old export, another fingerprint"  # the old file kept
    assert not _leftovers(tmp_path)


def test_nowhere_writable_is_one_checkpoint_error_and_no_temporaries(ckpt, monkeypatch, tmp_path):
    real = Path.write_bytes

    def write_bytes(self, data):
        if self.name.endswith(".part"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    with pytest.raises(CheckpointError, match="set TONEHOST_CACHE to a writable folder"):
        cached_export(ckpt, "m.onnx", lambda d: DATA, 1)
    src = tmp_path / "step.onnx"
    src.write_bytes(DATA)
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path / "tmp"))
    with pytest.raises(CheckpointError, match="derived from"):
        cached_derived(src, "seq.onnx", lambda p: DATA, 1)
    assert not _leftovers(tmp_path)


def test_lock_file_record_keeps_the_old_file_on_a_full_disk(tmp_path, monkeypatch, umask022):
    lock = LockFile(tmp_path)
    lock.record("a", {"files": {}})
    assert (tmp_path / LOCK_NAME).stat().st_mode & 0o777 == 0o644
    real = Path.write_text

    def write_text(self, text, *a, **k):
        if self.name.startswith(f".{LOCK_NAME}."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, text, *a, **k)

    monkeypatch.setattr(Path, "write_text", write_text)
    with pytest.raises(CheckpointDownloadError, match=f"cannot write {tmp_path / LOCK_NAME}: No space left"):
        lock.record("b", {"files": {}})
    assert set(json.loads((tmp_path / LOCK_NAME).read_text())) == {"a"}
    assert not _leftovers(tmp_path)
