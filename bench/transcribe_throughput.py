"""Throughput of O&F transcription on one core: export time, offline speed (x real time), streaming cost per
frame, memory.

Pinned to one CPU (``sched_setaffinity``), onnxruntime with 1 thread. Audio: the Bach BWV 846 recording
(25.5 s, 22.05 kHz) from shared/data/piano.

File lengths (``--lengths 1,10,60``, minutes; ``--lengths ''`` skips): a random piano piece rendered with
FluidSynth (44.1 kHz stereo, 16-bit), repeated to each length, transcribed by the shipped model in a fresh
process per run: ``stream`` is ``tonehost transcribe``'s path (the file read in blocks,
``OnsetsAndFrames.transcribe_file``), ``whole`` the reference measured in the same run (the whole file read into
memory, then ``transcribe_array``: the path before issue 14; skipped at 60 min, where it needs ~10 GB). Printed:
x real time in wall-clock time and in the CPU time of the transcribing process (``x RT CPU``: one thread,
``OMP_NUM_THREADS=1`` and ONNX Runtime intra-op 1, so it does not count time lost to other work on a busy
machine), ``cold CPU`` the same with the process's first-call costs added (numba's cached kernels loading, ONNX
Runtime's first run: paid once per process, measured on 3 s of silence before the file), peak RSS, and whether
both gave the same notes. Model loading and imports are left out (once per process).

    .venv/bin/python -m bench.transcribe_throughput [--checkpoint onsets_frames_uni] [--repeats 3] [--lengths 1,10,60]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from bench._common import tmpdir  # noqa: E402
from bench.transcribe_common import DATA, model_path, save  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


CHILD = """
import hashlib, json, os, sys, time
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
import numpy as np
from tonehost.realtime.pipelines.transcriber import OnsetsAndFrames, notes_to_sequence, transcribe_array
mode, path = sys.argv[1], sys.argv[2]
c0 = time.process_time()
m = OnsetsAndFrames()
load_cpu = time.process_time() - c0
c0 = time.process_time()
m.transcribe(np.zeros(3 * 44100, np.float32), 44100)  # first-call costs: numba cache loads, ORT's first run
warm_cpu = time.process_time() - c0
t0, c0 = time.perf_counter(), time.process_time()
if mode == "stream":
    notes = m.transcribe_file(path).notes
else:
    from tonehost.realtime.io import read_audio
    audio, sr = read_audio(path, mono=False)
    notes = notes_to_sequence(transcribe_array(m.session_for(m.decoding), audio, sr, decoding=m.decoding).notes).notes
took, cpu = time.perf_counter() - t0, time.process_time() - c0
key = hashlib.sha256(repr([(n.pitch, n.velocity, n.start_time, n.end_time) for n in notes]).encode()).hexdigest()
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]  # this exec's own peak
print(json.dumps({"seconds": took, "cpu_seconds": cpu, "load_cpu_s": load_cpu, "warm_up_cpu_s": warm_cpu,
                  "threads": os.environ.get("OMP_NUM_THREADS"), "peak_rss_mb": int(hwm.split()[1]) / 1024,
                  "notes": len(notes), "notes_sha256": key}))
