"""MusicVAE without Node: all 25 hosted ids load (random-weight stand-ins in the exact format, float32 / q1 / q2),
their architecture is read from the weight shapes, they export to ONNX and encode, decode, sample, interpolate and
find similar sequences; broken checkpoints fail with one sentence naming the variable; controls are checked.
(Parity with magenta.js itself: test_music_vae_node.py.)
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from tonehost.exports.checkpoints.index import all_checkpoints
from tonehost.exports.convert.music_vae import export_music_vae, read_architecture
from tonehost.exports.convert.music_vae_arch import architecture
from tonehost.exports.convert.music_vae_standins import (FAMILIES, STANDINS, hosted_size_mb, random_sequences,
                                                         scaled, weight_shapes, write_standin)
from tonehost.exports.errors import CheckpointFormatError, TonehostError, UsageError
from tonehost.exports.note_sequence import NoteSequence
from tonehost.exports.sequences import ChordError, ConverterError
from tonehost.exports.tfjs.manifest import MANIFEST_NAME
from tonehost.realtime.pipelines.music_vae import MusicVAE, interpolated_zs, tfjs_linspace



def test_the_index_has_exactly_these_25_music_vae_ids():
    ids = {c.id for c in all_checkpoints().values() if c.model == "MusicVAE"}
    assert ids == set(STANDINS) and len(ids) == 25


@pytest.mark.parametrize("cid", list(STANDINS))
def test_inferred_widths_reproduce_the_listed_size(cid):
    """The stand-ins' full widths give each hosted file's listed size (so the structure is plausible)."""
    listed = all_checkpoints()[cid].size_mb
    assert abs(hosted_size_mb(STANDINS[cid]) / listed - 1) < 0.05


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    root = tmp_path_factory.mktemp("vae_standins")
    return {cid: write_standin(root / cid, cid, seed=k) for k, cid in enumerate(STANDINS)}


@pytest.mark.parametrize("cid", list(STANDINS))
def test_every_hosted_id_loads_encodes_and_decodes(standins, cid):
    s = scaled(STANDINS[cid])
    d = standins[cid]
    manifest = json.loads((d / MANIFEST_NAME).read_text())
    want = {None: None, "uint8": "uint8", "uint16": "uint16"}[STANDINS[cid].quantize]
    assert {(w.get("quantization") or {}).get("dtype") for w in manifest[0]["weights"]} == {want}
    vae = MusicVAE(d, seed=0)
    a = vae.arch
    # widths read from the shapes
    assert [e.fw.units for e in a.encoder] == list(s.enc) and a.z_dims == s.z
    assert all(dec.units == s.dec[0] and len(dec.layers) == len(s.dec) for dec in a.decoders)
    assert (a.conductor.units if a.conductor else 0) == (s.conductor[0] if s.conductor else 0)
    assert (a.control_pre.fw.units if a.control_pre else 0) == s.control_pre
    chords = ["C"] if vae.chord_encoder else None
    seqs = random_sequences(cid, np.random.default_rng(1))
    z = vae.encode(seqs, chord_progression=chords)
    assert z.shape == (2, s.z) and z.dtype == np.float32 and np.all(np.isfinite(z))
    assert not np.allclose(z[0], z[1])
    samples = vae.decode_tensors(z, chord_progression=chords)
    assert samples.shape == (2, a.num_steps, a.output_depth)
    out = [vae.converter.to_note_sequence(x, vae.steps_per_quarter, 120.0) for x in samples]  # what decode() does
    if a.decoders[0].kind == "categorical":  # one one-hot per step and decoder
        for i, dec in enumerate(a.decoders):
            lo = sum(x.output_dims for x in a.decoders[:i])
            assert np.all(samples[..., lo:lo + dec.output_dims].sum(-1) == 1)
    # every sequence decodes back to the model's length
    for o in out:
        if o.is_quantized:
            assert o.total_quantized_steps == (96 if a.segmented_by_track else a.num_steps)
        else:
            assert o.total_time == pytest.approx(a.num_steps * 60 / 120 / 4)


def test_architecture_of_each_family(standins):
    fam = {f: read_architecture(standins[cid]) for f, cid in FAMILIES.items()}
    assert fam["flat_melody"].family == "categorical" and fam["flat_melody"].input_depth == 90
    assert fam["flat_drums"].input_depth == 10 and fam["flat_drums"].decoders[0].output_dims == 512
    nade = fam["nade_drums"].decoders[0]
    assert nade.kind == "nade" and nade.output_dims == 9 and nade.projection_dims == 9 + nade.nade_hidden
    assert fam["chords"].control_depth == 49 and fam["chords"].decoders[0].control_dims == 49
    h = fam["hierarchical_melody"]
    assert h.hierarchical and h.num_segments == 16 and h.segment_steps == 16
    assert h.decoders[0].prefix == "core_decoder/decoder/" and h.decoders[0].z_dims == h.conductor.units
    t = fam["trio"]
    assert [d.output_dims for d in t.decoders] == [90, 90, 512] and t.input_depth == 692
    assert [d.prefix for d in t.decoders] == [f"core_decoder/core_decoder_{i}/decoder/" for i in range(3)]
    m = fam["multitrack"]
    assert m.segmented_by_track and m.input_depth == 490 and m.control_pre is not None
    assert m.decoders[0].control_dims == m.control_pre.out
    g = fam["groove"]
    assert g.decoders[0].kind == "groove" and g.decoders[0].output_dims == 27


def test_boolean_decoder_from_config(tmp_path):
    s = STANDINS["drums_2bar_nade_9_q2"]
    cfg = {"type": "MusicVAE", "dataConverter": {"type": "DrumRollConverter", "args": {"numSteps": 16}},
           "useBooleanDecoder": True}
    from dataclasses import replace

    b = replace(scaled(s), config=cfg, nade_hidden=0)
    write_standin(tmp_path / "bool", b, scale=False, quantize=None)
    vae = MusicVAE(tmp_path / "bool", seed=3)
    assert vae.arch.decoders[0].kind == "boolean"
    res = vae.decode_tensors(np.random.default_rng(0).standard_normal((2, 16)), return_logits=True)
    np.testing.assert_array_equal(res.samples, (res.logits[0] >= 0).astype(np.float32))
    hot = vae.decode_tensors(np.zeros((1, 16)), temperature=1.0, rng=5)
    assert set(np.unique(hot)) <= {0.0, 1.0}


def test_bad_checkpoints_fail_with_one_sentence_naming_the_variable(tmp_path):
    s = scaled(STANDINS["mel_2bar_small"])
    shapes = weight_shapes(s)
    for name in ("decoder/output_projection/bias", "encoder/mu/kernel", "decoder/z_to_initial_state/kernel"):
        bad = dict(shapes)
        bad.pop(name)
        with pytest.raises(CheckpointFormatError, match=name.replace("/", ".")):
            architecture(bad, s.config, "ckpt")
    # config that does not match the weights: a chord-conditioned config on an unconditioned checkpoint
    with pytest.raises(CheckpointFormatError, match="input rows|rows where"):
        architecture({**shapes}, {**s.config, "chordEncoder": "TriadChordEncoder"}, "ckpt")
    wrong = dict(shapes)
    wrong["decoder/multi_rnn_cell/cell_1/lstm_cell/kernel"] = (64 + 48, 4 * 48)
    wrong["decoder/multi_rnn_cell/cell_1/lstm_cell/bias"] = (4 * 48,)
    with pytest.raises(CheckpointFormatError, match="rows|widths"):
        architecture(wrong, s.config, "ckpt")
    with pytest.raises(CheckpointFormatError, match="not 'MusicVAE'"):
        architecture(shapes, {**s.config, "type": "MusicRNN"}, "ckpt")
    # a directory without config.json whose name is not a hosted id
    d = write_standin(tmp_path / "my_model", "mel_2bar_small")
    (d / "config.json").unlink()
    with pytest.raises(CheckpointFormatError, match="config.json"):
        MusicVAE(d)
    # ... but a hosted id's directory gets its known config
    d2 = write_standin(tmp_path / "mel_2bar_small", "mel_2bar_small")
    (d2 / "config.json").unlink()
    assert MusicVAE(d2).arch.input_depth == 90
    for e in (CheckpointFormatError,):
        assert issubclass(e, TonehostError)


def test_export_is_cached_and_rebuilt_when_the_checkpoint_changes(tmp_path):
    d = write_standin(tmp_path / "m", "mel_2bar_small", seed=1)
    first = export_music_vae(d)
    mtimes = {k: p.stat().st_mtime_ns for k, p in first.items()}
    again = export_music_vae(d)
    assert {k: p.stat().st_mtime_ns for k, p in again.items()} == mtimes
    z = np.ones((1, 16), np.float32)
    before = MusicVAE(d).decode_tensors(z)
    write_standin(tmp_path / "m", "mel_2bar_small", seed=2)
    after = MusicVAE(d).decode_tensors(z)
    assert not np.array_equal(before, after)


@pytest.fixture(scope="module")
def melody_vae(standins):
    return MusicVAE(standins["mel_2bar_small"], seed=11)


def test_sampling_is_seedable_and_argmax_is_deterministic(melody_vae):
    a = melody_vae.sample(3, temperature=0.5, rng=7)
    b = melody_vae.sample(3, temperature=0.5, rng=7)
    c = melody_vae.sample(3, temperature=0.5, rng=8)
    notes = lambda seqs: [[(n.pitch, n.quantized_start_step, n.quantized_end_step) for n in s.notes] for s in seqs]
    assert notes(a) == notes(b) and notes(a) != notes(c)
    z = np.random.default_rng(0).standard_normal((2, 16))
    assert notes(melody_vae.decode(z)) == notes(melody_vae.decode(z, temperature=0))
    # temperature sampling differs from argmax; very low temperature converges to it
    hot = melody_vae.decode_tensors(z, temperature=1.0, rng=1)
    cold = melody_vae.decode_tensors(z, temperature=1e-4, rng=1)
    arg = melody_vae.decode_tensors(z)
    assert not np.array_equal(hot, arg) and np.array_equal(cold, arg)
    # a model seed makes sample() repeatable across instances
    m1 = MusicVAE(melody_vae.checkpoint_dir, seed=5).sample(2)
    m2 = MusicVAE(melody_vae.checkpoint_dir, seed=5).sample(2)
    assert notes(m1) == notes(m2)


def test_interpolate_ends_at_the_inputs_and_similar_at_one_is_the_input(melody_vae):
    seqs = random_sequences("mel_2bar_small", np.random.default_rng(4))
    z = melody_vae.encode(seqs)
    line = melody_vae.interpolate(seqs, 5)
    assert len(line) == 5
    ends = melody_vae.decode(z)
    key = lambda s: [(n.pitch, n.quantized_start_step, n.quantized_end_step) for n in s.notes]
    assert key(line[0]) == key(ends[0]) and key(line[-1]) == key(ends[1])
    grid = melody_vae.interpolate(seqs + seqs[::-1], (3, 2))
    assert len(grid) == 6
    same = melody_vae.similar(seqs[0], 2, 1.0)
    assert key(same[0]) == key(same[1]) == key(ends[0])
    far = melody_vae.similar(seqs[0], 2, 0.0, rng=3)
    assert key(far[0]) != key(far[1])
    with pytest.raises(UsageError, match="between 0 and 1"):
        melody_vae.similar(seqs[0], 2, 1.5)
    with pytest.raises(UsageError, match="2 or 4"):
        melody_vae.interpolate(seqs[:1] * 3, 3)


def test_tfjs_linspace_and_grid_corners():
    lin = tfjs_linspace(0, 1, 7)
    assert lin.dtype == np.float32 and lin[0] == 0 and abs(lin[-1] - 1) < 1e-6
    z = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    g = interpolated_zs(z, (4, 3)).reshape(3, 4, 5)  # rows (h) x cols (w)
    np.testing.assert_allclose(g[0, 0], z[0], atol=1e-6)
    np.testing.assert_allclose(g[-1, 0], z[1], atol=1e-6)  # bottom-left
    np.testing.assert_allclose(g[0, -1], z[2], atol=1e-6)  # top-right
    np.testing.assert_allclose(g[-1, -1], z[3], atol=1e-6)


def test_controls_are_checked(standins):
    chords = MusicVAE(standins["mel_chords"])
    seqs = random_sequences("mel_chords", np.random.default_rng(0))
    with pytest.raises(UsageError, match="chord-conditioned"):
        chords.encode(seqs)
    with pytest.raises(ChordError):
        chords.encode(seqs, chord_progression="C Xq7")
    za = chords.encode(seqs, chord_progression="C G Am F")
    zb = chords.encode(seqs, chord_progression=["F", "F", "F", "F"])
    assert not np.allclose(za, zb)
    with pytest.raises(UsageError, match="takes no key"):
        chords.encode(seqs, chord_progression="C", key=3)
    mel = MusicVAE(standins["mel_2bar_small"])
    with pytest.raises(UsageError, match="takes no chords"):
        mel.decode(np.zeros((1, 16)), chord_progression="C")
    multi = MusicVAE(standins["multitrack_chords"])
    with pytest.raises(UsageError, match="one chord"):
        multi.decode(np.zeros((1, 16)), chord_progression="C G")
    with pytest.raises(UsageError, match=r"z must be finite \[n, 16\]"):
        mel.decode(np.zeros((1, 15)))
    # a longer melody is cut to the model's 32 steps, as magenta.js's converter does
    long = random_sequences("mel_4bar_small_q2", np.random.default_rng(0))[0]
    head = long.copy()
    head.notes = [n for n in head.notes if n.quantized_start_step < 32]
    head.total_quantized_steps = 32
    np.testing.assert_array_equal(mel.to_tensor(long), mel.to_tensor(head))
    with pytest.raises(UsageError, match="encode takes NoteSequences"):
        mel.encode(["a.mid"])


def test_multitrack_batch_encode_equals_one_by_one(standins):
    """magenta.js encodes variable-length segments one sequence at a time; ours masks, in one batch."""
    vae = MusicVAE(standins["multitrack"])
    seqs = random_sequences("multitrack", np.random.default_rng(9), n=3)
    both = vae.encode(seqs)
    one = np.concatenate([vae.encode([s]) for s in seqs])
    np.testing.assert_allclose(both, one, atol=1e-6)
    # and the mask matters: the same tensors without truncation give another z
    x = np.stack([vae.to_tensor(s) for s in seqs])
    unmasked = vae.sessions["encoder"].run(["z"], {"x": x, "mask": np.ones(x.shape[:2], bool)})[0]
    assert not np.allclose(unmasked, both, atol=1e-3)


def test_groove_any_length_bar_by_bar(standins):
    vae = MusicVAE(standins["groovae_2bar_humanize"])
    rng = np.random.default_rng(0)
    seq = random_sequences("groovae_2bar_humanize", rng, n=1)[0]
    # 5 bars: three windows of 2 bars (the last one partial)
    long = NoteSequence(tempos=seq.tempos)
    for k in range(3):
        for n in seq.notes:
            if k < 2 or n.start_time < 1.8:
                long.add_note(n.pitch, n.start_time + 4 * k, n.end_time + 4 * k, n.velocity, is_drum=True)
    long.total_time = 10.0
    out = vae.groove(long)
    assert out.total_time == pytest.approx(10.0)
    assert out.notes and all(0 <= n.start_time < 10.0 and n.is_drum for n in out.notes)
    assert max(n.start_time for n in out.notes) > 8.0  # the last window is decoded too
    # each 2-bar window is the model applied to that window alone, put back in place
    expected = []
    q = long.quantize(4)
    for k in range(3):
        w = NoteSequence(tempos=seq.tempos, total_time=4.0)
        for n in q.notes:
            if n.quantized_start_step // 32 == k:  # windows split on the quantized grid
                w.add_note(n.pitch, n.start_time - 4 * k, n.end_time - 4 * k, n.velocity, is_drum=True)
        expected += [(n.pitch, n.velocity, round(max(0.0, n.start_time + 4 * k), 5))
                     for n in vae.decode(vae.encode([w]))[0].notes if n.start_time + 4 * k < 10.0]
    assert sorted((n.pitch, n.velocity, round(n.start_time, 5)) for n in out.notes) == sorted(expected)
    with pytest.raises(ConverterError, match="at most 32 steps"):
        vae.encode([long])  # encode itself takes one window only
    with pytest.raises(UsageError, match="not a GrooVAE"):
        MusicVAE(standins["mel_2bar_small"]).groove(long)


def test_shared_cell_with_precomputed_rows_equals_the_full_kernel():
    """lstm.basic_lstm_cell(pre=...): z's rows multiplied once, the rest per step == the tfjs cell on concat."""
    from tonehost.exports.convert.lstm import (LSTMCellWeights, OnnxGraph, basic_lstm_cell, basic_lstm_cell_np)
    from tonehost.exports.onnx_session import make_session

    rng = np.random.default_rng(0)
    nx, nz, H, B = 7, 5, 6, 3
    full = LSTMCellWeights((rng.standard_normal((nx + nz + H, 4 * H)) * 0.5).astype(np.float32),
                           (rng.standard_normal(4 * H) * 0.2).astype(np.float32))
    rest = LSTMCellWeights(np.concatenate([full.kernel[:nx], full.kernel[nx + nz:]]), full.bias)
    g = OnnxGraph("pre")
    x, zk = g.input("x", ["B", nx]), g.input("zk", ["B", 4 * H])
    c, h = g.input("c", ["B", H]), g.input("h", ["B", H])
    basic_lstm_cell(g, x, c, h, rest, "cell", c_out="c_out", h_out="h_out", pre=zk)
    g.output("c_out", ["B", H])
    g.output("h_out", ["B", H])
    sess = make_session(g.model())
    xs, z = rng.standard_normal((B, nx)).astype(np.float32), rng.standard_normal((B, nz)).astype(np.float32)
    c0, h0 = rng.standard_normal((2, B, H)).astype(np.float32)
    got = sess.run(["c_out", "h_out"], {"x": xs, "zk": z @ full.kernel[nx:nx + nz], "c": c0, "h": h0})
    want = basic_lstm_cell_np(np.concatenate([xs, z], axis=1), c0, h0, full)
    np.testing.assert_allclose(got[0], want[0], atol=1e-5)
    np.testing.assert_allclose(got[1], want[1], atol=1e-5)


def test_hosted_widths_multi_shard_and_fetched_over_http(tmp_path, monkeypatch):
    """mel_2bar_small at its hosted widths (17.7 MB: five 4 MiB shards) fetched from a URL into the cache."""
    from tonehost.realtime.testing.checkpoint_server import CheckpointServer

    d = write_standin(tmp_path / "srv" / "mel_2bar_small", "mel_2bar_small", scale=False, seed=4)
    shards = sorted(p.name for p in d.iterdir() if p.name.startswith("group1-shard"))
    assert shards == [f"group1-shard{i}of5" for i in range(1, 6)]
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "cache"))
    server = CheckpointServer(tmp_path / "srv").start()
    try:
        vae = MusicVAE(f"{server.url}/mel_2bar_small", seed=0)
    finally:
        server.stop()
    assert (tmp_path / "cache") in vae.checkpoint_dir.parents
    a = vae.arch
    assert (a.encoder[0].fw.units, a.z_dims, [l.units for l in a.decoders[0].layers]) == (512, 256, [256, 256])
    out = vae.sample(2)
    assert len(out) == 2 and all(o.total_quantized_steps == 32 for o in out)
