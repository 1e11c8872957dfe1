"""``tonehost play --instrument violin``: live, mic (or MIDI keyboard) to speakers through a DDSP instrument.

The pipeline (:class:`tonehost.realtime.pipelines.instrument.InstrumentPipeline`) runs as the worker of :mod:`tonehost.realtime.audio.engine` (GIL-free
callback, lock-free rings, woken once per block). A status
line shows input/output meters, f0, and the latency: the device's reported input+output latency plus the
pipeline's own, measured at start-up through the same code path. Type another instrument name (or a .onnx path)
and Enter to switch instruments without restarting the stream; ``q`` + Enter quits.
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np

from tonehost.realtime.cli.render import add_pipeline_args, build_pipeline


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "play", help="live: sing or hum into the mic and hear a DDSP instrument (or play it from MIDI)",
        description="Full-duplex audio through a DDSP instrument. Shows input/output meters and the measured "
        "latency. While playing, type an instrument name (violin, flute, trumpet, tenor_saxophone), an index id "
        "or a .onnx path and press Enter to switch; q + Enter to stop.")
    add_pipeline_args(p)
    p.add_argument("--device", help="audio device index or name (see `tonehost devices`); default: system default")
    p.add_argument("--block-size", "--blocksize", dest="block_size", type=int, default=128, help="frames per audio block (default 128)")
    p.add_argument("--sample-rate", "--samplerate", dest="sample_rate", type=int, default=48000, help="sample rate (default 48000)")
    p.add_argument("--midi-in", metavar="PORT", help="play from this MIDI input (name, part of a name, or index) "
                   "instead of the voice: note -> pitch with portamento, velocity -> loudness")
    p.add_argument("--portamento", type=float, default=0.05, help="MIDI glide time constant in s (default 0.05)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (default: run until q)")
    p.set_defaults(func=run)


def _device(arg):
    if arg is None:
        return None
    return int(arg) if str(arg).isdigit() else arg


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
    from tonehost.realtime.pipelines.instrument import ControlsModel, measure_latency

    sr = args.sample_rate
    # Measure the pipeline's own delay on a throwaway copy (same code path, same settings).
    probe = build_pipeline(args, sr)
    measured = measure_latency(probe, args.block_size)
    pipe = build_pipeline(args, sr)
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
    device_latency_ms = [float("nan")]
    runner = _start_stream(args, work, stop, device_latency_ms)

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
            total = device_latency_ms[0] + algo
            bar_in = "#" * int(max(0, 60 + _db(mi)) / 3)
            bar_out = "#" * int(max(0, 60 + _db(mo)) / 3)
            print(f"\rin {_db(mi):6.1f} dB {bar_in:<20} out {_db(mo):6.1f} dB {bar_out:<20} "
                  f"f0 {last['f0_hz']:7.1f} Hz {'voiced' if last['voiced'] else '      '} "
                  f"latency {total:5.1f} ms (device {device_latency_ms[0]:.1f})  ", end="", file=sys.stderr)
            if runner.error:
                raise DeviceError(f"audio stream failed: {runner.error}")
            if args.duration and time.monotonic() - t_start >= args.duration:
                break
    finally:
        stop.set()
        runner.close()
        if midi_port is not None:
            midi_port.close()
        print(file=sys.stderr)
    bt = np.asarray(pipe.block_times or [0.0]) * 1e6
    st = runner.last_stats
    print(f"blocks {len(pipe.block_times)}, worker CPU per block p50 {np.percentile(bt, 50):.0f} us, "
          f"p99 {np.percentile(bt, 99):.0f} us; xruns {st['xruns']}, output underruns "
          f"{st['output_underrun_blocks']} blocks, input dropped {st['input_dropped']} samples, callback p99 "
          f"{st['callback_us_p99']:.0f} us", file=sys.stderr)
    return 0


def _start_stream(args, work, stop, device_latency_ms) -> "_EngineRunner":
    """Start the GIL-free engine (:mod:`tonehost.realtime.audio.engine`) with the pipeline as its worker."""
    return _EngineRunner(args, work, stop, device_latency_ms)


class _EngineRunner:
    """Drive the pipeline as the worker of :class:`tonehost.realtime.audio.engine.Engine` (input ring -> work -> output ring).

    The worker sleeps on the engine's eventfd (woken once per audio block) and never touches the audio thread.
    """

    error: str | None = None
    xruns: int = 0

    def __init__(self, args, work, stop, device_latency_ms):
        from tonehost.realtime.audio.engine import Engine, EngineConfig

        self.engine = Engine(EngineConfig(device=_device(args.device), sample_rate=args.sample_rate,
                                          block_size=args.block_size, in_channels=1, out_channels=2))
        self.engine.start()  # DeviceError carries a user_message naming the device and the fix
        lat = self.engine.latency()
        device_latency_ms[0] = 1000.0 * (lat["input"] + lat["output"])
        self._stop = stop
        self._thread = threading.Thread(target=self._loop, args=(work,), daemon=True, name="play-worker")
        self._thread.start()

    def _loop(self, work):
        buf = np.zeros(8192, np.float32)
        try:
            while not self._stop.is_set():
                if not self.engine.wait_block(0.1):
                    continue
                n = self.engine.read_input(buf)
                if n <= 0:
                    continue
                y = work(buf[:n])
                self.engine.write_output(np.ascontiguousarray(y, np.float32))
        except Exception as exc:  # surfaced by the status loop
            self.error = str(exc)

    def stats(self) -> dict:
        return self.engine.stats()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.last_stats = self.engine.stats()
        self.xruns = self.last_stats["xruns"]
        self.engine.close()
