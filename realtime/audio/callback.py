"""The PortAudio stream callback, compiled by Numba as a C function: it never takes the GIL.

PortAudio calls :data:`audio_callback` on the audio thread with a pointer to the engine's control block
(``userData``): an int64 array of addresses and sizes (layout ``C_*`` below). Per block it

1. mixes the input channels to mono (times the input gain) and pushes them to the input ring (a worker reads
   them); if the ring is full the block is dropped and counted, never waited on;
2. pops the worker's output samples from the output ring (silence and an underrun count if they are late; the
   backlog is bounded so the engine recovers after a stall);
3. optionally synthesises directly from control frames (the :mod:`tonehost.dsp.harmonic` and :mod:`tonehost.dsp.noise` kernels)
   fed by a worker through a frame ring, holding the last controls when the worker is late; with
   ``P_SCHEDULED`` each frame carries the engine sample it starts at and takes effect at exactly that sample
   (:func:`tonehost.dsp.scheduled.scheduled_block`): constant latency, whatever the block size or when the worker
   finished;
4. optionally adds the input (monitor), applies the output gain to every output channel, and
5. counts everything in the stats array, including the callback's own cost in CPU cycles.

No locks, no allocation (arrays are views made with ``carray`` over caller-owned memory), no Python objects.
Besides plain memory access it makes one system call: ``write`` on an eventfd to wake the workers, in every
callback or every ``P_WAKE_EVERY``-th (the write and the cross-CPU wake-up it causes are most of an input-only
callback's cost: 12-13 us median against 2 us without it, measured through JACK on a 2-core VM).

:data:`stream_finished` (PortAudio's stream-finished callback, also a GIL-free C function) raises a flag when the
host API ends the stream, one of the signals the engine uses to notice that the device or server went away.
"""
from __future__ import annotations

import numpy as np
from numba import carray, cfunc, njit, types

from tonehost.dsp.harmonic import frames_due, harmonic_block
from tonehost.dsp.noise import noise_block
from tonehost.dsp.scheduled import N_META, N_SCHED, scheduled_block
# Numba's cache keys on this file's text, not on the kernels it inlines (harmonic_block, noise_block, and here
# scheduled_block): change this tag when they change (noise_block: eight samples per pass, the FIR four bands
# per pass; harmonic_block: four harmonics per pass, polynomial sin/cos; noise_block: float32 or float64 state,
# half FIR mirrored, RNG in three slots, one padded loop per pass; harmonic_block: Chebyshev's recurrence; v5).

from tonehost.realtime.audio.atomics import as_voidptr, cycle_counter, load_acquire, store_release
from tonehost.realtime.audio.ring import READ, WRITE, ring_pop, ring_push

# Control block layout (int64 array, passed as userData).
C_IN_CH, C_OUT_CH, C_MAX_BLOCK = 0, 1, 2
C_IN_DATA, C_IN_IDX, C_IN_CAP = 3, 4, 5
C_OUT_DATA, C_OUT_IDX, C_OUT_CAP = 6, 7, 8
C_SCRATCH = 9                  # float32[4 * max_block]: mono in, ring out, harmonic, noise
C_STATS, C_PARAMS = 10, 11     # int64[N_STATS], float64[N_PARAMS]
C_COST, C_COST_CAP = 12, 13    # int64 ring of per-callback cycle counts (capacity power of 2)
C_HFRAMES, C_HROWS, C_HCOLS, C_HSTATE = 14, 15, 16, 17
C_NFRAMES, C_NROWS, C_NCOLS, C_NSTATE = 18, 19, 20, 21
C_FIDX = 22                    # int64[24]: frame ring counters (write at 0, harmonic read at 8, noise read at 16)
C_EVENTFD = 23
C_HSTATE_LEN, C_NSTATE_LEN = 24, 25
C_FMETA, C_SCHED = 26, 27     # scheduled frames: int64[rows, N_META] (due, ramp, has_noise), int64[N_SCHED]
N_CONTROL = 32

# Frame-ring counters (int64[24], cache-line separated): the producer's write counter, the consumers' read counters,
# and two the callback alone writes: the output clock (samples output before this block = the engine sample index of
# this block's first input and output sample) and the input samples dropped (ring full) since the start.
F_WRITE, F_READ_H, F_CLOCK, F_READ_N, F_IN_DROPPED = 0, 8, 12, 16, 20

