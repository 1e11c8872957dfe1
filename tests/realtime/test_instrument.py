"""The instrument pipeline with a random-weight controls model: pitch follows the voice, onsets are fast,
block size does not matter, instruments switch live, MIDI-style external control drives it."""
from __future__ import annotations

import numpy as np
import pytest

from tonehost.realtime.testing.models import VIOLIN_SETTINGS, make_random_controls_onnx
from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig

SR = 48000


@pytest.fixture(scope="module")
def model_paths(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddsp")
    return {
        "violin": make_random_controls_onnx(d / "violin.onnx", settings=VIOLIN_SETTINGS, seed=1),
        "vst": make_random_controls_onnx(d / "vst.onnx", frame_rate=50, db_kind="power_db", db_range=80.0,
                                         seed=2),
        "other": make_random_controls_onnx(d / "other.onnx", settings=VIOLIN_SETTINGS, seed=3),
    }


def tone(f0, dur, amp=0.3, sr=SR):
    t = np.arange(int(dur * sr)) / sr
    return amp * sum((0.7 ** k) * np.sin(2 * np.pi * k * f0 * t + k) for k in range(1, 6)) / 2


def harmonic_score(y, f0, sr=SR):
    """Fraction of the spectral energy within +-1.5% of multiples of f0 (independent of our tracker)."""
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)))) ** 2
    freqs = np.fft.rfftfreq(len(y), 1 / sr)
    band = (freqs > 0.5 * f0) & (freqs < 8000)
    k = np.round(freqs / f0)
    near = band & (k >= 1) & (np.abs(freqs - k * f0) < 0.015 * k * f0)
    return spec[near].sum() / spec[band].sum()


