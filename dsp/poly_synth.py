"""Many voices of the harmonic + filtered-noise synthesizer in one Numba call (a polyphonic DDSP instrument).

Each voice has its own control rings and synth states (:mod:`tonehost.dsp.harmonic`, :mod:`tonehost.dsp.noise`),
stacked on a leading voice axis; the voices share one timeline of model frames, each of which becomes visible to
the synthesizers at a fixed output sample (as in the one-voice pipeline). :func:`poly_synth_block` renders a block
for every active voice, between those samples, and sums them: no Python per voice or per frame.
"""
from __future__ import annotations

from numba import njit

from tonehost.dsp.harmonic import harmonic_block
from tonehost.dsp.noise import noise_block

# Numba's cache keys on this file's text, not on the kernels it inlines: change this tag when they change
# (noise_block: eight samples per pass, the FIR four bands per pass; harmonic_block: four harmonics per pass,
# polynomial sin/cos; noise_block: float32 or float64 state, half FIR mirrored, RNG in three slots;
# harmonic_block: Chebyshev's recurrence, integer quadrant;
# noise_block: one loop per pass over a padded FIR, no ring wrap, 1-8 samples per pass; _pass_len inlined; v8).

__all__ = ["poly_synth_block", "write_voice_frames"]


@njit(nogil=True, cache=True)
def poly_synth_block(out, n, block_start, active, due_pos, due_hw, due_nw, n_due, hframes, hread, hvis, hstate,
                     nframes, nread, nvis, nstate, sample_rate, hop, gain, tmp_h, tmp_n):
    """Render ``n`` samples of every active voice into ``out[:n]`` (their sum times ``gain``).

    Parameters
    ----------
    out : float64 array, shape (>= n,)
    n : int
        Samples in the block.
    block_start : int
        Absolute output sample of ``out[0]``.
    active : bool array [V]
        Voices to render (the others are left untouched).
    due_pos : int64 array [D]
        Absolute output samples at which frames become visible (ascending).
    due_hw, due_nw : int64 arrays [D, V]
        Each voice's harmonic / noise write counter once that frame is visible.
    n_due : int
        Entries of ``due_pos`` in use.
    hframes, nframes : float64 arrays [V, capacity, 2 + K] and [V, capacity, B]
        Control rings (:func:`tonehost.dsp.harmonic.make_frame_buffer`, :func:`tonehost.dsp.noise.make_noise_frame_buffer`).
    hread, hvis, nread, nvis : int64 arrays [V]
        Read counters and visible write counters per voice (updated).
    hstate, nstate : float64 arrays [V, ...]
        Synth states per voice (updated).
    sample_rate : float
    hop : int
        Output samples per model frame.
    gain : float
    tmp_h, tmp_n : float64 scratch arrays, shape (>= n,)
    """
    for i in range(n):
        out[i] = 0.0
    for v in range(active.shape[0]):
        if not active[v]:
            continue
        done = 0
        di = 0
        while done < n:
            if di < n_due and due_pos[di] - block_start <= done:
                hvis[v] = due_hw[di, v]
                nvis[v] = due_nw[di, v]
                di += 1
                continue
            upto = n
            if di < n_due:
                upto = min(n, max(done, due_pos[di] - block_start))
            k = upto - done
            hread[v] = harmonic_block(tmp_h[done:], k, hframes[v], hread[v], hvis[v], hstate[v], sample_rate, hop)
            nread[v] = noise_block(tmp_n[done:], k, nframes[v], nread[v], nvis[v], nstate[v], hop)
            done = upto
        for i in range(n):
            out[i] += (tmp_h[i] + tmp_n[i]) * gain


@njit(nogil=True, cache=True)
def write_voice_frames(hframes, nframes, written, act, f0, amp, harm, noise, harmonic_numbers, nyquist, noise_gain):
    """Write one model frame of each voice in ``act`` into its rings (the one-voice pipeline's row layout).

    Parameters
    ----------
    hframes, nframes : float64 arrays [V, capacity, 2 + K] and [V, capacity, B_out]
        Harmonic and noise rings per voice.
    written : int64 array [V]
        Frames written per voice (row ``written % capacity`` is next; incremented).
    act : int64 array [N]
        The voices, in the order of the model's rows.
    f0, amp : float arrays [N]
        f0 in Hz and amplitude per voice.
    harm, noise : float32 arrays [N, K] and [N, B]
        The model's harmonic distribution and noise magnitudes.
    harmonic_numbers : float64 array [K]
        1..K; harmonics at or above ``nyquist`` (the model's) are zeroed.
    noise_gain : float32
        Gain of the noise bands (applied in float32, as numpy does for a float32 array times a Python float).
    """
    cap = hframes.shape[1]
    K = harm.shape[1]
    B = noise.shape[1]
    for i in range(act.shape[0]):
        v = act[i]
        r = written[v] % cap
        fi = f0[i]
        hframes[v, r, 0] = fi
        hframes[v, r, 1] = amp[i]
        for k in range(K):
            hframes[v, r, 2 + k] = harm[i, k] if harmonic_numbers[k] * fi < nyquist else 0.0
        for b in range(nframes.shape[2]):
            nframes[v, r, b] = 0.0
        for b in range(B):
            nframes[v, r, b] = noise[i, b] * noise_gain
        written[v] += 1
