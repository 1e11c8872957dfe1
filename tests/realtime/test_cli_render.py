"""CLI: ``tonehost pitch``, ``tonehost render`` (and ``play``'s options) on real voice recordings."""
from __future__ import annotations

import argparse
import csv

import numpy as np
import pytest
import soundfile as sf

from tonehost.realtime.testing.models import VIOLIN_SETTINGS, make_random_controls_onnx
from tonehost.realtime.cli import pitch as pitch_cmd
from tonehost.realtime.cli import play as play_cmd
from tonehost.realtime.cli import render as render_cmd

MDB = "voice/mdb_stem_synth/AClassicEducation_NightOwl_STEM_08.RESYN"


def cli(*argv):
    """Parse with just these command modules (independent of other modules in COMMAND_MODULES) and run."""
    parser = argparse.ArgumentParser(prog="tonehost")
    sub = parser.add_subparsers(dest="command")
    for mod in (pitch_cmd, render_cmd, play_cmd):
        mod.register(sub)
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def user_message(exc):
    return getattr(exc, "user_message", None) or str(exc)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_random_controls_onnx(tmp_path_factory.mktemp("m") / "violin.onnx", settings=VIOLIN_SETTINGS)


def test_pitch_writes_csv_matching_the_reference(data_dir, tmp_path):
    import mir_eval
    out = tmp_path / "f0.csv"
    assert cli("pitch", data_dir / f"{MDB}.wav", "-o", out) == 0
    with open(out) as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["time", "f0_hz", "confidence"]
    arr = np.array(rows[1:], float)
    assert np.all(np.diff(arr[:, 0]) > 0) and ((arr[:, 2] >= 0) & (arr[:, 2] <= 1)).all()
    ref = np.loadtxt(data_dir / f"{MDB}.csv", delimiter=",")
    rv, rc, ev, ec = mir_eval.melody.to_cent_voicing(ref[:, 0], ref[:, 1], arr[:, 0], arr[:, 1])
    assert mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec) > 0.95


def test_pitch_with_ddsp_vst_tracker(data_dir, tmp_path, monkeypatch):
    pytest.importorskip("tflite")
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TONEHOST_SHARED", str(data_dir.parent))
    out = tmp_path / "f0.csv"
    assert cli("pitch", data_dir / f"{MDB}.wav", "-o", out, "--tracker", "ddsp-vst") == 0
    arr = np.loadtxt(out, delimiter=",", skiprows=1)
    assert arr[1, 0] - arr[0, 0] == pytest.approx(0.02)
    ref = np.loadtxt(data_dir / f"{MDB}.csv", delimiter=",")
    voiced = arr[arr[:, 1] > 0]
    ref_at = np.interp(voiced[:, 0], ref[:, 0], ref[:, 1])
    ok = ref_at > 0
    cents = 1200 * np.abs(np.log2(voiced[ok, 1] / ref_at[ok]))
    assert np.mean(cents < 50) > 0.8


def test_render_writes_the_whole_voice_as_instrument_at_48k(data_dir, tmp_path, model):
    # (render speed is measured in bench/ddsp_latency.py, not asserted in a timed test)
    out = tmp_path / "violin.wav"
    assert cli("render", data_dir / f"{MDB}.wav", "--checkpoint", model, "-o", out) == 0
    y, sr = sf.read(out)
    x, sr_in = sf.read(data_dir / f"{MDB}.wav")
    assert sr == 48000 and abs(len(y) - len(x) * 48000 / sr_in) <= 2
    assert np.sqrt(np.mean(y ** 2)) > 1e-3 and np.isfinite(y).all()


def test_render_with_reverb_and_controls(data_dir, tmp_path, model):
    out = tmp_path / "wet.wav"
    assert cli("render", data_dir / f"{MDB}.wav", "--checkpoint", model, "-o", out, "--reverb",
               "--pitch-shift", "12", "--input-gain", "-6", "--tail", "0.5") == 0
    y, sr = sf.read(out)
    x, sr_in = sf.read(data_dir / f"{MDB}.wav")
    assert abs(len(y) - (len(x) * 48000 / sr_in + 0.5 * 48000)) <= 2
    assert np.sqrt(np.mean(y[-int(0.3 * sr):] ** 2)) > 1e-5  # reverb tail


def test_errors_name_the_file_and_the_fix(tmp_path, model):
    with pytest.raises(Exception) as info:
        cli("render", tmp_path / "missing.wav", "--checkpoint", model, "-o", tmp_path / "o.wav")
    assert "missing.wav" in user_message(info.value)
    bad = tmp_path / "voice.wav"
    sf.write(bad, np.zeros(1600), 16000)
    with pytest.raises(Exception) as info:
        cli("render", bad, "--checkpoint", tmp_path / "nope.onnx", "-o", tmp_path / "o.wav")
    assert "nope.onnx" in user_message(info.value)
    assert hasattr(info.value, "user_message")


def test_play_parser_has_the_live_options():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    play_cmd.register(sub)
    args = parser.parse_args(["play", "--instrument", "flute", "--device", "3", "--midi-in", "Keystation",
                              "--checkpoint", "x.onnx", "--reverb"])
    assert (args.instrument, args.device, args.midi_in, args.checkpoint, args.reverb) == \
        ("flute", "3", "Keystation", "x.onnx", True)
