"""A quiet mic in a quiet room is heard: the tracker's level gate follows the room (TrackerConfig.floor_*).

Before, every frame under a fixed -60 dB power was unvoiced. A voice at -30 dB of gain (a mic's gain turned down, a
singer a metre from a laptop) lost half its voiced frames (FDA development set: voicing recall 0.50 against 0.87 at
full level) and at -40 dB nearly all (0.02): `tonehost render` and `play` stayed silent while the user sang. Now a
frame is gated under -60 dB only when it does not stand 6 dB over the room's noise floor, so the quiet take tracks as
the loud one; a steady hum or fan AT the floor stays gated, in a quiet room and under a voice.
"""
from __future__ import annotations

import numpy as np
import pytest

from tonehost.dsp.features import TrackerConfig, VoiceTracker, track_pitch, voice_like

SR = 16000
OLD = TrackerConfig(gate_min_db=-60.0)  # the fixed -60 dB gate of before


def phrase(rng, gain_db: float, noise_db: float = -95.0) -> np.ndarray:
    """Three sung notes (vibrato, jitter) with breaths between, at ``gain_db`` re -10 dBFS, over white noise."""
    f0 = []
    for note, dur in ((196.0, 0.8), (0.0, 0.25), (247.0, 0.7), (0.0, 0.3), (294.0, 0.9), (0.0, 0.4)):
        n = int(dur * SR)
        t = np.arange(n) / SR
        f0.append(note * 2 ** ((25 * np.sin(2 * np.pi * 5.5 * t) + rng.normal(0, 5, n)) / 1200) if note else
                  np.zeros(n))
    f = np.concatenate([np.zeros(int(0.3 * SR))] + f0)
    x = voice_like(f, SR, amplitude=0.3 * 10 ** (gain_db / 20))
    return x + rng.normal(0, 10 ** (noise_db / 20), len(x)), f


def hum(n, f=50.0, amplitude=1e-3):
    """Mains hum: ``f`` and its 2nd-5th harmonics falling 6 dB each."""
    t = np.arange(n) / SR
    return amplitude * sum(0.5 ** (k - 1) * np.sin(2 * np.pi * k * f * t + k) for k in range(1, 6))


def voiced_right(times, est, f_true):
    """Share of the truly voiced frames (away from note edges) tracked voiced within 50 cents."""
    ref = np.interp(times, np.arange(len(f_true)) / SR, f_true)
    edge = np.convolve((ref > 0).astype(float), np.ones(31) / 31, mode="same")  # +-30 ms from an edge
    m = (ref > 0) & (edge > 0.999)
    ok = (est[m] > 0) & (np.abs(1200 * np.log2(np.maximum(est[m], 1e-9) / ref[m])) < 50)
    return float(np.mean(ok))


@pytest.mark.parametrize("gain_db", [0.0, -30.0, -45.0])
def test_a_quiet_take_tracks_as_the_loud_one(gain_db):
    rng = np.random.default_rng(3)
    x, f = phrase(rng, gain_db)
    t, est, _ = track_pitch(x, SR)
    share = voiced_right(t, est, f)
    assert share >= 0.95, f"{gain_db} dB: {share:.3f} of the voiced frames tracked"


def test_the_fixed_gate_lost_the_quiet_take():
    """The case above under the old fixed gate: the -45 dB take (about -62 dBFS) was all but unvoiced."""
    rng = np.random.default_rng(3)
    x, f = phrase(rng, -45.0)
    t, est, _ = track_pitch(x, SR, config=OLD)
    assert voiced_right(t, est, f) < 0.2


@pytest.mark.parametrize("level", [3e-4, 3e-3])
def test_a_hum_alone_in_a_quiet_room_stays_unvoiced(level):
    """A -65 / -45 dB mains hum (the room's floor) over a -95 dB noise floor: no note in it after 0.2 s."""
    rng = np.random.default_rng(1)
    n = 4 * SR
    x = hum(n, 60.0, level) + rng.normal(0, 10 ** (-95 / 20), n)
    t, est, _ = track_pitch(x, SR)
    assert np.mean(est[t > 0.2] > 0) <= 0.02


def test_a_hum_under_a_quiet_voice_stays_unvoiced_in_the_pauses():
    """A -40 dB take over a 50 Hz hum 25 dB under it: the voice is tracked, the pauses stay silent."""
    rng = np.random.default_rng(5)
    x, f = phrase(rng, -40.0)
    x = x + hum(len(x), 50.0, 0.3 * 10 ** (-65 / 20))
    t, est, _ = track_pitch(x, SR)
    assert voiced_right(t, est, f) >= 0.95
    ref = np.interp(t, np.arange(len(f)) / SR, f)
    pause = np.convolve((ref > 0).astype(float), np.ones(101), mode="same") == 0  # 100 ms from any note
    assert np.mean(est[pause & (t > 0.2)] > 0) <= 0.02


def test_digital_silence_and_the_floor_of_power_db_are_gated():
    """Under gate_min_db (-78 dB) nothing is voiced, whatever the room: a periodic -85 dB tone included."""
    x = voice_like(np.full(2 * SR, 220.0), SR, amplitude=10 ** (-85 / 20) / 0.3)
    t, est, conf = track_pitch(x, SR)
    assert not np.any(est > 0) and not np.any(conf > 0)


def test_the_gate_starts_at_gate_db_and_streams_as_one_call():
    """Block by block equals one call (the floor is tracker state), and the first frames keep the -60 dB gate."""
    rng = np.random.default_rng(7)
    x, _ = phrase(rng, -40.0)
    whole = VoiceTracker().process(x)
    tr = VoiceTracker()
    parts = [tr.process(x[i:i + 173]) for i in range(0, len(x), 173)]
    assert np.array_equal(np.concatenate([p.f0_hz for p in parts]), whole.f0_hz)
    assert np.array_equal(np.concatenate([p.voiced for p in parts]), whole.voiced)
    with pytest.raises(ValueError):
        VoiceTracker(TrackerConfig(floor_smooth_s=0.0))


@pytest.mark.parametrize("amp_db", [-40.0, -50.0, -60.0])
def test_a_quiet_steady_tone_is_played_not_background(amp_db):
    """A steady test tone at -40..-60 dBFS in a quiet room was taken for a background tone (25 dB under the
    performance level the tracker starts with, -20 dB) after 0.1 s: at -50 dBFS nothing of it was voiced. A tone
    that rose out of the room is played (TrackerConfig.background_over_floor_db); a hum AT the floor stays
    background (test_a_hum_alone_in_a_quiet_room_stays_unvoiced)."""
    f = np.r_[np.zeros(SR // 2), np.full(3 * SR, 220.0), np.zeros(SR // 2)]
    x = voice_like(f, SR, amplitude=10 ** (amp_db / 20))
    t, est, _ = track_pitch(x, SR)
    m = (t > 0.6) & (t < 3.4)
    assert np.mean(np.abs(est[m] - 220.0) < 2.0) >= 0.9
    t, est, _ = track_pitch(x, SR, config=TrackerConfig(background_over_floor_db=1000.0))  # the rule before
    if amp_db <= -50.0:
        assert np.mean(est[m] > 0) < 0.1
