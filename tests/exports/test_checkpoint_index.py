"""The checkpoint index against the seed tables, user index files, and the ``tonehost checkpoints`` CLI."""
from __future__ import annotations

import argparse
import hashlib
import json
import re

import numpy as np
import pytest

from tonehost.realtime.testing.checkpoint_server import SMALL_SHAPES, CheckpointServer, random_weights
from conftest import SHARED
from tonehost.exports.errors import CheckpointError
from tonehost.exports.checkpoints.index import BUILTIN, PITCH_MODEL_ID, all_checkpoints, get_checkpoint, index_json
from tonehost.exports.tfjs import read_layers_checkpoint, write_layers_checkpoint

SEEDS = SHARED / "seeds"


def _seed_rows(name: str) -> list[list[str]]:
    path = SEEDS / name
    if not path.exists():
        pytest.skip(f"seed table {path} not found")
    rows = []
    for line in path.read_text().splitlines():
        cells = line.split("|")
        if len(cells) >= 4 and cells[0] not in ("ID", "---") and not cells[0].startswith("#"):
            rows.append(cells)
    return rows


def test_all_35_entries_match_the_seed_table():
    rows = _seed_rows("000_3cba3d5092ba8220.txt")
    assert len(rows) == 35
    index = all_checkpoints()
    for cid, model, desc, size, link in rows:
        c = index[cid]
        assert (c.model, c.description) == (model, desc)
        assert c.size_mb == float(size.split()[0])
        assert c.url == re.search(r"\((https://[^)]+)\)", link).group(1)
    families = [c.model for c in index.values()]
    assert families.count("MusicVAE") == 25 and families.count("MusicRNN") == 4
    assert families.count("OnsetsAndFrames") == 2 and sum(m.startswith("DDSP") and m != "DDSPVSTPitch"
                                                          for m in families) == 4
    assert list(index)[:35] == [r[0] for r in rows]


def test_older_table_urls_are_mirrors_of_the_same_ids():
    rows = _seed_rows("001_84e94ea77541dc88.txt")
    index = all_checkpoints()
    shared = [r for r in rows if r[0] in index]
    assert len(shared) == 6
    for cid, _model, _desc, url in shared:
        assert index[cid].mirrors == (url,)
    assert sum(bool(c.mirrors) for c in index.values() if c.id != PITCH_MODEL_ID) == 6


def test_known_files_and_hashes():
    violin = get_checkpoint("ddsp_violin")
    assert violin.format == "graph"
    assert {f.name: (f.size, f.sha256[:8]) for f in violin.files} == {
        "model.json": (381158, "4c4cc99e"), "group1-shard1of1.bin": (3888160, "e2df331d"),
        "settings.json": (171, "9cfae64c")}
    assert get_checkpoint("ddsp_trumpet").file("settings.json").size == 173
    oaf = get_checkpoint("onsets_frames_uni")
    assert len(oaf.files) == 15 and sum(f.size for f in oaf.files) == 62_540_992
    pitch = get_checkpoint(PITCH_MODEL_ID)
    assert pitch.format == "files" and pitch.url.endswith("models/pitch-detection")
    (f,) = pitch.files
    assert f.name == "extract_features_micro.tflite" and f.size == 671569


def test_pitch_model_hash_matches_the_real_file():
    model = SHARED / "models" / "ddsp_vst" / "extract_features_micro.tflite"
    if not model.exists():
        pytest.skip(f"{model} not found")
    (f,) = get_checkpoint(PITCH_MODEL_ID).files
    assert hashlib.sha256(model.read_bytes()).hexdigest() == f.sha256 and model.stat().st_size == f.size


