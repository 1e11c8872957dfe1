"""tonehost.MusicRNN without Node: the ONNX step against a NumPy transcription of magenta.js's sampleRnn (attention
wrapper included), the API's errors, the export cache, seeding and the step-wise stream. (Parity with magenta.js
itself: test_music_rnn_node.py.)"""
from __future__ import annotations

import json

import numpy as np
import pytest

from tonehost.exports.convert.lstm import LSTMCellWeights, multi_rnn_cell_np
from tonehost.exports.convert.music_rnn import (ATTENTION_PREFIX, CELL_PATTERN, DEFAULT_SPECS, MusicRNNSpec,
                                                export_music_rnn, random_weights, write_random_checkpoint)
from tonehost.exports.errors import CheckpointFormatError, TonehostError, UsageError
from tonehost.exports.note_sequence import Note, NoteSequence, QuantizationInfo
from tonehost.exports.sequences import ChordSymbolError, ConverterError, PitchRangeError
from tonehost.exports.tfjs import write_layers_checkpoint
from tonehost.exports.tfjs.random import softmax32
from tonehost.realtime.pipelines.music_rnn import MusicRNN

SMALL = {"basic_rnn": (24, 16), "drum_kit_rnn": (16, 12, 8), "chord_pitches_improv": (12, 12, 12),
         "melody_rnn": (20, 20)}


def _seq(pitches_and_steps, total, drum=False):
    notes = [Note(p, quantized_start_step=s, quantized_end_step=e, is_drum=drum) for p, s, e in pitches_and_steps]
    return NoteSequence(notes=notes, quantization_info=QuantizationInfo(4), total_quantized_steps=total)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("mrnn")
    return {name: write_random_checkpoint(root / name, name, seed=i, layers=SMALL[name])
            for i, name in enumerate(SMALL)}


def _reference(weights, spec: MusicRNNSpec, primer, steps, chords=None):
    """magenta.js sampleRnn (argmax) in NumPy, written from music_rnn/model.ts and attention.ts."""
    attn = ATTENTION_PREFIX + "kernel" in weights
    prefix = ATTENTION_PREFIX if attn else "rnn/"
    cells = []
    while prefix + CELL_PATTERN % len(cells) + "kernel" in weights:
        p = prefix + CELL_PATTERN % len(cells)
        cells.append(LSTMCellWeights(weights[p + "kernel"], weights[p + "bias"]))
    T, D = primer.shape
    total = T + steps
    controls = spec.chord_encoder.encode_progression(chords, total).astype(np.float32) if chords else None
    aux = np.concatenate([a.get_tensors(total) for a in spec.aux_inputs], 1) if spec.aux_inputs else None
    states = [(np.zeros((1, c.units), np.float32), np.zeros((1, c.units), np.float32)) for c in cells]
    S, L = cells[0].units, spec.attention_length
    attention, history = np.zeros((1, S), np.float32), np.zeros((1, L or 0, S), np.float32)
    out, events, probs = None, [], []
    for i in range(total):
        if i < T:
            x = primer[i:i + 1]
        else:
            logits = out @ weights["fully_connected/weights"] + weights["fully_connected/biases"]
            e = int(np.argmax(logits[0]))
            probs.append(softmax32(logits[0]))
            events.append(e)
            x = np.eye(D, dtype=np.float32)[e][None]
        if i == total - 1:
            break
        parts = ([controls[i + 1:i + 2]] if controls is not None else []) + [x] + \
            ([aux[i:i + 1]] if aux is not None else [])
        x = np.concatenate(parts, 1)
        if attn:
            w = {k: weights[ATTENTION_PREFIX + k] for k in ("kernel", "bias", "attention/attn_w", "attention/attn_v",
                                                             "attention/kernel", "attention_output_projection/kernel",
                                                             "attention_output_projection/bias")}
            x = np.concatenate([x, attention], 1) @ w["kernel"] + w["bias"]
            states = multi_rnn_cell_np(x, states, cells)
            feat = history[0] @ w["attention/attn_w"][0, 0]                                  # [L, S]
            q = np.concatenate([v for pair in states for v in pair], 1) @ w["attention/kernel"]  # no bias
            s = (w["attention/attn_v"] * np.tanh(feat + q)).sum(1)
            a = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
            attention = (a[:, None] * history[0]).sum(0)[None].astype(np.float32)
            out = np.concatenate([states[2][1], attention], 1) @ w["attention_output_projection/kernel"] + \
                w["attention_output_projection/bias"]
            history = np.concatenate([history[:, 1:], out[:, None]], 1)
        else:
            states = multi_rnn_cell_np(x, states, cells)
            out = states[-1][1]
    return np.array(events), np.stack(probs)


