"""``tonehost vae sample|interpolate|similar|encode|decode`` and ``tonehost groove``: MIDI in and out, the same
results as the library, one-line errors."""
from __future__ import annotations

import json

import numpy as np
import pretty_midi
import pytest

from tonehost.exports.convert.music_vae_standins import random_sequences, write_standin
from tonehost.exports.note_sequence import NoteSequence
from tonehost.realtime.cli import main
from tonehost.realtime.pipelines.music_vae import MusicVAE

IDS = ("mel_2bar_small", "mel_chords", "trio_4bar_lokl_small_q1", "groovae_2bar_humanize", "tap2drum_1bar",
       "drums_2bar_lokl_small")


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_vae")
    return {cid: write_standin(root / cid, cid, seed=k) for k, cid in enumerate(IDS)}


@pytest.fixture(scope="module")
def midis(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_vae_midi")
    rng = np.random.default_rng(5)
    out = {}
    for cid, prefix in (("mel_2bar_small", "mel"), ("trio_4bar_lokl_small_q1", "trio"),
                        ("groovae_2bar_humanize", "drums")):
        for k, s in enumerate(random_sequences(cid, rng, n=4)):
            p = root / f"{prefix}{k}.mid"
            (s.unquantize() if s.is_quantized else s).to_midi(p)
            out[f"{prefix}{k}"] = p
    return out


def _run(capsys, *argv):
    rc = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return rc, out, err


def _key(seq: NoteSequence, qpm=120.0):
    step = 60 / qpm / 4
    return sorted((n.pitch, round(n.start_time / step), round(n.end_time / step)) for n in seq.notes)


def test_sample_writes_back_to_back_and_matches_the_library(ckpts, tmp_path, capsys):
    out = tmp_path / "s.mid"
    rc, text, err = _run(capsys, "vae", "sample", "-o", out, "--checkpoint", ckpts["mel_2bar_small"], "-n", 3,
                         "--seed", 9)
    assert rc == 0, err
    assert "sample: 3 sequences" in text
    got = NoteSequence.from_midi(out)
    want = MusicVAE(ckpts["mel_2bar_small"], seed=9).sample(3)
    shifted = []
    for k, s in enumerate(want):
        shifted += [(p, a + 32 * k, b + 32 * k) for p, a, b in _key(s.unquantize())]
    assert _key(got) == sorted(shifted) and len(shifted) > 10
    assert pretty_midi.PrettyMIDI(str(out)).get_end_time() <= 3 * 4.0 + 1e-6
    # --split: one file per sample
    rc, text, err = _run(capsys, "vae", "sample", "-o", tmp_path / "x.mid", "--checkpoint", ckpts["mel_2bar_small"],
                         "-n", 2, "--seed", 9, "--split")
    assert rc == 0, err
    assert (tmp_path / "x_01.mid").is_file() and (tmp_path / "x_02.mid").is_file()
    want2 = MusicVAE(ckpts["mel_2bar_small"], seed=9).sample(2)
    assert _key(NoteSequence.from_midi(tmp_path / "x_02.mid")) == _key(want2[1].unquantize())


def test_interpolate_line_and_grid(ckpts, midis, tmp_path, capsys):
    ck = ckpts["mel_2bar_small"]
    rc, text, err = _run(capsys, "vae", "interpolate", midis["mel0"], midis["mel1"], "-o", tmp_path / "i.mid",
                         "--checkpoint", ck, "--steps", 4, "--split")
    assert rc == 0, err
    vae = MusicVAE(ck)
    seqs = [NoteSequence.from_midi(midis[k]).quantize(4) for k in ("mel0", "mel1")]
    want = vae.interpolate(seqs, 4)
    for k in range(4):
        assert _key(NoteSequence.from_midi(tmp_path / f"i_{k + 1:02d}.mid")) == _key(want[k].unquantize())
    rc, text, err = _run(capsys, "vae", "interpolate", *(midis[f"mel{k}"] for k in range(4)), "-o",
                         tmp_path / "g.mid", "--checkpoint", ck, "--grid", "3x2")
    assert rc == 0 and "6 sequences" in text, err
    rc, _, err = _run(capsys, "vae", "interpolate", midis["mel0"], "-o", tmp_path / "g.mid", "--checkpoint", ck)
    assert rc == 1 and err.count("\n") == 1 and "2 or 4 MIDI files" in err


def test_similar_encode_decode_round_trip(ckpts, midis, tmp_path, capsys):
    ck = ckpts["mel_2bar_small"]
    rc, text, err = _run(capsys, "vae", "encode", midis["mel0"], midis["mel1"], "-o", tmp_path / "z.json",
                         "--checkpoint", ck)
    assert rc == 0, err
    z = np.array(json.loads((tmp_path / "z.json").read_text())["z"], np.float32)
    vae = MusicVAE(ck)
    seqs = [NoteSequence.from_midi(midis[k]).quantize(4) for k in ("mel0", "mel1")]
    np.testing.assert_allclose(z, vae.encode(seqs), atol=1e-6)
    np.save(tmp_path / "z.npy", z)
    for src in ("z.json", "z.npy"):
        rc, text, err = _run(capsys, "vae", "decode", tmp_path / src, "-o", tmp_path / "d.mid", "--checkpoint", ck,
                             "--split")
        assert rc == 0, err
        assert _key(NoteSequence.from_midi(tmp_path / "d_02.mid")) == _key(vae.decode(z)[1].unquantize())
    rc, text, err = _run(capsys, "vae", "similar", midis["mel0"], "-o", tmp_path / "v.mid", "--checkpoint", ck,
                         "-n", 2, "--similarity", 1.0, "--split")
    assert rc == 0, err
    assert _key(NoteSequence.from_midi(tmp_path / "v_01.mid")) == _key(vae.decode(z[:1])[0].unquantize())
    rc, text, err = _run(capsys, "vae", "encode", midis["mel0"], "-o", "-", "--checkpoint", ck)
    assert rc == 0 and np.allclose(json.loads(text), z[:1], atol=1e-6)


def test_chords_trio_and_drum_models(ckpts, midis, tmp_path, capsys):
    rc, text, err = _run(capsys, "vae", "sample", "-o", tmp_path / "c.mid", "--checkpoint", ckpts["mel_chords"],
                         "--chords", "C G Am F", "-n", 1)
    assert rc == 0, err
    rc, text, err = _run(capsys, "vae", "interpolate", midis["trio0"], midis["trio1"], "-o", tmp_path / "t.mid",
                         "--checkpoint", ckpts["trio_4bar_lokl_small_q1"], "--steps", 2)
    assert rc == 0, err
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "t.mid"))
    assert {(i.program, i.is_drum) for i in pm.instruments} <= {(0, False), (32, False), (0, True)}
    rc, text, err = _run(capsys, "vae", "similar", midis["drums0"], "-o", tmp_path / "d.mid", "--checkpoint",
                         ckpts["drums_2bar_lokl_small"], "-n", 2)
    assert rc == 0, err
    assert all(i.is_drum for i in pretty_midi.PrettyMIDI(str(tmp_path / "d.mid")).instruments)


