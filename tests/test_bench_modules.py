"""Every bench runs as a module from the repository root: ``python -m bench.NAME --help`` exits 0.

This imports each bench the way it is run (no ``sys.path`` edits, sibling imports as ``bench.X``), so a renamed
tonehost module or a broken import shows up here rather than at the next measurement. The benches themselves
are not run (they take minutes and some need a JACK server or a soundfont).
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT

BENCH = ROOT / "bench"
# the runnable benches: modules with a __main__ block (helpers such as _common and transcribe_common have none)
MODULES = sorted(p.stem for p in BENCH.glob("*.py")
                 if not p.stem.startswith("_") and re.search(r'^if __name__ == "__main__":', p.read_text(), re.M))


def test_every_bench_is_found():
    assert {"latency", "ddsp_jack", "piano_quality", "checkpoint_io", "transcribe_latency"} <= set(MODULES)
    assert (BENCH / "__init__.py").is_file()


@pytest.mark.parametrize("name", MODULES)
def test_bench_module_help(name):
    proc = subprocess.run([sys.executable, "-m", f"bench.{name}", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("usage:"), proc.stdout[:500]


def test_bench_scripts_do_not_edit_sys_path():
    for p in BENCH.glob("*.py"):
        src = p.read_text()
        assert "sys.path" not in src.replace("``sys.path``", ""), p.name
        assert "__file__" not in src or p.name == "_common.py", p.name


def test_pitch_peers_conditions_parse_signed_values():
    """``--condition gain:+20`` was split at its sign ("could not convert string to float: ''")."""
    import numpy as np

    from bench.pitch_peers import degrade
    x = np.sin(np.arange(1600) / 10.0).astype(np.float32) * 0.01
    assert np.allclose(degrade(x, 16000, "gain:+20"), 10 * x, rtol=1e-5, atol=1e-7)
    assert np.allclose(degrade(x, 16000, "gain:-20+gain:+20"), x, rtol=1e-5, atol=1e-7)
    y = degrade(x, 16000, "gain:+20+clip:6")
    assert np.max(np.abs(y)) < 0.51 * np.max(np.abs(10 * x)) * 1.0 + 1e-6


def test_sung_synth_phrases_have_exact_f0_the_tracker_follows():
    """bench.sung_synth's phrases: a reference inside the voice's range, unvoiced gaps, and tonehost's tracker
    within 50 cents on nearly every voiced frame of a clean phrase (a generator or scoring fault shows here)."""
    import mir_eval
    import numpy as np

    from bench.sung_synth import RANGES, SR, midi_hz, phrase
    from tonehost.dsp.features import track_pitch
    for voice in ("bass", "soprano"):
        x, rt, rf = phrase(voice, 7)
        assert x.dtype == np.float32 and np.all(np.isfinite(x)) and 0.4 < np.max(np.abs(x)) <= 0.5
        lo, hi = RANGES[voice]
        v = rf > 0
        assert 0.3 < v.mean() < 0.95  # notes and gaps
        assert np.all(rf[v] > midi_hz(lo) * 0.9) and np.all(rf[v] < midi_hz(hi) * 1.1)
        t, f, _ = track_pitch(x, SR, unvoiced_guess=True)
        rv, rc, ev, ec = mir_eval.melody.to_cent_voicing(rt, rf, t.astype(float), f.astype(float))
        assert mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec) > 0.97, voice
