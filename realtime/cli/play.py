"""``tonehost play --instrument violin``: live, mic (or MIDI keyboard) to speakers through a DDSP instrument.

The pipeline (:class:`~tonehost.realtime.pipelines.instrument.InstrumentPipeline`) runs on a
:class:`~tonehost.realtime.audio.worker.Worker` fed by the engine (GIL-free callback, lock-free rings, woken once
per block). A status
line shows input/output meters, f0, and the latency: the device's reported input+output latency plus the
pipeline's own, measured at start-up through the same code path. Type another instrument name (or a .onnx path)
and Enter to switch instruments without restarting the stream; ``q`` + Enter quits.
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np

from tonehost.realtime.cli.options import add_instrument_args, audio_device, instrument_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "play", help="live: sing or hum into the mic and hear a DDSP instrument (or play it from MIDI)",
        description="Full-duplex audio through a DDSP instrument. Shows input/output meters and the measured "
        "latency. While playing, type an instrument name (violin, flute, trumpet, tenor_saxophone), an index id "
        "or a .onnx path and press Enter to switch; q + Enter to stop.")
    add_instrument_args(p)
    p.add_argument("--device", help="audio device index or name (see `tonehost devices`); default: system default")
    p.add_argument("--block-size", "--blocksize", dest="block_size", type=int, default=128, help="frames per audio block (default 128)")
    p.add_argument("--sample-rate", "--samplerate", dest="sample_rate", type=int, default=48000, help="sample rate (default 48000)")
    p.add_argument("--midi-in", metavar="PORT", help="play from this MIDI input (name, part of a name, or index) "
                   "instead of the voice: note -> pitch with portamento, velocity -> loudness")
    p.add_argument("--portamento", type=float, default=0.05, help="MIDI glide time constant in s (default 0.05)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (default: run until q)")
    p.set_defaults(func=run)


def _db(x: float) -> float:
    return 20.0 * np.log10(max(x, 1e-7))


def _midi_range(pipe):
    info = pipe.controls.info
    if info.db_kind == "power_db":
        return -70.0, -15.0
    s = info.settings or {}
    hi = float(s.get("averageMaxLoudness", -45.0))
    return hi - 35.0, hi


def run(args) -> int:
    from tonehost.exports.errors import DeviceError
    from tonehost.exports.resolve import instrument_model
    from tonehost.realtime.audio.engine import Engine, EngineConfig
    from tonehost.realtime.audio.worker import Worker
    from tonehost.realtime.pipelines.instrument import ControlsModel, measure_latency

    sr = args.sample_rate
    instrument = instrument_from_args(args, sr)
    # Measure the pipeline's own delay on a throwaway copy (same code path, same settings).
    measured = measure_latency(instrument.pipeline(), args.block_size)
    pipe = instrument.pipeline()
    midi_port = None
    if args.midi_in:
        from tonehost.realtime.midi.input import MidiVoice, open_midi_input
        lo, hi = _midi_range(pipe)
        voice = MidiVoice(db_low=lo, db_high=hi, portamento_s=args.portamento)
        midi_port = open_midi_input(args.midi_in, voice)
        pipe.set_external_control(voice)

    meters = {"in": 0.0, "out": 0.0}
    lock = threading.Lock()

    def work(block: np.ndarray) -> np.ndarray:
        y = pipe.process(block)
        with lock:
            meters["in"] = max(meters["in"], float(np.max(np.abs(block))) if len(block) else 0.0)
            meters["out"] = max(meters["out"], float(np.max(np.abs(y))) if len(y) else 0.0)
        return y

    stop = threading.Event()
    engine = Engine(EngineConfig(device=audio_device(args.device), sample_rate=sr, block_size=args.block_size,
                                 in_channels=1, out_channels=2))
    engine.start()  # a DeviceError names the device and the fix
    lat = engine.latency()
    device_latency_ms = 1000.0 * (lat["input"] + lat["output"])
    worker = Worker(engine, work, output=engine.write_output, name="play-worker").start()

    def console():
        for line in sys.stdin:
            cmd = line.strip()
            if not cmd:
                continue
            if cmd in ("q", "quit", "exit"):
                stop.set()
                return
            try:
                onnx = instrument_model(cmd if not cmd.endswith(".onnx") and "/" not in cmd else None,
                                        cmd if cmd.endswith(".onnx") or "/" in cmd else None)
                pipe.set_controls(ControlsModel(onnx))
                print(f"\nswitched to {cmd}", file=sys.stderr)
            except Exception as exc:  # keep playing on a bad name
                print(f"\ncannot switch to {cmd}: {getattr(exc, 'user_message', exc)}", file=sys.stderr)

    if sys.stdin and sys.stdin.isatty():
        threading.Thread(target=console, daemon=True).start()
    algo = max(measured["onset_ms"], measured["pitch_step_ms"])
    print(f"playing {pipe.controls.name} at {sr} Hz / {args.block_size}; pipeline latency measured: onset "
          f"{measured['onset_ms']:.1f} ms, pitch step {measured['pitch_step_ms']:.1f} ms", file=sys.stderr)
    t_start = time.monotonic()
    try:
        while not stop.is_set():
            time.sleep(0.2)
            with lock:
                mi, mo = meters["in"], meters["out"]
                meters["in"] = meters["out"] = 0.0
            last = pipe.last
            total = device_latency_ms + algo
            bar_in = "#" * int(max(0, 60 + _db(mi)) / 3)
            bar_out = "#" * int(max(0, 60 + _db(mo)) / 3)
            print(f"\rin {_db(mi):6.1f} dB {bar_in:<20} out {_db(mo):6.1f} dB {bar_out:<20} "
                  f"f0 {last['f0_hz']:7.1f} Hz {'voiced' if last['voiced'] else '      '} "
                  f"latency {total:5.1f} ms (device {device_latency_ms:.1f})  ", end="", file=sys.stderr)
            if not worker.running:
                try:
                    worker.join()
                except Exception as exc:
                    raise DeviceError(f"audio stream failed: {exc}") from None
            if args.duration and time.monotonic() - t_start >= args.duration:
                break
    finally:
        stop.set()
        try:
            worker.stop()
        finally:
            stats = engine.stats()
            engine.close()
            if midi_port is not None:
                midi_port.close()
            print(file=sys.stderr)
    bt = np.asarray(pipe.block_times or [0.0]) * 1e6
    print(f"blocks {len(pipe.block_times)}, worker CPU per block p50 {np.percentile(bt, 50):.0f} us, "
          f"p99 {np.percentile(bt, 99):.0f} us; xruns {stats['xruns']}, output underruns "
          f"{stats['output_underrun_blocks']} blocks, input dropped {stats['input_dropped']} samples, callback p99 "
          f"{stats['callback_us_p99']:.0f} us", file=sys.stderr)
    return 0
