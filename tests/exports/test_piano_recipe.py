"""The piano training recipe's labelling and its Salamander sampler (no download, no training)."""
from __future__ import annotations

import numpy as np

from tonehost.exports.training.recipes import make_piano_data as M
from tonehost.exports.training.recipes.salamander import Sampler, _midi_of


def _piece(notes, pedal=()):
    p = M.Piece("test")
    for n in notes:
        p.add(*n)
    p.pedal = list(pedal)
    return p


def test_sounding_notes_pedal_extends_and_restrike_cuts():
    # C4 released at 1.0 while the pedal is down until 2.0 -> sounds to 2.0; E4 re-struck at 1.5 cuts the first E4
    p = _piece([(0.0, 1.0, 60, 80), (0.5, 0.9, 64, 70), (1.5, 1.8, 64, 70), (2.5, 3.0, 67, 90)],
               pedal=[(0.2, True), (2.0, False)])
    s = {(round(on, 3), pitch): round(off, 3) for on, off, pitch, _ in M.sounding_notes(p)}
    assert s[(0.0, 60)] == 2.0
    assert s[(0.5, 64)] == 1.5          # pedal would hold it to 2.0, the re-strike at 1.5 cuts it
    assert s[(1.5, 64)] == 2.0
    assert s[(2.5, 67)] == 3.0          # pedal up: no extension
    lab = M.labels(p, 200)
    row = lab[(lab[:, 0] == 60)][0]
    assert row[1] == 0 and row[2] == round(2.0 / M.FRAME_S)
    e4 = lab[lab[:, 0] == 64]
    assert e4[0, 2] == e4[1, 1]         # offset frame of the first = onset frame of the re-strike


def test_sample_names():
    assert _midi_of("A0v4") == 21 and _midi_of("C4v10") == 60 and _midi_of("D#4v10") == 63
    assert _midi_of("F#7v16") == 102 and _midi_of("C8v16") == 108


def _fake_sampler(sr=16000):
    """A Sampler whose 'samples' are slowly decaying sines at the sample's own pitch (layer = amplitude)."""
    s = Sampler.__new__(Sampler)
    s.sample_rate, s.layers = sr, (4, 16)
    t = np.arange(3 * sr) / sr
    pitches = np.arange(21, 109, 3)
    s.samples = {v: {int(p): (v / 16 * np.sin(2 * np.pi * 440 * 2 ** ((p - 69) / 12) * t)
                              * np.exp(-t / 2)).astype(np.float32) for p in pitches} for v in s.layers}
    s.pitches = pitches
    return s


def _peak_hz(x, sr):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), 1 << 16))
    return np.argmax(spec) * sr / (1 << 16)


def test_sampler_repitches_layers_and_damps():
    s = _fake_sampler()
    sr = s.sample_rate
    for pitch in (60, 61, 62, 63):  # 60 and 63 are sample pitches; 61/62 are re-pitched by one semitone
        y = s.note(pitch, 100, 1.0, 0.1)
        want = 440 * 2 ** ((pitch - 69) / 12)
        assert abs(_peak_hz(y[:sr // 2], sr) - want) < 0.01 * want, pitch
    loud, soft = s.note(60, 127, 0.5, 0.1), s.note(60, 20, 0.5, 0.1)
    assert np.abs(loud[:sr // 4]).max() > 2.5 * np.abs(soft[:sr // 4]).max()  # layer 16 vs layer 4
    y = s.note(60, 100, 0.5, 0.05)
    assert len(y) == int(0.8 * sr)  # 6 time constants after the release
    assert np.abs(y[-sr // 50:]).max() < 0.01 * np.abs(y[:sr // 4]).max()  # damped after the release
    hi = s.note(96, 100, 0.5, 0.05)  # above the dampers: no fade
    assert np.abs(hi[-sr // 50:]).max() > 0.3 * np.abs(hi[:sr // 4]).max()
    out = s.render([(0.1, 0.6, 60, 100), (0.3, 0.6, 64, 100)], 1.0, np.random.default_rng(0))
    assert len(out) == sr and np.abs(out[:int(0.1 * sr) - 1]).max() == 0.0 and np.abs(out).max() > 0
