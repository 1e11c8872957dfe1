"""The shipped piano transcriber (``exports/shipped/onsets_frames_small``) and the O&F width generalisation.

The shipped model is loaded through the real path (tfjs reader -> ONNX export -> streaming runner -> magenta.js
decoder) and must do its job at measured floors. The PyTorch <-> tfjs checkpoint round trip (LSTM gate order
[i, c, f, o] on disk, forget bias stored 1.0 lower) is proved against the ONNX graph the runtime uses. No test
trains anything.
"""
from __future__ import annotations

import json
import os
import shutil

import mir_eval
import numpy as np
import pytest
import soundfile as sf

from tonehost.exports.convert.onsets_frames import (FULL_WIDTHS, LSTM_PREFIX, build_model, export_checkpoint, infer_widths,
                                   random_weights, weight_shapes)
from tonehost.exports.checkpoints.shipped import default_transcriber_dir
from tonehost.exports.tfjs import read_layers_checkpoint, write_layers_checkpoint
from tonehost.exports.onnx_session import make_session
from tonehost.exports.training.fluidsynth import render_midi
from tonehost.realtime.pipelines.transcriber import transcribe_array

SMALL = {"conv": (16, 16, 32), "fc": 256, "lstm": 128}
# onset F1 (50 ms) measured with the shipped weights (0.876 on Bach, where basic-pitch scores 0.709 in
# bench/piano_quality.py; 0.844 on the rendered piece below), minus a margin
BACH_F1_FLOOR = 0.80
RENDERED_F1_FLOOR = 0.75


def _onset_f1(ref_iv, ref_p, notes) -> float:
    est_iv = np.array([[n.start_time, max(n.end_time, n.start_time + 1e-3)] for n in notes]).reshape(-1, 2)
    hz = lambda p: 440.0 * 2 ** ((np.asarray(p, float) - 69) / 12)  # noqa: E731
    return mir_eval.transcription.precision_recall_f1_overlap(
        ref_iv, hz(ref_p), est_iv, hz([n.pitch for n in notes]), offset_ratio=None)[2]


@pytest.fixture(scope="module")
def shipped_session():
    return make_session(export_checkpoint(default_transcriber_dir())[0])


# ------------------------------------------------------------------------------------------ widths

def test_widths_are_inferred_from_the_weights():
    assert infer_widths(random_weights(0)) == {"conv": (48, 48, 96), "fc": 768, "lstm": 384}
    assert infer_widths(random_weights(0, widths=SMALL)) == SMALL
    full = weight_shapes()
    assert full["onsets/fc_end/weights"] == (5472, 768) and full[f"frame/{LSTM_PREFIX}/kernel"] == (560, 1536)
    assert sum(int(np.prod(s)) for s in full.values()) == 15_635_248
    small = weight_shapes(SMALL)
    assert list(small) == list(full)  # same 54 names, same order
    assert small["onsets/fc_end/weights"] == (57 * 32, 256) and small[f"onsets/{LSTM_PREFIX}/kernel"] == (384, 512)


def test_small_model_builds_and_states_follow_the_lstm_width():
    model = build_model(random_weights(3, widths=SMALL))
    ins = {i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert ins["onset_h"] == [1, 128] and ins["frame_c"] == [1, 128]
    sess = make_session(model.SerializeToString())
    audio = np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32) * 0.1
    off = transcribe_array(sess, audio, 16000, keep_probs=True)
    st = transcribe_array(sess, audio, 16000, block=700, keep_probs=True)
    np.testing.assert_allclose(off.probs()[0], st.probs()[0], atol=1e-5)
    assert off.probs()[0].shape[1] == 88


# ------------------------------------------------------------------------------------------ torch round trip

