"""``tonehost export onsets-frames`` and ``tonehost transcribe`` (file and live-from-file), and the MIDI writer."""
from __future__ import annotations

import argparse
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from tonehost.exports.convert.onsets_frames import random_weights
from tonehost.exports.tfjs import write_layers_checkpoint
from tonehost.realtime.cli import export as export_cmd
from tonehost.realtime.cli import transcribe as transcribe_cmd
from tonehost.realtime.midi.output import MidiFileWriter, notes_to_midi


def run_cli(argv):
    """Parse and run like tonehost.realtime.cli.main (errors with a user_message -> (1, message))."""
    parser = argparse.ArgumentParser(prog="tonehost")
    sub = parser.add_subparsers()
    export_cmd.register(sub)
    transcribe_cmd.register(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args), None
    except Exception as exc:
        msg = getattr(exc, "user_message", None)
        if msg is None:
            raise
        return 1, msg


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("of_ckpt") / "onsets_frames_test"
    write_layers_checkpoint(d, random_weights(0))
    return d


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    sr = 44100
    rng = np.random.default_rng(2)
    t = np.arange(int(sr * 2.5)) / sr
    x = np.zeros_like(t)
    for _ in range(12):
        f0 = 440 * 2 ** (int(rng.integers(-24, 24)) / 12)
        t0 = rng.uniform(0.05, 2.0)
        x += 0.2 * np.sin(2 * np.pi * f0 * t) * np.exp(-(t - t0) * 4) * (t > t0) * (t < t0 + 0.4)
    p = tmp_path_factory.mktemp("audio") / "take.wav"
    sf.write(p, np.stack([x, 0.5 * x], 1), sr)  # stereo 44.1 kHz
    return p


def test_export_command_caches(ckpt, tmp_path, capsys):
    rc, err = run_cli(["export", "onsets-frames", str(ckpt), "-o", str(tmp_path / "m.onnx")])
    assert rc == 0 and err is None and (tmp_path / "m.onnx").stat().st_size > 60e6
    assert "exported in" in capsys.readouterr().out
    rc, _ = run_cli(["export", "onsets-frames", str(ckpt)])
    assert rc == 0 and "cached export reused" in capsys.readouterr().out


def test_transcribe_file_writes_midi_and_tsv(ckpt, wav, tmp_path):
    mid, tsv = tmp_path / "out.mid", tmp_path / "out.tsv"
    rc, err = run_cli(["transcribe", str(wav), "-o", str(mid), "--notes", str(tsv), "--checkpoint", str(ckpt)])
    assert rc == 0, err
    rows = [line.split("\t") for line in tsv.read_text().splitlines()]
    assert rows[0] == ["onset", "offset", "pitch", "velocity"] and len(rows) > 5
    notes = [(float(a), float(b), int(p), int(v)) for a, b, p, v in rows[1:]]
    assert all(0 <= a < b <= 2.6 and 21 <= p <= 108 and 10 <= v <= 90 for a, b, p, v in notes)
    on = [m for m in mido.MidiFile(mid) if m.type == "note_on"]
    assert sorted((round(m.note), m.velocity) for m in on) == sorted((p, v) for _, _, p, v in notes)


def test_transcribe_notes_to_stdout(ckpt, wav, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, err = run_cli(["transcribe", str(wav), "--notes", "-", "--checkpoint", str(ckpt)])
    assert rc == 0, err
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "onset\toffset\tpitch\tvelocity" and len(out) > 5
    assert all(len(line.split("\t")) == 4 for line in out[1:-1]) and "notes from" in out[-1]
    assert not (tmp_path / "-").exists()


def test_user_errors(ckpt, tmp_path):
    rc, msg = run_cli(["transcribe", str(tmp_path / "nope.wav"), "-o", "x.mid", "--checkpoint", str(ckpt)])
    assert rc == 1 and "nope.wav" in msg
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    rc, msg = run_cli(["transcribe", str(tmp_path / "bad.wav"), "-o", "x.mid", "--checkpoint", str(ckpt)])
    assert rc == 1 and "bad.wav" in msg
    rc, msg = run_cli(["export", "onsets-frames", str(tmp_path)])
    assert rc == 1 and "weights_manifest.json" in msg
    bad = tmp_path / "notof"
    write_layers_checkpoint(bad, {"x": np.zeros(3, np.float32)})
    rc, msg = run_cli(["export", "onsets-frames", str(bad)])
    assert rc == 1 and "not an Onsets and Frames checkpoint" in msg


def test_live_from_file_matches_offline_and_survives(ckpt, wav, tmp_path):
    ref_tsv, live_mid, live_tsv = tmp_path / "ref.tsv", tmp_path / "live.mid", tmp_path / "live.tsv"
    run_cli(["transcribe", str(wav), "--notes", str(ref_tsv), "--checkpoint", str(ckpt)])
    rc, err = run_cli(["transcribe", "--live", "--input-file", str(wav), "-o", str(live_mid), "--notes",
                       str(live_tsv), "--checkpoint", str(ckpt), "-q", "--seconds", "10"])
    assert rc == 0, err
    assert live_tsv.read_text() == ref_tsv.read_text()
    assert len([m for m in mido.MidiFile(live_mid) if m.type == "note_on"]) == len(ref_tsv.read_text().split("\n")) - 2


def test_midi_writer_file_is_valid_after_every_note(tmp_path):
    path = tmp_path / "take.mid"
    w = MidiFileWriter(path)
    assert len(mido.MidiFile(path).tracks[0]) > 0  # a valid (empty) file exists from the start
    w.note_on(60, 80, 0.5)
    w.note_on(64, 70, 0.6)
    w.note_off(60, 1.0)
    # "crash" now: the file on disk already holds the finished note, not the sounding one
    on = [(m.note, m.velocity) for m in mido.MidiFile(path) if m.type == "note_on"]
    assert on == [(60, 80)]
    w.close(2.0)
    mf = mido.MidiFile(path)
    msgs, t = [], 0.0
    for m in mf:
        t += m.time
        if m.type in ("note_on", "note_off"):
            msgs.append((m.type, m.note, round(t, 3)))
    assert msgs == [("note_on", 60, 0.5), ("note_on", 64, 0.6), ("note_off", 60, 1.0), ("note_off", 64, 2.0)]
    assert notes_to_midi([]).ticks_per_beat == 480


def test_export_from_url_is_cached_next_to_the_downloaded_checkpoint(tmp_path, monkeypatch, capsys):
    from tonehost.realtime.testing.checkpoint_server import CheckpointServer

    root = tmp_path / "srv"
    write_layers_checkpoint(root / "of_uni", random_weights(1), quantize="uint16")
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "cache"))
    srv = CheckpointServer(root).start()
    try:
        url = f"{srv.url}/of_uni"
        for expect in ("exported in", "cached export reused"):
            rc, err = run_cli(["export", "onsets-frames", url])
            assert rc == 0, err
            out = capsys.readouterr().out
            assert expect in out
        model = Path(out.split(" (")[0])
        assert model.is_file() and (model.parent / "weights_manifest.json").is_file()
        assert str(tmp_path / "cache") in str(model)
    finally:
        srv.stop()