@pytest.mark.parametrize("argv, message, code", [
    (["vae", "sample", "-o", "{tmp}/a.mid", "--checkpoint", "{mel_chords}"], "conditioned on chords", 1),
    (["vae", "sample", "-o", "{tmp}/a.mid", "--checkpoint", "{mel_2bar_small}", "--chords", "C"], "takes no chords", 1),
    (["vae", "sample", "-o", "{tmp}/a.mid", "--checkpoint", "{mel_chords}", "--chords", "C Qx"], "Qx", 1),
    (["vae", "sample", "-o", "{tmp}/afile.mid/a.mid", "--checkpoint", "{mel_2bar_small}"], "is a file", 2),
    (["vae", "sample", "-o", "{tmp}/a.mid", "--checkpoint", "{mel_2bar_small}", "--temperature", "-1"],
     "argument --temperature: expected a number from 0 to 100", 2),
    (["vae", "similar", "{mel0}", "-o", "{tmp}/a.mid", "--checkpoint", "{mel_2bar_small}", "--similarity", "2"],
     "argument --similarity: expected a number from 0 to 1", 2),
    (["vae", "interpolate", "{mel0}", "{mel1}", "-o", "{tmp}/a.mid", "--steps", "1"],
     "argument --steps: expected a whole number from 2 to 1000", 2),
    (["vae", "sample", "-o", "{tmp}/a.mid", "--key", "12"], "argument --key: expected a whole number from 0 to 11", 2),
    (["groove", "{drums0}", "-o", "{tmp}/a.mid", "--threads", "0"], "argument --threads", 2),
    (["vae", "decode", "{mel0}", "-o", "{tmp}/a.mid", "--checkpoint", "{mel_2bar_small}"],
     "not a latent vector file (a JSON list of lists or a .npy, as `tonehost vae encode` writes) but a MIDI file; "
     "`vae encode` it first", 1),  # (it quoted the decoder: 'utf-8' codec can't decode byte 0xdc in position 13)
    (["vae", "interpolate", "{drums0}", "{mel0}", "-o", "{tmp}/a.mid", "--checkpoint", "{mel_2bar_small}"],
     "melody model", 1),
    (["vae", "sample", "-o", "{tmp}/a.mid", "--checkpoint", "{tmp}/missing_dir_x"], "missing_dir_x", 1),
    (["groove", "{mel0}", "-o", "{tmp}/a.mid", "--checkpoint", "{mel_2bar_small}"], "not a GrooVAE", 1),
    (["groove", "{tmp}/nothing.mid", "-o", "{tmp}/a.mid", "--checkpoint", "{groovae_2bar_humanize}"],
     "not found", 1),
    (["vae", "frobnicate"], "invalid choice", 2),
])
def test_one_line_errors(ckpts, midis, tmp_path, capsys, argv, message, code):
    names = {**{k: str(v) for k, v in ckpts.items()}, **{k: str(v) for k, v in midis.items()}, "tmp": str(tmp_path)}
    (tmp_path / "afile.mid").write_text("x")
    rc, out, err = _run(capsys, *[a.format(**names) for a in argv])
    assert rc == code
    assert err.startswith("tonehost: error:") and err.count("\n") == 1 and message in err, err


