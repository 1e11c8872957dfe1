"""The melody models tonehost ships (``basic_rnn_folk``, ``mel_2bar_folk``): defaults that work offline, in the
hosted formats, equal to the torch models they were trained as, and through the CLI.

``tests/fixtures/shipped_melody/*_heldout.npz`` were written by the recipes' ``export`` step: held-out (test-split)
tunes and 2-bar windows with the trained torch model's outputs on them (probabilities; mu and argmax decodes).
"""
from __future__ import annotations

import json

import numpy as np
import pretty_midi
import pytest

from conftest import ROOT
from tonehost.exports.checkpoints.shipped import MELODY_RNN, MELODY_VAE, default_music_rnn_dir, default_music_vae_dir
from tonehost.exports.convert.music_rnn import DEFAULT_SPECS, random_weights
from tonehost.exports.convert.music_vae_standins import STANDINS, weight_shapes
from tonehost.exports.note_sequence import NoteSequence
from tonehost.exports.paths import SHIPPED_DIR
from tonehost.exports.tfjs import read_checkpoint_config, read_layers_checkpoint
from tonehost.realtime.cli import main
from tonehost.realtime.pipelines.music_rnn import MusicRNN
from tonehost.realtime.pipelines.music_vae import MusicVAE

FIXTURES = ROOT / "tests" / "fixtures" / "shipped_melody"


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """A fresh machine: empty cache, and any download attempt fails the test."""
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "cache"))
    import tonehost.exports.checkpoints.download as download

    def refuse(*a, **k):
        raise AssertionError("the shipped default tried to download a checkpoint")

    monkeypatch.setattr(download, "fetch_checkpoint", refuse)


@pytest.fixture(scope="module")
def rnn_fixture():
    z = np.load(FIXTURES / f"{MELODY_RNN}_heldout.npz")
    off = z["offsets"]
    return [z["events"][off[i]:off[i + 1]] for i in range(len(off) - 1)], \
        [z["probs"][off[i]:off[i + 1]] for i in range(len(off) - 1)]


@pytest.fixture(scope="module")
def vae_fixture():
    return dict(np.load(FIXTURES / f"{MELODY_VAE}_heldout.npz"))


def _stream_probs(model: MusicRNN, events: np.ndarray) -> np.ndarray:
    s = model.stream()
    out = []
    for e in events.tolist():
        s.feed(e)
        out.append(s.probabilities())
    return np.asarray(out)


# -------------------------------------------------------------------------------------------- MusicRNN

def test_music_rnn_defaults_to_the_shipped_model():
    model = MusicRNN()
    assert model.checkpoint_dir == SHIPPED_DIR / MELODY_RNN == default_music_rnn_dir()
    assert MusicRNN(MELODY_RNN).checkpoint_dir == model.checkpoint_dir  # also by name
    card = json.loads((model.checkpoint_dir / "model_card.json").read_text())
    assert model.units == list(card["config"]["units"]) and len(model.units) == 2 and model.event_depth == 38


def test_shipped_rnn_is_in_basic_rnns_format():
    d = default_music_rnn_dir()
    assert read_checkpoint_config(d) == DEFAULT_SPECS["basic_rnn"]
    weights = read_layers_checkpoint(d)
    want = random_weights(DEFAULT_SPECS["basic_rnn"], tuple(MusicRNN().units))  # basic_rnn's names, these widths
    assert list(weights) == list(want)
    assert all(weights[k].shape == want[k].shape and weights[k].dtype == np.float32 for k in want)
    manifest = json.loads((d / "weights_manifest.json").read_text())
    assert all("quantization" not in w for g in manifest for w in g["weights"])  # float32, like basic_rnn
    assert sum(p.stat().st_size for p in d.iterdir()) < 4_000_000


def test_shipped_rnn_equals_the_trained_torch_model_on_heldout_tunes(rnn_fixture):
    model = MusicRNN()
    events, probs = rnn_fixture
    assert len(events) >= 4 and sum(len(e) for e in events) > 300
    worst = max(float(np.abs(_stream_probs(model, e) - p).max()) for e, p in zip(events, probs))
    assert worst < 1e-5, worst


def test_shipped_rnn_equals_torch_rebuilt_from_the_checkpoint(rnn_fixture):
    torch = pytest.importorskip("torch")
    from tonehost.exports.training.melody_models import MelodyRNN

    rebuilt = MelodyRNN.from_layers_weights(read_layers_checkpoint(default_music_rnn_dir()))
    model = MusicRNN()
    for e in rnn_fixture[0][:3]:
        with torch.no_grad():
            want = torch.softmax(rebuilt(torch.from_numpy(e[None].astype(np.int64)))[0][0], -1).numpy()
        np.testing.assert_allclose(_stream_probs(model, e), want, atol=1e-5)


