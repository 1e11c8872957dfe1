"""The 60-second version of ``bench/soak.py``: ``play`` and ``transcribe --live`` 30 s each on looped input.

The full soak (30 minutes per mode) lives in the bench; this runs the same code for 30 s per mode on private JACK
servers and checks what a short window can show: both sessions run to the end and stop normally on Ctrl-C,
memory sampled every 2 s does not grow after warm-up (<= 2 MB), the transcriber keeps producing notes from the
looped Bach prelude in every 10-s interval, the xrun counts of tonehost and of ``jack_simple_client`` come from the
same server log in the same window (cycles each made late itself), and the PNG is written. Xruns are judged against the reference in the full
run (see the README); here only a gross failure fails (a callback that took the GIL would make thousands).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.skipif(shutil.which("jackd") is None or shutil.which("jack_simple_client") is None
                    or shutil.which("jack_latent_client") is None,
                    reason="jackd2 is not installed")
def test_soak_60_seconds(tmp_path, data_dir):
    out, png = tmp_path / "soak.json", tmp_path / "soak.png"
    r = subprocess.run([sys.executable, "-m", "bench.soak", "--seconds", "30", "--every", "2", "--json", str(out),
                        "--png", str(png)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    assert set(res["results"]) == {"play", "transcribe"}
    for mode, v in res["results"].items():
        run = next(x for x in res["runs"] if x["mode"] == mode)
        assert v["returncode"] == 0, run["stderr_tail"]
        assert any("(stopped)" in l or "notes -> " in l for l in run["summary"]), run["summary"]
        assert v["duration_s"] >= 28 and len(run["samples"]) >= 13, (mode, v)
        assert v["memory_ok"], (mode, v)
        ref = v["late_reference_in"]   # the C client behind the same looping player
        assert v["late_tonehost"] <= max(3 * ref, ref + 30), (mode, v)
    assert res["results"]["transcribe"]["notes_ok"] and res["results"]["transcribe"]["notes"] > 20
    assert png.stat().st_size > 10_000
    assert "cycles the client itself made late: tonehost" in r.stdout and "slope" in r.stdout
    assert "jack_latent_client behind the same player" in r.stdout
