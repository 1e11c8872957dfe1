"""``tonehost render VOICE.wav --instrument violin -o out.wav``: the live pipeline, offline."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tonehost.realtime.cli.options import add_instrument_args, instrument_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render", help="turn a voice recording into an instrument (offline, faster than real time)",
        description="Run the same pipeline as `tonehost play` over VOICE and write the instrument at 48 kHz.")
    p.add_argument("voice", help="input recording (wav/flac/ogg, any rate)")
    p.add_argument("-o", "--output", required=True, help="output wav file (48 kHz, mono, float)")
    add_instrument_args(p)
    p.add_argument("--tail", type=float, default=None, help="seconds of tail to render (default 0, 2 with --reverb)")
    p.set_defaults(func=run)


def run(args) -> int:
    import soundfile as sf
    from tonehost.realtime.io import read_audio
    x, sr = read_audio(args.voice)
    pipe = instrument_from_args(args).pipeline()
    tail = args.tail if args.tail is not None else (2.0 if args.reverb else 0.0)
    t0 = time.perf_counter()
    y = pipe.render(x, sr, tail_s=tail)
    dt = time.perf_counter() - t0
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), y, pipe.cfg.sample_rate, subtype="FLOAT")
    dur = len(y) / pipe.cfg.sample_rate
    bt = np.asarray(pipe.block_times) * 1e6
    print(f"{out}: {dur:.2f} s rendered in {dt:.2f} s ({dur / max(dt, 1e-9):.1f}x real time), peak "
          f"{20 * np.log10(max(peak, 1e-9)):.1f} dBFS; per 128-sample block p50 {np.percentile(bt, 50):.0f} us, "
          f"p99 {np.percentile(bt, 99):.0f} us; model {pipe.controls.path.name}")
    return 0
