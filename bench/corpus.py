"""Corpus throughput: audio hours transcribed per wall-clock hour by ``tonehost transcribe DIR --out-dir`` with 1
and 2 local worker processes (and a 2-worker Dask cluster), against basic-pitch's own batch CLI on the same files.

The corpus: ``--files`` piano pieces of ``--seconds`` each (seeded random chords and runs,
``bench.transcribe_common.random_piano_midi``) rendered with FluidSynth (MuseScore_General_Lite, 44.1 kHz
stereo). Every run is a fresh command-line process on a fresh output folder, so model loading counts, as it does
for a user; the figures are wall-clock on this machine (2 cores, shared), measured in the same run.

    .venv/bin/python -m bench.corpus [--files 6] [--seconds 90] [--no-basic-pitch] [--no-dask]

Needs ``pip install --no-deps basic-pitch`` (+ resampy, mir_eval, pretty_midi) for the peer, ``distributed`` for
the Dask row. Writes ``bench/results/corpus.json``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench._common import tmpdir
from bench.transcribe_common import random_piano_midi, render, save

SOUNDFONT = "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"


def make_corpus(folder: Path, files: int, seconds: float) -> list[Path]:
    """``files`` rendered pieces in ``folder/set{k}/`` (two sub-folders, so the output tree is mirrored)."""
    out = []
    for i in range(files):
        sub = folder / f"set{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        mid = folder / f"piece{i}.mid"
        random_piano_midi(mid, seconds, seed=100 + i)
        wav = sub / f"piece{i}.wav"
        render(mid, wav, soundfont=SOUNDFONT)
        out.append(wav)
    return out


def timed(cmd: list[str], env=None) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return time.perf_counter() - t0, r


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dask_cluster(workers: int):
    """(address, processes): a scheduler and ``workers`` single-threaded worker processes on 127.0.0.1."""
    dask = str(Path(sys.executable).parent / "dask")
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    address = f"tcp://127.0.0.1:{port}"
    for i in range(workers):
        procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--host",
                                       "127.0.0.1", "--name", f"bench{i}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
    from distributed import Client

    with Client(address, timeout=60) as c:
        c.wait_for_workers(workers, timeout=120)
    return address, procs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--no-basic-pitch", action="store_true")
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    tmp = tmpdir()
    wavs = make_corpus(tmp / "corpus", args.files, args.seconds)
    import soundfile as sf

    hours = sum(sf.info(w).duration for w in wavs) / 3600
    print(f"corpus: {len(wavs)} files, {hours * 60:.1f} min of audio in {tmp / 'corpus'}")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    tonehost = [sys.executable, "-m", "tonehost", "transcribe", str(tmp / "corpus"), "--no-progress"]
    rows = {}

    def record(name: str, wall: float, r: subprocess.CompletedProcess, out: Path, count) -> None:
        ok = r.returncode == 0 and count(out) == len(wavs)
        rows[name] = {"wall_s": round(wall, 2), "audio_h_per_wall_h": round(hours * 3600 / wall, 1),
                      "x_real_time": round(hours * 3600 / wall, 1), "ok": ok}
        print(f"{name:34s} {wall:7.1f} s wall   {hours * 3600 / wall:7.1f} audio h per wall h   "
              f"{'ok' if ok else 'FAILED: ' + (r.stderr or r.stdout)[-300:]}", flush=True)

    def mids(out: Path) -> int:
        return len(list(out.rglob("*.mid")))

    for jobs in (1, 2):
        out = tmp / f"tonehost_j{jobs}"
        wall, r = timed(tonehost + ["--out-dir", str(out), "--jobs", str(jobs)], env)
        record(f"tonehost --jobs {jobs}", wall, r, out, mids)
    if not args.no_dask:
        try:
            address, procs = dask_cluster(2)
        except Exception as exc:  # distributed missing or a worker failed to start
            print(f"dask: skipped ({exc})")
        else:
            try:
                out = tmp / "tonehost_dask2"
                wall, r = timed(tonehost + ["--out-dir", str(out), "--scheduler", address], env)
                record("tonehost --scheduler (2 workers)", wall, r, out, mids)
            finally:
                for p in procs[::-1]:
                    p.send_signal(signal.SIGTERM)
                for p in procs:
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        p.kill()
    if not args.no_basic_pitch:
        bp = shutil.which("basic-pitch", path=str(Path(sys.executable).parent)) or shutil.which("basic-pitch")
        if bp is None:
            print("basic-pitch: not installed (pip install --no-deps basic-pitch)")
        else:
            out = tmp / "basic_pitch"
            out.mkdir()
            wall, r = timed([bp, str(out), *map(str, wavs), "--model-serialization", "onnx"], env)
            record("basic-pitch CLI (its batch mode)", wall, r, out, mids)
    print("->", save("corpus", {"files": len(wavs), "audio_hours": round(hours, 4), "runs": rows,
                                "cores": len(os.sched_getaffinity(0)), "load_avg_1min": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
