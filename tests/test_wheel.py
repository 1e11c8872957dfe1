"""The wheel: ``python -m build`` makes it, it holds one package ``tonehost`` with its shipped models, and installed
(not editable) into a fresh virtualenv it transcribes, renders and runs the README's Python examples."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    for rel in filter(None, files):
        if rel.startswith(("tests/node/node_modules", "bench/results")) or not (ROOT / rel).is_file():
            continue
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    dist = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    wheels = list(dist.glob("tonehost-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_holds_one_package_and_its_models(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"tonehost"}, tops
    for needed in ("tonehost/__init__.py", "tonehost/dsp/harmonic.py", "tonehost/realtime/cli/__init__.py",
                   "tonehost/exports/shipped/violin.onnx",
                   "tonehost/exports/shipped/onsets_frames_small/weights_manifest.json"):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("tonehost/tests", "tonehost/bench"))]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed (not editable). Its third-party dependencies are borrowed from
    the development environment through a .pth path (the registries are not needed for the test); tonehost
    itself comes only from the wheel."""
    env = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    py = env / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return env


def _run(venv: Path, args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TONEHOST_CACHE": str(cwd / "cache"), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_installed_wheel_runs_the_commands_and_examples(venv, data_dir, tmp_path):
    import soundfile as sf

    r = _run(venv, [str(venv / "bin" / "python"), "-c", "import tonehost, tonehost.dsp; print(tonehost.__file__)"],
             tmp_path)
    assert r.returncode == 0 and str(venv) in r.stdout, r.stdout + r.stderr
    r = _run(venv, ["tonehost", "--version"], tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("tonehost "), r.stderr
    x, sr = sf.read(data_dir / "piano" / "stereo_sample.wav")
    sf.write(tmp_path / "take.wav", x, sr)
    r = _run(venv, ["tonehost", "transcribe", "take.wav", "-o", "take.mid"], tmp_path)
    assert r.returncode == 0 and (tmp_path / "take.mid").stat().st_size > 0, r.stderr
    assert " notes from " in r.stdout
    voice = data_dir / "voice" / "mdb_stem_synth" / "AClassicEducation_NightOwl_STEM_08.RESYN.wav"
    r = _run(venv, ["tonehost", "render", str(voice), "-o", "violin.wav"], tmp_path)
    assert r.returncode == 0 and sf.info(tmp_path / "violin.wav").samplerate == 48000, r.stderr
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python"):]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.py").write_text(block)
    r = _run(venv, [str(venv / "bin" / "python"), "example.py"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert " notes; first: " in r.stdout and (tmp_path / "take.mid").is_file()
