"""DDSP-VST pitch model: TFLite -> ONNX conversion, checked against a TFLite runtime and against physics."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tflite")

from tonehost.exports.convert import pitch_model  # noqa: E402
from tonehost.exports.contracts.ddsp import hz_to_midi  # noqa: E402


@pytest.fixture(scope="module")
def tflite_path(data_dir):
    path = data_dir.parent / "models" / "ddsp_vst" / "extract_features_micro.tflite"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(scope="module")
def onnx_path(tflite_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("pitch") / "pm.onnx"
    pitch_model.convert_tflite_to_onnx(tflite_path, out)
    return out


@pytest.fixture(scope="module")
def model(onnx_path):
    return pitch_model.DDSPVSTPitchModel(onnx_path)


def _tone(f0, amp=0.3, n=1024, sr=16000, noise=0.0, seed=0):
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    x = amp * np.sin(2 * np.pi * f0 * t + 0.3) + 0.25 * amp * np.sin(2 * np.pi * 2 * f0 * t)
    return (x + noise * rng.standard_normal(n)).astype(np.float32)


def test_onnx_matches_tflite_runtime(tflite_path, model):
    interp = pytest.importorskip("ai_edge_litert.interpreter")
    runner = interp.Interpreter(model_path=str(tflite_path)).get_signature_runner()
    rng = np.random.default_rng(1)
    frames = [_tone(f, noise=0.01, seed=i) for i, f in enumerate([82.4, 130.8, 261.6, 523.3, 987.8])]
    frames += [0.01 * rng.standard_normal(1024).astype(np.float32), np.zeros(1024, np.float32)]
    for x in frames:
        ours = model(x)
        ref = runner(audio=x)
        ref = {k: float(ref[f"output_{i}"][0]) for i, k in enumerate(pitch_model.OUTPUT_NAMES[:4])}
        for key, val in ref.items():
            assert ours[key] == pytest.approx(val, rel=2e-4, abs=2e-4), key


@pytest.mark.parametrize("f0", [98.0, 196.0, 311.1, 440.0, 659.3])
def test_tracks_tone_pitch(model, f0):
    out = model(_tone(f0))
    cents = 1200 * np.log2(out["f0_hz"] / f0)
    assert abs(cents) < 25
    assert out["confidence"] > 0.5
    assert out["f0_scaled"] == pytest.approx(float(hz_to_midi(out["f0_hz"])) / 127, abs=1e-4)


def test_power_features_match_ddsp_vst_formula(model):
    for amp in [1e-5, 1e-3, 0.05, 0.5]:
        x = _tone(220.0, amp=amp)
        ref_db = max(-80.0, 10 * np.log10(max(1e-8, float(np.mean(x.astype(np.float64) ** 2)))))
        out = model(x)
        assert out["pw_db"] == pytest.approx(ref_db, abs=0.05)
        assert out["pw_scaled"] == pytest.approx(ref_db / 80 + 1, abs=1e-3)


def test_noise_has_low_confidence(model):
    rng = np.random.default_rng(3)
    conf = [model(0.1 * rng.standard_normal(1024).astype(np.float32))["confidence"] for _ in range(4)]
    assert max(conf) < 0.5


def test_ensure_converts_into_cache_once(tflite_path, tmp_path):
    path = pitch_model.ensure_pitch_onnx(tflite_path, cache=tmp_path)
    assert path.is_file() and path.parent.parent == tmp_path
    mtime = path.stat().st_mtime_ns
    assert pitch_model.ensure_pitch_onnx(tflite_path, cache=tmp_path) == path
    assert path.stat().st_mtime_ns == mtime


def test_missing_model_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TONEHOST_SHARED", str(tmp_path / "noshared"))
    monkeypatch.delenv("TONEHOST_DDSP_VST_PITCH", raising=False)
    with pytest.raises(pitch_model.PitchModelError) as info:
        pitch_model.find_tflite(tmp_path / "nope.tflite")
    assert "extract_features_micro.tflite" in info.value.user_message
    assert "TONEHOST_DDSP_VST_PITCH" in info.value.user_message


def test_missing_model_is_downloaded_through_the_index(tflite_path, tmp_path, monkeypatch):
    """No local copy: the ``ddsp_vst_pitch`` entry is fetched (verified) from its URL - here a 127.0.0.1 server
    serving the real file, the index entry pointed at it by a user index file."""
    import functools
    import http.server
    import json
    import threading

    real = tflite_path
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(real.parent))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        index = tmp_path / "index.json"
        index.write_text(json.dumps([{"id": "ddsp_vst_pitch", "model": "DDSPVSTPitch", "sizeMb": 0.7,
                                      "description": "test mirror", "format": "files",
                                      "files": {"extract_features_micro.tflite": {
                                          "size": 671569, "sha256": "98ade06772f9ca6ac64789fd843f14aeddf70908"
                                                                    "4bbc76f060761b141837d0a2"}},
                                      "url": f"http://127.0.0.1:{server.server_port}"}]))
        monkeypatch.setenv("TONEHOST_INDEX", str(index))
        monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "cache"))
        monkeypatch.setenv("TONEHOST_SHARED", str(tmp_path / "noshared"))
        monkeypatch.delenv("TONEHOST_DDSP_VST_PITCH", raising=False)
        got = pitch_model.find_tflite()
    finally:
        server.shutdown()
    assert got.is_file() and str(got).startswith(str(tmp_path / "cache"))
    assert got.read_bytes() == real.read_bytes()
