"""The live voice instrument through a real JACK server (a private dummy server, 48 kHz / 128): the bench's own
measurement (``bench.ddsp_jack``: a harness process plays random-phase onsets and pitch steps into tonehost and
records its output on JACK's frame clock) with the tone-onset bounds of issue 15 plus a margin for a loaded CI
machine.

Measured on the shared 2-core box under load (``python -m bench.ddsp_jack --checkpoint
exports/shipped/violin.onnx --runs 3``, 60 onsets): onset p5/p50/p95 4.4/4.6/5.1 ms, jitter 0.8 ms (at block 64 on a
64-frame server: 4.4/4.6/5.0 ms, jitter 0.7 ms); this test's single run of 20 onsets took 2 minutes.
Asserted here: onset p50 <= 10 ms and jitter <= 2 ms over 20 onsets, no frame dropped, and the scheduling keeps
the JACK latency at the offline latency + D (the frames are sample-accurate, the transport adds nothing).
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


def test_onset_latency_and_jitter_through_jack(private_jack):
    from tonehost.realtime.pipelines.live_voice import distribution

    # in a child process: PortAudio binds to the JACK server named when it is initialised, and this test process
    # may have initialised it for the suite's shared server already
    env = {**private_jack.env, "TONEHOST_JACKD_LOG": private_jack.log_path}  # xruns per client from its log
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "exports" / "shipped" / "violin.onnx")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    on = distribution(r["jack_onset_ms"])
    off = distribution(r["offline_onset_ms"])
    report = f"JACK {on}, offline {off}, late {r['synth_frames_late']}, delay {r['delay_samples']}"
    assert on["n"] == 20 and on["missed"] == 0, report
    assert on["p50"] <= 10.0, report
    assert on["jitter"] <= 2.0, report
    assert r["frames_dropped"] == 0, report
    d_ms = 1000.0 * r["delay_samples"] / 48000
    assert abs(on["p50"] - (off["p50"] + d_ms)) <= 1.0, report
    assert np.isfinite(distribution(r["jack_pitch_step_ms"])["p50"]), report
