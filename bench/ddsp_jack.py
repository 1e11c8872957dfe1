"""Voice in to instrument out through a real JACK server: latency distribution, jitter, CPU per block, xruns vs the C
reference.

A harness (JACK clients in a separate process, so they never contend for tonehost's GIL) plays the test voice
(:func:`tonehost.realtime.pipelines.live_voice.event_signal`: ``--cycles`` times silence, a 220 Hz voice-like tone
onset, a step to 330 Hz, each onset and step at a random phase of the block, tracker and model grids) into
tonehost's input; tonehost runs the live voice instrument exactly as ``tonehost play`` does
(:class:`~tonehost.realtime.pipelines.live_voice.LiveInstrument` on a worker of the GIL-free engine: control frames
stamped with their input sample + ``D``, synthesised sample-accurately in the callback); the harness records
tonehost's output. The harness stamps its blocks with JACK's frame clock, so input and output share one time base,
and each event's arrival is detected by :func:`tonehost.realtime.pipelines.live_voice.event_latencies`: onset when
the sound starts (:func:`~tonehost.realtime.pipelines.live_voice.onset_start`, the quadrature energy at -50 dB of the
steady level), step at the middle of the synthesiser's f0 ramp
(:func:`~tonehost.realtime.pipelines.live_voice.step_phase_arrival`, where the fundamental's phase lines before and
after meet); beside them the measures used before, whose own spread on synthetic events with known times
(``bench.jitter_measures``) is 0.4-0.9 ms and 0.5-2.9 ms against 0.02 and 0.04-0.08 ms: onset when the 1 ms
envelope reaches -20 dB of its steady level, step when the output repeats at its new period rather than its old
one (:func:`~tonehost.realtime.pipelines.live_voice.step_arrival`), and the partials of 330 Hz outweighing those of
220 Hz in 20 ms windows. Reported per event kind: p5/p50/p95 of the
latency and the jitter p95 - p5 over all events of all runs (and per run, with its late frames and the load
average), through JACK and offline (the same instrument fed the
same signal without JACK, D = 0); the expected budget per
stage; a histogram PNG. ``--mode ring`` measures the previous design (the pipeline synthesises in the worker and
queues samples through the output ring) for comparison. Meanwhile ``jack_simple_client`` runs and jackd's log
attributes xruns per client.

The device's own buffers are not included (the dummy backend has none): on a sound card add its input + output
latency. Targets (issue 15) at 48 kHz / 128: onset <= 8 ms, pitch step <= 12 ms; at 64: onset <= 6 ms; jitter
p95 - p5 <= 1 ms over >= 50 events. DDSP-VST reports 64 ms. Writes ``bench/results/ddsp_jack.json`` (``_64`` for
``--block 64``; run the server at that period).

    jackd -n bench -R -d dummy -r 48000 -p 128 &   # or scripts/with_jack.sh
    JACK_DEFAULT_SERVER=bench .venv/bin/python -m bench.ddsp_jack --checkpoint exports/shipped/violin.onnx \
        [--runs 3] [--cycles 20] [--block 128] [--mode live|ring]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench._common import RESULTS, ROOT, module_command, no_jack_server, save_json
from tonehost.realtime.testing import jack as jackutil
from tonehost.realtime.audio.engine import Engine, EngineConfig
from tonehost.realtime.audio.worker import below_audio_priority, set_thread_realtime
from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig
from tonehost.realtime.pipelines.live_voice import LiveInstrument, distribution, event_latencies, event_signal


# result keys -> live_voice.event_latencies keys: the measures of the README so far (onset: the 1 ms envelope reaching
# -20 dB; step: the output repeating at its new period) and the ones that do not add their own spread
# (onset_start: the sound starts; pitch_step_phase: the middle of the f0 ramp from the fundamental's phase), and the
# partial-energy step measure before those
MEASURES = {"onset": "onset_envelope", "onset_start": "onset_start", "pitch_step": "step_period",
            "pitch_step_phase": "step_phase", "pitch_step_partials": "step_partials"}


def _model(checkpoint: str | None) -> tuple[str, str]:
    if checkpoint:
        from tonehost.exports.resolve import instrument_model
        return str(instrument_model(None, checkpoint)), checkpoint
    from tonehost.realtime.testing.models import make_random_controls_onnx
    path = Path(tempfile.mkdtemp()) / "random.onnx"
    make_random_controls_onnx(path)
    return str(path), "random weights, 250 frames/s (latency does not depend on the weights)"


def harness(signal_path: str, out_path: str, seconds: float) -> None:
    """Child process: play the signal into tonehost's input, record tonehost's output, stamp with JACK frames."""
    import jack

    signal = np.load(signal_path).astype(np.float32)
    player = jack.Client("th_bench_voice", no_start_server=True)
    capture = jack.Client("th_bench_ear", no_start_server=True)
    out_port = player.outports.register("out")
    in_port = capture.inports.register("in")
    go = threading.Event()
    state = {"pos": 0, "start_frame": -1}
    rec: list[tuple[int, np.ndarray]] = []
    played: list[int] = []  # the frame time of every cycle the player ran (a missed cycle leaves a hole)

    @player.set_process_callback
    def play(frames):
        buf = out_port.get_array()
        if not go.is_set():
            buf[:] = 0
            return
        if state["start_frame"] < 0:
            state["start_frame"] = player.last_frame_time
        # the signal's position from JACK's frame clock, not from counting callbacks: a cycle this client misses
        # (an xrun) skips its samples instead of delaying the rest of the signal against the clock
        i = player.last_frame_time - state["start_frame"]
        chunk = signal[i:i + frames] if i < len(signal) else signal[:0]
        buf[:len(chunk)] = chunk
        buf[len(chunk):] = 0
        state["pos"] = i + frames
        played.append(player.last_frame_time)

    @capture.set_process_callback
    def cap(frames):
        if go.is_set():
            rec.append((capture.last_frame_time, in_port.get_array().copy()))

    with player, capture:
        ins, outs = jackutil.engine_ports()
        player.connect(out_port, ins[0])
        capture.connect(outs[0], in_port)
        time.sleep(0.3)
        go.set()
        time.sleep(seconds)
    frames = np.array([f for f, _ in rec], np.int64)
    np.savez(out_path, start=state["start_frame"], frames=frames, played=np.array(played, np.int64),
             audio=np.concatenate([b for _, b in rec]) if rec else np.zeros(0, np.float32),
             sizes=np.array([len(b) for _, b in rec]))


def run_once(model: str, block: int, cycles: int, seed: int, sr: int = 48000, mode: str = "live",
             delay: int | None = None, priority: int | None = None) -> dict:
    signal, onsets, steps = event_signal(sr, cycles, seed)
    pipe = InstrumentPipeline(ControlsModel(model), PipelineConfig(sample_rate=sr))
    offline_pipe = InstrumentPipeline(ControlsModel(model), PipelineConfig(sample_rate=sr))
    if mode == "live":
        live = LiveInstrument(pipe)
        y_off = LiveInstrument(offline_pipe).render(signal, block)
        eng = Engine(EngineConfig(sample_rate=sr, block_size=block, in_channels=1, out_channels=2,
                                  **live.engine_settings()))
        process, times, output = live.process, live.block_times, None
    else:
        y_off = offline_pipe.render(signal, sr, block_size=block, whole_file=False, fast=False) \
            if "fast" in InstrumentPipeline.render.__code__.co_varnames else \
            offline_pipe.render(signal, sr, block_size=block, whole_file=False)
        eng = Engine(EngineConfig(sample_rate=sr, block_size=block, in_channels=1, out_channels=2))
        live = None
        process, times = pipe.process, pipe.block_times
        output = lambda y: eng.write_output(np.ascontiguousarray(y, np.float32))  # noqa: E731
    off = event_latencies(y_off, sr, onsets, steps)
    stop = threading.Event()

    rt = {}

    def worker():
        # as tonehost play's worker: one step below the JACK process thread unless a priority is given
        rt["realtime"] = set_thread_realtime(below_audio_priority() if priority is None else priority)
        buf = np.zeros(8192, np.float32)
        while not stop.is_set():
            if not eng.wait_block(0.1):
                continue
            n = eng.read_input(buf)
            if n:
                y = process(buf[:n])
                if output is not None:
                    output(y)

    tmp = Path(tempfile.mkdtemp())
    np.save(tmp / "signal.npy", signal)
    with jackutil.ReferenceClient() as ref, eng:
        if live is not None:
            live.attach(eng, delay)  # D from the server's period
        jackutil.isolate_input(jackutil.engine_ports()[0][0])
        t = threading.Thread(target=worker)
        t.start()
        time.sleep(0.3)
        load = os.getloadavg()
        eng.reset_stats()
        times.clear()
        log = jackutil.XrunLog().start()
        subprocess.run(module_command("bench.ddsp_jack", "--harness", tmp / "signal.npy", tmp / "rec.npz",
                                      len(signal) / sr + 0.3), cwd=ROOT, check=True, timeout=600)
        xr = log.stop()
        stats = eng.stats()
        stop.set()
        t.join()
    r = np.load(tmp / "rec.npz")
    y = np.zeros(len(signal) + sr, np.float32)
    pos = 0
    for f, size in zip(r["frames"], r["sizes"]):
        k = int(f - r["start"])
        if 0 <= k < len(y) - size:
            y[k:k + size] = r["audio"][pos:pos + size]
        pos += size
    jack = event_latencies(y, sr, onsets, steps)
    # cycles a harness client missed (an xrun on the loaded machine): a hole in the input tonehost heard or in the
    # recording; the events whose input or output window holds one are counted apart (their latency is kept)
    holes = []
    for seq in (r["played"], r["frames"]):
        seq = np.asarray(seq, np.int64)
        if len(seq) > 1:
            gap = np.flatnonzero(np.diff(seq) > block)
            holes += [(int(seq[g] - r["start"]), int(seq[g + 1] - r["start"])) for g in gap]
    d_out = (live.delay if live is not None else 0) + sr // 50  # the answer comes within D + 20 ms

    def disturbed(t: float, before: float, after: float) -> bool:
        a, b = int(t * sr - before * sr), int(t * sr + after * sr) + d_out
        return any(h0 < b and h1 > a for h0, h1 in holes)

    clean_on = [not disturbed(t, 0.005, 0.0) for t in onsets]
    clean_step = [not disturbed(t, 0.02, 0.0) for t in steps]
    bt = np.asarray(times or [0.0]) * 1e6
    if live is not None:
        budget = live.latency_budget(block)
    else:
        budget = {"onset": pipe.latency_budget(block), "pitch_step": {}}
    return {
        "block": block, "mode": mode, "delay_samples": live.delay if live is not None else None,
        "delay_start_samples": (live.adaptive.minimum if live.adaptive else live.delay) if live is not None else None,
        "delay_changes": [list(c) for c in live.adaptive.changes] if live is not None and live.adaptive else [],
        "worker_realtime": bool(rt.get("realtime")),
        "harness_holes": holes, "onset_clean": clean_on, "step_clean": clean_step,
        "load_average": [round(v, 2) for v in (*load, *os.getloadavg())],  # 1/5/15 min before and after the run
        **{f"{where}_{name}_ms": r[key].tolist() for where, r in (("jack", jack), ("offline", off))
           for name, key in MEASURES.items()},
        "worker_us_p50": float(np.percentile(bt, 50)), "worker_us_p99": float(np.percentile(bt, 99)),
        "callback_us_p50": stats["callback_us_p50"], "callback_us_p99": stats["callback_us_p99"],
        "output_underrun_blocks": stats["output_underrun_blocks"],
        "synth_frames_late": stats["synth_frames_late"], "synth_frames_applied": stats["synth_frames_applied"],
        "synth_late_samples_max": stats["synth_late_samples_max"],
        "frames_dropped": live.frames_dropped if live is not None else 0,
        "xruns_tonehost": xr.get("tonehost", 0), "xruns_c_reference": xr.get(ref.name, 0),
        "xruns_harness": xr.get("th_bench_voice", 0) + xr.get("th_bench_ear", 0),
        "budget_ms": budget,
    }


def histogram_png(path: Path, series: dict, title: str) -> Path | None:
    """One histogram per event kind (``series``: name -> values in ms); None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.2))
    for ax, (name, vals) in zip(np.atleast_1d(axes), series.items()):
        v = np.asarray([x for x in vals if np.isfinite(x)])
        if len(v):
            ax.hist(v, bins=np.arange(np.floor(v.min()) - 0.5, np.ceil(v.max()) + 1.0, 0.25))
        ax.set_title(name)
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("events")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="instrument (id, dir or .onnx); default: random weights")
    ap.add_argument("--block", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cycles", type=int, default=20, help="onset + step events per run (default 20)")
    ap.add_argument("--mode", choices=("live", "ring"), default="live",
                    help="live: control frames scheduled at D in the callback synth (tonehost play); ring: the "
                    "previous design, audio from the worker through the output ring")
    ap.add_argument("--delay", type=int, help="scheduling delay D in samples (default: whole blocks >= 2.6 ms)")
    ap.add_argument("--priority", type=int, default=None, help="the worker's SCHED_FIFO priority (default as in "
                    "tonehost play: one below the JACK process thread; 0: ordinary scheduling)")
    ap.add_argument("-o", "--output", help="default bench/results/ddsp_jack[_BLOCK][_ring].json")
    ap.add_argument("--harness", nargs=3, metavar=("SIGNAL", "OUT", "SECONDS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.harness:
        harness(args.harness[0], args.harness[1], float(args.harness[2]))
        return 0
    if no_jack_server():
        return 2
    suffix = ("" if args.block == 128 else f"_{args.block}") + ("" if args.mode == "live" else "_ring")
    output = Path(args.output or RESULTS / f"ddsp_jack{suffix}.json")
    model, what = _model(args.checkpoint)
    runs = [run_once(model, args.block, args.cycles, seed, mode=args.mode, delay=args.delay, priority=args.priority)
            for seed in range(args.runs)]
    every = lambda k: [v for r in runs for v in r[k]]  # noqa: E731
    dist = {f"{where}_{name}_ms": distribution(every(f"{where}_{name}_ms")) for where in ("jack", "offline")
            for name in MEASURES}
    per_run = [{f"{where}_{name}_ms": distribution(r[f"{where}_{name}_ms"]) for where in ("jack", "offline")
                for name in MEASURES} for r in runs]
    clean = {name: distribution([v for r in runs for v, ok in zip(r[f"jack_{name}_ms"], r[
        "onset_clean" if name.startswith("onset") else "step_clean"]) if ok]) for name in MEASURES}
    both = distribution(every("jack_onset_start_ms") + every("jack_pitch_step_phase_ms"))
    both_before = distribution(every("jack_onset_ms") + every("jack_pitch_step_ms"))
    summary = {k: float(np.median([r[k] for r in runs])) for k in ("worker_us_p50", "worker_us_p99",
                                                                   "callback_us_p50", "callback_us_p99")}
    summary.update({k: int(sum(r[k] for r in runs)) for k in (
        "xruns_tonehost", "xruns_c_reference", "xruns_harness", "output_underrun_blocks", "synth_frames_late",
        "synth_frames_applied", "frames_dropped")})
    summary["synth_late_samples_max"] = int(max(r["synth_late_samples_max"] for r in runs))
    targets = {"onset_ms": 8.0 if args.block >= 128 else 6.0, "pitch_step_ms": 12.0, "jitter_ms": 1.0,
               "events": 50}
    png = histogram_png(output.with_name(f"ddsp_jack{suffix}_hist.png"),
                        {"tone onset (JACK, sound starts)": every("jack_onset_start_ms"),
                         "pitch step (JACK, f0 ramp's middle)": every("jack_pitch_step_phase_ms")},
                        f"voice -> instrument ({args.mode}), JACK 48 kHz / {args.block}, {what[:30]}")
    res = {"model": what, "block": args.block, "mode": args.mode, "cycles": args.cycles, "runs": runs,
           "distribution": dist, "distribution_per_run": per_run,
           "distribution_without_harness_holes": clean,
           "jitter_all_events": both, "jitter_all_events_before": both_before, "summary": summary, "targets": targets,
           "histogram": str(png) if png else None,
           "command": "python -m bench.ddsp_jack " + " ".join(argv if argv is not None else __import__("sys").argv[1:])}
    out = save_json(output, res)
    d = runs[0]["delay_start_samples"]  # the starting D (the adaptive floor)
    print(f"DDSP voice -> instrument through JACK at 48 kHz / {args.block} ({what}), mode {args.mode}"
          + (f" (D = {d} samples, {1000.0 * d / 48000:.2f} ms)" if d else "")
          + (", worker SCHED_FIFO" if runs[0]["worker_realtime"] else ", worker at ordinary priority")
          + f", {args.runs} runs x "
          f"{args.cycles} cycles")

    def line(j: dict, o: dict) -> str:
        return (f"JACK p5/p50/p95 {j['p5']:5.2f} / {j['p50']:5.2f} / {j['p95']:5.2f} ms, jitter {j['jitter']:4.2f} ms "
                f"over {j['n']} events ({j['missed']} missed); offline (D = 0) p50 {o['p50']:5.2f} ms, jitter "
                f"{o['jitter']:4.2f} ms")

    for kind, new, target, what_new, what_old in (
            ("onset", "onset_start", targets["onset_ms"], "the sound starts (-50 dB, onset_start)",
             "the 1 ms envelope reaches -20 dB"),
            ("pitch_step", "pitch_step_phase", targets["pitch_step_ms"],
             "the f0 ramp's middle (fundamental's phase, step_phase_arrival)",
             "the output repeats at its new period, step_arrival")):
        j = dist[f"jack_{new}_ms"]
        jo = dist[f"jack_{kind}_ms"]
        # the latency target on the measure used so far (the later of the two for an onset), jitter on the new one
        ok = (max(j["p50"], jo["p50"]) <= target and j["jitter"] <= targets["jitter_ms"]
              and j["n"] >= targets["events"])
        print(f"  {kind.replace('_', ' '):10s}: {what_new}: {line(j, dist[f'offline_{new}_ms'])}  [target <= "
              f"{target:.0f} ms, jitter <= 1 ms: {'met' if ok else 'MISSED'}]")
        print(f"  {'':10s}  by the measure before ({what_old}; its own spread on synthetic events "
              f"{'0.4-0.9' if kind == 'onset' else '0.5-2.6'} ms, bench.jitter_measures): "
              f"{line(jo, dist[f'offline_{kind}_ms'])}")
        c = clean[new]
        print(f"  {'':10s}  without the {j['n'] + j['missed'] - c['n'] - c['missed']} events whose input or recording "
              f"has a cycle a harness client missed (xrun): p5/p50/p95 {c['p5']:5.2f} / {c['p50']:5.2f} / "
              f"{c['p95']:5.2f} ms, jitter {c['jitter']:4.2f} ms over {c['n']}")
        print(f"  {'':10s}  per run (JACK jitter new / before, synth frames late): " + ", ".join(
            f"{p[f'jack_{new}_ms']['jitter']:.2f} / {p[f'jack_{kind}_ms']['jitter']:.2f}, {r['synth_frames_late']}"
            for p, r in zip(per_run, runs)))
    j, o = dist["jack_pitch_step_partials_ms"], dist["offline_pitch_step_partials_ms"]
    print(f"  pitch step by the 330-vs-220 Hz partial energy (the measure before step_arrival, 2.5-3.3 ms late "
          f"when the instrument plays an octave up): JACK p5/p50/p95 {j['p5']:5.1f} / {j['p50']:5.1f} "
          f"/ {j['p95']:5.1f} ms, jitter {j['jitter']:4.1f} ms; offline p50 {o['p50']:5.1f} ms, jitter "
          f"{o['jitter']:4.1f} ms")
    print(f"  jitter over all {both['n']} onsets and steps together: {both['jitter']:.2f} ms (by the measures before: "
          f"{both_before['jitter']:.2f} ms)")
    print("  load average 1/5/15 min before / after each run: " + "; ".join(
        f"{r['load_average'][0]:.2f} {r['load_average'][1]:.2f} {r['load_average'][2]:.2f} / {r['load_average'][3]:.2f}"
        for r in runs))
    for kind, stages in runs[0]["budget_ms"].items():
        if stages:
            print(f"  budget {kind} (ms, sum {sum(stages.values()):.1f}): "
                  + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    print(f"  worker per block p50/p99 {summary['worker_us_p50']:.0f}/{summary['worker_us_p99']:.0f} us, "
          f"callback p50/p99 {summary['callback_us_p50']:.0f}/{summary['callback_us_p99']:.0f} us")
    print(f"  xruns over {args.runs} runs: tonehost {summary['xruns_tonehost']}, jack_simple_client "
          f"{summary['xruns_c_reference']} (harness clients {summary['xruns_harness']}); output underruns "
          f"{summary['output_underrun_blocks']} blocks; synth frames late {summary['synth_frames_late']} of "
          f"{summary['synth_frames_applied']} (at most {summary['synth_late_samples_max']} samples), dropped "
          f"{summary['frames_dropped']}")
    changes = [(i, c) for i, r in enumerate(runs) for c in r.get("delay_changes", [])]
    print("  adaptive D: " + ("unchanged in every run" if not changes else "; ".join(
        f"run {i + 1} at {t / 48000:.1f} s -> {v} samples" for i, (t, v) in changes)))
    if png:
        print(f"  histogram: {png}")
    print("  DDSP-VST reports 64 ms; BRAVE under 10 ms with about 3 ms of jitter")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
