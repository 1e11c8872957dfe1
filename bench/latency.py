"""Where every millisecond goes in the engine, measured through a real JACK server.

For each block size (64, 128, 256; the JACK period is switched with ``jack_bufsize``):

- round-trip latency, measured with an impulse through JACK with tonehost's output wired to its own input:
  * ``direct``: the callback copies input to output (the JACK loop itself: the reference floor),
  * ``worker``: input -> ring -> worker thread -> ring -> output (the engine's processing graph);
  the engine's own round trip is ``worker - direct`` (target: within 2 blocks);
- per-stage cost per block (p50/p99/max): the callback with and without 60 harmonics + 65-band noise
  synthesised in it (the difference is the synth's cost, target < 5% of one core), and the worker stage;
- xruns per client over the same window for tonehost and the C reference ``jack_simple_client``, idle and
  with a GIL-hogging Python thread in tonehost's process (target: zero extra over the reference).

Prints a table and writes ``bench/results/latency.json``. ``--quick`` shortens the windows.

    bash scripts/with_jack.sh .venv/bin/python -m bench.latency [--quick] [--blocks 64,128,256]
"""
from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import numpy as np

from bench._common import RESULTS, no_jack_server, save_json
from tonehost.realtime.testing import jack
from tonehost.realtime.audio.engine import Engine, EngineConfig
from tonehost.realtime.testing.gil_probe import measure_window, python_callback_control

SR = 48000


def wire_loopback():
    ins, outs = jack.engine_ports()
    jack.isolate_input(ins[0])
    jack.connect(outs[0], ins[0])


def impulse_period(eng, mode: str, block: int, seconds: float = 1.5) -> dict:
    """Inject one impulse; it circulates through the loop: the spacing of its arrivals is the round trip."""
    buf = np.zeros(1 << 16, np.float32)
    arrivals, pos, stage_us = [], 0, []
    eng.read_input(buf)
    injected = False
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        eng.wait_block(0.05)
        t0 = time.perf_counter()
        m = eng.read_input(buf)
        x = buf[:m]
        hits = np.flatnonzero(np.abs(x) > 0.05)
        arrivals.extend((pos + hits).tolist())
        pos += m
        if mode == "worker":
            if m == 0:
                continue
            if not injected:
                y = x * 0.7
                y[:1] = 1.0
                injected = True
            else:
                y = x * 0.7          # echo what arrived, attenuated: each trip shows up once more
            eng.write_output(y)
        elif not injected:
            eng.write_output(np.r_[np.float32(1.0), np.zeros(block - 1, np.float32)])  # seed the direct loop
            injected = True
        stage_us.append((time.perf_counter() - t0) * 1e6)
    arr = np.asarray(arrivals)
    gaps = np.diff(arr) if len(arr) > 1 else np.array([np.nan])
    gaps = gaps[gaps > 0]
    period = float(np.median(gaps)) if len(gaps) else float("nan")
    return {"round_trip_samples": period, "round_trip_ms": 1000 * period / SR, "arrivals": int(len(arr)),
            "worker_stage_us": _pct(np.asarray(stage_us))}


def _pct(x: np.ndarray) -> dict:
    if x.size == 0:
        return {"p50": None, "p99": None, "max": None}
    return {"p50": float(np.percentile(x, 50)), "p99": float(np.percentile(x, 99)), "max": float(x.max())}


def callback_cost(block: int, synth: bool, seconds: float) -> dict:
    cfg = EngineConfig(sample_rate=SR, block_size=block, in_channels=1, out_channels=2,
                       synth_harmonics=60 if synth else 0, synth_noise_bands=65)
    stop = threading.Event()
    with Engine(cfg) as eng:
        dist = np.linspace(1, 0.05, 60).astype(np.float32)
        noise = np.full(65, 0.01, np.float32)

        def feed():
            while not stop.is_set():
                eng.wait_block(0.05)
                eng.read_input(np.zeros(4096, np.float32))
                if synth:
                    while eng.frames_queued() < 2 and eng.push_frame(220.0, 0.1, dist, noise):
                        pass
        t = threading.Thread(target=feed)
        t.start()
        time.sleep(0.3)
        eng.reset_stats()
        time.sleep(seconds)
        costs = eng.callback_costs_us()
        stats = eng.stats()
        stop.set()
        t.join()
    out = _pct(costs)
    out["percent_of_core_p50"] = 100 * out["p50"] / (1e6 * block / SR)
    out["synth_frames_late"] = stats["synth_frames_late"]
    return out