# Stats (int64).
S_CALLBACKS, S_FRAMES = 0, 1
S_INPUT_UNDERFLOW, S_INPUT_OVERFLOW, S_OUTPUT_UNDERFLOW, S_OUTPUT_OVERFLOW, S_PRIMING = 2, 3, 4, 5, 6
S_XRUN_BLOCKS = 7              # callbacks that carried any xrun flag (PortAudio statusFlags)
S_INPUT_DROPPED = 8            # input samples dropped because the worker did not keep up (ring full)
S_OUTPUT_UNDERRUN = 9          # output samples missing (worker late): silence instead
S_OUTPUT_UNDERRUN_BLOCKS = 10
S_OUTPUT_SKIPPED = 11          # output samples dropped to bound latency after a stall
S_SYNTH_LATE = 12              # control frames that were due but had not arrived (previous controls held)
S_FRAMES_SKIPPED = 13          # control frames skipped to bound latency
S_LAST_CYCLES, S_MAX_CYCLES = 14, 15
S_OUTPUT_STARTED = 16          # 1 once the worker has written output (before that, silence is not an underrun)
S_FRAMES_CONSUMED = 17
S_FINISHED = 18                # 1 once PortAudio called the stream-finished callback (see :data:`stream_finished`)
S_OUT_PEAK = 19                # largest |output sample| since the reader last reset it, in millionths (a meter)
N_STATS = 24

# Params (float64), written by the Python side at any time.
P_IN_GAIN, P_OUT_GAIN, P_MONITOR, P_SYNTH_ON, P_SAMPLE_RATE, P_HOP = 0, 1, 2, 3, 4, 5
P_MAX_OUT_BACKLOG = 6          # samples: output ring backlog above this is dropped (latency bound)
P_MAX_FRAME_BACKLOG = 7        # control frames: likewise for the synth frame ring
P_RING_OUT_ON = 8              # 1: mix the output ring into the output
P_NOISE_ON = 9
P_SCHEDULED = 10               # 1: frames carry their due sample (sample-accurate, see tonehost.dsp.scheduled)
P_WAKE_EVERY = 11              # wake the workers (eventfd write) every this many callbacks; 0 or 1: every one
N_PARAMS = 16

# PortAudio status flags.
PA_INPUT_UNDERFLOW, PA_INPUT_OVERFLOW, PA_OUTPUT_UNDERFLOW, PA_OUTPUT_OVERFLOW, PA_PRIMING = 1, 2, 4, 8, 16

# libc's write(2), resolved by symbol name at link time (keeps the compiled callback cacheable).
_write = types.ExternalFunction("write", types.int64(types.int32, types.voidptr, types.uint64))


@njit(nogil=True, cache=True)
def _count_status(stats, status):
    if status & PA_INPUT_UNDERFLOW:
        stats[S_INPUT_UNDERFLOW] += 1
    if status & PA_INPUT_OVERFLOW:
        stats[S_INPUT_OVERFLOW] += 1
    if status & PA_OUTPUT_UNDERFLOW:
        stats[S_OUTPUT_UNDERFLOW] += 1
    if status & PA_OUTPUT_OVERFLOW:
        stats[S_OUTPUT_OVERFLOW] += 1
    if status & PA_PRIMING:
        stats[S_PRIMING] += 1
    if status & (PA_INPUT_UNDERFLOW | PA_INPUT_OVERFLOW | PA_OUTPUT_UNDERFLOW | PA_OUTPUT_OVERFLOW):
        stats[S_XRUN_BLOCKS] += 1


