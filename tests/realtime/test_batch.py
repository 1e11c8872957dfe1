"""Corpus-scale transcription: ``tonehost transcribe PATH... --out-dir DIR`` (realtime/batch.py) on local
processes and on a real Dask cluster (scheduler + two worker processes on 127.0.0.1, one killed mid-run)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from tonehost.exports.errors import UsageError
from tonehost.exports.paths import atomic_leftovers
from tonehost.realtime.batch import MANIFEST, ModelSpec, collect_inputs, read_manifest, run_batch
from tonehost.realtime.cli import main as cli_main


def tones(seconds: float, seed: int, sr: int = 22050) -> np.ndarray:
    """Decaying piano-like tones (a fundamental and two partials) every 0.5 s."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    x = np.zeros_like(t)
    for t0 in np.arange(0.2, seconds - 0.5, 0.5):
        f0 = 440 * 2 ** (int(rng.integers(-15, 15)) / 12)
        env = np.exp(-(t - t0) * 5) * (t > t0)
        x += 0.25 * env * (np.sin(2 * np.pi * f0 * t) + 0.4 * np.sin(4 * np.pi * f0 * t)
                           + 0.2 * np.sin(6 * np.pi * f0 * t))
    return x.astype(np.float32)


@pytest.fixture()
def corpus(tmp_path):
    """A small tree: wav/flac/ogg at 3 depths, a non-audio file, and a truncated wav."""
    root = tmp_path / "corpus"
    (root / "a" / "b").mkdir(parents=True)
    files = {"one.wav": 4.0, "a/two.flac": 3.0, "a/b/three.ogg": 3.5, "a/b/four.wav": 2.5}
    for i, (name, sec) in enumerate(files.items()):
        sf.write(root / name, tones(sec, i), 22050)
    (root / "a" / "notes.txt").write_text("not audio")
    sf.write(tmp_path / "whole.wav", tones(3.0, 9), 22050, subtype="PCM_16")
    (root / "a" / "cut.wav").write_bytes((tmp_path / "whole.wav").read_bytes()[:5000])
    return root


def midi_notes(path: Path) -> list[int]:
    return [m.note for m in mido.MidiFile(path) if m.type == "note_on" and m.velocity > 0]


def test_collect_inputs_files_folders_globs(corpus, tmp_path, monkeypatch):
    got = collect_inputs([corpus])
    assert sorted(str(rel) for _, rel in got) == ["a/b/four.wav", "a/b/three.ogg", "a/cut.wav", "a/two.flac",
                                                  "one.wav"]
    monkeypatch.chdir(tmp_path)
    got = collect_inputs(["corpus/**/*.wav", "corpus/one.wav"])  # the file named twice is listed once
    assert [str(rel) for _, rel in got] == ["a/b/four.wav", "a/cut.wav", "one.wav"]
    with pytest.raises(UsageError, match="nope"):
        collect_inputs(["nope/"])
    with pytest.raises(UsageError, match="no file matches"):
        collect_inputs(["corpus/*.mp3"])


def test_batch_mirrors_tree_records_failures_and_resumes(corpus, tmp_path, capsys):
    out = tmp_path / "midi"
    rc = cli_main(["transcribe", str(corpus), "--out-dir", str(out), "--tsv", "--jobs", "2", "--no-progress"])
    assert rc == 1  # one file failed: non-zero exit, the others done
    err = capsys.readouterr()
    assert "cut.wav is truncated" in err.err and "4 transcribed, 0 skipped" in err.out and "1 failed" in err.out
    for rel in ("one", "a/two", "a/b/three", "a/b/four"):
        assert (out / f"{rel}.mid").is_file() and (out / f"{rel}.tsv").is_file()
        assert len(midi_notes(out / f"{rel}.mid")) == len((out / f"{rel}.tsv").read_text().splitlines()) - 1
    assert not (out / "a" / "cut.mid").exists()
    recs = read_manifest(out)
    assert sorted(Path(r["input"]).name for r in recs) == ["cut.wav", "four.wav", "one.wav", "three.ogg", "two.flac"]
    by = {Path(r["input"]).name: r for r in recs}
    assert by["cut.wav"]["status"] == "failed" and "truncated" in by["cut.wav"]["error"]
    assert by["one.wav"]["status"] == "done" and by["one.wav"]["duration"] == pytest.approx(4.0, abs=1e-3)
    assert by["one.wav"]["model"] == "onsets_frames_small" and by["one.wav"]["notes"] > 0
    assert set(r["pid"] for r in recs) - {os.getpid()}  # ran in worker processes
    # resume: nothing done again, the failed file tried again; after its repair it is done, once
    mtime = (out / "one.mid").stat().st_mtime_ns
    res = run_batch([corpus], out, jobs=1, progress=False, log=lambda line: None)
    assert len(res.skipped) == 4 and [Path(r["input"]).name for r in res.failed] == ["cut.wav"]
    assert (out / "one.mid").stat().st_mtime_ns == mtime
    sf.write(corpus / "a" / "cut.wav", tones(2.0, 5), 22050)
    res = run_batch([corpus], out, jobs=1, progress=False)
    assert [Path(r["input"]).name for r in res.done] == ["cut.wav"] and not res.failed
    done = [Path(r["input"]).name for r in read_manifest(out) if r["status"] == "done"]
    assert sorted(done) == ["cut.wav", "four.wav", "one.wav", "three.ogg", "two.flac"]


