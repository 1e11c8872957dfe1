"""``tonehost continue``: primer + continuation in the output file, and one-line errors for bad input."""
from __future__ import annotations

import pretty_midi
import pytest

from tonehost.exports.convert.music_rnn import write_random_checkpoint
from tonehost.exports.note_sequence import NoteSequence
from tonehost.realtime.cli import main
from tonehost.realtime.pipelines.music_rnn import MusicRNN


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_rnn")
    return {n: write_random_checkpoint(root / n, n, seed=i, layers=(16, 16, 16) if n != "basic_rnn" else (16, 16))
            for i, n in enumerate(("basic_rnn", "drum_kit_rnn", "chord_pitches_improv"))}


def _midi(path, notes, qpm=120.0, drum=False):
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    inst = pretty_midi.Instrument(0, is_drum=drum)
    for pitch, start, end in notes:
        inst.notes.append(pretty_midi.Note(80, pitch, start, end))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def _run(capsys, *argv):
    rc = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return rc, out, err


def test_output_is_primer_then_the_continuation(ckpts, tmp_path, capsys):
    primer = _midi(tmp_path / "p.mid", [(60, 0, 0.25), (62, 0.25, 0.5), (64, 0.5, 1.0), (67, 1.0, 1.9)], qpm=100)
    out = tmp_path / "out.mid"
    rc, text, err = _run(capsys, "continue", primer, "-o", out, "--checkpoint", ckpts["basic_rnn"], "--steps", 24,
                         "--temperature", 1.0, "--seed", 4, "--qpm", 90)
    assert rc == 0, err
    assert "primer + 24 new steps" in text
    q = NoteSequence.from_midi(primer).quantize(4)
    T = q.total_quantized_steps
    cont = MusicRNN(ckpts["basic_rnn"]).continue_sequence(q, 24, temperature=1.0, rng=4)
    got = NoteSequence.from_midi(out)
    assert got.qpm == pytest.approx(90, abs=1e-3)
    spq_s = 60 / 90 / 4
    want = [(n.pitch, n.quantized_start_step, n.quantized_end_step) for n in q.notes] + \
        [(n.pitch, n.quantized_start_step + T, n.quantized_end_step + T) for n in cont.notes]
    have = [(n.pitch, round(n.start_time / spq_s), round(n.end_time / spq_s)) for n in got.notes]
    assert sorted(have) == sorted(want) and len(cont.notes) > 3


def test_chords_and_drums(ckpts, tmp_path, capsys):
    primer = _midi(tmp_path / "p.mid", [(60, 0, 0.5), (64, 0.5, 1.0)])
    rc, text, err = _run(capsys, "continue", primer, "-o", tmp_path / "c.mid", "--checkpoint",
                         ckpts["chord_pitches_improv"], "--chords", "C G Am F", "--steps", 16)
    assert rc == 0, err
    groove = _midi(tmp_path / "g.mid", [(36, 0, 0.1), (42, 0.125, 0.2), (38, 0.25, 0.3), (42, 0.375, 0.45)],
                   drum=True)
    rc, text, err = _run(capsys, "continue", groove, "-o", tmp_path / "d.mid", "--checkpoint",
                         ckpts["drum_kit_rnn"], "--steps", 16)
    assert rc == 0, err
    got = NoteSequence.from_midi(tmp_path / "d.mid")
    assert all(n.is_drum for n in got.notes) and max(n.start_time for n in got.notes) > 0.5