@njit(nogil=True, cache=True)
def process_block(inp, outp, frames, status, ctl):
    """The whole per-block graph on raw pointers (``inp``/``outp`` may be NULL for one-sided streams)."""
    t0 = cycle_counter()
    n_in = ctl[C_IN_CH]
    n_out = ctl[C_OUT_CH]
    maxb = ctl[C_MAX_BLOCK]
    stats = carray(as_voidptr(ctl[C_STATS]), (N_STATS,), dtype=np.int64)
    params = carray(as_voidptr(ctl[C_PARAMS]), (N_PARAMS,), dtype=np.float64)
    scratch = carray(as_voidptr(ctl[C_SCRATCH]), (4 * maxb,), dtype=np.float32)
    _count_status(stats, status)
    n = frames if frames <= maxb else maxb
    mono = scratch[0:maxb]
    ring = scratch[maxb:2 * maxb]
    harm = scratch[2 * maxb:3 * maxb]
    noise = scratch[3 * maxb:4 * maxb]

    # 1. input -> mono -> input ring
    if n_in > 0:
        x = carray(inp, (frames, n_in), dtype=np.float32)
        g = np.float32(params[P_IN_GAIN] / n_in)
        for i in range(n):
            acc = np.float32(0.0)
            for c in range(n_in):
                acc += x[i, c]
            mono[i] = acc * g
        in_data = carray(as_voidptr(ctl[C_IN_DATA]), (ctl[C_IN_CAP],), dtype=np.float32)
        in_idx = carray(as_voidptr(ctl[C_IN_IDX]), (16,), dtype=np.int64)
        if ring_push(in_data, in_idx, mono, n) == 0:
            stats[S_INPUT_DROPPED] += n
            fidx = carray(as_voidptr(ctl[C_FIDX]), (24,), dtype=np.int64)
            store_release(fidx, F_IN_DROPPED, fidx[F_IN_DROPPED] + n)
    else:
        for i in range(n):
            mono[i] = 0.0

    if n_out > 0:
        y = carray(outp, (frames, n_out), dtype=np.float32)
        for i in range(n):
            ring[i] = 0.0
        # 2. worker output ring
        if params[P_RING_OUT_ON] != 0.0:
            out_data = carray(as_voidptr(ctl[C_OUT_DATA]), (ctl[C_OUT_CAP],), dtype=np.float32)
            out_idx = carray(as_voidptr(ctl[C_OUT_IDX]), (16,), dtype=np.int64)
            backlog = load_acquire(out_idx, WRITE) - out_idx[READ]
            limit = np.int64(params[P_MAX_OUT_BACKLOG])
            if backlog > limit + n:
                store_release(out_idx, READ, out_idx[READ] + backlog - limit - n)
                stats[S_OUTPUT_SKIPPED] += backlog - limit - n
            got = ring_pop(out_data, out_idx, ring, n)
            if got > 0:
                stats[S_OUTPUT_STARTED] = 1
            if got < n:
                for i in range(got, n):
                    ring[i] = 0.0
                if stats[S_OUTPUT_STARTED] != 0:
                    stats[S_OUTPUT_UNDERRUN] += n - got
                    stats[S_OUTPUT_UNDERRUN_BLOCKS] += 1
        # 3. synthesis in the callback from control frames
        if params[P_SYNTH_ON] != 0.0 and ctl[C_HFRAMES] != 0 and params[P_SCHEDULED] != 0.0:
            # sample-accurate: each frame starts at its own due sample of the engine clock
            fidx = carray(as_voidptr(ctl[C_FIDX]), (24,), dtype=np.int64)
            w = load_acquire(fidx, F_WRITE)
            hframes = carray(as_voidptr(ctl[C_HFRAMES]), (ctl[C_HROWS], ctl[C_HCOLS]), dtype=np.float32)
            hstate = carray(as_voidptr(ctl[C_HSTATE]), (ctl[C_HSTATE_LEN],), dtype=np.float64)
            meta = carray(as_voidptr(ctl[C_FMETA]), (ctl[C_HROWS], N_META), dtype=np.int64)
            sched = carray(as_voidptr(ctl[C_SCHED]), (N_SCHED,), dtype=np.int64)
            noise_on = params[P_NOISE_ON] != 0.0 and ctl[C_NFRAMES] != 0
            if noise_on:
                nframes = carray(as_voidptr(ctl[C_NFRAMES]), (ctl[C_NROWS], ctl[C_NCOLS]), dtype=np.float32)
                nstate = carray(as_voidptr(ctl[C_NSTATE]), (ctl[C_NSTATE_LEN],), dtype=np.float64)
            else:
                nframes = hframes
                nstate = hstate
            r = fidx[F_READ_H]
            r2 = scheduled_block(harm, noise, n, fidx[F_CLOCK], hframes, nframes, meta, r, w, hstate, nstate, sched,
                                 params[P_SAMPLE_RATE], noise_on)
            stats[S_FRAMES_CONSUMED] += r2 - r
            store_release(fidx, F_READ_N, r2)
            store_release(fidx, F_READ_H, r2)
            if noise_on:
                for i in range(n):
                    ring[i] += harm[i] + noise[i]
            else:
                for i in range(n):
                    ring[i] += harm[i]
        elif params[P_SYNTH_ON] != 0.0 and ctl[C_HFRAMES] != 0:
            fidx = carray(as_voidptr(ctl[C_FIDX]), (24,), dtype=np.int64)
            w = load_acquire(fidx, 0)
            hop = np.int64(params[P_HOP])
            sr = params[P_SAMPLE_RATE]
            limit = np.int64(params[P_MAX_FRAME_BACKLOG])
            hframes = carray(as_voidptr(ctl[C_HFRAMES]), (ctl[C_HROWS], ctl[C_HCOLS]), dtype=np.float32)
            hstate = carray(as_voidptr(ctl[C_HSTATE]), (ctl[C_HSTATE_LEN],), dtype=np.float64)
            r = fidx[8]
            if w - r > limit:
                stats[S_FRAMES_SKIPPED] += w - r - limit
                r = w - limit
            due = frames_due(hstate, n, hop)
            r2 = harmonic_block(harm, n, hframes, r, w, hstate, sr, hop)
            stats[S_FRAMES_CONSUMED] += r2 - r
            if due > r2 - r:
                stats[S_SYNTH_LATE] += due - (r2 - r)
            store_release(fidx, 8, r2)
            if params[P_NOISE_ON] != 0.0 and ctl[C_NFRAMES] != 0:
                nframes = carray(as_voidptr(ctl[C_NFRAMES]), (ctl[C_NROWS], ctl[C_NCOLS]), dtype=np.float32)
                nstate = carray(as_voidptr(ctl[C_NSTATE]), (ctl[C_NSTATE_LEN],), dtype=np.float64)
                rn = fidx[16]
                if w - rn > limit:
                    rn = w - limit
                rn2 = noise_block(noise, n, nframes, rn, w, nstate, hop)
                store_release(fidx, 16, rn2)
                for i in range(n):
                    ring[i] += harm[i] + noise[i]
            else:
                store_release(fidx, 16, r2)
                for i in range(n):
                    ring[i] += harm[i]
        # 4. monitor, gain, fan out to every output channel
        mon = np.float32(params[P_MONITOR])
        g = np.float32(params[P_OUT_GAIN])
        peak = np.float32(0.0)
        for i in range(n):
            v = (ring[i] + mon * mono[i]) * g
            if abs(v) > peak:
                peak = abs(v)
            for c in range(n_out):
                y[i, c] = v
        pk = np.int64(peak * 1e6)
        if pk > stats[S_OUT_PEAK]:
            stats[S_OUT_PEAK] = pk
        for i in range(n, frames):
            for c in range(n_out):
                y[i, c] = 0.0

    stats[S_CALLBACKS] += 1
    stats[S_FRAMES] += frames
    clk = carray(as_voidptr(ctl[C_FIDX]), (24,), dtype=np.int64)
    store_release(clk, F_CLOCK, clk[F_CLOCK] + frames)
    wake_every = np.int64(params[P_WAKE_EVERY])
    if ctl[C_EVENTFD] >= 0 and (wake_every <= 1 or stats[S_CALLBACKS] % wake_every == 0):
        stats[N_STATS - 1] = 1  # the eventfd increment, written from memory we own
        _write(np.int32(ctl[C_EVENTFD]), as_voidptr(ctl[C_STATS] + 8 * (N_STATS - 1)), np.uint64(8))
    dt = cycle_counter() - t0
    stats[S_LAST_CYCLES] = dt
    if dt > stats[S_MAX_CYCLES]:
        stats[S_MAX_CYCLES] = dt
    cost = carray(as_voidptr(ctl[C_COST]), (ctl[C_COST_CAP],), dtype=np.int64)
    cost[(stats[S_CALLBACKS] - 1) & (ctl[C_COST_CAP] - 1)] = dt
    return 0