@pytest.mark.parametrize("name", list(SMALL))
def test_onnx_step_matches_numpy_transcription_of_magenta_js(small, name):
    from tonehost.exports.tfjs import read_layers_checkpoint

    model = MusicRNN(small[name])
    if name == "drum_kit_rnn":
        seq = _seq([(36, 0, 1), (42, 0, 1), (38, 2, 3), (46, 5, 6)], 7, drum=True)
    else:
        seq = _seq([(60, 0, 2), (64, 2, 3), (67, 4, 7)], 8)
    chords = ["Dm7", "G7", "C", "A7"] if name == "chord_pitches_improv" else None
    cont = model.continue_sequence_and_return_probabilities(seq, 20, chord_progression=chords)
    events, probs = _reference(read_layers_checkpoint(small[name]), model.spec, model.encode(seq), 20, chords)
    np.testing.assert_allclose(cont.probs, probs, atol=2e-5)
    assert cont.events.tolist() == events.tolist()
    assert cont.sequence.total_quantized_steps == 20 and cont.sequence.quantization_info.steps_per_quarter == 4
    assert model.continue_sequence(seq, 20, chord_progression=chords).notes == cont.sequence.notes


def test_stream_is_the_same_loop_and_goes_on(small):
    model = MusicRNN(small["basic_rnn"])
    seq = _seq([(60, 0, 2), (64, 2, 3), (67, 4, 7)], 8)
    cont = model.continue_sequence_and_return_probabilities(seq, 12)
    s = model.stream()
    s.feed_sequence(seq)
    first = s.take(12)
    assert first == cont.events.tolist()
    assert len(s.take(40)) == 40 and s.t == 8 + 52  # open-ended
    assert s.to_note_sequence(first).notes == cont.sequence.notes


@pytest.mark.parametrize("name", ["melody_rnn", "drum_kit_rnn"])
def test_prefix_cache_runs_only_new_steps_and_changes_nothing(small, name):
    """A growing primer fed through a PrefixCache: the same logits and state as feeding it whole from zero state,
    with only the steps after the first differing row run (attention and binary-counter models included)."""
    from tonehost.realtime.pipelines.music_rnn import PrefixCache

    model = MusicRNN(small[name])
    drum = name == "drum_kit_rnn"
    pitch = (36, 38, 42, 36, 46) if drum else (60, 64, 67, 62, 65)
    cache = PrefixCache(model)
    for n in range(1, 6):
        seq = _seq([(pitch[i], 3 * i, 3 * i + 2) for i in range(n)], 3 * n - 1, drum)
        whole = model.stream()
        whole.feed_sequence(seq)
        cached = model.stream()
        assert cached.feed_tensor(model.encode(seq), cache)
        np.testing.assert_array_equal(cached.logits, whole.logits)
        for k in whole.state:
            np.testing.assert_array_equal(cached.state[k], whole.state[k])
        assert cached.take(8) == whole.take(8)
        if n > 1:   # the primer ends where its last note ends: 3 new steps (note-off, rest, the new note's row)
            assert cache.fed == 3, (n, cache.fed)
    assert cache.run(model.stream().input_rows(model.encode(seq))) is not None and cache.fed == 0
    assert cache.run(model.stream().input_rows(model.encode(seq)), cancelled=lambda: True) is not None  # cached
    other = _seq([(pitch[1], 0, 2)], 2, drum)
    assert cache.run(model.stream().input_rows(model.encode(other)), cancelled=lambda: True) is None


