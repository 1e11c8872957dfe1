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
