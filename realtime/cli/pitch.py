"""``tonehost pitch AUDIO.wav -o f0.csv``: the live pitch tracker over a file, for evaluation."""
from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from tonehost.realtime.cli.options import output_file, positive_float


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pitch", help="track f0 of a recording with the live tracker, write time,f0_hz,confidence CSV",
        description="Run the live voice tracker (or the DDSP-VST pitch model) over AUDIO and write one row per "
        "frame: time (s, centre of the analysis window), f0_hz (0 where unvoiced), confidence (0..1).")
    p.add_argument("audio", help="input audio file (wav/flac/ogg; any rate, mixed to mono)")
    p.add_argument("-o", "--output", required=True, type=output_file, help="CSV file to write")
    p.add_argument("--tracker", choices=["yin", "ddsp-vst"], default="yin",
                   help="yin: tonehost's live tracker (default); ddsp-vst: DDSP-VST's CREPE-micro model (ONNX)")
    p.add_argument("--hop-ms", type=positive_float, default=4.0, help="frame hop in milliseconds (default 4; "
                   "ddsp-vst uses 20 unless given)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tonehost.realtime.io import read_audio
    x, sr = read_audio(args.audio)
    t0 = time.perf_counter()
    if args.tracker == "yin":
        from tonehost.dsp.features import track_pitch
        times, f0, conf = track_pitch(x, sr, hop_length=max(1, int(round(args.hop_ms * 16))))
    else:
        from tonehost.dsp.resample import resample_to
        from tonehost.exports.convert.pitch_model import DDSPVSTPitchModel
        audio_16k = resample_to(x, sr, 16000)
        hop = int(round((args.hop_ms if args.hop_ms != 4.0 else 20.0) * 16))
        times, f0, conf, _ = DDSPVSTPitchModel().track(audio_16k, hop=hop, center=True)
        f0 = np.where(conf >= 0.5, f0, 0.0)
    dt = time.perf_counter() - t0
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "f0_hz", "confidence"])
        for t, f, c in zip(times, f0, conf):
            w.writerow([f"{t:.4f}", f"{f:.3f}", f"{c:.3f}"])
    dur = len(x) / sr
    print(f"{out}: {len(times)} frames, {dur:.2f} s of audio in {dt:.2f} s ({dur / max(dt, 1e-9):.0f}x real time)")
    return 0