def test_output_follows_the_sung_pitch(model_paths):
    pipe = InstrumentPipeline(ControlsModel(model_paths["violin"]))
    x = np.concatenate([np.zeros(SR // 4), tone(220.0, 1.0), tone(330.0, 1.0)])
    y = pipe.render(x, SR)
    assert len(y) == len(x) and np.isfinite(y).all()
    a = y[int(0.6 * SR):int(1.2 * SR)]
    b = y[int(1.6 * SR):int(2.2 * SR)]
    assert harmonic_score(a, 220.0) > 0.8 > harmonic_score(a, 233.1)
    assert harmonic_score(b, 330.0) > 0.8 > harmonic_score(b, 311.1)
    assert np.sqrt(np.mean(a ** 2)) > 30 * np.sqrt(np.mean(y[: SR // 8] ** 2) + 1e-12)


def test_block_size_independent(model_paths):
    x = np.concatenate([tone(196.0, 0.4), np.zeros(SR // 10), tone(294.0, 0.3)])
    ya = InstrumentPipeline(ControlsModel(model_paths["violin"])).render(x, SR, block_size=128)
    yb = InstrumentPipeline(ControlsModel(model_paths["violin"])).render(x, SR, block_size=37)
    np.testing.assert_allclose(ya, yb, atol=1e-6)


def test_onset_latency_under_30_ms(model_paths):
    pipe = InstrumentPipeline(ControlsModel(model_paths["violin"]))
    onset = SR // 2
    x = np.concatenate([np.zeros(onset), tone(220.0, 1.0)])
    y = pipe.render(x, SR)
    env = np.sqrt(np.convolve(y.astype(np.float64) ** 2, np.ones(96) / 96, mode="same"))
    steady = np.median(env[onset + SR // 2: onset + SR])
    arrival = onset + np.flatnonzero(env[onset:] > 0.1 * steady)[0]  # -20 dB of the steady level
    assert (arrival - onset) / SR < 0.030


def test_vst_style_model_runs_at_50_frames_per_second(model_paths):
    pipe = InstrumentPipeline(ControlsModel(model_paths["vst"]))
    pipe.trace = []
    y = pipe.render(tone(262.0, 1.0), SR)
    assert pipe.synth_hop == 960 and len(pipe.trace) == pytest.approx(50, abs=2)
    assert harmonic_score(y[SR // 2:], 262.0) > 0.8


def test_switch_instrument_without_restart(model_paths):
    pipe = InstrumentPipeline(ControlsModel(model_paths["violin"]))
    x = tone(247.0, 1.0)
    half = len(x) // 2
    y1 = np.concatenate([pipe.process(x[i:i + 128]) for i in range(0, half, 128)])
    other = ControlsModel(model_paths["other"])
    pipe.set_controls(other)
    y2 = np.concatenate([pipe.process(x[i:i + 128]) for i in range(half, len(x), 128)])
    assert pipe.controls is other
    assert np.isfinite(y2).all() and np.sqrt(np.mean(y2 ** 2)) > 1e-3
    # switching to a model of another frame rate reinstalls the synth
    pipe.set_controls(ControlsModel(model_paths["vst"]))
    pipe.process(x[:256])
    assert pipe.synth_hop == 960
    assert len(y1) == sum(len(x[i:i + 128]) for i in range(0, half, 128))


def test_external_control_plays_midi_pitch(model_paths):
    pipe = InstrumentPipeline(ControlsModel(model_paths["violin"]))
    pipe.set_external_control(True)
    pipe.push_control(440.0, -50.0, True)
    y = pipe.render(np.zeros(SR), SR)  # the voice input is silent: the external control plays
    assert harmonic_score(y[SR // 4:], 440.0) > 0.8
    assert np.sqrt(np.mean(y[SR // 4:] ** 2)) > 1e-3


def test_ddsp_vst_tracker_drives_the_pipeline(model_paths, data_dir, tmp_path, monkeypatch):
    pytest.importorskip("tflite")
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path))
    monkeypatch.setenv("TONEHOST_SHARED", str(data_dir.parent))
    pipe = InstrumentPipeline(ControlsModel(model_paths["violin"]), PipelineConfig(tracker="ddsp-vst"))
    y = pipe.render(tone(330.0, 1.0), SR)
    assert harmonic_score(y[SR // 2:], 330.0) > 0.8


def test_reverb_adds_a_tail(model_paths):
    pytest.importorskip("tonehost.dsp.reverb")
    x = np.concatenate([tone(220.0, 0.5), np.zeros(SR)])
    dry = InstrumentPipeline(ControlsModel(model_paths["violin"])).render(x, SR)
    wet = InstrumentPipeline(ControlsModel(model_paths["violin"]), PipelineConfig(reverb=True)).render(x, SR)
    tail = slice(int(0.8 * SR), int(1.0 * SR))
    assert np.sqrt(np.mean(wet[tail] ** 2)) > 10 * np.sqrt(np.mean(dry[tail] ** 2) + 1e-12)


def test_midi_voice_portamento_velocity_release():
    from tonehost.realtime.midi.input import MidiVoice, midi_to_hz
    v = MidiVoice(db_low=-80, db_high=-40, portamento_s=0.05, attack_s=0.005, release_s=0.05)
    dt = 0.004
    v.note_on(60, 127)
    f0, db, on = v(dt)
    assert on and f0 == pytest.approx(midi_to_hz(60))  # a phrase starts on pitch
    for _ in range(100):
        f0, db, _ = v(dt)
    assert db == pytest.approx(-40, abs=0.1)
    v.note_on(67, 1)  # legato: glide, and velocity 1 -> db_low
    f_first = v(dt)[0]
    assert midi_to_hz(60) < f_first < midi_to_hz(67)
    steps = 0
    while abs(1200 * np.log2(v(dt)[0] / midi_to_hz(67))) > 50:
        steps += 1
    assert 0.03 < steps * dt < 0.2  # ~portamento time constants, not a jump
    v.note_off(67)  # back to the still-held 60
    assert v(dt)[2]
    v.note_off(60)
    dbs = [v(dt)[1] for _ in range(50)]
    assert not v(dt)[2] and dbs[-1] < -100 and np.all(np.diff(dbs) < 0)


def test_pipeline_plays_from_midi_voice(model_paths):
    from tonehost.realtime.midi.input import MidiVoice
    pipe = InstrumentPipeline(ControlsModel(model_paths["violin"]))
    voice = MidiVoice(db_low=-80, db_high=-48.6)
    pipe.set_external_control(voice)
    voice.note_on(57, 100)  # A3 = 220 Hz
    y = pipe.render(np.zeros(SR // 2), SR)
    assert harmonic_score(y[SR // 8:], 220.0) > 0.8
