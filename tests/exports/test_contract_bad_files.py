"""A user-given ``.onnx`` that is corrupt, truncated, empty or a folder: one ModelError naming the file and the fix
(never a google.protobuf DecodeError traceback), from :func:`read_metadata` and everything built on it."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tonehost.exports.contracts.ddsp import read_metadata
from tonehost.exports.errors import ModelError, TonehostError


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    from tonehost.realtime.testing.models import make_random_controls_onnx

    path = tmp_path_factory.mktemp("good") / "inst.onnx"
    make_random_controls_onnx(path)
    return path


def _bad_files(folder, good):
    rng = np.random.default_rng(5)
    data = good.read_bytes()
    files = {"corrupt": rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(), "empty": b"",
             "truncated": data[:3000], "half": data[: len(data) // 2]}
    out = {}
    for name, content in files.items():
        p = folder / f"{name}.onnx"
        p.write_bytes(content)
        out[name] = p
    d = folder / "folder.onnx"
    d.mkdir()
    out["folder"] = d
    return out


def test_read_metadata_names_the_file_and_the_fix(tmp_path, good):
    assert read_metadata(good).state_size > 0
    for name, path in _bad_files(tmp_path, good).items():
        with pytest.raises(ModelError) as e:
            read_metadata(path)
        msg = e.value.user_message
        assert str(path) in msg and "\n" not in msg, (name, msg)
        assert "tonehost export ddsp" in msg and "--checkpoint" in msg, (name, msg)
        assert e.value.path == str(path)


def test_every_truncation_of_a_model_is_a_tonehost_error(tmp_path, good):
    """Whatever prefix survives (inside the graph, inside the weights, after the graph without the metadata),
    loading it as a controls model is one of tonehost's errors."""
    from tonehost.realtime.pipelines.instrument import ControlsModel

    data = good.read_bytes()
    for k, cut in enumerate(sorted({0, 1, 7, 100, 1000, len(data) // 3, len(data) // 2, len(data) - 500,
                                    len(data) - 40, len(data) - 1})):
        p = tmp_path / f"cut{k}.onnx"
        p.write_bytes(data[:cut])
        with pytest.raises(TonehostError) as e:
            ControlsModel(p)
        assert str(p) in e.value.user_message, (cut, e.value.user_message)


def test_render_with_a_corrupt_checkpoint_is_one_line(tmp_path, good, data_dir):
    bad = _bad_files(tmp_path, good)
    wav = next((data_dir / "piano").glob("*.wav"))
    env = {**os.environ, "TONEHOST_OFFLINE": "1"}
    for name in ("corrupt", "empty"):
        r = subprocess.run([sys.executable, "-m", "tonehost", "render", str(wav), "-o", str(tmp_path / "x.wav"),
                            "--checkpoint", str(bad[name])], capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 1, r.stderr
        assert "Traceback" not in r.stderr and "DecodeError" not in r.stderr, r.stderr
        line = r.stderr.strip().splitlines()[-1]
        assert line.startswith("tonehost: error: ") and str(bad[name]) in line, r.stderr