def test_groove_any_length(ckpts, midis, tmp_path, capsys):
    seq = NoteSequence.from_midi(midis["drums0"])
    long = NoteSequence(tempos=seq.tempos)
    for k in range(3):  # 6 bars: three 2-bar windows
        for n in seq.notes:
            long.add_note(n.pitch, n.start_time + 4 * k, n.end_time + 4 * k, n.velocity, is_drum=True)
    long.to_midi(tmp_path / "long.mid")
    out = tmp_path / "h.mid"
    rc, text, err = _run(capsys, "groove", tmp_path / "long.mid", "-o", out, "--checkpoint",
                         ckpts["groovae_2bar_humanize"])
    assert rc == 0, err
    assert "3 windows" in text
    got = NoteSequence.from_midi(out)
    want = MusicVAE(ckpts["groovae_2bar_humanize"]).groove(NoteSequence.from_midi(tmp_path / "long.mid"))
    assert len(got.notes) == len(want.notes) > 0
    assert max(n.start_time for n in got.notes) > 8.0 and all(n.is_drum for n in got.notes)
    # velocities come from the model (not the constant input velocity)
    assert len({n.velocity for n in got.notes}) > 3
    # tap2drum: taps on any pitch
    taps = NoteSequence()
    for t in np.arange(0, 4.0, 0.25):  # 2 bars at 120 qpm
        taps.add_note(60, float(t), float(t) + 0.1, 100)
    taps.to_midi(tmp_path / "taps.mid")
    rc, text, err = _run(capsys, "groove", tmp_path / "taps.mid", "-o", tmp_path / "beat.mid", "--checkpoint",
                         ckpts["tap2drum_1bar"])
    assert rc == 0, err
    assert "2 windows of 1 bar" in text


def test_outputs_into_missing_folders_like_every_command(ckpts, midis, tmp_path, capsys):
    """-o is checked and its folders created while parsing (cli.options.output_file), as in every command."""
    out = tmp_path / "new" / "dir" / "a.mid"
    rc, text, err = _run(capsys, "vae", "sample", "-o", out, "--checkpoint", ckpts["mel_2bar_small"], "-n", "1")
    assert rc == 0 and out.is_file(), err
    out = tmp_path / "other" / "h.mid"
    rc, text, err = _run(capsys, "groove", midis["drums0"], "-o", out, "--checkpoint", ckpts["groovae_2bar_humanize"])
    assert rc == 0 and out.is_file(), err


@pytest.mark.parametrize("argv", [["vae", "encode", "{empty}", "-o", "{tmp}/z.json", "--checkpoint", "mel_2bar_small"],
                                  ["vae", "similar", "{empty}", "-o", "{tmp}/s.mid", "--checkpoint", "mel_2bar_small"],
                                  ["groove", "{empty}", "-o", "{tmp}/g.mid"]])
def test_an_empty_input_is_named_before_any_download(tmp_path, capsys, monkeypatch, argv):
    """`vae encode empty.mid --checkpoint mel_2bar_small` and `groove empty.mid` reported "could not download
    ..." (here, with no network) - with a network, ~16 MB came down before the user learnt the file is empty."""
    import mido

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # nothing cached
    m = mido.MidiFile()
    m.tracks.append(mido.MidiTrack())
    m.save(tmp_path / "empty.mid")
    rc, out, err = _run(capsys, *[a.format(empty=tmp_path / "empty.mid", tmp=tmp_path) for a in argv])
    assert rc == 1 and err.strip() == f"tonehost: error: {tmp_path / 'empty.mid'} has no notes", err
    assert not (tmp_path / "cache" / "tonehost" / "checkpoints").exists() or \
        not any((tmp_path / "cache" / "tonehost" / "checkpoints").iterdir())


def test_latent_files_name_what_is_wrong(tmp_path, capsys):
    """NaN vectors of the right shape were reported as "holds shape [1, 128]" (in Python "got shape [1, 128]"), and
    a JSON object without "z" ended in KeyError's bare ": 'z'"."""
    import tonehost

    (tmp_path / "nan.json").write_text(json.dumps([[float("nan")] * 128]))  # (Python writes NaN)
    (tmp_path / "obj.json").write_text(json.dumps({"foo": [1]}))
    for name, words in (("nan.json", "holds 128 NaN or infinite values"), ("obj.json", 'without a "z" list')):
        rc, out, err = _run(capsys, "vae", "decode", tmp_path / name, "-o", tmp_path / "d.mid")
        assert rc == 1 and words in err and err.count("\n") == 1, err
    with pytest.raises(tonehost.TonehostError, match="got 1 NaN or infinite values"):
        z = np.zeros((1, 128))
        z[0, 3] = np.inf
        tonehost.MusicVAE().decode(z)