def test_stream_chords_per_bar_and_callable(small):
    model = MusicRNN(small["chord_pitches_improv"])
    seq = _seq([(60, 0, 2)], 4)
    a = model.stream(chords=["C", "F"], steps_per_chord=16)
    assert [a.chord_at(k) for k in (0, 15, 16, 31, 32)] == ["C", "C", "F", "F", "C"]
    b = model.stream(chords=lambda k: "C" if (k // 16) % 2 == 0 else "F")
    a.feed_sequence(seq)
    b.feed_sequence(seq)
    assert a.take(40) == b.take(40)
    with pytest.raises(UsageError, match="conditioned on chords"):
        model.stream()


def test_sampling_is_seeded(small):
    model = MusicRNN(small["melody_rnn"])
    seq = _seq([(60, 0, 2), (64, 2, 3)], 4)
    a = model.continue_sequence_and_return_probabilities(seq, 32, temperature=1.5, rng=5).events
    b = model.continue_sequence_and_return_probabilities(seq, 32, temperature=1.5, rng=5).events
    c = model.continue_sequence_and_return_probabilities(seq, 32, temperature=1.5, rng=6).events
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    argmax = model.continue_sequence_and_return_probabilities(seq, 32, temperature=0).events
    assert argmax.tolist() == model.continue_sequence_and_return_probabilities(seq, 32).events.tolist()


def test_errors_are_one_sentence(small):
    model = MusicRNN(small["basic_rnn"])
    improv = MusicRNN(small["chord_pitches_improv"])
    seq = _seq([(60, 0, 2)], 4)
    with pytest.raises(UsageError, match="takes no chords"):
        model.continue_sequence(seq, 4, chord_progression=["C"])
    with pytest.raises(UsageError, match="conditioned on chords"):
        improv.continue_sequence(seq, 4)
    with pytest.raises(ChordSymbolError, match="'Hm7'"):
        improv.continue_sequence(seq, 4, chord_progression=["C", "Hm7"])
    with pytest.raises(PitchRangeError, match="outside the model's range 48..83"):
        model.continue_sequence(_seq([(30, 0, 2)], 4), 4)
    with pytest.raises(ConverterError, match="quantized"):
        model.continue_sequence(NoteSequence(notes=[Note(60, start_time=0, end_time=0.5)], total_time=1), 4)
    with pytest.raises(ConverterError, match="empty"):
        model.continue_sequence(_seq([], 0), 4)
    with pytest.raises(UsageError, match="steps"):
        model.continue_sequence(seq, 0)
    with pytest.raises(UsageError, match="temperature"):
        model.continue_sequence(seq, 4, temperature=-1)


def test_export_cache_and_config_checks(small, tmp_path):
    d = small["basic_rnn"]
    path, reused = export_music_rnn(d)
    assert reused and path.parent == d  # built by the fixture's first MusicRNN, reused now
    bad = tmp_path / "bad"
    spec = dict(DEFAULT_SPECS["basic_rnn"])
    w = random_weights(spec, (8, 8), seed=0)
    write_layers_checkpoint(bad, w, config=DEFAULT_SPECS["melody_rnn"])  # 130 classes vs 38 in the weights
    with pytest.raises(CheckpointFormatError, match="predicts 38 classes but its config's MelodyConverter has 130"):
        MusicRNN(bad)
    (bad / "config.json").write_text(json.dumps({"type": "MusicVAE", "dataConverter": {}}))
    with pytest.raises(CheckpointFormatError, match="not MusicRNN"):
        MusicRNN(bad)
    attn = dict(DEFAULT_SPECS["drum_kit_rnn"])
    w = random_weights(attn, (8, 8, 8), attention=True, seed=0)
    write_layers_checkpoint(tmp_path / "noattn", w, config={k: v for k, v in attn.items() if k != "attentionLength"})
    with pytest.raises(CheckpointFormatError, match="attentionLength"):
        MusicRNN(tmp_path / "noattn")
    with pytest.raises(TonehostError):
        MusicRNN(tmp_path / "nowhere")


def test_quantized_checkpoint_loads_and_differs_only_by_rounding(tmp_path):
    a = write_random_checkpoint(tmp_path / "f", "basic_rnn", seed=3, layers=(16, 16))
    b = write_random_checkpoint(tmp_path / "q", "basic_rnn", seed=3, quantize="uint16", layers=(16, 16))
    seq = _seq([(60, 0, 2), (62, 2, 4)], 4)
    pa = MusicRNN(a).continue_sequence_and_return_probabilities(seq, 8).probs
    pb = MusicRNN(b).continue_sequence_and_return_probabilities(seq, 8).probs
    assert 0 < np.abs(pa - pb).max() < 2e-3
