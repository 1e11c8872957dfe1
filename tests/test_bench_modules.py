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
