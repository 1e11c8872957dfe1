"""Streaming reverb as magenta.js adds it to DDSP output (Tone.js chain in ``add_reverb.ts``).

magenta.js: low-pass 8 kHz (-24 dB/octave) -> ``Tone.Reverb`` (decay 3 s, wet 0.3, 10 ms pre-delay; a
convolution with exponentially decaying noise) -> compressor (threshold -6 dB, 1 ms attack/release) as a limiter.
Here: a 4th-order Butterworth low-pass on the wet path, a uniformly partitioned FFT convolution with a seeded
decaying-noise impulse response (the partition length is hidden in the pre-delay, so the wet path adds no delay
beyond it), a dry/wet mix, and a fast peak limiter at -6 dBFS.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from tonehost.dsp.errors import ArgumentError
from tonehost.dsp._checks import MAX_RATE, check_int, check_real


def decaying_noise_ir(sample_rate: int, decay_s: float = 3.0, seed: int = 0) -> np.ndarray:
    """Tone.Reverb-style impulse response: white noise under an exponential envelope reaching -60 dB at decay_s.

    Raises
    ------
    ArgumentError
        ``sample_rate`` not a whole number in 1..1e6, or ``decay_s`` not in (0, 60] s (or under one sample).
    """
    sample_rate = check_int("sample_rate", sample_rate, 1, MAX_RATE)
    decay_s = check_real("decay_s", decay_s, 0.0, 60.0, lo_open=True)
    if int(decay_s * sample_rate) < 1:
        raise ArgumentError(f"decay_s must last at least one sample (1/{sample_rate} s), got {decay_s!r}")
    n = int(decay_s * sample_rate)
    rng = np.random.default_rng(seed)
    env = np.exp(-math.log(1000.0) * np.arange(n) / n)
    ir = rng.uniform(-1.0, 1.0, n) * env
    return ir / np.sqrt(np.sum(ir ** 2))


@njit(nogil=True, cache=True)
def limit_block(y, state, threshold, attack, release):
    """Peak limiter in place: gain follows min(1, threshold/|y|) with one-pole attack/release."""
    g = state[0]
    for i in range(len(y)):
        a = abs(y[i])
        target = threshold / a if a > threshold else 1.0
        coeff = attack if target < g else release
        g = g + coeff * (target - g)
        y[i] *= g
    state[0] = g


class Reverb:
    """Streaming magenta.js-style reverb.

    Parameters
    ----------
    sample_rate : int
    wet : float
        Wet share of the mix (magenta.js 0.3).
    decay_s : float
        Seconds until -60 dB.
    pre_delay_s : float
        Wet path delay (Tone.Reverb's 0.01 s, 0..10 s); also the FFT partition length.

    Raises
    ------
    ArgumentError
        ``sample_rate`` not a whole number in 1..1e6, ``decay_s`` not in (0, 60], ``pre_delay_s`` not in [0, 10].
    """

    def __init__(self, sample_rate: int, wet: float = 0.3, decay_s: float = 3.0, pre_delay_s: float = 0.01,
                 lowpass_hz: float = 8000.0, limit_db: float = -6.0, seed: int = 0):
        from scipy.signal import butter, sosfilt_zi
        sample_rate = check_int("sample_rate", sample_rate, 1, MAX_RATE)
        decay_s = check_real("decay_s", decay_s, 0.0, 60.0, lo_open=True)
        pre_delay_s = check_real("pre_delay_s", pre_delay_s, 0.0, 10.0)
        self.sr = int(sample_rate)
        self.wet = float(wet)
        P = 1 << max(5, int(math.floor(math.log2(max(32, pre_delay_s * sample_rate)))))
        self.P = P
        ir = decaying_noise_ir(self.sr, decay_s, seed)
        delay = max(0, int(round(pre_delay_s * sample_rate)) - P)  # the partitioning itself delays by P
        ir = np.concatenate([np.zeros(delay), ir])
        parts = -(-len(ir) // P)
        ir = np.concatenate([ir, np.zeros(parts * P - len(ir))]).reshape(parts, P)
        self.H = np.fft.rfft(ir, n=2 * P, axis=1)
        self.fdl = np.zeros_like(self.H)
        self._k = 0
        self._inbuf = np.zeros(2 * P)
        self._fill = 0
        self._outbuf = np.zeros(P)
        self.sos = butter(4, min(lowpass_hz, 0.45 * sample_rate), fs=sample_rate, output="sos")
        self._zi = sosfilt_zi(self.sos) * 0.0
        self._lim = np.ones(1)
        self._thr = 10 ** (limit_db / 20)
        self._att = 1.0 - math.exp(-1.0 / (0.001 * sample_rate))
        self._rel = self._att
        self.dry = 1.0 - self.wet

    def process(self, x: np.ndarray) -> np.ndarray:
        """Return the dry/wet mix of the block (same length), limited."""
        from scipy.signal import sosfilt
        x = np.asarray(x, np.float64)
        lp, self._zi = sosfilt(self.sos, x, zi=self._zi)
        n = len(x)
        wet = np.empty(n)
        P = self.P
        i = 0
        while i < n:
            k = min(n - i, P - self._fill)
            wet[i:i + k] = self._outbuf[self._fill:self._fill + k]
            self._inbuf[P + self._fill:P + self._fill + k] = lp[i:i + k]
            self._fill += k
            i += k
            if self._fill == P:
                self._convolve()
                self._fill = 0
        y = self.dry * x + self.wet * wet
        limit_block(y, self._lim, self._thr, self._att, self._rel)
        return y

    def _convolve(self) -> None:
        """Overlap-save step: output for the block just completed (played during the next P samples)."""
        P = self.P
        parts = self.H.shape[0]
        self._k = (self._k - 1) % parts
        self.fdl[self._k] = np.fft.rfft(self._inbuf)
        k = self._k
        # newest spectrum (at k) pairs with H[0], the one at k+1 with H[1], ... (no copies)
        Y = np.einsum("kf,kf->f", self.fdl[k:], self.H[:parts - k])
        if k:
            Y += np.einsum("kf,kf->f", self.fdl[:k], self.H[parts - k:])
        self._outbuf[:] = np.fft.irfft(Y)[P:]
        self._inbuf[:P] = self._inbuf[P:]