def test_torch_checkpoint_round_trip_matches_the_runtime_graph(tmp_path):
    torch = pytest.importorskip("torch")
    from tonehost.exports.training.onsets_frames import (OnsetsFrames, checkpoint_to_torch, lstm_to_checkpoint,
                                             torch_to_checkpoint)

    torch.manual_seed(0)
    m = OnsetsFrames(SMALL)
    with torch.no_grad():  # non-trivial BN statistics and LSTM biases, so every conversion matters
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        for s in m.stacks.values():
            for bn in s.bns:
                bn.running_mean.normal_(0, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
    m.eval()
    # the on-disk LSTM layout: gates [i, c, f, o], forget bias 1.0 below the keras (torch) bias
    k, b = lstm_to_checkpoint(m.onset_lstm)
    U = 128
    tb = (m.onset_lstm.bias_ih_l0 + m.onset_lstm.bias_hh_l0).detach().numpy()
    np.testing.assert_allclose(b[2 * U:3 * U], tb[U:2 * U] - 1.0, atol=1e-6)   # f (disk slot 2) = torch f - 1
    np.testing.assert_allclose(b[U:2 * U], tb[2 * U:3 * U], atol=1e-6)         # c (disk slot 1) = torch g
    np.testing.assert_allclose(k[:256, :U], m.onset_lstm.weight_ih_l0.detach().numpy()[:U].T, atol=1e-7)

    weights = torch_to_checkpoint(m)
    assert {n: w.shape for n, w in weights.items()} == weight_shapes(SMALL)
    write_layers_checkpoint(tmp_path / "ckpt", weights)
    back = read_layers_checkpoint(tmp_path / "ckpt")
    m2 = checkpoint_to_torch(back)
    for (n1, p1), (n2, p2) in zip(m.state_dict().items(), m2.state_dict().items()):
        if "bias_" in n1:
            continue  # torch's two LSTM biases are summed into one on disk
        np.testing.assert_allclose(p1.numpy(), p2.numpy(), atol=1e-6, err_msg=n1)

    mel = (np.random.default_rng(1).standard_normal((1, 120, 229)) * 20 - 40).astype(np.float32)
    with torch.no_grad():
        ol, fl, v = m(torch.from_numpy(mel))
    import onnxruntime as ort

    sess = ort.InferenceSession(build_model(back, "whole").SerializeToString(), providers=["CPUExecutionProvider"])
    onset, frame, vel = sess.run(None, {"mel": mel})
    np.testing.assert_allclose(onset, torch.sigmoid(ol).numpy(), atol=2e-4)
    np.testing.assert_allclose(frame, torch.sigmoid(fl).numpy(), atol=2e-4)
    np.testing.assert_allclose(vel, v.numpy(), atol=2e-4)


# ------------------------------------------------------------------------------------------ shipped model

def test_shipped_checkpoint_is_a_small_q2_tfjs_layers_checkpoint():
    d = default_transcriber_dir()
    size = sum(p.stat().st_size for p in d.iterdir() if p.is_file())
    assert size < 15e6
    manifest = json.loads((d / "weights_manifest.json").read_text())
    ws = [w for g in manifest for w in g["weights"]]
    assert [w["name"] for w in ws] == list(weight_shapes(FULL_WIDTHS))
    assert all(w.get("quantization", {}).get("dtype") == "uint16" for w in ws)
    weights = read_layers_checkpoint(d)
    assert infer_widths(weights) == SMALL
    assert all(np.isfinite(w).all() for w in weights.values())


def test_shipped_model_transcribes_bach(shipped_session, data_dir):
    name = data_dir / "piano" / "FMP_C1_F12_Bach_BWV846_Sibelius-Tracks"
    audio, sr = sf.read(name.with_suffix(".wav"), dtype="float32")
    rows = [r.split(";") for r in name.with_suffix(".csv").read_text().splitlines()[1:] if r.strip()]
    ref_iv = np.array([[float(r[0]), float(r[0]) + float(r[1])] for r in rows])
    ref_p = np.array([int(float(r[2])) for r in rows])
    tr = transcribe_array(shipped_session, audio, sr)
    f1 = _onset_f1(ref_iv, ref_p, tr.notes)
    print(f"Bach onset F1 {f1:.3f}")
    assert f1 >= BACH_F1_FLOOR, f1
    st = transcribe_array(shipped_session, audio, sr, block=128)
    assert st.notes == tr.notes  # streaming == offline with the shipped widths too


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth not installed (apt-get install fluidsynth)")
def test_shipped_model_transcribes_a_rendered_piece(shipped_session, tmp_path):
    import mido

    sf2 = "/usr/share/sounds/sf2/TimGM6mb.sf2"
    if not os.path.exists(sf2):
        pytest.skip("timgm6mb-soundfont not installed")
    rng = np.random.default_rng(11)
    notes, t = [], 0.5
    while t < 14:
        for p in set(rng.integers(40, 90, size=int(rng.integers(1, 4))).tolist()):
            notes.append((t, t + 0.4, p, int(rng.integers(50, 110))))
        t += float(rng.choice([0.25, 0.4, 0.6]))
    ev = sorted([(round(a * 960), 1, mido.Message("note_on", note=p, velocity=v)) for a, _, p, v in notes]
                + [(round(b * 960), 0, mido.Message("note_off", note=p)) for _, b, p, _ in notes],
                key=lambda e: (e[0], e[1]))
    tr, now = mido.MidiTrack(), 0
    for tick, _, m in ev:
        tr.append(m.copy(time=tick - now))
        now = tick
    mf = mido.MidiFile(ticks_per_beat=480)
    mf.tracks.append(tr)
    mf.save(tmp_path / "p.mid")
    sr = 16000
    audio = render_midi(tmp_path / "p.mid", tmp_path / "p.wav", sf2, sr, mono=False)  # FluidSynth's defaults
    res = transcribe_array(shipped_session, audio, sr)
    ref_iv = np.array([[a, b] for a, b, _, _ in notes])
    f1 = _onset_f1(ref_iv, np.array([p for _, _, p, _ in notes]), res.notes)
    print(f"rendered piece onset F1 {f1:.3f}")
    assert f1 >= RENDERED_F1_FLOOR, f1
    assert all(10 <= n.velocity <= 90 for n in res.notes)


def test_transcribe_defaults_to_the_shipped_model(tmp_path, data_dir):
    from test_transcribe_cli import run_cli

    tsv = tmp_path / "n.tsv"
    rc, err = run_cli(["transcribe", str(data_dir / "piano" / "stereo_sample.wav"), "--notes", str(tsv)])
    assert rc == 0 and err is None
    rows = [r.split("\t") for r in tsv.read_text().splitlines()[1:] if r.strip()]
    assert len(rows) >= 4
