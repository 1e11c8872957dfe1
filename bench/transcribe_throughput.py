"""Throughput of O&F transcription on one core: export time, offline speed (x real time), streaming cost per
frame, memory.

Pinned to one CPU (``sched_setaffinity``), onnxruntime with 1 thread. Audio: the Bach BWV 846 recording
(25.5 s, 22.05 kHz) from shared/data/piano.

    .venv/bin/python -m bench.transcribe_throughput [--checkpoint onsets_frames_uni] [--repeats 3]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="checkpoint id or directory (default: random weights)")
    ap.add_argument("--repeats", type=int, default=3)
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
    for k, v in out.items():
        print(f"{k:36s} {v}")
    print("->", save("transcribe_throughput", out))


if __name__ == "__main__":
    main()
