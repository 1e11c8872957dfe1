"""The PyTorch training synths equal the Numba run-time synths on the same controls."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tonehost.dsp.harmonic import render_harmonic  # noqa: E402
from tonehost.dsp.noise import render_noise, white_noise  # noqa: E402
from tonehost.exports.training.synth import (harmonic_synth, multiscale_spectral_loss, noise_synth)  # noqa: E402

SR, HOP = 16000, 64


def _controls(n_frames=120, K=60, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / 250.0
    f0 = 220.0 * 2 ** (np.sin(2 * np.pi * 1.3 * t) * 1.5 + rng.normal(0, 0.01, n_frames))  # crosses Nyquist limits
    f0[40:45] = 0.0
    amp = np.abs(rng.normal(0.3, 0.2, n_frames))
    dist = rng.random((n_frames, K)) ** 3
    return f0, amp, dist


def test_harmonic_synth_equals_numba():
    f0, amp, dist = _controls()
    ref = render_harmonic(f0, amp, dist, SR, HOP)
    got = harmonic_synth(torch.tensor(f0[None]), torch.tensor(amp[None]), torch.tensor(dist[None]),
                         SR, HOP)[0].numpy()
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) < 1e-5, np.max(np.abs(got - ref))
    assert np.max(np.abs(ref)) > 0.1


def test_harmonic_synth_float32_close():
    f0, amp, dist = _controls(seed=1)
    ref = render_harmonic(f0, amp, dist, SR, HOP)
    got = harmonic_synth(torch.tensor(f0[None], dtype=torch.float32), torch.tensor(amp[None], dtype=torch.float32),
                         torch.tensor(dist[None], dtype=torch.float32), SR, HOP)[0].numpy()
    assert np.max(np.abs(got - ref)) < 1e-4


def test_noise_synth_equals_numba_with_same_noise():
    rng = np.random.default_rng(2)
    mags = rng.random((50, 65)) ** 2
    ref = render_noise(mags, HOP, seed=7)
    u = white_noise(50 * HOP, seed=7)
    got = noise_synth(torch.tensor(mags[None]), HOP, noise=torch.tensor(u[None]))[0].numpy()
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) < 1e-9 * max(1.0, np.max(np.abs(ref))) + 1e-9
    assert np.std(ref) > 1e-3


def test_spectral_loss_gradient_and_zero():
    x = torch.randn(2, 4096)
    assert float(multiscale_spectral_loss(x, x)) == 0.0
    a = torch.tensor(0.5, requires_grad=True)
    loss = multiscale_spectral_loss(a * x, x)
    loss.backward()
    loss = loss.detach()
    assert loss.item() > 0 and a.grad is not None and float(a.grad) < 0
