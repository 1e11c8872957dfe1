"""The causal candidate HMM (tonehost.dsp.pitch_hmm): a track locked on a sub-harmonic restarts at YIN's clear pick."""
from __future__ import annotations

import numpy as np
import pytest

from tonehost.dsp.features import voice_like
from tonehost.dsp.pitch_hmm import hmm_seed, hmm_step, n_bins, transition_kernel
from tonehost.dsp.yin import scratch, window_length, yin_cmnd

SR = 16000
MIN_LAG, MAX_LAG = 8, 320  # 50-2000 Hz


def _cmnd(f0):
    x = voice_like(np.full(4000, f0), SR)
    d, c = scratch(MAX_LAG)
    n = window_length(128, MAX_LAG, True)
    yin_cmnd(x, len(x) - n, 128, MAX_LAG, d, c, True)
    return c


def _step(cmnd, seed_hz, yin_lag, sub_margin):
    f_lo, f_hi = SR / (MAX_LAG + 1.0), SR / (MIN_LAG - 1.0)
    nb = n_bins(f_lo, f_hi, 20.0)
    post = np.zeros(nb)
    hmm_seed(post, seed_hz, f_lo, 20.0)
    # fmin, bin_cents, beta_b (threshold mean 0.1), absmin, floor, jump, reseed_margin, reseed_max, yin_weight,
    # mean_bins, onset seed, sub_margin: TrackerConfig's defaults
    par = np.array([f_lo, 20.0, 18.0, 0.01, 0.01, 0.01, 0.1, 0.3, 0.3, 10.0, 1.0, sub_margin])
    lags = np.zeros(MAX_LAG + 2, np.int64)
    mass, freqs = np.zeros(MAX_LAG + 2), np.zeros(MAX_LAG + 2)
    out = hmm_step(cmnd, MIN_LAG, MAX_LAG, float(SR), par, transition_kernel(4), post, np.zeros(nb), np.zeros(nb),
                   lags, mass, freqs, 0.0, 0.0, yin_lag, float(cmnd[int(round(yin_lag))]))
    return out, f_lo * 2 ** (np.argmax(post) * 20.0 / 1200)


@pytest.mark.parametrize("f0,k", [(440.0, 2), (330.0, 2), (600.0, 3)])
def test_track_on_a_sub_harmonic_restarts_at_the_clear_pick(f0, k):
    """A 440 Hz voice dips as deep at 2 x its period as at its period: a track sitting at 220 Hz (a creaky onset
    or the note before an octave-up step) got nothing from the pick's dip to move it, and stayed there (the
    rule off: still at 220 Hz); it restarts at YIN's pick unless its own dip is clearly deeper."""
    c = _cmnd(f0)
    lag = SR / f0
    t = int(round(lag))
    c_k = c[int(k * lag) - 2:int(k * lag) + 3].min()
    assert c[t] < 0.1 and abs(c_k - c[t]) < 0.05  # about equally deep dips at the period and its multiple
    out_off, best_off = _step(c, f0 / k, lag, -1.0)
    assert abs(1200 * np.log2(out_off * k / f0)) < 50  # without the rule: the sub-harmonic is kept
    out_on, best_on = _step(c, f0 / k, lag, 0.05)
    assert abs(1200 * np.log2(out_on / f0)) < 20 and abs(1200 * np.log2(best_on / f0)) < 30


def test_a_clearly_deeper_multiple_keeps_the_track():
    """The rule defers to a sub-harmonic that dips clearly deeper than the pick (a real period-doubled voice)."""
    c = _cmnd(220.0).copy()
    lag = SR / 440.0
    t = int(round(lag))
    c[t] = 0.25  # a dip at the half period (0.25) under reseed_max, the period's own ~0.0
    c[t - 1] = c[t + 1] = 0.3
    out, _ = _step(c, 220.0, float(t), 0.05)
    assert abs(1200 * np.log2(out / 220.0)) < 50
