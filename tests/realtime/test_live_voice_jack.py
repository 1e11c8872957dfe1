"""The live voice instrument through a real JACK server (a private dummy server, 48 kHz / 128): the bench's own
measurement (``bench.ddsp_jack``: a harness process plays random-phase onsets and pitch steps into tonehost and
records its output on JACK's frame clock) with the tone-onset bounds of issue 15 plus a margin for a loaded CI
machine.

Measured on the shared 2-core box under load (``python -m bench.ddsp_jack --checkpoint
exports/shipped/violin.onnx --runs 3``, 60 onsets): onset p5/p50/p95 4.4/4.6/5.1 ms, jitter 0.8 ms (at block 64 on a
64-frame server: 4.4/4.6/5.0 ms, jitter 0.7 ms); this test's single run of 20 onsets took 2 minutes.
Asserted here: onset p50 <= 10 ms and jitter <= 2 ms over 20 onsets, pitch step p50 <= 14 ms (measured 9.9 ms,
target 12), and by the measures without a spread of their own (``live_voice.onset_start``: the sound starts;
``step_phase_arrival``: the f0 ramp's middle) onset and step jitter <= 1 ms and the step p50 <= 12 ms, no frame
dropped, and the scheduling keeps
the JACK latency at the offline latency + D (the frames are sample-accurate, the transport adds nothing), and the
adaptive D grows at most once. A run in which frames came late (the machine did not give the worker its time: a
CI box can be loaded and without real-time scheduling) and a bound failed is run once more; the second must pass.
"""
import json
import subprocess
import sys

import numpy as np

from conftest import ROOT


CHILD = """
import json, sys
from bench.ddsp_jack import run_once
print(json.dumps(run_once(sys.argv[1], 128, 20, seed=3)))
"""


def _run(private_jack) -> dict:
    # in a child process: PortAudio binds to the JACK server named when it is initialised, and this test process
    # may have initialised it for the suite's shared server already
    env = {**private_jack.env, "TONEHOST_JACKD_LOG": private_jack.log_path}  # xruns per client from its log
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "exports" / "shipped" / "violin.onnx")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _failures(r) -> list[str]:
    from tonehost.realtime.pipelines.live_voice import distribution

    on = distribution(r["jack_onset_ms"])
    off = distribution(r["offline_onset_ms"])
    step = distribution(r["jack_pitch_step_ms"])
    start = distribution(r["jack_onset_start_ms"])  # the sound starts (its own spread 0.02 ms)
    start_off = distribution(r["offline_onset_start_ms"])
    phase = distribution(r["jack_pitch_step_phase_ms"])  # the f0 ramp's middle (its own spread 0.05 ms)
    d_ms = 1000.0 * r["delay_samples"] / 48000  # D at the end (the adaptive delay grows on repeated late frames)
    checks = {
        "20 onsets found": on["n"] == 20 and on["missed"] == 0,
        "onset p50 <= 10 ms": on["p50"] <= 10.0,
        "onset jitter <= 2 ms": on["jitter"] <= 2.0,
        "onset (sound starts) jitter <= 1 ms": start["n"] == 20 and start["jitter"] <= 1.0,
        "no frame dropped": r["frames_dropped"] == 0,
        "JACK p50 = offline p50 + D (1 ms)": abs(on["p50"] - (off["p50"] + d_ms)) <= 1.0,
        "JACK p50 = offline p50 + D (sound starts, 0.2 ms)": abs(start["p50"] - (start_off["p50"] + d_ms)) <= 0.2,
        "18 of 20 pitch steps found, p50 <= 14 ms": step["n"] >= 18 and step["p50"] <= 14.0,
        "pitch step (f0 ramp's middle): 18 of 20 found, p50 <= 12 ms, jitter <= 1 ms":
            phase["n"] >= 18 and phase["p50"] <= 12.0 and phase["jitter"] <= 1.0,
        "D grew at most once": len(r["delay_changes"]) <= 1,
    }
    report = (f"JACK {on}, offline {off}, sound starts {start} (offline {start_off}), step {step}, f0 ramp's middle "
              f"{phase}, frames late {r['synth_frames_late']} of {r['synth_frames_applied']} "
              f"(max {r['synth_late_samples_max']} samples), D {r['delay_samples']} (changes {r['delay_changes']}), "
              f"worker real-time {r['worker_realtime']}, xruns tonehost {r['xruns_tonehost']} / C client "
              f"{r['xruns_c_reference']}")
    return [f"{name}: {report}" for name, ok in checks.items() if not ok]


def test_onset_latency_and_jitter_through_jack(private_jack):
    r = _run(private_jack)
    failed = _failures(r)
    if failed and r["synth_frames_late"] > 0:
        # the machine did not give the worker its time (frames late: a loaded CI box without real-time
        # scheduling); the bounds are about the design, so they must hold in a second run
        print("first run:", *failed, sep="\n  ")
        r = _run(private_jack)
        failed = _failures(r)
    assert not failed, "\n".join(failed)
