"""The sequence layer on hand-checked cases (no Node needed; test_sequences_node.py compares with magenta.js)."""
from __future__ import annotations

import numpy as np
import pytest

from tonehost.exports.note_sequence import Note, NoteSequence, QuantizationInfo, Tempo
from tonehost.exports.sequences import (NO_CHORD, ChordEncodingError, ChordSymbolError, ConverterError,
                                        DrumsOneHotConverter, GrooveConverter, MajorMinorChordEncoder, Melody,
                                        MelodyConverter, MultitrackConverter, PitchChordEncoder, PitchRangeError,
                                        PolyphonyError, TriadChordEncoder, chord_pitches, chord_quality, chord_root,
                                        converter_from_spec, js_sort, parse_chord_progression)


def _q(notes, total, spq=4):
    return NoteSequence(notes=notes, quantization_info=QuantizationInfo(spq), total_quantized_steps=total,
                        tempos=[Tempo(0.0, 120.0)])


def _n(pitch, s, e, **kw):
    return Note(pitch=pitch, quantized_start_step=s, quantized_end_step=e, **kw)


def test_melody_events_ties_overwrites_and_dropped_writes():
    seq = _q([_n(60, 0, 2), _n(64, 0, 3), _n(62, 2, 2), _n(67, 3, 5), _n(55, 5, 9)], 8)
    events = Melody.from_note_sequence(seq, 48, 83).events.tolist()
    # 64 wins the tie at step 0 (higher pitch first); 62 is zero-length (note-off overwrites its onset);
    # 67 starts where 64 ends; 55's note-off at step 9 falls past the end and is dropped
    assert events == [64 - 46, 0, 1, 67 - 46, 0, 55 - 46, 0, 0]
    assert [n.pitch for n in seq.notes] == [60, 64, 62, 67, 55]  # the caller's list is not reordered


def test_melody_errors_and_round_trip():
    conv = MelodyConverter(48, 83)
    with pytest.raises(PitchRangeError, match="outside the model's range 48..83"):
        conv.to_tensor(_q([_n(40, 0, 2)], 4))
    # a polyphonic note below an in-range one is skipped before the range check
    assert conv.to_tensor(_q([_n(60, 0, 2), _n(30, 0, 2)], 4)).argmax(1).tolist() == [14, 0, 1, 0]
    with pytest.raises(PolyphonyError):
        MelodyConverter(48, 83, ignore_polyphony=False).to_tensor(_q([_n(60, 0, 2), _n(62, 0, 1)], 4))
    with pytest.raises(ConverterError, match="quantized"):
        conv.to_tensor(NoteSequence(notes=[Note(60, start_time=0, end_time=1)]))
    seq = _q([_n(60, 0, 2), _n(62, 2, 3), _n(65, 4, 8)], 8)
    back = conv.to_note_sequence(conv.to_tensor(seq), 4)
    assert [(n.pitch, n.quantized_start_step, n.quantized_end_step) for n in back.notes] == \
        [(60, 0, 2), (62, 2, 3), (65, 4, 8)]
    assert back.total_quantized_steps == 8 and back.quantization_info.steps_per_quarter == 4


def test_drums_one_hot_labels_and_quirks():
    conv = DrumsOneHotConverter()
    seq = _q([_n(36, 0, 1), _n(42, 0, 1), _n(38, 2, 3), _n(40, 2, 3), _n(61, 3, 4), _n(99, 1, 2)], 4)
    # kick + closed hat = 1 + 4; two snares add up to 2 * 2 = class 2 (closed hat!); 61 = low tom (16);
    # 99 is unmapped: NaN -> 0
    assert conv.drum_labels(seq).tolist() == [5, -1, 4, 16]
    assert conv.to_tensor(seq).argmax(1).tolist() == [5, 0, 4, 16]
    # a note past the end lengthens the array (JS arrays grow) but its label is undefined + 1 = NaN -> 0
    grown = conv.to_tensor(_q([_n(36, 5, 6)], 3))
    assert grown.shape == (6, 512) and grown.argmax(1).tolist() == [0] * 6
    clean = conv.clean_drums(seq)
    assert conv.drum_labels(clean).tolist() == [5, 0, 2, 16]
    back = conv.to_note_sequence(conv.to_tensor(clean))
    assert sorted((n.quantized_start_step, n.pitch) for n in back.notes) == [(0, 36), (0, 42), (2, 38), (3, 45)]
    assert all(n.is_drum for n in back.notes)


def test_chord_symbols_like_tonal():
    assert chord_root("F#m7") == 6 and chord_root("Bb7") == 10 and chord_root("cb") == 11
    assert sorted(chord_pitches("Am")) == [0, 4, 9]
    assert sorted(set(chord_pitches("C-7"))) == [0, 4, 7]  # tonal reads "-7" as an octave: C major
    assert chord_quality("C7") == 0 and chord_quality("Cm7b5") == 3 and chord_quality("C+") == 2
    assert chord_quality("Csus4") == 4
    with pytest.raises(ChordSymbolError):
        chord_pitches("C/G")
    with pytest.raises(ChordSymbolError, match="no root"):
        chord_root("Aug")
    e = PitchChordEncoder().encode("G7")
    assert e.shape == (37,) and e[1 + 7] == 1 and e[25 + 7] == 1
    assert sorted(np.flatnonzero(e[13:25]).tolist()) == [2, 5, 7, 11]
    assert PitchChordEncoder().encode(NO_CHORD)[0] == 1
    assert MajorMinorChordEncoder().index("Am") == 1 + 12 + 9
    with pytest.raises(ChordEncodingError):
        MajorMinorChordEncoder().index("Cdim")
    assert TriadChordEncoder().index("Cdim") == 1 + 36


