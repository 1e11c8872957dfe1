"""Sample-accurate synthesis from time-stamped control frames: the harmonic and noise kernels driven by a schedule.

:mod:`tonehost.dsp.harmonic` and :mod:`tonehost.dsp.noise` consume control frames "as soon as they are there", one
per hop. Here every frame carries the output sample it starts at (``due``) and how many samples its ramp lasts
(``ramp``): :func:`scheduled_block` renders a block of output, splitting it at each frame's ``due`` sample, so a
frame takes effect at exactly that sample whatever the block size and whenever the producer delivered it (as long
as it was there in time). This is what makes the live latency constant: a frame computed from the input up to
sample ``p`` is given ``due = p + D``; the output then answers every input event exactly ``D`` samples (plus the
analysis) later, instead of "at the next block boundary after the worker finished".

A frame row (``frames[r]``, harmonic part, the layout of :mod:`tonehost.dsp.harmonic`): ``f0, amplitude,
distribution[K]``; its noise magnitudes in ``noise[r]``; its schedule in ``meta[r]``: ``due`` (output sample),
``ramp`` (samples, >= 1) and ``has_noise`` (0: keep the current noise filter). Frames are consumed in order; a
frame that arrives after its ``due`` sample is applied at the first sample rendered after it arrived and counted as
late (with how many samples late). Several frames due at the same sample: the newest wins (its noise too, or the
newest noise among them).

Ramps: when a frame takes effect, the harmonic synthesizer ramps linearly *from where it is at that sample* (also
mid-way through the previous ramp: no jump, no click) to the frame's controls over ``ramp`` samples, then holds
them; the noise filter switches at that sample (the overlap-add smooths it), as :func:`tonehost.dsp.noise.noise_block`
does at a hop boundary. With frames every ``hop`` samples, ``ramp = hop`` and ``due`` on the hop grid this is
exactly :func:`~tonehost.dsp.harmonic.harmonic_block` / :func:`~tonehost.dsp.noise.noise_block`.

The same kernel runs inside the engine's GIL-free audio callback (:mod:`tonehost.realtime.audio.callback`) and
offline (:class:`tonehost.realtime.pipelines.instrument.InstrumentPipeline`), so the live output is the offline one
delayed by ``D`` samples.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from tonehost.dsp._checks import MAX_RATE, check_int, check_real
from tonehost.dsp.harmonic import (_F0_NEXT, _F0_PREV, _HDR, _K, _POS, _STARTED, harmonic_block,
                                   make_harmonic_state, MAX_HARMONICS)
from tonehost.dsp.noise import _POS as _N_POS
from tonehost.dsp.noise import MAX_BANDS
from tonehost.dsp.noise import noise_block
# Numba's cache keys on this file's text, not on the kernels it inlines (harmonic_block, noise_block, and here
# scheduled_block): change this tag when they change (noise_block: eight samples per pass, the FIR four bands
# per pass; harmonic_block: four harmonics per pass, polynomial sin/cos; noise_block: float32 or float64 state,
# half FIR mirrored, RNG in three slots; harmonic_block: Chebyshev's recurrence, integer quadrant;
# noise_block: one loop per pass over a padded FIR, no ring wrap, 1-8 samples per pass; _pass_len inlined; v9).

# meta columns (int64)
M_DUE, M_RAMP, M_NOISE = 0, 1, 2
N_META = 4

# scheduler state (int64): the current frame's ramp length, frames applied late, samples late (sum and max)
Q_RAMP, Q_LATE, Q_LATE_SUM, Q_LATE_MAX, Q_APPLIED = 0, 1, 2, 3, 4
N_SCHED = 8


def make_meta_buffer(capacity: int) -> np.ndarray:
    """The schedule of a frame ring: ``capacity`` rows of ``(due, ramp, has_noise, 0)`` (int64)."""
    return np.zeros((capacity, N_META), np.int64)


def make_sched_state() -> np.ndarray:
    """The scheduler's own state for :func:`scheduled_block` (int64)."""
    s = np.zeros(N_SCHED, np.int64)
    s[Q_RAMP] = 1
    return s


@njit(nogil=True, cache=True)
def harmonic_retarget(state, ramp):
    """Start a new ramp at the next sample from where the current one is now.

    The 'next' controls become the interpolated ones of the next sample (``prev + (next - prev) * pos / ramp``) and
    the next frame is taken at the next sample (:func:`~tonehost.dsp.harmonic.harmonic_block` moves next -> prev
    when it loads a frame). A ramp already finished (``pos >= ramp``) keeps its target.
    """
    if state[_STARTED] < 0.5:
        state[_POS] = -1.0
        return
    pos = state[_POS]
    if pos < 0.0 or pos > ramp:
        pos = float(ramp)
    t = pos / ramp
    K = int(state[_K])
    for k in range(K):
        a = state[_HDR + k]
        state[_HDR + K + k] = a + (state[_HDR + K + k] - a) * t
    state[_F0_NEXT] = state[_F0_PREV] + (state[_F0_NEXT] - state[_F0_PREV]) * t
    state[_POS] = -1.0