@pytest.mark.parametrize("case, message", [
    ("missing", "not found"),
    ("corrupt", "cannot read .* as a MIDI file"),
    ("polyphonic", "is polyphonic .* --skip-polyphony"),
    ("range", "pitch 30 outside the model's range 48..83"),
    ("chord_name", "chord symbol 'Hm7'"),
    ("no_chords", "conditioned on chords: pass --chords"),
    ("drums_for_melody", "holds drums"),
    ("unknown_drum", "not in the drum kit"),
])
def test_bad_input_is_one_line(ckpts, tmp_path, capsys, case, message):
    import re

    ok = _midi(tmp_path / "ok.mid", [(60, 0, 0.5), (62, 0.5, 1.0)])
    args = {"missing": [tmp_path / "nope.mid"],
            "corrupt": [tmp_path / "bad.mid"],
            "polyphonic": [_midi(tmp_path / "poly.mid", [(60, 0, 1), (64, 0, 1), (67, 0.5, 1)])],
            "range": [_midi(tmp_path / "low.mid", [(30, 0, 1)])],
            "chord_name": [ok, "--checkpoint", ckpts["chord_pitches_improv"], "--chords", "C Hm7"],
            "no_chords": [ok, "--checkpoint", ckpts["chord_pitches_improv"]],
            "drums_for_melody": [_midi(tmp_path / "dr.mid", [(36, 0, 0.1), (38, 0.5, 0.6)], drum=True)],
            "unknown_drum": [_midi(tmp_path / "dr2.mid", [(36, 0, 0.1), (25, 0.5, 0.6)], drum=True),
                             "--checkpoint", ckpts["drum_kit_rnn"]]}[case]
    (tmp_path / "bad.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    if "--checkpoint" not in args:
        args = args + ["--checkpoint", ckpts["basic_rnn"]]
    rc, out, err = _run(capsys, "continue", *args, "-o", tmp_path / "o.mid")
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tonehost: error: "), err
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "o.mid").exists()


@pytest.mark.parametrize("option, value", [("--steps", "0"), ("--temperature", "-1"), ("--qpm", "0"),
                                           ("--seed", "x"), ("--threads", "0")])
def test_bad_numbers_are_refused_while_parsing(ckpts, tmp_path, capsys, option, value):
    ok = _midi(tmp_path / "ok.mid", [(60, 0, 0.5)])
    rc, out, err = _run(capsys, "continue", ok, "-o", tmp_path / "o.mid", "--checkpoint", ckpts["basic_rnn"],
                        f"{option}={value}")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and option in err, err


def test_a_sung_line_from_pitch_midi_continues(ckpts, tmp_path, capsys):
    """hum -> `pitch --midi` -> `continue`: a one-voice line whose scoops and passing notes are shorter than a
    sixteenth put two notes on one grid step and was refused as polyphonic. Notes one after another on one step
    are a line, not a chord: the longest of each step is kept (one warning); a real chord is still refused."""
    # 55 for 88 ms then 57 (one step at 120 qpm is 125 ms), 58 then 57 at 0.36 s, a held 55: one voice
    line = [(55, 0.077, 0.165), (57, 0.165, 0.225), (58, 0.225, 0.362), (57, 0.362, 0.477), (55, 0.512, 0.806),
            (57, 0.845, 1.4)]
    primer = _midi(tmp_path / "hum.mid", line)
    rc, text, err = _run(capsys, "continue", primer, "-o", tmp_path / "c.mid", "--checkpoint", ckpts["basic_rnn"],
                         "--steps", 16)
    assert rc == 0, err
    warn = [ln for ln in err.splitlines() if ln.startswith("tonehost: warning:")]
    assert len(warn) == 1 and "one-voice line" in warn[0] and "longest" in warn[0], err
    got = NoteSequence.from_midi(tmp_path / "c.mid")
    first = sorted(got.notes, key=lambda n: n.start_time)[0]
    assert first.pitch == 55  # (the longer note of step 0; 57 lasted 60 ms)
    chord = _midi(tmp_path / "chord.mid", [(55, 0.0, 0.1), (60, 0.05, 0.1), (57, 0.2, 0.5)])  # 55 and 60 overlap
    rc, text, err = _run(capsys, "continue", chord, "-o", tmp_path / "d.mid", "--checkpoint", ckpts["basic_rnn"])
    assert rc == 1 and "is polyphonic" in err, err
