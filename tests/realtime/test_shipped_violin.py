"""The violin shipped in the package: loads through the run-time path, follows its inputs, beats a fixed-spectrum
synth on a held-out FluidSynth melody, and is what ``render``/``play`` use by default. No training here."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tonehost.exports.contracts.ddsp import read_metadata
from tonehost.exports.checkpoints.shipped import ShippedModelMissing, default_instrument_path

from conftest import ROOT
VIOLIN = ROOT / "exports" / "shipped" / "violin.onnx"
MDB = "voice/mdb_stem_synth/AClassicEducation_NightOwl_STEM_08.RESYN.wav"  # under the shared data dir


@pytest.fixture(scope="module")
def controls():
    from tonehost.realtime.pipelines.instrument import ControlsModel
    return ControlsModel(default_instrument_path("violin"))


def test_shipped_file_and_contract():
    assert default_instrument_path("violin") == VIOLIN
    assert VIOLIN.is_file() and VIOLIN.stat().st_size < 15 * 2 ** 20
    info = read_metadata(VIOLIN)
    assert (info.sample_rate, info.frame_rate, info.hop_size) == (16000, 250.0, 64)
    assert (info.n_harmonics, info.n_noise_bands, info.db_kind, info.db_range) == (60, 65, "loudness_db", 120.0)
    s = info.settings
    assert -80 < s["meanLoudness"] < s["averageMaxLoudness"] < -20
    assert 60 < s["meanPitch"] < 80  # the violin register the live normaliser shifts voices toward
    assert default_instrument_path("flute") is None  # not shipped: hosted checkpoint


def test_missing_model_message(monkeypatch, tmp_path):
    import tonehost.exports.checkpoints.shipped as S
    monkeypatch.setattr(S, "SHIPPED_DIR", tmp_path)
    with pytest.raises(ShippedModelMissing) as err:
        S.default_instrument_path("violin")
    assert "--checkpoint ddsp_violin" in err.value.user_message


def test_controls_follow_loudness_and_mask_nyquist(controls):
    amps = []
    for db in (-110.0, -80.0, -65.0, -50.0):
        controls.reset()
        for _ in range(100):  # 0.4 s steady note
            a, h, n = controls.step(440.0, db)
        amps.append(a)
        assert abs(h.sum() - 1.0) < 1e-4 and np.all(h >= 0)
        assert np.all(h[np.arange(1, 61) * 440.0 >= 8000] == 0)
        assert np.all(n > 0)
    assert amps[0] < 0.02 * amps[-1], amps  # silence in -> (nearly) silence out
    assert amps[0] < amps[1] < amps[2] < amps[3], amps


def _spectral_distance(x, y, fft_sizes=(2048, 1024, 512, 256, 128, 64)):
    """Multi-scale spectral distance (as bench/violin_quality.py and the training loss)."""
    import librosa
    n = min(len(x), len(y))
    total = 0.0
    for size in fft_sizes:
        sx, sy = (np.abs(librosa.stft(np.asarray(v[:n], np.float32), n_fft=size, hop_length=size // 4))
                  for v in (x, y))
        total += np.mean(np.abs(sx - sy)) + np.mean(np.abs(np.log(sx + 1e-7) - np.log(sy + 1e-7)))
    return float(total)


def _ours(controls, f0, ld):
    from tonehost.dsp.harmonic import render_harmonic
    from tonehost.dsp.noise import render_noise
    controls.reset()
    steps = [controls.step(float(f), float(d)) for f, d in zip(f0, ld)]
    amp = np.array([s[0] for s in steps])
    harm = np.array([s[1] for s in steps])
    noise = np.array([s[2] for s in steps])
    return render_harmonic(f0, amp, harm, 16000, 64) + render_noise(noise, 64)


def _baseline(f0, ld, power):
    """Fixed 1/k**power spectrum with the reference's per-frame level (oracle amplitude)."""
    from tonehost.dsp.harmonic import render_harmonic
    k = np.arange(1, 61)
    dist = np.where(np.asarray(f0)[:, None] * k < 8000, 1.0 / k ** power, 0.0)
    dist /= dist.sum(axis=1, keepdims=True)
    rms = np.where(ld > -119.9, 10.0 ** ((np.asarray(ld, np.float64) + 20.7) / 20.0), 0.0)
    return render_harmonic(f0, rms / np.sqrt(0.5 * np.sum(dist ** 2, axis=1)), dist, 16000, 64)


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").is_file(),
                    reason="fluidsynth / fluid-soundfont-gm not installed")
def test_beats_fixed_spectrum_baseline_on_held_out_melody(controls):
    from tonehost.exports.training.recipes import make_violin_data as V
    d = V.render_performance(8.0, 424242, V.SOUNDFONTS["fluidr3"])  # a seed never used in training
    ours = _ours(controls, d["f0_hz"], d["ld_db"])
    base = min(_spectral_distance(_baseline(d["f0_hz"], d["ld_db"], p), d["audio"]) for p in (1.0, 2.0))
    dist = _spectral_distance(ours, d["audio"])
    assert dist < 0.75 * base, (dist, base)  # measured ~0.6 (bench/violin_quality.py)


def test_render_defaults_to_shipped_violin(tmp_path, data_dir):
    """`tonehost render` with no --checkpoint uses the shipped violin, and the output follows the voice's pitch
    (up to the automatic octave shift toward the violin register)."""
    import soundfile as sf
    from tonehost.realtime.cli import main
    from tonehost.exports.resolve import instrument_model
    from tonehost.dsp.features import track_pitch
    assert instrument_model("violin", None) == VIOLIN
    voice = data_dir / MDB
    out = tmp_path / "violin.wav"
    assert main(["render", str(voice), "-o", str(out)]) == 0
    y, sr = sf.read(str(out), dtype="float32")
    assert sr == 48000 and np.max(np.abs(y)) > 0.01
    x, xsr = sf.read(str(voice), dtype="float32")
    tx, fx, _ = track_pitch(x, xsr)
    vx = fx > 0
    ty, fy, _ = track_pitch(y, sr)
    vy = fy > 0
    n = min(len(fx), len(fy))
    both = vx[:n] & vy[:n] & (fx[:n] > 0) & (fy[:n] > 0)
    assert both.mean() > 0.3
    cents = 1200 * np.log2(fy[:n][both] / fx[:n][both])
    off = np.abs(cents - 1200 * np.round(cents / 1200))  # modulo octaves
    assert np.mean(off < 50) > 0.8, np.mean(off < 50)


def test_runtime_does_not_import_torch():
    code = ("import sys; from tonehost.exports.resolve import instrument_model; "
            "from tonehost.realtime.pipelines.instrument import ControlsModel; m = ControlsModel(instrument_model('violin')); "
            "m.step(440.0, -60.0); assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_train_instrument_command_is_registered(tmp_path, data_dir):
    from tonehost.realtime.cli import build_parser, main
    args = build_parser().parse_args(["train-instrument", "a.wav", "b.wav", "-o", "x.onnx", "--minutes", "3"])
    assert args.recordings == ["a.wav", "b.wav"] and args.minutes == 3.0
    assert main(["train-instrument", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "x.onnx")]) == 1
    assert main(["train-instrument", str(data_dir / MDB), "-o", str(tmp_path / "x.txt")]) == 2  # while parsing
