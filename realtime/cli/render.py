"""``tonehost render VOICE.wav --instrument violin -o out.wav``: the live pipeline, offline."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def add_pipeline_args(p) -> None:
    """Options shared by ``render`` and ``play``."""
    p.add_argument("--instrument", default="violin", help="DDSP instrument: violin (default; the violin "
                   "shipped with tonehost, no download), flute, trumpet, tenor_saxophone (hosted checkpoints, "
                   "index id ddsp_<name>)")
    p.add_argument("--checkpoint", help="instead of --instrument: an index id (e.g. ddsp_violin for the hosted "
                   "violin), a checkpoint directory (model.json + settings.json) or a .onnx controls model")
    p.add_argument("--tracker", choices=["yin", "ddsp-vst"], default="yin",
                   help="pitch tracker: yin (tonehost's low-latency tracker, default) or ddsp-vst (its model)")
    p.add_argument("--pitch-shift", type=float, default=0.0, help="transpose, in semitones (default 0)")
    p.add_argument("--input-gain", type=float, default=0.0, help="input gain in dB (default 0)")
    p.add_argument("--no-auto-register", action="store_true",
                   help="don't shift by octaves toward the instrument's register (settings.json meanPitch)")
    p.add_argument("--reverb", action="store_true", help="add magenta.js-style reverb (3 s, 30%% wet)")
    p.add_argument("--gain", type=float, default=1.0, help="output gain (linear, default 1)")


def build_pipeline(args, sample_rate: int = 48000):
    """An :class:`~tonehost.realtime.pipelines.instrument.InstrumentPipeline` from the shared options."""
    from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig
    from tonehost.exports.resolve import instrument_model
    path = instrument_model(args.instrument, args.checkpoint)
    cfg = PipelineConfig(sample_rate=sample_rate, tracker=args.tracker, input_gain_db=args.input_gain,
                         pitch_shift=args.pitch_shift, auto_register=not args.no_auto_register,
                         reverb=args.reverb, output_gain=args.gain)
    return InstrumentPipeline(ControlsModel(path), cfg)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render", help="turn a voice recording into an instrument (offline, faster than real time)",
        description="Run the same pipeline as `tonehost play` over VOICE and write the instrument at 48 kHz.")
    p.add_argument("voice", help="input recording (wav/flac/ogg, any rate)")
    p.add_argument("-o", "--output", required=True, help="output wav file (48 kHz, mono, float)")
    add_pipeline_args(p)
    p.add_argument("--tail", type=float, default=None, help="seconds of tail to render (default 0, 2 with --reverb)")
    p.set_defaults(func=run)


def run(args) -> int:
    import soundfile as sf
    from tonehost.realtime.io import read_audio
    x, sr = read_audio(args.voice)
    pipe = build_pipeline(args)
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
