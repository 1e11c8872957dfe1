"""The README's Python section runs as written, on a real piano recording (the examples are the API's contract)."""
from __future__ import annotations

import re
import shutil

import pytest

from conftest import ROOT


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python"):]
    section = section[:section.index("\n## ", 3)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_has_python_examples():
    blocks = _python_blocks()
    assert len(blocks) >= 2 and "tonehost.OnsetsAndFrames" in blocks[0] and "tonehost.DDSP" in blocks[0]


def test_readme_api_examples_run(data_dir, tmp_path, monkeypatch, capsys):
    import soundfile as sf

    x, sr = sf.read(data_dir / "piano" / "stereo_sample.wav")
    sf.write(tmp_path / "take.wav", x, sr)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "cache"))
    exec(compile(_python_blocks()[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert re.search(r"^\d+ notes; first: \d+ [\d.]+ s$", out, flags=re.M), out
    assert (tmp_path / "take.mid").stat().st_size > 0
    assert len([line for line in out.splitlines() if "MB" in line]) == 3


def test_readme_engine_example_runs(jack_server):
    block = _python_blocks()[1]
    assert "Worker(engine" in block
    exec(compile("import tonehost\n" + block, "README.md", "exec"), {})