def test_user_index_extends_and_overrides(tmp_path, monkeypatch):
    a = tmp_path / "a.json"
    a.write_text(json.dumps([{"id": "my_rnn", "model": "MusicRNN", "sizeMb": 1, "description": "mine",
                              "url": "https://example.org/ckpt/my_rnn/"},
                             {"id": "basic_rnn", "model": "MusicRNN", "sizeMb": 13, "description": "self-hosted",
                              "url": "https://example.org/basic_rnn", "mirrors": ["https://m.example.org/b"]}]))
    monkeypatch.setenv("TONEHOST_INDEX", str(a))
    assert get_checkpoint("my_rnn").url == "https://example.org/ckpt/my_rnn"
    assert get_checkpoint("basic_rnn").description == "self-hosted"
    assert get_checkpoint("basic_rnn").urls == ["https://example.org/basic_rnn", "https://m.example.org/b"]
    assert len(all_checkpoints()) == len(BUILTIN) + 1
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"checkpoints": [{"id": "other", "url": "https://x.org/o", "model": "DDSPViolin"}]}))
    assert get_checkpoint("other", extra_index=b).format == "graph"
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "x"}]')
    with pytest.raises(CheckpointError, match="url"):
        all_checkpoints(bad)
    bad.write_text("{not json")
    with pytest.raises(CheckpointError, match="bad.json"):
        all_checkpoints(bad)
    with pytest.raises(CheckpointError, match="Did you mean basic_rnn"):
        get_checkpoint("basic_rn")


# ------------------------------------------------------------------------------------------------ CLI

def _cli(argv, capsys):
    """Run ``tonehost checkpoints ...`` through the real CLI, or (if another command module is not importable
    yet) through this module's parser with the CLI's error handling."""
    try:
        from tonehost.realtime.cli import main
        main.__globals__["build_parser"]()
    except ImportError:
        from tonehost.realtime.cli import checkpoints

        def main(args):
            p = argparse.ArgumentParser(prog="tonehost")
            checkpoints.register(p.add_subparsers())
            ns = p.parse_args(args)
            try:
                return ns.func(ns)
            except CheckpointError as exc:
                import sys
                print(f"tonehost: error: {exc.user_message}", file=sys.stderr)
                return 1
    code = main(["checkpoints", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_list_json_is_the_seed_index_format(capsys):
    code, out, _ = _cli(["list", "--json"], capsys)
    assert code == 0
    entries = json.loads(out)
    assert entries == index_json()
    assert all(list(e) == ["id", "model", "sizeMb", "description", "url"] for e in entries)
    assert {e["id"] for e in entries} >= {r[0] for r in _seed_rows("000_3cba3d5092ba8220.txt")}


def test_cli_list_table_and_info(capsys, tmp_path):
    code, out, _ = _cli(["list", "--cache-dir", str(tmp_path)], capsys)
    assert code == 0 and "onsets_frames_uni_q2" in out and "36 checkpoints" in out
    code, out, _ = _cli(["info", "drums_2bar_lokl_small", "--cache-dir", str(tmp_path)], capsys)
    assert code == 0
    assert "tfjs_checkpoints/music_vae/drums_lokl_small" in out and "cached:      no" in out
    code, out, err = _cli(["info", "no_such_model"], capsys)
    assert code == 1 and "unknown checkpoint id" in err and "Traceback" not in err


def test_cli_fetch_from_local_server(capsys, tmp_path):
    w = random_weights(31, SMALL_SHAPES)
    write_layers_checkpoint(tmp_path / "srv" / "rnn", w, shard_bytes=1000)
    srv = CheckpointServer(tmp_path / "srv").start()
    try:
        idx = tmp_path / "idx.json"
        idx.write_text(json.dumps([{"id": "rnn", "model": "MusicRNN", "sizeMb": 0.01, "description": "t",
                                    "url": f"{srv.url}/rnn"}]))
        cache = tmp_path / "cache"
        code, out, _ = _cli(["--index", str(idx), "fetch", "rnn", "--cache-dir", str(cache), "-q"], capsys)
        assert code == 0 and out.strip() == str(cache / "rnn")
        got = read_layers_checkpoint(out.strip())
        np.testing.assert_array_equal(got["rnn/lstm_cell/kernel"], w["rnn/lstm_cell/kernel"])
        code, out, _ = _cli(["info", "rnn", "--index", str(idx), "--cache-dir", str(cache)], capsys)
        assert f"cached:      {cache / 'rnn'}" in out and "lock:" in out
        code, out, err = _cli(["fetch", f"{srv.url}/missing", "--cache-dir", str(cache), "-q"], capsys)
        assert code == 1 and "missing on every server" in err
    finally:
        srv.stop()
    code, out, _ = _cli(["fetch", "rnn", "--index", str(idx), "--cache-dir", str(cache), "--offline"], capsys)
    assert code == 0 and out.strip() == str(cache / "rnn")
