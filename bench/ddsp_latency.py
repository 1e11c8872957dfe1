"""End-to-end latency of the DDSP instrument pipeline, voice in to instrument out, plus CPU per block and render
speed. Offline through the live code path (:meth:`InstrumentPipeline.process`, 128-sample blocks at 48 kHz):
a tone onset and a pitch step at the input, their arrival at the output (:func:`measure_latency`); the stage-by-stage
budget; then the two 128-sample device buffers (input + output) a full-duplex stream adds on top.

    .venv/bin/python -m bench.ddsp_latency

Uses random-weight controls models in the contract (250 frames/s magenta.js-like, 50 frames/s DDSP-VST-like);
latency does not depend on the weights. Writes bench/results/ddsp_latency.json. Not yet measured here: the
same through JACK (needs realtime/engine.py) and xruns against jack_simple_client.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import soundfile as sf

from bench._common import SHARED_DATA, save_json, tmpdir

VOICE = SHARED_DATA / "voice" / "mdb_stem_synth" / "AClassicEducation_NightOwl_STEM_08.RESYN.wav"
DDSP_VST_MS = 64.0


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    from tonehost.realtime.testing.models import VIOLIN_SETTINGS, make_random_controls_onnx
    from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig, measure_latency

    tmp = tmpdir()
    models = {
        "magenta.js-like 250 fps (loudness_db)": make_random_controls_onnx(
            tmp / "m250.onnx", settings=VIOLIN_SETTINGS, state_size=512),
        "DDSP-VST-like 50 fps (power_db)": make_random_controls_onnx(
            tmp / "m50.onnx", frame_rate=50, db_kind="power_db", db_range=80.0, state_size=512),
    }
    block, sr = 128, 48000
    device_ms = 2 * 1000 * block / sr
    results = {}
    x, sr_in = sf.read(VOICE, dtype="float32")
    for name, path in models.items():
        for tracker in ("yin", "ddsp-vst"):
            key = f"{name}, tracker {tracker}"
            pipe = InstrumentPipeline(ControlsModel(path), PipelineConfig(tracker=tracker))
            lat = measure_latency(pipe, block)
            budget = pipe.latency_budget(block)
            # CPU per block and render speed on a real voice
            pipe = InstrumentPipeline(ControlsModel(path), PipelineConfig(tracker=tracker))
            pipe.render(x[: sr_in // 4], sr_in)
            pipe.block_times.clear()
            t0 = time.perf_counter()
            pipe.render(x, sr_in)
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
    print(f"\nwrote {save_json('ddsp_latency', results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