def test_progression_spread_and_magenta_js_mixing_failure():
    enc = PitchChordEncoder()
    t = enc.encode_progression(["C", "G"], 5)
    assert [int(np.argmax(r[1:13])) for r in t] == [0, 0, 0, 7, 7]  # floor(k * 2 / 5)
    with pytest.raises(ChordEncodingError, match="N.C."):
        enc.encode_progression(["C", NO_CHORD], 4)
    assert enc.encode_progression(["C", NO_CHORD], 4, strict=False)[3, 0] == 1
    assert parse_chord_progression("C G | Am, F") == ["C", "G", "Am", "F"]
    with pytest.raises(ChordSymbolError, match="'Hm'"):
        parse_chord_progression("C Hm")


def test_js_sort_inconsistent_comparator_matches_v8_steps():
    # magenta.js's track comparator says "b first" whenever b is a drum track, both ways for two drum tracks
    def cmp(a, b):
        return -1 if b[1] else (1 if a[1] else a[0] - b[0])
    items = [(5, False), (1, True), (3, False), (2, True), (0, False)]
    # what Node 20 prints for the same arrays (the two drum tracks come out in reverse input order)
    assert js_sort(items, cmp) == [(0, False), (3, False), (5, False), (2, True), (1, True)]
    more = [(1, True), (7, False), (2, True), (0, False), (9, True), (4, False), (4, False)]
    assert js_sort(more, cmp) == [(0, False), (4, False), (4, False), (7, False), (9, True), (2, True), (1, True)]
    assert js_sort([3, 1, 2], lambda a, b: a - b) == [1, 2, 3]


def test_multitrack_round_trip():
    conv = MultitrackConverter(512, 8, 24, 96, 8)
    assert conv.depth == 490
    seq = _q([_n(60, 0, 24, velocity=100, program=0, instrument=0),
              _n(64, 24, 48, velocity=60, program=0, instrument=0),
              _n(36, 0, 6, velocity=127, instrument=1, is_drum=True),
              _n(40, 12, 96, velocity=20, program=33, instrument=2)], 96, spq=24)
    t = conv.to_tensor(seq)
    assert t.shape == (512, 490)
    assert t[0].argmax() == conv.performance_event_depth + 0          # track 0: program 0
    assert t[64].argmax() == conv.performance_event_depth + 33        # track 1: program 33
    assert t[128].argmax() == conv.performance_event_depth + 128      # track 2: drums
    assert t[192].argmax() == conv.end_token and t[193:256].sum() == 0  # missing track: end token, zeros
    back = conv.to_note_sequence(t)
    got = sorted((n.instrument, n.pitch, n.quantized_start_step, n.quantized_end_step, n.is_drum, n.program)
                 for n in back.notes)
    # tracks sorted by program (0, 33), drums last
    assert got == [(0, 60, 0, 24, False, 0), (0, 64, 24, 48, False, 0), (1, 40, 12, 96, False, 33),
                   (2, 36, 0, 6, True, 0)]
    vel = {n.pitch: n.velocity for n in back.notes}
    assert vel[64] == 49 and vel[40] == 17  # bin starts (bins of 16)
    with pytest.raises(ConverterError, match="steps per quarter"):
        conv.to_tensor(_q([_n(60, 0, 4)], 8, spq=4))


def test_groove_round_trip_timing_and_velocity():
    conv = GrooveConverter(num_steps=16)
    step = 60 / 120 / 4
    seq = NoteSequence(notes=[Note(36, velocity=100, start_time=0.01, end_time=0.1, is_drum=True),
                              Note(38, velocity=64, start_time=4 * step - 0.02, end_time=4 * step + 0.1,
                                   is_drum=True)], tempos=[Tempo(0.0, 120.0)], total_time=1.0)
    t = conv.to_tensor(seq)
    assert t.shape == (16, 27) and t[0, 0] == 1 and t[4, 1] == 1
    back = conv.to_note_sequence(t)
    assert [(n.pitch, n.velocity) for n in back.notes] == [(36, 100), (38, 64)]
    assert back.notes[0].start_time == pytest.approx(0.01, abs=1e-6)
    assert back.notes[1].start_time == pytest.approx(4 * step - 0.02, abs=1e-6)
    with pytest.raises(ConverterError, match="at most 16 steps"):
        conv.to_tensor(NoteSequence(notes=[Note(36, start_time=2.5, end_time=2.6)], total_time=3))


def test_converter_from_spec_errors():
    with pytest.raises(ConverterError, match="unknown data converter"):
        converter_from_spec({"type": "NopeConverter", "args": {}})
    with pytest.raises(ConverterError, match="args"):
        converter_from_spec({"type": "MelodyConverter"})
    c = converter_from_spec({"type": "TrioConverter", "args": {"numSteps": 64, "melArgs": {"minPitch": 21,
                             "maxPitch": 108}, "bassArgs": {"minPitch": 21, "maxPitch": 108}, "drumsArgs": {}}})
    assert c.depth == 692 and c.num_splits == 3
