"""The melody data of the shipped melody models: music21's corpus -> tunes -> magenta.js's melody encoding; the split."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tonehost.exports.sequences import MelodyConverter
from tonehost.exports.training import melodies as M


def test_the_committed_split_is_by_piece_and_disjoint():
    raw = json.loads(M.SPLIT_PATH.read_text())
    part_of = M.load_split()
    assert raw["seed"] == 1234 and raw["steps_per_quarter"] == 4
    counts = {p: sum(1 for v in part_of.values() if v == p) for p in ("train", "validation", "test")}
    assert counts == raw["counts"]
    # every piece id in exactly one part (a dict cannot say otherwise; check the raw lists too)
    ids = [(f, n) for f, parts in raw["pieces"].items() for nums in parts.values() for n in nums]
    assert len(ids) == len(set(ids)) == len(part_of)
    assert counts["test"] > 500 and counts["validation"] > 500 and counts["train"] > 8 * counts["test"] - 1000
    collections = {pid.split("/")[0] for pid in part_of}
    assert {"essenFolksong", "oneills1850", "bach"} <= collections


def test_load_split_names_the_fix(tmp_path):
    bad = tmp_path / "split.json"
    bad.write_text("{}")
    with pytest.raises(M.UsageError, match="make_melody_data"):
        M.load_split(bad)


def _tune(notes, total, bars=(0, 16, 32, 48)):
    return M.Tune("x/y.abc#1", np.asarray(notes, np.int32), total, np.asarray(bars, np.int32))


def test_rnn_events_are_the_converters_after_an_octave_shift():
    # a tune around C6 (84..91) does not fit 48..83 as written: it moves down an octave
    tune = _tune([(84, 0, 4), (88, 4, 6), (91, 8, 16), (86, 16, 20)], 20)
    assert M.octave_shift(tune) == -12
    ev = M.rnn_events(tune)
    want = np.argmax(MelodyConverter(48, 83).to_tensor(tune.note_sequence(-12)), axis=1)
    np.testing.assert_array_equal(ev, want)
    assert ev[0] == 84 - 12 - 48 + 2 and ev[6] == 1 and ev[7] == 0  # note-on, NOTE_OFF, NO_EVENT
    wide = _tune([(40, 0, 4), (90, 4, 8)], 8)
    assert M.rnn_events(wide) is None  # a span of 50 semitones fits no octave


def test_vae_windows_equal_the_converter_on_the_cropped_sequence():
    rng = np.random.default_rng(0)
    notes, t = [], 0
    while t < 120:
        d = int(rng.integers(1, 7))
        if rng.random() < 0.8:
            notes.append((int(rng.integers(55, 80)), t, t + d))
        t += d + int(rng.random() < 0.2)
    tune = _tune(notes, t, bars=list(range(0, 120, 16)))
    windows = M.vae_windows(tune, min_notes=0)
    conv = MelodyConverter(21, 108, num_steps=32)
    assert len(windows) == len([b for b in tune.bars if b + 32 <= len(M.rnn_events(tune, 0, 21, 108))])
    for w, b in zip(windows, tune.bars):
        seq = tune.note_sequence()
        seq.notes = [n for n in seq.notes if b <= n.quantized_start_step < b + 32]
        for n in seq.notes:
            n.quantized_start_step -= b
            n.quantized_end_step -= b
        want = np.argmax(conv.to_tensor(seq), axis=1)
        np.testing.assert_array_equal(w, want)


def test_split_groups_the_same_tune_in_two_keys():
    a = _tune([(60, 0, 4), (62, 4, 8), (64, 8, 12)], 12)
    b = M.Tune("x/y.abc#2", a.notes + np.array([5, 0, 0], np.int32), 12, a.bars)
    others = [M.Tune(f"x/z.abc#{i}", np.array([(60 + i % 7, 0, 2 + i % 5), (70, 4, 8)], np.int32), 8, a.bars)
              for i in range(40)]
    split = M.make_split([a, b] + others, seed=3)
    where = {}
    for file, parts in split["pieces"].items():
        for part, nums in parts.items():
            for n in nums:
                where[f"{file}#{n}"] = part
    assert where["x/y.abc#1"] == where["x/y.abc#2"]
    assert M.make_split([a, b] + others, seed=3) == split  # seeded


def test_save_and_load_round_trip(tmp_path):
    tunes = [_tune([(60, 0, 4)], 4), M.Tune("b/c.mxl", np.array([(70, 2, 3), (72, 3, 9)], np.int32), 9,
                                            np.array([2], np.int32), "3/4", "t")]
    back = M.load_tunes(M.save_tunes(tunes, tmp_path / "t.npz"))
    assert [t.piece_id for t in back] == ["x/y.abc#1", "b/c.mxl"]
    np.testing.assert_array_equal(back[1].notes, tunes[1].notes)
    assert back[1].meter == "3/4" and back[1].total_steps == 9 and list(back[1].bars) == [2]


# -------------------------------------------------------------------------------------- with music21

def test_token_reader_equals_music21s_score():
    pytest.importorskip("music21")
    from music21 import converter

    root = M.corpus_root()
    path = root / "miscFolk" / "americanfifeopus.abc"
    tunes = {t.piece_id: t for t in M.abc_tunes(path)}
    assert len(tunes) > 40
    for num in (6, 101, 128):
        tune = tunes[f"miscFolk/americanfifeopus.abc#{num}"]
        notes, bars, meter = M.stream_melody(converter.parse(path, number=num))
        ref = M._tune(tune.piece_id, notes, bars, meter, "")
        np.testing.assert_array_equal(tune.notes, ref.notes)
        np.testing.assert_array_equal(tune.bars, ref.bars)
        # and the quantization is NoteSequence.quantize's
        from tonehost.exports.note_sequence import NoteSequence

        seq = NoteSequence()
        for midi, onset, dur in notes:
            seq.add_note(midi, float(onset) * 0.5, float(onset + dur) * 0.5)
        q = seq.quantize(4)
        got = sorted((n.pitch, n.quantized_start_step, n.quantized_end_step) for n in q.notes)
        assert got == sorted(map(tuple, tune.notes.tolist()))
        assert q.total_quantized_steps == tune.total_steps


def test_ties_merge_only_the_same_pitch(tmp_path):
    pytest.importorskip("music21")
    abc = tmp_path / "t.abc"
    abc.write_text("X:1\nT:t\nM:4/4\nL:1/8\nK:C\nc2-c2 d2-e2 | (3cde f2 {g}a4 |]\n")
    (tune,) = M.abc_tunes(abc)
    # c tied to c: one note of 4 eighths; d-e (a slur written as a tie) stays two notes; the triplet takes a
    # quarter; the grace note is dropped
    assert tune.notes.tolist() == [[72, 0, 8], [74, 8, 12], [76, 12, 16], [72, 16, 17], [74, 17, 19],
                                   [76, 19, 20], [77, 20, 24], [81, 24, 32]]
    assert list(tune.bars) == [0, 16]