def test_batch_outputs_are_atomic_and_a_torn_manifest_line_is_ignored(corpus, tmp_path):
    out = tmp_path / "midi"
    run_batch([corpus / "one.wav"], out, jobs=1, progress=False)
    with open(out / MANIFEST, "a") as f:
        f.write('{"input": "/x", "status": "do')  # a crash in the middle of a line
    left = out / ".one.mid.abc12345.part"  # a temporary a killed worker left (atomic_output's naming)
    left.write_bytes(b"MThd half")
    assert atomic_leftovers(out / "one.mid") == [left]
    (out / ".other.mid.abc12345.part").write_bytes(b"MThd")  # not one of this run's outputs: kept
    res = run_batch([corpus / "one.wav", corpus / "a" / "two.flac"], out, jobs=1, progress=False)
    assert len(res.skipped) == 1 and len(res.done) == 1
    assert [p.name for p in out.rglob(".*")] == [".other.mid.abc12345.part"]
    assert all(midi_notes(p) is not None for p in out.rglob("*.mid"))


def test_single_file_output_into_missing_folder_and_bad_files(tmp_path, capsys):
    wav = tmp_path / "take.wav"
    sf.write(wav, tones(3.0, 1), 44100)
    out = tmp_path / "new" / "deeper" / "take.mid"
    assert cli_main(["transcribe", str(wav), "-o", str(out), "--no-progress"]) == 0
    assert out.is_file() and midi_notes(out)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(wav.read_bytes()[:5000])
    assert cli_main(["transcribe", str(cut), "-o", str(tmp_path / "c.mid")]) == 1
    err = capsys.readouterr().err
    assert "cut.wav is truncated" in err and "Traceback" not in err and not (tmp_path / "c.mid").exists()
    assert cli_main(["transcribe", str(wav), str(cut), "-o", str(tmp_path / "x.mid")]) == 1
    assert "--out-dir" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- Dask cluster

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def dask_cluster(tmp_path):
    """A real ``dask scheduler`` and two ``dask worker`` processes (no nanny: a killed worker stays dead)."""
    pytest.importorskip("distributed")
    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    logs = tmp_path / "dask_logs"
    logs.mkdir()
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=open(logs / "scheduler.log", "w"), stderr=subprocess.STDOUT, env=env)]
    from distributed import Client

    workers = []
    try:
        for i in range(2):
            workers.append(subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{i}",
                 "--host", "127.0.0.1"], stdout=open(logs / f"worker{i}.log", "w"), stderr=subprocess.STDOUT,
                env=env))
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for p in workers + procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in workers + procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def test_dask_cluster_survives_a_killed_worker(dask_cluster, tmp_path):
    address, workers = dask_cluster
    src = tmp_path / "in"
    src.mkdir()
    n = 8
    for i in range(n):
        sf.write(src / f"piece{i}.wav", tones(20.0, 100 + i), 22050)
    out = tmp_path / "out"
    import threading

    from distributed import Client

    box = {}
    runner = threading.Thread(target=lambda: box.setdefault("res", run_batch(
        [src], out, ModelSpec(), scheduler=address, progress=False, log=lambda line: None)))
    runner.start()
    # kill the worker process that is busy with a file (so the kill lands mid-transcription)
    killed = None
    with Client(address, timeout=30) as client:
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline:
            info = client.scheduler_info()["workers"]
            started = [r for r in read_manifest(out)] if out.exists() else []
            busy = {addr: keys for addr, keys in client.processing().items() if keys}   # last: just before the kill
            if busy and started:  # a first file done on some worker, another in progress
                addr = next(iter(busy))
                pid = info[addr].get("pid") if "pid" in info[addr] else None
                victim = next((w for w in workers if w.pid == pid), None) if pid else None
                if victim is None:  # older distributed: match by name
                    name = info[addr]["name"]
                    victim = workers[int(str(name)[-1])]
                victim.kill()
                killed = victim.pid
                in_flight = [int(str(k).split("-")[2]) for k in busy[addr]]
            time.sleep(0.05)
    runner.join(300)
    assert killed is not None, "no worker was ever busy"
    res = box["res"]
    recs = read_manifest(out)
    names = [Path(r["input"]).name for r in recs]
    assert sorted(names) == sorted(f"piece{i}.wav" for i in range(n)), names  # each exactly once
    assert all(r["status"] == "done" for r in recs) and len(res.done) == n and not res.failed
    for i in range(n):
        mid = out / f"piece{i}.mid"
        assert midi_notes(mid), mid  # every output complete and readable
    assert not [p for p in out.rglob("*") if p.name.endswith((".tmp", ".part"))]
    # the file the killed worker was transcribing was redone by the surviving one (the scheduler's view of what a
    # worker is processing lags the worker: one it finished just before the kill keeps the killed worker's pid)
    survivor = next(w.pid for w in workers if w.pid != killed)
    by = {Path(r["input"]).name: r for r in recs}
    pids = [by[f"piece{i}.wav"]["pid"] for i in in_flight]
    assert in_flight and set(pids) <= {survivor, killed} and survivor in pids, (in_flight, pids, survivor, killed)


def test_transkun_without_its_extra_fails_once_with_the_install_line(corpus, tmp_path, monkeypatch):
    import importlib.util

    from tonehost.exports.errors import ModelError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transkun" else real(name, *a))
    with pytest.raises(ModelError, match=r"needs (torch|transkun).*pip install 'tonehost\[transkun\]'.*--no-deps transkun"):
        run_batch([corpus / "one.wav"], tmp_path / "out", ModelSpec("transkun"), jobs=1, progress=False)
    assert not (tmp_path / "out" / MANIFEST).exists() or not read_manifest(tmp_path / "out")
