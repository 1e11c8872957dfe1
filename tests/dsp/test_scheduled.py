"""Sample-accurate scheduled synthesis (tonehost.dsp.scheduled): equals the hop-grid kernels on a regular
schedule, takes each frame at exactly its due sample whatever the block size, ramps from where it is (no jump)
when a frame comes early, and counts late frames."""
import numpy as np
import pytest

from tonehost.dsp.harmonic import render_harmonic
from tonehost.dsp.noise import render_noise
from tonehost.dsp.scheduled import Q_LATE, Q_LATE_MAX, ScheduledSynth

SR, HOP, K, B = 48000.0, 192, 8, 17


def _frames(n, seed=0):
    rng = np.random.default_rng(seed)
    f0 = 200.0 + 300.0 * rng.random(n)
    amp = 0.1 + 0.2 * rng.random(n)
    dist = rng.random((n, K)) + 0.01
    noise = 0.01 * rng.random((n, B))
    return f0, amp, dist, noise


def _render(sy, total, block):
    h, z = np.zeros(total), np.zeros(total)
    for s in range(0, total, block):
        m = min(block, total - s)
        sy.render(h[s:s + m], z[s:s + m], m, s)
    return h, z


@pytest.mark.parametrize("block", [1, 37, 128, 4096])
def test_regular_schedule_equals_the_hop_kernels(block):
    n = 40
    f0, amp, dist, noise = _frames(n)
    sy = ScheduledSynth(K, B, SR, capacity=64)
    for i in range(n):
        sy.push(i * HOP, HOP, f0[i], amp[i], dist[i], noise[i])
    h, z = _render(sy, n * HOP, block)
    np.testing.assert_allclose(h, render_harmonic(f0, amp, dist, SR, HOP), atol=1e-12)
    np.testing.assert_allclose(z, render_noise(noise, HOP), atol=1e-12)


def test_a_frame_starts_at_its_due_sample_whatever_the_block():
    sy_a = ScheduledSynth(K, 0, SR)
    sy_b = ScheduledSynth(K, 0, SR)
    dist = np.ones(K)
    for sy in (sy_a, sy_b):
        sy.push(0, 48, 220.0, 0.0, dist)
        sy.push(1001, 48, 220.0, 0.5, dist)   # an onset at an arbitrary sample
    ha, _ = _render(sy_a, 3000, 128)
    hb, _ = _render(sy_b, 3000, 7)
    np.testing.assert_array_equal(ha, hb)
    assert np.all(ha[:1002] == 0.0) and np.abs(ha[1002:1100]).max() > 0.1


def test_early_frame_ramps_from_where_the_synth_is():
    sy = ScheduledSynth(1, 0, SR)
    sy.push(0, 1, 100.0, 0.0, np.ones(1))
    sy.push(100, 400, 100.0, 1.0, np.ones(1))   # a slow ramp up ...
    sy.push(300, 400, 100.0, 0.0, np.ones(1))   # ... cut half way by a ramp down
    h = np.zeros(1000)
    sy.render(h, h, 1000, 0)
    env = np.abs(h)
    phase_gain = np.abs(np.sin(2 * np.pi * 100.0 * np.arange(1, 1001) / SR))
    # the amplitude reached at sample 300 (200 of 400 samples: 0.5), then falls from there
    i = 300
    assert abs(env[i] / phase_gain[i] - 0.5) < 0.01
    assert np.all(np.diff(h[290:310]) < 0.02)  # no jump


def test_late_frames_are_applied_at_once_and_counted():
    sy = ScheduledSynth(K, 0, SR)
    h = np.zeros(256)
    sy.push(0, 48, 220.0, 0.0, np.ones(K))
    sy.render(h, h, 128, 0)
    sy.push(50, 48, 220.0, 0.5, np.ones(K))   # due at 50, but queued after samples 0..127 were rendered
    sy.render(h[128:], h[128:], 128, 128)
    assert sy.sched[Q_LATE] == 1 and sy.sched[Q_LATE_MAX] == 128 - 50
    assert np.abs(h[128:]).max() > 0.1