"""


def long_files(tmp, minutes: list[float]) -> dict:
    """{minutes: wav}: a 10-minute rendered piece (44.1 kHz stereo), cut or repeated to each length."""
    from bench.transcribe_common import random_piano_midi, render

    base = tmp / "piece10.wav"
    random_piano_midi(tmp / "piece10.mid", 600.0, seed=14)
    render(tmp / "piece10.mid", base)
    out = {}
    with sf.SoundFile(base) as src:
        n_base = src.frames
        for mins in minutes:
            path = tmp / f"piece_{mins:g}min.wav"
            want = int(mins * 60 * src.samplerate)
            with sf.SoundFile(path, "w", src.samplerate, src.channels, subtype="PCM_16") as dst:
                done = 0
                while done < want:
                    src.seek(0)
                    for block in src.blocks(blocksize=1 << 18, dtype="int16", always_2d=True):
                        block = block[:want - done]
                        dst.write(block)
                        done += len(block)
                        if done >= want:
                            break
            out[mins] = path
    assert n_base > 0
    return out


def lengths_section(tmp, minutes: list[float]) -> dict:
    import json
    import subprocess
    import sys

    res = {}
    print(f"{'length':>8s} {'mode':>7s} {'x RT wall':>10s} {'x RT CPU':>9s} {'cold CPU':>9s} {'peak RSS MB':>12s} "
          f"{'notes':>7s}")
    for mins, path in long_files(tmp, minutes).items():
        row = {}
        for mode in ("stream", "whole"):
            if mode == "whole" and mins > 10:
                continue
            r = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"{mins:6g} min {mode:>7s} FAILED: {r.stderr[-300:]}")
                continue
            d = json.loads(r.stdout.strip().splitlines()[-1])
            d["x_real_time"] = round(mins * 60 / d["seconds"], 1)
            d["x_real_time_cpu"] = round(mins * 60 / d["cpu_seconds"], 1)
            d["x_real_time_cpu_cold"] = round(mins * 60 / (d["cpu_seconds"] + d["warm_up_cpu_s"]), 1)
            row[mode] = d
            print(f"{mins:6g} min {mode:>7s} {d['x_real_time']:10.1f} {d['x_real_time_cpu']:9.1f} "
                  f"{d['x_real_time_cpu_cold']:9.1f} {d['peak_rss_mb']:12.1f} {d['notes']:7d}", flush=True)
        if "whole" in row and "stream" in row:
            row["same_notes"] = row["whole"]["notes_sha256"] == row["stream"]["notes_sha256"]
            print(f"{'':8s} same notes as the whole-file run: {row['same_notes']}")
        res[f"{mins:g}_min"] = row
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="checkpoint id or directory (default: random weights)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lengths", default="1,10,60", help="file lengths in minutes for the memory/speed section "
                    "('' to skip)")
    args = ap.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from tonehost.exports.convert.onsets_frames import export_checkpoint, random_weights
    from tonehost.exports.tfjs import write_layers_checkpoint
    from tonehost.exports.onnx_session import make_session
    from tonehost.realtime.pipelines.transcriber import Transcriber, transcribe_array
    from tonehost.dsp.mel import log_mel

    tmp = tmpdir()
    out = {}
    # export time, float32 and q2 checkpoints (read + build + check + write)
    for name, quant in (("float32", None), ("q2", "uint16")):
        ckpt = tmp / name
        write_layers_checkpoint(ckpt, random_weights(0), quantize=quant)
        t0 = time.perf_counter()
        export_checkpoint(ckpt, force=True)
        t_export = time.perf_counter() - t0
        t0 = time.perf_counter()
        export_checkpoint(ckpt)
        out[f"export_{name}_s"] = round(t_export, 3)
        out[f"export_{name}_cached_s"] = round(time.perf_counter() - t0, 3)
    model, what = model_path(args.checkpoint, tmp)
    rss0 = rss_mb()
    sess = make_session(model, threads=1)
    out["session_rss_mb"] = round(rss_mb() - rss0, 1)

    audio, sr = sf.read(DATA / "FMP_C1_F12_Bach_BWV846_Sibelius-Tracks.wav", dtype="float32", always_2d=True)
    dur = len(audio) / sr
    best = {}
    for mode, block in (("offline", None), ("streaming_128", 128)):
        ts = []
        for _ in range(args.repeats if mode == "offline" else 1):
            t0 = time.perf_counter()
            tr = transcribe_array(sess, audio, sr, block=block)
            ts.append(time.perf_counter() - t0)
        best[mode] = min(ts)
        out[f"{mode}_s"] = round(min(ts), 3)
        out[f"{mode}_x_realtime"] = round(dur / min(ts), 1)
    # component costs
    from tonehost.realtime.pipelines.transcriber import AudioTo16k, to_mono
    audio_16k = AudioTo16k(sr)
    y = np.concatenate([audio_16k.process(to_mono(audio)), audio_16k.flush()])
    t0 = time.perf_counter()
    mel = log_mel(y)
    out["mel_s"] = round(time.perf_counter() - t0, 3)
    tr = Transcriber(sess, max_chunk=1)
    t0 = time.perf_counter()
    tr.push_mel(mel[:200])
    per = (time.perf_counter() - t0) / tr.frames_done
    out["stream_step_ms_per_frame_chunk1"] = round(per * 1000, 2)
    out["frame_budget_ms"] = 32.0
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["audio_s"] = round(dur, 2)
    out["model"] = what
    if args.lengths.strip():
        out["file_lengths_shipped_model"] = lengths_section(tmp, [float(x) for x in args.lengths.split(",")])
        out["load_avg_1min"] = os.getloadavg()[0]
    for k, v in out.items():
        print(f"{k:36s} {v}")
    print("->", save("transcribe_throughput", out))


if __name__ == "__main__":
    main()
