"""The optional Transkun V2 backend (realtime/pipelines/transkun.py): built without torchaudio, read block by
block with the same notes as ``TransKun.transcribe`` on the whole array. Skipped unless torch and transkun are
installed (``pip install 'tonehost[transkun]' && pip install --no-deps transkun==2.0.1``)."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("transkun")


def test_mel_filterbank_without_torchaudio_matches_the_htk_formula():
    import librosa

    from tonehost.realtime.pipelines.transkun import melscale_fbanks

    ours = melscale_fbanks(n_freqs=2049, f_min=30, f_max=8000, n_mels=229, sample_rate=44100).numpy()
    ref = librosa.filters.mel(sr=44100, n_fft=4096, n_mels=229, fmin=30, fmax=8000, htk=True, norm=None)
    assert ours.shape == (2049, 229)
    np.testing.assert_allclose(ours.T, ref, atol=2e-4)
    with pytest.raises(NotImplementedError):
        melscale_fbanks(2049, 30, 8000, 229, 44100, norm="slaney")


@pytest.fixture(scope="module")
def transkun_small():
    """Transkun with 4 s windows every 2 s (the model's 16/8 s cost 4x more per test)."""
    from tonehost.realtime.pipelines.transkun import Transkun

    assert "torchaudio" not in sys.modules or sys.modules["torchaudio"].__name__ == "torchaudio"
    return Transkun(threads=2, segment_s=4.0, hop_s=2.0)


def test_block_reading_gives_transkun_s_own_notes(transkun_small, tmp_path):
    import os
    import shutil

    from test_transcribe_file import write_midi
    from tonehost.exports.training.fluidsynth import render_midi

    sf2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
    if shutil.which("fluidsynth") is None or not os.path.exists(sf2):
        pytest.skip("fluidsynth + fluid-soundfont-gm (scripts/setup.sh)")
    sr = 44100
    write_midi(tmp_path / "arp.mid", [(0.2, 0.7, 60, 90), (0.6, 1.1, 64, 70), (1.0, 1.5, 67, 100),
                                      (1.4, 1.9, 72, 50)])
    x = render_midi(tmp_path / "arp.mid", tmp_path / "arp.wav", sf2, sr, mono=True).astype(np.float32)[:2 * sr]
    path = tmp_path / "arp32.wav"
    sf.write(path, x, sr, subtype="FLOAT")
    ours = transkun_small.transcribe_file(path)
    with torch.no_grad():
        ref = transkun_small.model.transcribe(torch.from_numpy(x[:, None]), stepInSecond=2.0, segmentSizeInSecond=4.0)
    ref = sorted((e.start, e.end, e.pitch, e.velocity) for e in ref if e.pitch >= 0)
    got = sorted((n.start_time, n.end_time, n.pitch, n.velocity) for n in ours.notes)
    assert got == [(a, b, p, int(max(1, min(127, v)))) for a, b, p, v in ref]
    assert got and {p for _, _, p, _ in got} <= {60, 64, 67, 72}  # notes of the arpeggio, nothing else
    assert ours.total_time == pytest.approx(2.0)
    assert "torchaudio" not in sys.modules  # the shim was only there while the model was built


def test_numpy_viterbi_is_transkun_s():
    """The semi-CRF decoding ported to NumPy picks the same intervals as transkun's torch.jit viterbiBackward."""
    from transkun.CRF.NeuralSemiCRFInterval import viterbiBackward

    from tonehost.realtime.pipelines.transkun_onnx import viterbi_backward

    rng = np.random.default_rng(0)
    for T, B in ((2, 2), (40, 6), (120, 4)):  # (transkun itself fails on T = 1)
        score = (rng.normal(size=(T, T, B)) * 3 - 1).astype(np.float32)
        score[rng.random((T, T, B)) < 0.3] = 0.5  # repeated values: ties go to the first maximum in both
        noise = rng.normal(size=(max(T - 1, 0), B)).astype(np.float32)
        for start in (None, [int(s) for s in rng.integers(0, T, size=B)]):
            want = viterbiBackward(torch.from_numpy(score), torch.from_numpy(noise), start)
            assert viterbi_backward(score, noise, start) == [list(map(tuple, w)) for w in want]


def _arpeggio(tmp_path):
    import os
    import shutil

    from test_transcribe_file import write_midi
    from tonehost.exports.training.fluidsynth import render_midi

    sf2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
    if shutil.which("fluidsynth") is None or not os.path.exists(sf2):
        pytest.skip("fluidsynth + fluid-soundfont-gm (scripts/setup.sh)")
    write_midi(tmp_path / "arp.mid", [(0.2, 0.7, 60, 90), (0.6, 1.1, 64, 70), (1.0, 1.5, 67, 100),
                                      (1.4, 1.9, 72, 50), (2.2, 3.0, 48, 110), (2.6, 3.4, 55, 40)])
    x = render_midi(tmp_path / "arp.mid", tmp_path / "arp.wav", sf2, 44100, mono=True).astype(np.float32)
    path = tmp_path / "arp32.wav"
    sf.write(path, x[:4 * 44100], 44100, subtype="FLOAT")
    return path


TORCH_FREE = """
import json, sys
sys.modules["torch"] = None  # any import of torch (or of transkun, which needs it) fails
from tonehost.realtime.pipelines.transkun_onnx import TranskunOnnx
seq = TranskunOnnx(sys.argv[1], segment_s=4.0, hop_s=2.0).transcribe_file(sys.argv[2])
print(json.dumps([(n.pitch, n.velocity, n.start_time, n.end_time) for n in seq.notes]))
"""


def test_onnx_export_runs_without_torch_with_the_torch_notes(transkun_small, tmp_path):
    """`tonehost export transkun`'s folder runs with onnxruntime and NumPy only (torch made unimportable in the
    child) and gives the torch path's notes: same pitches and velocities, onsets/offsets within 1 microsecond
    (the network's ONNX scores differ from torch's by ~1e-5 relative; 3e-8 s measured here)."""
    import json
    import subprocess

    from tonehost.realtime.pipelines.transkun_onnx import FILES

    wav = _arpeggio(tmp_path)
    folder = transkun_small.export_onnx(tmp_path / "export")
    assert sorted(f.name for f in folder.iterdir()) == sorted(FILES)
    ref = [(n.pitch, n.velocity, n.start_time, n.end_time) for n in transkun_small.transcribe_file(wav).notes]
    r = subprocess.run([sys.executable, "-c", TORCH_FREE, str(folder), str(wav)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(ref) >= 2 and [tuple(g[:2]) for g in got] == [f[:2] for f in ref]  # (4 s windows find 2 of the 6 here)
    assert max(abs(a - b) for g, f in zip(got, ref) for a, b in zip(g[2:], f[2:])) < 1e-6
