"""The downloader against a local HTTP server on 127.0.0.1: complete fetches, resume after a dropped connection,
retries, 404/500, wrong bytes, mirrors, offline mode, the lock file, and atomicity when killed mid-download."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tonehost.realtime.testing.checkpoint_server import SMALL_SHAPES, CheckpointServer, random_weights
from tonehost.exports.checkpoints.download import LOCK_NAME, default_cache_dir, fetch_checkpoint
from tonehost.exports.errors import (CheckpointDownloadError, CheckpointError, CheckpointFormatError,
                            CheckpointIntegrityError, CheckpointNotFoundError, CheckpointOfflineError)
from tonehost.exports.tfjs import read_graph_model, read_layers_checkpoint, write_graph_model, write_layers_checkpoint

FAST = dict(backoff=0.001, progress=False)
W_LAYERS = random_weights(21, SMALL_SHAPES)
W_BIG = random_weights(22, {"enc/kernel": (1200, 1000), "dec/kernel": (300, 1000), "dec/bias": (1000,)})
W_GRAPH = random_weights(23, {"dense/kernel": (64, 32), "dense/bias": (32,)})
SETTINGS = {"averageMaxLoudness": -48.6, "meanLoudness": -68.5, "meanPitch": 62.0, "postGain": 2,
            "loudnessThreshold": -100}


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    write_layers_checkpoint(root / "layers", W_LAYERS, shard_bytes=512, config={"type": "MusicRNN"})
    write_layers_checkpoint(root / "big", W_BIG)  # 6,004,000 bytes: two 4 MiB-converter shards
    write_layers_checkpoint(root / "q2", W_BIG, quantize="uint16")
    write_graph_model(root / "graph", {"node": [{"name": "f0_hz", "op": "Placeholder"}]}, W_GRAPH, SETTINGS)
    (root / "pitch").mkdir()
    (root / "pitch" / "model.tflite").write_bytes(bytes(range(256)) * 40)
    return root


@pytest.fixture
def server(tree):
    srv = CheckpointServer(tree).start()
    yield srv
    srv.stop()


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def _index(tmp_path, server, tree, **entries) -> Path:
    """Write a user index: entries id -> dict(rel=served dir, mirrors=[rel...], format=..., hashes=bool)."""
    out = []
    for cid, e in entries.items():
        d = {"id": cid, "model": e.get("model", "MusicRNN"), "sizeMb": 0.1, "description": f"test {cid}",
             "url": f"{server.url}/{e['rel']}", "mirrors": [f"{server.url}/{m}" for m in e.get("mirrors", [])]}
        if "format" in e:
            d["format"] = e["format"]
        if e.get("hashes"):
            src = tree / e["hashes"]
            d["files"] = {p.name: {"size": p.stat().st_size, "sha256": _sha(p)} for p in sorted(src.iterdir())}
        out.append(d)
    f = tmp_path / "my_index.json"
    f.write_text(json.dumps(out))
    return f


def test_fetch_layers_url_complete_verified_and_locked(server, tree, cache):
    path = fetch_checkpoint(f"{server.url}/layers", cache_dir=cache, **FAST)
    assert path.parent == cache / "url" and path.name.startswith("layers-")
    served = sorted(p.name for p in (tree / "layers").iterdir())
    assert len(served) > 5 and sorted(p.name for p in path.iterdir()) == served  # every shard + config.json
    got = read_layers_checkpoint(path)
    for k, v in W_LAYERS.items():
        np.testing.assert_array_equal(got[k], v)
    lock = json.loads((cache / LOCK_NAME).read_text())[f"{server.url}/layers"]
    assert lock["format"] == "layers"
    assert lock["files"] == {n: {"size": (tree / "layers" / n).stat().st_size, "sha256": _sha(tree / "layers" / n)}
                             for n in served}
    assert not list(cache.glob("url/.*partial*"))


def test_fetch_graph_by_id_with_index_hashes(server, tree, cache, tmp_path):
    idx = _index(tmp_path, server, tree, my_violin=dict(rel="graph", model="DDSPViolin", hashes="graph"))
    path = fetch_checkpoint("my_violin", cache_dir=cache, extra_index=idx, **FAST)
    assert path == cache / "my_violin"
    g = read_graph_model(path)
    assert g.settings == SETTINGS
    np.testing.assert_array_equal(g.weights["dense/kernel"], W_GRAPH["dense/kernel"])
    assert sorted(p.name for p in path.iterdir()) == ["group1-shard1of1.bin", "model.json", "settings.json"]


def test_realistic_multishard_and_quantized(server, tree, cache):
    for rel in ("big", "q2"):
        path = fetch_checkpoint(f"{server.url}/{rel}", cache_dir=cache, **FAST)
        served = json.loads((tree / rel / "weights_manifest.json").read_text())[0]["paths"]
        assert all((path / p).read_bytes() == (tree / rel / p).read_bytes() for p in served)
        got = read_layers_checkpoint(path)
        tol = 0.0 if rel == "big" else 1e-4
        for k, v in W_BIG.items():
            np.testing.assert_allclose(got[k], v, atol=tol, rtol=0)
    assert len(served) == 1 and len(json.loads((tree / "big" / "weights_manifest.json").read_text())[0]["paths"]) == 2


def test_dropped_connection_resumes_with_range(server, tree, cache):
    shard = "/big/group1-shard1of2"
    server.add_fault(shard, "drop", 1_000_000)
    server.add_fault(shard, "drop", 500_000)  # the resumed request drops too
    path = fetch_checkpoint(f"{server.url}/big", cache_dir=cache, **FAST)
    assert server.requests(shard) == [None, "bytes=1000000-", "bytes=1500000-"]
    assert (path / "group1-shard1of2").read_bytes() == (tree / "big" / "group1-shard1of2").read_bytes()


def test_server_ignoring_range_restarts_cleanly(server, tree, cache):
    shard = "/big/group1-shard2of2"
    server.add_fault(shard, "drop", 300_000)
    server.add_fault(shard, "ignore_range")
    path = fetch_checkpoint(f"{server.url}/big", cache_dir=cache, **FAST)
    assert (path / "group1-shard2of2").read_bytes() == (tree / "big" / "group1-shard2of2").read_bytes()


def test_500_then_ok_is_retried_with_backoff(server, cache):
    shard = "/layers/group1-shard2of" + _nshards(server)
    server.add_fault(shard, "status", 500)
    server.add_fault(shard, "status", 503)
    server.add_fault("/layers/weights_manifest.json", "status", 500)
    path = fetch_checkpoint(f"{server.url}/layers", cache_dir=cache, **FAST)
    assert len(server.requests(shard)) == 3
    assert read_layers_checkpoint(path)


def _nshards(server) -> str:
    return str(len(json.loads((server.root / "layers" / "weights_manifest.json").read_text())[0]["paths"]))


def test_persistent_500_fails_naming_the_file(server, cache):
    shard = "/layers/group1-shard3of" + _nshards(server)
    server.always[shard] = ("status", 500)
    t0 = time.monotonic()
    with pytest.raises(CheckpointDownloadError) as e:
        fetch_checkpoint(f"{server.url}/layers", cache_dir=cache, retries=2, **FAST)
    assert time.monotonic() - t0 < 5
    assert "group1-shard3of" in str(e.value) and "500" in str(e.value) and "again" in str(e.value)
    assert len(server.requests(shard)) == 3  # first try + 2 retries
    assert not (cache / LOCK_NAME).exists()
    assert [p.name for p in (cache / "url").iterdir() if not p.name.startswith(".")] == []
    # the server recovers: the next fetch resumes, reusing the finished shards
    del server.always[shard]
    n_manifest = len(server.requests("/layers/group1-shard1of" + _nshards(server)))
    path = fetch_checkpoint(f"{server.url}/layers", cache_dir=cache, **FAST)
    assert len(server.requests("/layers/group1-shard1of" + _nshards(server))) == n_manifest
    assert read_layers_checkpoint(path)


def test_404_is_a_clear_error(server, cache):
    with pytest.raises(CheckpointNotFoundError) as e:
        fetch_checkpoint(f"{server.url}/nothing_here", cache_dir=cache, **FAST)
    assert "model.json" in str(e.value) and "missing on every server" in str(e.value)
    shard = "/layers/group1-shard1of" + _nshards(server)
    server.always[shard] = ("status", 404)
    with pytest.raises(CheckpointNotFoundError, match="group1-shard1of"):
        fetch_checkpoint(f"{server.url}/layers", cache_dir=cache, **FAST)
    assert len(server.requests(shard)) == 1  # a 404 is not retried
    assert not (cache / "url").exists() or not [p for p in (cache / "url").iterdir() if not p.name.startswith(".")]


def test_wrong_byte_fails_hash_check_and_leaves_no_cache_entry(server, tree, cache, tmp_path):
    idx = _index(tmp_path, server, tree, g=dict(rel="graph", model="DDSPViolin", hashes="graph"))
    server.always["/graph/group1-shard1of1.bin"] = ("corrupt", 1234)
    with pytest.raises(CheckpointIntegrityError) as e:
        fetch_checkpoint("g", cache_dir=cache, extra_index=idx, **FAST)
    msg = str(e.value)
    assert "group1-shard1of1.bin" in msg and _sha(tree / "graph" / "group1-shard1of1.bin") in msg
    assert not (cache / "g").exists() and not (cache / LOCK_NAME).exists()
    with pytest.raises(CheckpointOfflineError):
        fetch_checkpoint("g", cache_dir=cache, extra_index=idx, offline=True, **FAST)


def test_lock_hashes_catch_a_changed_file_on_later_download(server, tree, cache, tmp_path):
    url = f"{server.url}/layers"
    fetch_checkpoint(url, cache_dir=cache, to=tmp_path / "first", **FAST)
    shard = "group1-shard2of" + _nshards(server)
    server.always["/layers/" + shard] = ("corrupt", 10)  # one float's bit flipped: still a valid float
    with pytest.raises(CheckpointIntegrityError, match=shard):
        fetch_checkpoint(url, cache_dir=cache, to=tmp_path / "second", **FAST)
    assert not (tmp_path / "second").exists()


def test_mirror_fallback_on_404_and_on_bad_hash(server, tree, cache, tmp_path):
    idx = _index(tmp_path, server, tree,
                 a=dict(rel="gone/layers", mirrors=["layers"]),
                 b=dict(rel="graph", mirrors=["graph"], model="DDSPFlute", hashes="graph"))
    pa = fetch_checkpoint("a", cache_dir=cache, extra_index=idx, **FAST)
    assert read_layers_checkpoint(pa)["rnn/lstm_cell/bias"].shape == (32,)
    assert server.requests("/gone/layers/weights_manifest.json") == [None]
    server.add_fault("/graph/model.json", "corrupt", 5)  # first server sends a bad byte; its mirror is fine
    pb = fetch_checkpoint("b", cache_dir=cache, extra_index=idx, **FAST)
    assert len(server.requests("/graph/model.json")) == 2
    assert read_graph_model(pb).settings == SETTINGS


def test_offline_uses_the_cache(server, cache, tmp_path, monkeypatch):
    url = f"{server.url}/layers"
    path = fetch_checkpoint(url, cache_dir=cache, **FAST)
    server.stop()
    assert fetch_checkpoint(url, cache_dir=cache, offline=True, **FAST) == path
    monkeypatch.setenv("TONEHOST_OFFLINE", "1")
    assert fetch_checkpoint(url, cache_dir=cache, **FAST) == path
    with pytest.raises(CheckpointOfflineError) as e:
        fetch_checkpoint(f"{server.url}/graph", cache_dir=cache, **FAST)
    assert "offline" in str(e.value) and "tonehost checkpoints fetch" in str(e.value)


def test_cached_checkpoint_is_checked_on_every_load(server, tree, cache):
    url = f"{server.url}/layers"
    path = fetch_checkpoint(url, cache_dir=cache, **FAST)
    victim = path / ("group1-shard1of" + _nshards(server))
    data = bytearray(victim.read_bytes())
    data[7] ^= 0x40
    victim.write_bytes(bytes(data))
    with pytest.raises(CheckpointIntegrityError) as e:
        fetch_checkpoint(url, cache_dir=cache, **FAST)
    assert victim.name in str(e.value) and "delete" in str(e.value)
    fixed = fetch_checkpoint(url, cache_dir=cache, force=True, **FAST)
    assert fixed == path and victim.read_bytes() == (tree / "layers" / victim.name).read_bytes()


def test_killed_mid_download_leaves_nothing_that_loads_then_resumes(server, tree, cache):
    url = f"{server.url}/big"
    shard = "/big/group1-shard1of2"
    server.add_fault(shard, "slow", 0.01)  # 16 KiB every 10 ms: ~2.5 s for the shard
    code = ("from tonehost.exports.checkpoints.download import fetch_checkpoint; "
            "fetch_checkpoint(%r, cache_dir=%r, progress=False)" % (url, str(cache)))
    proc = subprocess.Popen([sys.executable, "-c", code])
    part = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            parts = list(cache.glob("url/.*.partial/group1-shard1of2.part"))
            if parts and parts[0].stat().st_size > 100_000:
                part = parts[0]
                break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert part is not None, "the download never started"
    kept = part.stat().st_size
    assert 0 < kept < (tree / "big" / "group1-shard1of2").stat().st_size
    visible = [p for p in (cache / "url").iterdir() if not p.name.startswith(".")]
    assert visible == []  # nothing in the cache that a loader would pick up
    with pytest.raises(CheckpointOfflineError):
        fetch_checkpoint(url, cache_dir=cache, offline=True, **FAST)
    path = fetch_checkpoint(url, cache_dir=cache, **FAST)
    ranges = server.requests(shard)
    assert ranges[-1] is not None and int(ranges[-1][6:-1]) >= kept  # resumed, not restarted
    got = read_layers_checkpoint(path)
    np.testing.assert_array_equal(got["enc/kernel"], W_BIG["enc/kernel"])


def test_local_directory_source_and_to(tree, tmp_path, cache):
    src = tree / "graph"
    assert fetch_checkpoint(src, cache_dir=cache, **FAST) == src
    dest = fetch_checkpoint(str(src), to=tmp_path / "copy", cache_dir=cache, **FAST)
    assert dest == tmp_path / "copy"
    assert read_graph_model(dest).settings == SETTINGS
    broken = tmp_path / "broken"
    write_layers_checkpoint(broken, W_LAYERS, shard_bytes=1024)
    next(broken.glob("group1-shard2of*")).unlink()
    with pytest.raises(CheckpointNotFoundError, match="group1-shard2of"):
        fetch_checkpoint(broken, cache_dir=cache, **FAST)
    with pytest.raises(CheckpointError, match="not an id"):
        fetch_checkpoint(str(tmp_path / "no" / "such"), cache_dir=cache, **FAST)


def test_files_entry_and_to_dir(server, tree, cache, tmp_path):
    idx = _index(tmp_path, server, tree, pitch=dict(rel="pitch", model="DDSPVSTPitch", format="files",
                                                    hashes="pitch"))
    path = fetch_checkpoint("pitch", to=tmp_path / "models" / "pitch", cache_dir=cache, extra_index=idx, **FAST)
    assert (path / "model.tflite").read_bytes() == (tree / "pitch" / "model.tflite").read_bytes()
    assert "pitch" in json.loads((cache / LOCK_NAME).read_text())


def test_manifest_pointing_outside_is_refused(tmp_path, cache):
    root = tmp_path / "evil"
    write_layers_checkpoint(root / "ck", {"a": np.ones(3, np.float32)})
    (root / "ck" / "weights_manifest.json").write_text(json.dumps(
        [{"paths": ["../../../outside"], "weights": [{"name": "a", "shape": [3], "dtype": "float32"}]}]))
    srv = CheckpointServer(root).start()
    try:
        with pytest.raises(CheckpointFormatError, match="outside"):
            fetch_checkpoint(f"{srv.url}/ck", cache_dir=cache, **FAST)
    finally:
        srv.stop()
    assert not (tmp_path / "outside").exists()


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("TONEHOST_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "tonehost" / "checkpoints"
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "tc"))
    assert default_cache_dir() == tmp_path / "tc" / "checkpoints"
    os.environ.pop("TONEHOST_CACHE")


def test_server_with_truncated_shard_and_bad_manifest(tmp_path, cache):
    root = tmp_path / "srv"
    write_layers_checkpoint(root / "trunc", W_LAYERS, shard_bytes=512)
    last = sorted((root / "trunc").glob("group1-shard*"))[-1]
    last.write_bytes(last.read_bytes()[:-8])  # complete per HTTP, short per the manifest
    (root / "badjson").mkdir()
    (root / "badjson" / "weights_manifest.json").write_text('[{"paths": [')
    srv = CheckpointServer(root).start()
    try:
        with pytest.raises(CheckpointFormatError, match="truncated"):
            fetch_checkpoint(f"{srv.url}/trunc", cache_dir=cache, **FAST)
        with pytest.raises(CheckpointFormatError, match="not valid JSON"):
            fetch_checkpoint(f"{srv.url}/badjson", cache_dir=cache, **FAST)
        left = [p.name for p in (cache / "url").iterdir() if not p.name.endswith(".lock")]
        assert left == []  # no entry, and no leftovers that would fail again
        (root / "badjson").rename(root / "old")
        write_layers_checkpoint(root / "badjson", W_LAYERS)  # fixed upstream: the next fetch works
        assert read_layers_checkpoint(fetch_checkpoint(f"{srv.url}/badjson", cache_dir=cache, **FAST))
    finally:
        srv.stop()


def test_id_wins_over_same_named_folder_and_empty_to_dir(server, tree, tmp_path, cache, monkeypatch):
    idx = _index(tmp_path, server, tree, rnn=dict(rel="layers"))
    (tmp_path / "rnn").mkdir()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    path = fetch_checkpoint("rnn", to=tmp_path / "empty", cache_dir=cache, extra_index=idx, **FAST)
    assert path == tmp_path / "empty" and (path / "weights_manifest.json").exists()