@njit(nogil=True, cache=True)
def scheduled_block(harm, noise, n, t0, frames, nframes, meta, read_pos, write_pos, hstate, nstate, sched,
                    sample_rate, noise_on):
    """Render output samples ``t0 .. t0 + n - 1`` from the scheduled frames ``read_pos .. write_pos - 1``.

    Parameters
    ----------
    harm, noise : float32 or float64 arrays, shape (>= n,)
        Harmonic and noise parts (``noise`` is left untouched when ``noise_on`` is False).
    n : int
    t0 : int
        Output sample index of ``harm[0]``.
    frames : array (capacity, 2 + K)
        Harmonic rows (:mod:`tonehost.dsp.harmonic` layout).
    nframes : array (capacity, B)
        Noise magnitudes per row (ignored unless ``noise_on``).
    meta : int64 array (capacity, 4)
        ``due, ramp, has_noise`` per row.
    read_pos, write_pos : int
        Monotonic frame counters.
    hstate, nstate : float64 arrays
        :func:`~tonehost.dsp.harmonic.make_harmonic_state`, :func:`~tonehost.dsp.noise.make_noise_state`.
    sched : int64 array
        :func:`make_sched_state` (current ramp, late counters).
    sample_rate : float
    noise_on : bool

    Returns
    -------
    int
        The new read counter.
    """
    cap = frames.shape[0]
    rp = read_pos
    done = 0
    while done < n:
        now = t0 + done
        # the newest frame due by now (older ones due by now are superseded), and the newest noise among them
        j = -1
        jn = -1
        while rp < write_pos and meta[rp % cap, M_DUE] <= now:
            row = rp % cap
            late = now - meta[row, M_DUE]
            if late > 0:
                sched[Q_LATE] += 1
                sched[Q_LATE_SUM] += late
                if late > sched[Q_LATE_MAX]:
                    sched[Q_LATE_MAX] = late
            sched[Q_APPLIED] += 1
            j = rp
            if meta[row, M_NOISE] != 0:
                jn = rp
            rp += 1
        upto = n
        if rp < write_pos:
            nxt = meta[rp % cap, M_DUE] - t0
            if nxt < upto:
                upto = nxt
        k = upto - done
        ramp = sched[Q_RAMP]
        if j >= 0:
            harmonic_retarget(hstate, ramp)
            ramp = max(1, meta[j % cap, M_RAMP])
            sched[Q_RAMP] = ramp
            harmonic_block(harm[done:], k, frames, j, j + 1, hstate, sample_rate, ramp)
        else:
            harmonic_block(harm[done:], k, frames, 0, 0, hstate, sample_rate, ramp)
        if noise_on:
            if jn >= 0:
                nstate[_N_POS] = -1.0
                noise_block(noise[done:], k, nframes, jn, jn + 1, nstate, 1 << 30)
            else:
                noise_block(noise[done:], k, nframes, 0, 0, nstate, 1 << 30)
        done = upto
    return rp


class ScheduledSynth:
    """Offline owner of a scheduled frame ring and its synth state (the engine keeps its own in the callback).

    Parameters
    ----------
    n_harmonics, n_noise_bands : int
        K and B (``n_noise_bands`` 0: harmonic only).
    sample_rate : float
        Output rate in Hz.
    capacity : int
        Frames the ring holds (written ahead of their ``due`` sample).
    seed : int
        Noise seed.
    dtype : numpy dtype
        Of the frame rows.

    Raises
    ------
    ArgumentError
        ``n_harmonics`` not in 1..100, ``n_noise_bands`` not 0 or 2..4097, ``sample_rate`` not in (0, 1e6],
        ``capacity`` not in 1..2**24.
    """

    def __init__(self, n_harmonics: int, n_noise_bands: int, sample_rate: float, capacity: int = 256, seed: int = 0,
                 dtype=np.float64):
        from tonehost.dsp.harmonic import make_frame_buffer
        from tonehost.dsp.noise import make_noise_frame_buffer, make_noise_state

        sample_rate = check_real("sample_rate", sample_rate, 0.0, MAX_RATE, lo_open=True)
        if n_noise_bands != 0:
            n_noise_bands = check_int("n_noise_bands", n_noise_bands, 2, MAX_BANDS)
        n_harmonics = check_int("n_harmonics", n_harmonics, 1, MAX_HARMONICS)
        self.frames = make_frame_buffer(capacity, n_harmonics, dtype)
        self.noise_on = n_noise_bands > 0
        self.nframes = make_noise_frame_buffer(capacity, max(2, n_noise_bands), dtype)
        self.meta = make_meta_buffer(capacity)
        self.hstate = make_harmonic_state(n_harmonics)
        self.nstate = make_noise_state(max(2, n_noise_bands), seed=seed)
        self.sched = make_sched_state()
        self.read = self.write = 0
        self.capacity = capacity
        self.sample_rate = float(sample_rate)

    def push(self, due: int, ramp: int, f0: float, amp: float, dist: np.ndarray, noise=None) -> None:
        """Queue one frame (the ring must have room: the caller renders as it goes)."""
        if self.write - self.read >= self.capacity:
            raise RuntimeError("scheduled synth: frame ring full (render before queueing more)")
        r = self.write % self.capacity
        row = self.frames[r]
        row[0] = f0
        row[1] = amp
        row[2:] = dist
        m = self.meta[r]
        m[M_DUE] = due
        m[M_RAMP] = ramp
        m[M_NOISE] = 0
        if noise is not None:
            self.nframes[r, :len(noise)] = noise
            self.nframes[r, len(noise):] = 0.0
            m[M_NOISE] = 1
        self.write += 1

    def render(self, harm: np.ndarray, noise: np.ndarray, n: int, t0: int) -> None:
        """Fill ``harm[:n]`` (and ``noise[:n]``) with output samples ``t0 ..``."""
        self.read = scheduled_block(harm, noise, n, t0, self.frames, self.nframes, self.meta, self.read, self.write,
                                    self.hstate, self.nstate, self.sched, self.sample_rate, self.noise_on)