CALLBACK_SIG = types.int32(types.voidptr, types.voidptr, types.uint64, types.voidptr, types.uint64, types.voidptr)


@cfunc(CALLBACK_SIG, nopython=True, cache=True)
def audio_callback(inp, outp, frames, time_info, status, user):
    ctl = carray(user, (N_CONTROL,), dtype=np.int64)
    return process_block(inp, outp, np.int64(frames), np.int64(status), ctl)


FINISHED_SIG = types.void(types.voidptr)


@cfunc(FINISHED_SIG, nopython=True, cache=True)
def stream_finished(user):
    """PortAudio's ``PaStreamFinishedCallback``: the stream became inactive (stopped, aborted, or ended by the host).

    Sets ``stats[S_FINISHED]`` and wakes the workers through the eventfd, without the GIL. The engine reads the
    flag (:meth:`~tonehost.realtime.audio.engine.Engine.failure`) only while it has not asked the stream to stop,
    so a flag raised then means the host API ended the stream on its own: the device or server went away.
    """
    ctl = carray(user, (N_CONTROL,), dtype=np.int64)
    stats = carray(as_voidptr(ctl[C_STATS]), (N_STATS,), dtype=np.int64)
    stats[S_FINISHED] = 1
    if ctl[C_EVENTFD] >= 0:
        stats[N_STATS - 1] = 1
        _write(np.int32(ctl[C_EVENTFD]), as_voidptr(ctl[C_STATS] + 8 * (N_STATS - 1)), np.uint64(8))