def test_shipped_rnn_beats_a_unigram_fitted_on_the_heldout_tunes_themselves(rnn_fixture):
    model = MusicRNN()
    nll, n = 0.0, 0
    targets = np.concatenate([e[1:] for e in rnn_fixture[0]])
    for e in rnn_fixture[0]:
        p = _stream_probs(model, e)[:-1]
        nll -= np.log(p[np.arange(len(p)), e[1:]]).sum()
        n += len(p)
    freq = np.bincount(targets, minlength=38) / len(targets)
    unigram = -np.log(freq[targets]).mean()  # an oracle unigram: it has seen these very tunes
    assert nll / n < unigram - 0.2, (nll / n, unigram)


# -------------------------------------------------------------------------------------------- MusicVAE

def test_music_vae_defaults_to_the_shipped_model():
    vae = MusicVAE(seed=0)
    assert vae.checkpoint_dir == SHIPPED_DIR / MELODY_VAE == default_music_vae_dir()
    assert vae.num_steps == 32 and vae.arch.input_depth == 90
    samples = vae.sample(3)
    assert len(samples) == 3 and sum(len(s.notes) for s in samples) > 3


def test_shipped_vae_is_in_mel_2bar_smalls_format():
    d = default_music_vae_dir()
    assert read_checkpoint_config(d) == STANDINS["mel_2bar_small"].config
    names = list(read_layers_checkpoint(d))
    assert names == list(weight_shapes(STANDINS["mel_2bar_small"]))  # same variables, same order
    manifest = json.loads((d / "weights_manifest.json").read_text())
    assert {w["quantization"]["dtype"] for g in manifest for w in g["weights"]} == {"uint16"}
    assert sum(p.stat().st_size for p in d.iterdir()) < 4_000_000


def test_shipped_vae_reconstructs_heldout_windows(vae_fixture):
    vae = MusicVAE()
    W = vae_fixture["windows"]
    eye = np.eye(90, dtype=np.float32)
    z = vae.encode_tensors(eye[W])
    np.testing.assert_allclose(z, vae_fixture["mu"], atol=1e-5)  # the torch model (same stored weights)
    rec = np.argmax(vae.decode_tensors(z), axis=2)
    np.testing.assert_array_equal(rec, vae_fixture["decoded"])
    # better than holding every step (the most common event); the bench measures it on all held-out windows
    assert (rec == W).mean() >= (W == 0).mean() + 0.05


#: Floor of the shipped VAE's reconstruction accuracy (argmax decode of encode, per step) on the fixture's 1000
#: held-out test windows: measured 0.9038 for the shipped weights, torch and ONNX alike (the recipe writes it into
#: the fixture and the model card); bench/musicvae_quality.py measures all 16989 held-out windows: 0.908 (target
#: 0.90). The weights before issue 12's retrain reconstructed 0.678.
RECON_FLOOR = 0.88


def test_shipped_vae_reconstruction_floor_on_heldout_windows(vae_fixture):
    vae = MusicVAE()
    W = vae_fixture["recon_windows"].astype(np.int64)
    assert len(W) >= 1000
    eye = np.eye(90, dtype=np.float32)
    rec = np.concatenate([np.argmax(vae.decode_tensors(vae.encode_tensors(eye[W[i:i + 500]])), axis=2)
                          for i in range(0, len(W), 500)])
    acc = float((rec == W).mean())
    assert abs(acc - float(vae_fixture["recon_accuracy"])) < 0.002, acc  # ONNX == the exported torch model
    assert acc >= RECON_FLOOR, acc


# -------------------------------------------------------------------------------------------- the CLI

def _midi(path, notes, qpm=120.0):
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    inst = pretty_midi.Instrument(0)
    for pitch, start, end in notes:
        inst.notes.append(pretty_midi.Note(90, pitch, start, end))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


# "Twinkle, twinkle": two bars at 120 qpm
TUNE = [(60, 0, 0.5), (60, 0.5, 1), (67, 1, 1.5), (67, 1.5, 2), (69, 2, 2.5), (69, 2.5, 3), (67, 3, 4)]


def test_cli_continue_and_vae_work_with_no_checkpoint_given(tmp_path, capsys):
    primer = _midi(tmp_path / "p.mid", TUNE)
    out = tmp_path / "out.mid"
    assert main(["continue", str(primer), "-o", str(out), "--steps", "32", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert MELODY_RNN in text
    got = NoteSequence.from_midi(out)
    assert len(got.notes) > len(TUNE) and max(n.start_time for n in got.notes) >= 4.0  # the answer follows

    assert main(["vae", "sample", "-o", str(tmp_path / "s.mid"), "-n", "2", "--seed", "3"]) == 0
    assert MELODY_VAE in capsys.readouterr().out
    b = _midi(tmp_path / "b.mid", [(72, 0, 1), (71, 1, 2), (67, 2, 3), (64, 3, 4)])
    assert main(["vae", "interpolate", str(primer), str(b), "-o", str(tmp_path / "m.mid"), "--steps", "3"]) == 0
    assert "3 sequences" in capsys.readouterr().out
    assert len(NoteSequence.from_midi(tmp_path / "m.mid").notes) >= 6
