"""Differentiable (PyTorch) twins of the run-time synthesizers, for training DDSP decoders.

Training only: this module imports torch; nothing at run time imports it.

- :func:`harmonic_synth` equals :func:`tonehost.dsp.harmonic.render_harmonic`: per frame, harmonics at or above Nyquist are
  zeroed and the distribution renormalised to sum 1, times the amplitude; across hop ``i`` f0 and the harmonic
  amplitudes ramp linearly from frame ``i-1`` to frame ``i`` (``t = j / hop``, the first frame is its own
  predecessor); phase is the inclusive cumulative sum of ``2*pi*f0/sr``; harmonic ``k`` is ``sin(k*phase)``,
  silenced at samples where ``k*f0 >= sr/2``.
- :func:`noise_synth` equals :func:`tonehost.dsp.noise.render_noise` given the same white noise: per frame an FIR from
  the band magnitudes (inverse real FFT, zero-phase periodic Hann window, causal rotation by ``N/2``), applied to
  that hop's noise samples, overlap-added (causal stream).
- :func:`multiscale_spectral_loss`: ddsp's multi-scale spectral loss (linear + log magnitude, L1).

The oscillator phases do not depend on trained weights (f0 is an input), so they are accumulated and wrapped in
float64 without gradient (the sine bank is then evaluated in the amplitudes' dtype); the amplitudes carry the
gradient.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def _ramp(x: torch.Tensor, hop: int) -> torch.Tensor:
    """Frames ``[B, F, C]`` -> samples ``[B, F*hop, C]``: linear ramp from frame i-1 to frame i across hop i."""
    prev = torch.cat([x[:, :1], x[:, :-1]], dim=1)
    t = torch.arange(hop, dtype=x.dtype, device=x.device) / hop  # [hop]
    y = prev[:, :, None, :] + (x - prev)[:, :, None, :] * t[None, None, :, None]
    return y.reshape(x.shape[0], x.shape[1] * hop, x.shape[2])


def harmonic_amplitudes(f0_hz: torch.Tensor, amplitude: torch.Tensor, distribution: torch.Tensor,
                        sample_rate: float) -> torch.Tensor:
    """Per-frame harmonic amplitudes ``[B, F, K]``: Nyquist mask, normalise to sum 1, times ``amplitude``.

    Parameters
    ----------
    f0_hz : [B, F]
    amplitude : [B, F] (or [B, F, 1])
    distribution : [B, F, K], non-negative
    """
    K = distribution.shape[-1]
    k = torch.arange(1, K + 1, dtype=distribution.dtype, device=distribution.device)
    below = (f0_hz[..., None] * k < 0.5 * sample_rate).to(distribution.dtype)
    d = distribution.clamp_min(0.0) * below
    total = d.sum(-1, keepdim=True)
    amp = amplitude if amplitude.dim() == 3 else amplitude[..., None]
    return torch.where(total > 0, d * amp / total.clamp_min(1e-30), torch.zeros_like(d))


def oscillator_bank(f0_hz: torch.Tensor, n_harmonics: int, sample_rate: float, hop: int,
                    dtype=torch.float32) -> torch.Tensor:
    """``sin(k * phase)`` for k = 1..K, zero where ``k*f0 >= Nyquist``: ``[B, F*hop, K]`` (no gradient)."""
    with torch.no_grad():
        f0 = _ramp(f0_hz.to(torch.float64)[..., None], hop)[..., 0].clamp_min(0.0)  # [B, T]
        phase = torch.cumsum(2.0 * math.pi * f0 / sample_rate, dim=1)
        phase = torch.remainder(phase, 2.0 * math.pi).to(dtype)  # wrapped in float64, then the bank in dtype
        k = torch.arange(1, n_harmonics + 1, dtype=dtype, device=f0.device)
        osc = torch.sin(phase[..., None] * k)
        osc = osc * (f0.to(dtype)[..., None] * k < 0.5 * sample_rate)
        return osc


def harmonic_synth(f0_hz: torch.Tensor, amplitude: torch.Tensor, distribution: torch.Tensor,
                   sample_rate: float, hop: int, osc: torch.Tensor | None = None) -> torch.Tensor:
    """Harmonic synthesizer, ``[B, F*hop]`` audio (see the module docstring).

    Parameters
    ----------
    f0_hz, amplitude : [B, F]
    distribution : [B, F, K]
    sample_rate : float
    hop : int
    osc : optional precomputed :func:`oscillator_bank` output (it does not depend on the weights).
    """
    a = harmonic_amplitudes(f0_hz, amplitude, distribution, sample_rate)
    a_s = _ramp(a, hop)  # [B, T, K]
    if osc is None:
        osc = oscillator_bank(f0_hz, distribution.shape[-1], sample_rate, hop, dtype=a.dtype)
    return (a_s * osc).sum(-1)


def fir_table(n_bands: int, dtype=torch.float32) -> torch.Tensor:
    """``[B, N]`` table mapping band magnitudes to the causal windowed FIR (as :func:`tonehost.dsp.noise.make_noise_state`)."""
    from tonehost.dsp.noise import fir_length, zero_phase_window
    N = fir_length(n_bands)
    k = np.arange(n_bands)[:, None]
    wz = zero_phase_window(N)
    wk = np.full(n_bands, 2.0 / N)
    wk[0] = wk[-1] = 1.0 / N
    src = (np.arange(N) + N // 2) % N
    table = wk[:, None] * np.cos(2.0 * np.pi * k * src[None, :] / N) * wz[src][None, :]
    return torch.tensor(table, dtype=dtype)


def noise_synth(magnitudes: torch.Tensor, hop: int, noise: torch.Tensor | None = None,
                generator: torch.Generator | None = None, table: torch.Tensor | None = None) -> torch.Tensor:
    """Filtered-noise synthesizer, ``[B, F*hop]`` (causal; equals :func:`tonehost.dsp.noise.render_noise`).

    Parameters
    ----------
    magnitudes : [B, F, n_bands]
    hop : int
    noise : optional white noise ``[B, F*hop]`` (uniform in [-1, 1)); drawn from ``generator`` otherwise.
    """
    Bt, F, nb = magnitudes.shape
    if table is None:
        table = fir_table(nb, magnitudes.dtype).to(magnitudes.device)
    N = table.shape[1]
    firs = magnitudes @ table  # [B, F, N]
    T = F * hop
    if noise is None:
        noise = torch.rand(Bt, T, generator=generator, dtype=magnitudes.dtype, device=magnitudes.device) * 2 - 1
    u = noise.reshape(Bt, F, hop)
    L = hop + N - 1
    n_fft = 1 << (L - 1).bit_length()
    y = torch.fft.irfft(torch.fft.rfft(u, n_fft) * torch.fft.rfft(firs, n_fft), n_fft)[..., :L]  # [B, F, L]
    # overlap-add frame f at offset f*hop
    out_len = (F - 1) * hop + L
    out = torch.nn.functional.fold(y.transpose(1, 2), output_size=(1, out_len), kernel_size=(1, L),
                                   stride=(1, hop))
    return out.reshape(Bt, out_len)[:, :T]


def multiscale_spectral_loss(x: torch.Tensor, y: torch.Tensor, fft_sizes=(2048, 1024, 512, 256, 128, 64),
                             log_weight: float = 1.0, overlap: float = 0.75) -> torch.Tensor:
    """ddsp ``SpectralLoss``: sum over FFT sizes of mean |S_x - S_y| + ``log_weight`` * mean |log S_x - log S_y|."""
    total = x.new_zeros(())
    for n in fft_sizes:
        hop = int(n * (1 - overlap))
        win = torch.hann_window(n, dtype=x.dtype, device=x.device)
        sx = torch.stft(x, n, hop, window=win, center=True, return_complex=True).abs()
        sy = torch.stft(y, n, hop, window=win, center=True, return_complex=True).abs()
        total = total + (sx - sy).abs().mean()
        if log_weight:
            total = total + log_weight * (torch.log(sx + 1e-7) - torch.log(sy + 1e-7)).abs().mean()
    return total


def exp_sigmoid(x: torch.Tensor, exponent: float = 10.0, max_value: float = 2.0, threshold: float = 1e-7):
    """ddsp ``core.exp_sigmoid`` (the contract's output scaling)."""
    return max_value * torch.sigmoid(x) ** math.log(exponent) + threshold
