"""End-to-end latency of the DDSP instrument pipeline, voice in to instrument out, plus CPU per block and render
speed. Offline through the live code path (:meth:`InstrumentPipeline.process`, 128-sample blocks at 48 kHz):
a tone onset and a pitch step at the input, their arrival at the output (:func:`measure_latency`); the stage-by-stage
budget; then the two 128-sample device buffers (input + output) a full-duplex stream adds on top.

    .venv/bin/python -m bench.ddsp_latency [--memory-minutes 1,10,60] [--skip-memory] [--parts render,profile,memory]

Uses random-weight controls models in the contract (250 frames/s magenta.js-like, 50 frames/s DDSP-VST-like);
latency does not depend on the weights. Then, with the shipped violin:

- ``tonehost render`` and ``tonehost pitch`` on generated voice files of 1, 10 and 60 minutes (``--memory-minutes``):
  peak memory (the child's max RSS) and speed (audio seconds per wall second and per CPU second) - streaming keeps
  memory flat in the length; target >= 50x real time for render on one core (the children run as an installed
  tonehost does: Python's bytecode cached, :func:`installed_env`);
- the render's CPU by stage (``--parts profile``): resamplers, tracker, normaliser, controls model, synth, the rest,
  per minute of audio, and the process start;
- polyphony: CPU per 128-sample block with 1, 4 and 8 voices sounding, as a share of one core (target: 8 voices
  < 50%), and the cost per voice;
- hum -> MIDI: note-on latency after a sung onset (the tracker's voicing delay), over 30 onsets.

The JACK measurement (xruns against jack_simple_client, jitter) is ``bench.ddsp_jack``. Writes
bench/results/ddsp_latency.json.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import soundfile as sf

from bench._common import SHARED_DATA, save_json, tmpdir

VOICE = SHARED_DATA / "voice" / "mdb_stem_synth" / "AClassicEducation_NightOwl_STEM_08.RESYN.wav"
DDSP_VST_MS = 64.0


def write_voice_file(path, minutes: float, sr: int = 16000, seed: int = 0) -> None:
    """A long voice-like take (phrases of random notes with vibrato and breaths), written in 10 s chunks."""
    from tonehost.dsp.features import voice_like
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * sr)
    with sf.SoundFile(str(path), "w", sr, 1, subtype="PCM_16") as f:
        done = 0
        while done < total:
            n = min(10 * sr, total - done)
            notes = np.repeat(rng.uniform(48, 64, 20), n // 20 + 1)[:n]
            t = np.arange(done, done + n) / sr
            f0 = 440 * 2 ** ((notes - 69 + 0.2 * np.sin(2 * np.pi * 5 * t)) / 12)
            gate = (np.sin(2 * np.pi * t / 3.0) > -0.8).astype(float)  # a breath every 3 s
            f.write((voice_like(f0, sr, 0.2) * gate).astype(np.float32))
            done += n


def installed_env(tmp) -> dict:
    """The environment for ``tonehost`` children as an installed tonehost runs: Python's bytecode cache on (in
    ``tmp/pycache``, never in the source tree). Where ``PYTHONDONTWRITEBYTECODE`` is set (as in this project's
    sandbox) every run would compile all of tonehost's modules from source again, about 0.25 CPU s that no
    installed copy pays (pip writes the ``.pyc`` files at install); :func:`render_profile` reports both."""
    import os
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def run_child(cmd, env=None) -> dict:
    """Run a command; its wall time, CPU time and peak memory (max RSS, from wait4).

    The command runs under GNU ``time`` when it is installed: a child forked straight from this process starts
    with this process's resident pages, and Linux keeps that high-water mark across ``exec``, so its max RSS
    would read at least this (large) process's; forked from ``time`` it starts from a few MB. wait4 on ``time``
    reports its own and its reaped child's usage together (CPU summed, max RSS the larger). ``env``: the
    child's environment (default: this process's)."""
    import os
    import shutil
    import subprocess
    gnu_time = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    if gnu_time:
        cmd = [gnu_time, "-o", os.devnull] + list(cmd)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out = proc.stdout.read().decode(errors="replace") + proc.stderr.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "max_rss_mb": ru.ru_maxrss / 1024.0,
            "rc": proc.returncode, "output": out.strip().splitlines()[-1:], "under_gnu_time": bool(gnu_time)}


def memory_and_speed(minutes_list, tmp) -> dict:
    import sys
    from pathlib import Path
    tonehost = str(Path(sys.executable).parent / "tonehost")
    env = installed_env(tmp)
    sf.write(str(tmp / "warm_up.wav"), np.zeros(1600, np.float32), 16000)
    for what, out in (("render", "warm_up_out.wav"), ("pitch", "warm_up.csv")):  # bytecode written once
        run_child([tonehost, what, str(tmp / "warm_up.wav"), "-o", str(tmp / out)], env)
    print("   (tonehost runs as installed: Python's bytecode cached; see render_profile's process start)")
    res = {"bytecode_cached": True}
    for minutes in minutes_list:
        wav = tmp / f"voice_{minutes:g}min.wav"
        write_voice_file(wav, minutes)
        audio_s = minutes * 60.0
        r = run_child([tonehost, "render", str(wav), "-o", str(tmp / "out.wav")], env)
        p = run_child([tonehost, "pitch", str(wav), "-o", str(tmp / "f0.csv")], env)
        res[f"{minutes:g} min"] = {
            "render": {**r, "x_realtime_wall": audio_s / r["wall_s"], "x_realtime_cpu": audio_s / r["cpu_s"]},
            "pitch": {**p, "x_realtime_wall": audio_s / p["wall_s"], "x_realtime_cpu": audio_s / p["cpu_s"]}}
        for what in ("render", "pitch"):
            q = res[f"{minutes:g} min"][what]
            print(f"   {what:6s} {minutes:5g} min: peak {q['max_rss_mb']:6.0f} MB, {q['x_realtime_wall']:5.1f}x real time "
                  f"(wall), {q['x_realtime_cpu']:5.1f}x per CPU second, exit {q['rc']}"
                  + (f" (target >= 50x per CPU second: {'met' if q['x_realtime_cpu'] >= 50 else 'MISSED'})"
                     if what == "render" else ""), flush=True)
        wav.unlink()
    return res


def poly_cost(block: int = 128, sr: int = 48000, seconds: float = 4.0) -> dict:
    """CPU of the processing thread (time.thread_time) per second of audio with 1, 4 and 8 voices sounding, as a
    share of one core, and per voice; beside it, in the same run, 8 voices with each voice's model stepped on its
    own (the batched model switched off: the reference the batching is measured against)."""
    import mido
    from tonehost.exports.checkpoints.shipped import default_instrument_path
    from tonehost.realtime.pipelines.instrument import ControlsModel, PipelineConfig
    from tonehost.realtime.pipelines.poly import PolyInstrument
    controls = ControlsModel(default_instrument_path("violin"))
    res = {}
    period = 1e6 * block / sr
    for k in (1, 4, 8, "8 unbatched"):
        n = 8 if k == "8 unbatched" else k
        poly = PolyInstrument(controls, voices=8, config=PipelineConfig(sample_rate=sr))
        if k == "8 unbatched":
            poly._batched = None
        ev = [(0.0, mido.Message("note_on", note=55 + 3 * i, velocity=100)) for i in range(n)]
        poly.render(ev, 0.3, block)  # warm-up, notes sounding
        poly.block_times.clear()
        f0, vf0 = poly.model_frames, poly.voice_frames
        c0 = time.thread_time()
        poly.render([], seconds, block)
        cpu = time.thread_time() - c0
        bt = np.asarray(poly.block_times) * 1e6
        res[str(k)] = {"cpu_share_of_one_core": cpu / seconds, "block_us_p50": float(np.percentile(bt, 50)),
                       "block_us_p99": float(np.percentile(bt, 99)), "period_us": period,
                       "model_calls_per_s": (poly.model_frames - f0) / seconds,
                       "voice_frames_per_s": (poly.voice_frames - vf0) / seconds}
        print(f"   {k} voice(s): {100 * cpu / seconds:5.1f}% of one core (thread CPU time), block p50 "
              f"{np.percentile(bt, 50):.0f} us / p99 {np.percentile(bt, 99):.0f} us of {period:.0f} us; "
              f"{res[str(k)]['model_calls_per_s']:.0f} model calls/s", flush=True)
    per_voice = (res["8"]["cpu_share_of_one_core"] - res["1"]["cpu_share_of_one_core"]) / 7
    res["per_voice_share"] = per_voice
    res["one_voice_share"] = res["1"]["cpu_share_of_one_core"]
    print(f"   cost per added voice {100 * per_voice:.1f}% of one core (1 voice {100 * res['one_voice_share']:.1f}%); "
          f"8 voices {100 * res['8']['cpu_share_of_one_core']:.1f}% (target < 50%: "
          f"{'met' if res['8']['cpu_share_of_one_core'] < 0.5 else 'MISSED'}; each voice stepped alone: "
          f"{100 * res['8 unbatched']['cpu_share_of_one_core']:.1f}%)")
    return res


def render_speed(seconds: float = 60.0) -> dict:
    """In-process render speed of the shipped violin over a generated voice (16 kHz, whole-file normalisation):
    the offline path (many model frames per call) against the live path block by block (process(), 2048-sample
    blocks) on the same input; CPU time of this thread and wall time; the outputs must be identical."""
    import tempfile
    from pathlib import Path
    from tonehost.exports.checkpoints.shipped import default_instrument_path
    from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "voice.wav"
        write_voice_file(wav, seconds / 60.0, seed=7)
        x, sr = sf.read(wav, dtype="float32")
    path = default_instrument_path("violin")
    InstrumentPipeline(ControlsModel(path), PipelineConfig()).render(x[:sr], sr)  # warm-up (JIT, sequence model)
    res = {}
    outs = {}
    for name, fast in (("offline (frames batched)", True), ("live path, block by block", False)):
        pipe = InstrumentPipeline(ControlsModel(path), PipelineConfig())
        if not fast:
            ref = InstrumentPipeline(ControlsModel(path), PipelineConfig())
            ref.render(x, sr)
            pipe.preset(*ref.file_stats)  # the same whole-file statistics
        c0, w0 = time.thread_time(), time.perf_counter()
        outs[name] = pipe.render(x, sr, whole_file=fast, fast=fast)
        cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
        res[name] = {"cpu_s": cpu, "wall_s": wall, "x_realtime_cpu": seconds / cpu, "x_realtime_wall": seconds / wall}
        print(f"   {name:28s}: {seconds / cpu:6.1f}x real time per CPU second, {seconds / wall:6.1f}x wall "
              f"({seconds:.0f} s of voice)", flush=True)
    a, b = outs.values()
    res["identical"] = bool(np.array_equal(a, b))
    res["max_abs_diff"] = float(np.max(np.abs(a - b)))
    print(f"   outputs identical: {res['identical']} (max |diff| {res['max_abs_diff']:.1e}); target >= 50x per CPU "
          f"second: {'met' if res['offline (frames batched)']['x_realtime_cpu'] >= 50 else 'MISSED'}")
    return res


def render_profile(tmp, minutes: float = 2.0) -> dict:
    """Where the offline render's CPU goes, in process (``render_stream`` over a generated voice file, shipped
    violin, whole-file normalisation, process CPU time): the input resampler (file rate -> 48 kHz), the pipeline's
    48k -> 16k resampler, the voice tracker, the normaliser, the controls model's sequence variant, the synth
    (harmonic + noise kernels) and the rest (Python, file reading, frame bookkeeping), per minute of audio; and the
    process start (``tonehost render`` on a 1 s file, CPU of the whole child: imports, Numba cache loads, sessions;
    best of three, as installed - bytecode cached - and in this environment as it is).
    """
    import sys
    from pathlib import Path
    from tonehost.exports.checkpoints.shipped import default_instrument_path
    from tonehost.realtime.io import AudioFile
    from tonehost.realtime.pipelines import offline
    from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig
    wav = tmp / "profile.wav"
    write_voice_file(wav, minutes, seed=3)
    path = default_instrument_path("violin")
    InstrumentPipeline(ControlsModel(path), PipelineConfig()).render(np.zeros(16000, np.float32), 16000)  # warm-up
    acc: dict = {}

    def timed(key, f):
        def g(*a, **k):
            t = time.process_time()
            try:
                return f(*a, **k)
            finally:
                acc[key] = acc.get(key, 0.0) + time.process_time() - t
        return g

    class InputResampler(offline.Resampler):
        def process(self, x):
            return timed("resample file -> 48k", super().process)(x)

    pipe = InstrumentPipeline(ControlsModel(path), PipelineConfig())
    pipe.tracker.process = timed("voice tracker", pipe.tracker.process)
    pipe._down.process = timed("resample 48k -> 16k", pipe._down.process)
    pipe.normalizer.frames = timed("normaliser", pipe.normalizer.frames)
    runner = offline.SequenceRunner.of(pipe.controls)
    runner.run = timed("controls model (sequence)", runner.run)
    saved = offline.Resampler, offline.poly_synth_block
    offline.Resampler, offline.poly_synth_block = InputResampler, timed("synth (harmonic + noise)", saved[1])
    try:
        c0 = time.process_time()
        n = 0
        with AudioFile(str(wav)) as v:
            for y in offline.render_stream(pipe, v.blocks(), v.sample_rate, whole_file=True):
                n += len(y)
        total = time.process_time() - c0
    finally:
        offline.Resampler, offline.poly_synth_block = saved
    audio_min = n / pipe.cfg.sample_rate / 60.0
    per_min = {k: v / audio_min for k, v in acc.items()}
    per_min["other (Python, file, bookkeeping)"] = (total - sum(acc.values())) / audio_min
    per_min["total"] = total / audio_min
    sf.write(str(tmp / "one_second.wav"), np.zeros(16000, np.float32), 16000)
    cmd = [str(Path(sys.executable).parent / "tonehost"), "render", str(tmp / "one_second.wav"),
           "-o", str(tmp / "one_second_out.wav")]
    # the best of three (the machine is shared), in this environment and as installed (bytecode cached)
    start = min((run_child(cmd) for _ in range(3)), key=lambda r: r["cpu_s"])
    env = installed_env(tmp)
    run_child(cmd, env)  # writes the bytecode
    start_inst = min((run_child(cmd, env) for _ in range(3)), key=lambda r: r["cpu_s"])
    for k, v in per_min.items():
        print(f"   {k:36s} {v:6.3f} CPU s per audio minute")
    import os
    here = "sources compiled on every run (PYTHONDONTWRITEBYTECODE is set here)" \
        if os.environ.get("PYTHONDONTWRITEBYTECODE") else "this environment"
    print(f"   process start (tonehost render, 1 s file, best of 3): {start_inst['cpu_s']:.2f} CPU s as installed "
          f"(bytecode cached), {start['cpu_s']:.2f} CPU s with {here}; 50x real time allows 1.2 CPU s per audio "
          f"minute, start included")
    wav.unlink()
    return {"cpu_s_per_audio_minute": per_min, "audio_minutes": audio_min, "process_start_cpu_s": start_inst["cpu_s"],
            "process_start_cpu_s_this_environment": start["cpu_s"]}


def hum_midi_latency(sr: int = 48000, onsets: int = 30) -> dict:
    from tonehost.dsp.features import voice_like
    from tonehost.exports.checkpoints.shipped import default_instrument_path
    from tonehost.realtime.midi.hum import HumToMidi
    from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig
    rng = np.random.default_rng(1)
    pipe = InstrumentPipeline(ControlsModel(default_instrument_path("violin")), PipelineConfig(sample_rate=sr))
    conv, msgs = HumToMidi(), []
    pipe.feature_listener = lambda t, f, v, db: msgs.extend(conv.frame(t, f, v, db))
    f, times, t = [], [], 0.0
    for _ in range(onsets):
        gap = 0.2 + rng.uniform(0, 0.01)
        n0, n1 = int(gap * sr), int(0.3 * sr)
        times.append(t + n0 / sr)
        f += [np.zeros(n0), np.full(n1, 440 * 2 ** ((rng.integers(50, 70) - 69) / 12))]
        t += (n0 + n1) / sr
    pipe.render(voice_like(np.concatenate(f), sr, 0.25), sr, block_size=128, whole_file=False)
    on = [m.time for m in msgs if m.type == "note_on"]
    lat = [1000 * (min((o for o in on if o >= s), default=np.nan) - s) for s in times]
    p5, p50, p95 = np.nanpercentile(lat, [5, 50, 95])
    print(f"   hum -> MIDI note-on after a sung onset: p5/p50/p95 {p5:.1f} / {p50:.1f} / {p95:.1f} ms over "
          f"{np.isfinite(lat).sum()} onsets (analysis only; add the audio input buffer live)")
    return {"p5_ms": p5, "p50_ms": p50, "p95_ms": p95, "onsets": int(np.isfinite(lat).sum())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memory-minutes", default="1,10,60", help="file lengths for render/pitch memory and speed")
    ap.add_argument("--skip-memory", action="store_true", help="skip the long-file runs")
    ap.add_argument("--parts", default="latency,render,profile,poly,hum,memory",
                    help="sections to run (comma-separated; fewer than all writes ddsp_latency_<parts>.json)")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    if args.skip_memory:
        parts.discard("memory")
    from tonehost.realtime.testing.models import VIOLIN_SETTINGS, make_random_controls_onnx
    from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig, measure_latency

    # a fixed single-threaded reference workload measured in this run (no BLAS threads): the CPU figures below
    # scale with it when the machine is shared
    a = np.random.default_rng(0).standard_normal(53000)
    c0 = time.process_time()
    for _ in range(2000):
        np.sum(a * a)
    ref_us = (time.process_time() - c0) / 2000 * 1e6
    print(f"reference workload (sum of squares of 53k doubles, one thread): {ref_us:.1f} us CPU")
    tmp = tmpdir()
    models = {
        "magenta.js-like 250 fps (loudness_db)": make_random_controls_onnx(
            tmp / "m250.onnx", settings=VIOLIN_SETTINGS, state_size=512),
        "DDSP-VST-like 50 fps (power_db)": make_random_controls_onnx(
            tmp / "m50.onnx", frame_rate=50, db_kind="power_db", db_range=80.0, state_size=512),
    }
    block, sr = 128, 48000
    device_ms = 2 * 1000 * block / sr
    results = {"reference_sumsq53k_us": ref_us}
    x, sr_in = sf.read(VOICE, dtype="float32")
    for name, path in (models.items() if "latency" in parts else ()):
        for tracker in ("yin", "ddsp-vst"):
            key = f"{name}, tracker {tracker}"
            pipe = InstrumentPipeline(ControlsModel(path), PipelineConfig(tracker=tracker))
            lat = measure_latency(pipe, block)
            budget = pipe.latency_budget(block)
            # CPU per block and render speed on a real voice
            pipe = InstrumentPipeline(ControlsModel(path), PipelineConfig(tracker=tracker))
            pipe.render(x[: sr_in // 4], sr_in, block_size=block, fast=False)
            pipe.block_times.clear()
            t0 = time.perf_counter()
            pipe.render(x, sr_in, block_size=block, fast=False)  # the live path: CPU per block
            dt = time.perf_counter() - t0
            bt = np.asarray(pipe.block_times) * 1e6
            e2e_onset = lat["onset_ms"] + device_ms
            e2e_step = lat["pitch_step_ms"] + device_ms
            results[key] = {"onset_ms_algorithmic": lat["onset_ms"], "pitch_step_ms_algorithmic": lat["pitch_step_ms"],
                            "device_buffers_ms": device_ms, "onset_ms_end_to_end": e2e_onset,
                            "pitch_step_ms_end_to_end": e2e_step, "budget_ms": budget,
                            "cpu_us_per_block_p50": float(np.percentile(bt, 50)),
                            "cpu_us_per_block_p99": float(np.percentile(bt, 99)),
                            "block_period_us": 1e6 * block / sr,
                            "render_speed_x_realtime": (len(x) / sr_in) / dt}
            print(f"\n== {key}")
            for stage, ms in budget.items():
                print(f"   {stage:50s} {ms:6.2f} ms")
            print(f"   measured (offline, same code path): onset {lat['onset_ms']:.1f} ms, pitch step "
                  f"{lat['pitch_step_ms']:.1f} ms; + 2 device buffers {device_ms:.1f} ms -> end to end onset "
                  f"{e2e_onset:.1f} ms, pitch step {e2e_step:.1f} ms (target < 30; DDSP-VST {DDSP_VST_MS:.0f})")
            print(f"   CPU per 128-sample block p50 {np.percentile(bt, 50):.0f} us, p99 {np.percentile(bt, 99):.0f} us "
                  f"(period {1e6 * block / sr:.0f} us); render {results[key]['render_speed_x_realtime']:.1f}x real time")
    if "render" in parts:
        print("\n== render speed (shipped violin, 60 s of voice, in process, one thread)")
        results["render_speed"] = render_speed()
    if "profile" in parts:
        print("\n== render CPU by stage (shipped violin, 2 min of voice, in process, one thread)")
        results["render_profile"] = render_profile(tmp)
    if "poly" in parts:
        print("\n== polyphony (--midi-in), shipped violin, 48 kHz / 128")
        results["polyphony"] = poly_cost()
    if "hum" in parts:
        print("\n== hum -> MIDI (--midi-out / pitch --midi)")
        results["hum_midi"] = hum_midi_latency()
    if "memory" in parts:
        print("\n== render / pitch on long files (shipped violin): streaming keeps memory flat")
        results["long_files"] = memory_and_speed([float(m) for m in args.memory_minutes.split(",")], tmp)
    name = "ddsp_latency" if parts >= {"latency", "render", "profile", "poly", "hum", "memory"} else \
        "ddsp_latency_" + "_".join(sorted(parts))
    print(f"\nwrote {save_json(name, results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