def xrun_windows(block: int, seconds: float) -> dict:
    cfg = EngineConfig(sample_rate=SR, block_size=block, in_channels=1, out_channels=2,
                       synth_harmonics=60, synth_noise_bands=65)
    stop = threading.Event()
    with jack.ReferenceClient() as ref, Engine(cfg) as eng:
        dist = np.linspace(1, 0.05, 60).astype(np.float32)

        def feed():
            while not stop.is_set():
                eng.wait_block(0.05)
                eng.read_input(np.zeros(4096, np.float32))
                while eng.frames_queued() < 2 and eng.push_frame(220.0, 0.1, dist):
                    pass
        t = threading.Thread(target=feed)
        t.start()
        idle = measure_window(seconds, eng, hog=False)
        hog = measure_window(seconds, eng, hog=True)
        stop.set()
        t.join()
    pick = lambda w: {"tonehost": w["per_client"].get("tonehost", 0),
                      "jack_simple_client": w["per_client"].get(ref.name, 0),
                      "all_clients": w["per_client"].get("_total", 0),
                      "engine_callbacks": w["engine_callbacks"]}
    return {"idle": pick(idle), "gil_hog": pick(hog), "log_available": idle["log_available"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short windows (about 1 minute in all)")
    ap.add_argument("--blocks", default="64,128,256")
    ap.add_argument("--window", type=float, default=None, help="seconds per xrun window (default 20, quick 4)")
    ap.add_argument("-o", "--output", default=str(RESULTS / "latency.json"))
    args = ap.parse_args(argv)
    window = args.window or (4.0 if args.quick else 20.0)
    if no_jack_server("run through scripts/with_jack.sh (starts jackd -d dummy) or start one"):
        return 2
    results = {"sample_rate": SR, "window_s": window, "blocks": {}}
    for block in [int(b) for b in args.blocks.split(",")]:
        jack.set_buffer_size(block)
        r = {}
        for mode in ("direct", "worker"):
            cfg = EngineConfig(sample_rate=SR, block_size=block, in_channels=1, out_channels=2,
                               monitor=1.0 if mode == "direct" else 0.0)
            with Engine(cfg) as eng:
                wire_loopback()
                time.sleep(0.3)
                r[mode] = impulse_period(eng, mode, block)
        engine_rt = r["worker"]["round_trip_samples"] - r["direct"]["round_trip_samples"]
        r["engine_round_trip_samples"] = engine_rt
        r["engine_round_trip_blocks"] = engine_rt / block
        r["callback_plain_us"] = callback_cost(block, False, min(window, 3.0))
        r["callback_synth_us"] = callback_cost(block, True, min(window, 3.0))
        synth_us = r["callback_synth_us"]["p50"] - r["callback_plain_us"]["p50"]
        r["synth_percent_of_core"] = 100 * synth_us / (1e6 * block / SR)
        r["xruns"] = xrun_windows(block, window)
        r["python_callback_control_gil_hog"] = python_callback_control(min(window, 4.0), True, block_size=block)
        results["blocks"][block] = r
    jack.set_buffer_size(128)
    out = save_json(Path(args.output), results)

    print(f"\nEngine latency and cost at {SR} Hz (JACK dummy backend), xrun windows of {window:g} s")
    print(f"{'block':>5} {'JACK loop':>10} {'worker loop':>12} {'engine RT':>14} {'callback p50/p99 us':>20} "
          f"{'+synth p50/p99 us':>18} {'synth %core':>11}")
    for block, r in results["blocks"].items():
        print(f"{block:>5} {r['direct']['round_trip_ms']:>8.2f}ms {r['worker']['round_trip_ms']:>10.2f}ms "
              f"{r['engine_round_trip_blocks']:>8.2f} blocks {r['callback_plain_us']['p50']:>9.1f}/{r['callback_plain_us']['p99']:<9.1f} "
              f"{r['callback_synth_us']['p50']:>8.1f}/{r['callback_synth_us']['p99']:<8.1f} {r['synth_percent_of_core']:>10.2f}%")
    print(f"\n{'block':>5} {'xruns idle: tonehost / C ref':>30} {'with GIL hog: tonehost / C ref':>32} "
          f"{'Python callback + hog':>22}")
    for block, r in results["blocks"].items():
        x = r["xruns"]
        print(f"{block:>5} {x['idle']['tonehost']:>18} / {x['idle']['jack_simple_client']:<9} "
              f"{x['gil_hog']['tonehost']:>20} / {x['gil_hog']['jack_simple_client']:<9} "
              f"{r['python_callback_control_gil_hog']['xruns']:>14}")
    b128 = results["blocks"].get(128)
    if b128:
        ok_rt = b128["engine_round_trip_blocks"] <= 2
        extra = b128["xruns"]["gil_hog"]["tonehost"] - b128["xruns"]["gil_hog"]["jack_simple_client"]
        print(f"\ntargets at 128: engine round trip {b128['engine_round_trip_blocks']:.2f} blocks (<= 2: "
              f"{'met' if ok_rt else 'MISSED'}); extra xruns over C reference with GIL hog: {extra} "
              f"({'met' if extra <= 0 else 'MISSED'}); synth {b128['synth_percent_of_core']:.2f}% of a core "
              f"(< 5%: {'met' if b128['synth_percent_of_core'] < 5 else 'MISSED'})")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
