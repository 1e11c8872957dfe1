"""Polyphony over MIDI: 8 voices with their own model state and synth, voice stealing, sustain pedal."""
from __future__ import annotations

import mido
import numpy as np
import pytest

from tonehost.realtime.pipelines.instrument import ControlsModel, PipelineConfig
from tonehost.realtime.pipelines.poly import PolyInstrument

SR = 48000


@pytest.fixture(scope="module")
def violin():
    from tonehost.exports.checkpoints.shipped import default_instrument_path
    return ControlsModel(default_instrument_path("violin"))


def on(t, note, vel=100):
    return (t, mido.Message("note_on", note=note, velocity=vel))


def off(t, note):
    return (t, mido.Message("note_off", note=note))


def cc(t, control, value):
    return (t, mido.Message("control_change", control=control, value=value))


def partial(y, f, sr=SR):
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / sr)
    return spec[np.abs(freqs - f) < 4].max()


def hz(m):
    return 440.0 * 2 ** ((m - 69) / 12)


def test_a_chord_sounds_all_its_notes(violin):
    poly = PolyInstrument(violin, voices=8, config=PipelineConfig(sample_rate=SR))
    chord = [60, 64, 67, 71]
    y = poly.render([on(0.0, n) for n in chord] + [off(1.0, n) for n in chord], 1.5)
    seg = y[int(0.4 * SR):int(0.9 * SR)]
    noise_floor = partial(seg, hz(62.5))
    for n in chord:
        assert partial(seg, hz(n)) > 10 * noise_floor, n
    assert np.sqrt(np.mean(y[int(1.4 * SR):] ** 2)) < 0.1 * np.sqrt(np.mean(seg ** 2))  # released
    # the voices have their own state: four different notes on four voices
    assert sorted(poly.note[:4]) == chord


def test_ninth_note_steals_the_oldest(violin):
    poly = PolyInstrument(violin, voices=8, config=PipelineConfig(sample_rate=SR))
    notes = list(range(60, 69))  # nine notes
    y = poly.render([on(0.05 * i, n) for i, n in enumerate(notes)], 1.2)
    assert poly.steals == 1
    assert 60 not in [poly.note[v] for v in range(8) if poly.sounding[v]]
    seg = y[int(0.8 * SR):int(1.2 * SR)]
    assert partial(seg, hz(68)) > 5 * partial(seg, hz(60))


def test_sustain_pedal_holds_released_notes(violin):
    poly = PolyInstrument(violin, voices=8, config=PipelineConfig(sample_rate=SR))
    ev = [cc(0.0, 64, 127), on(0.0, 64), off(0.3, 64), cc(1.0, 64, 0)]
    y = poly.render(ev, 1.6)
    held = np.sqrt(np.mean(y[int(0.6 * SR):int(0.9 * SR)] ** 2))
    playing = np.sqrt(np.mean(y[int(0.1 * SR):int(0.3 * SR)] ** 2))
    after = np.sqrt(np.mean(y[int(1.4 * SR):] ** 2))
    assert held > 0.5 * playing  # key up, pedal down: still sounding
    assert after < 0.1 * playing  # pedal up: released


def test_idle_voices_cost_nothing(violin):
    poly = PolyInstrument(violin, voices=8, config=PipelineConfig(sample_rate=SR))
    poly.render([on(0.0, 60), off(0.2, 60)], 1.5)
    assert poly.active_counts[10] == 1  # one voice working while one note plays
    assert poly.active_counts[-1] == 0  # all idle after the release decayed
