"""The engine on a real audio server (JACK dummy backend through PortAudio), output wired back to input.

What arrives at the input must be exactly what the in-callback synthesizer was asked to play (checked
against the offline renderer), the stream must run at the server's pace, and an overloaded worker must
degrade to counted silence and recover.
"""
import threading
import time

import numpy as np
import pytest

from tonehost.dsp.harmonic import render_harmonic
from tonehost.realtime.testing import jack
from tonehost.realtime.audio.devices import DeviceError
from tonehost.realtime.audio.engine import Engine, EngineConfig
from tonehost.realtime.audio.worker import set_thread_realtime

SR, BLOCK, HOP = 48000, 128, 192


def _loopback(eng):
    """Wire tonehost:out -> tonehost:in (and nothing else into the input)."""
    ins, outs = jack.engine_ports()
    assert ins and outs, jack.ports()
    jack.isolate_input(ins[0])
    jack.connect(outs[0], ins[0])
    return ins[0], outs[0]


def _record(eng, n_samples, timeout=60.0):
    """``n_samples`` of input, counted on the server's clock (a loaded machine's dummy server runs slower than wall
    time), or what came within ``timeout`` seconds."""
    buf = np.zeros(4096, np.float32)
    chunks, total = [], 0
    deadline = time.monotonic() + timeout
    while total < n_samples and time.monotonic() < deadline:
        eng.wait_block(0.05)
        m = eng.read_input(buf)
        chunks.append(buf[:m].copy())
        total += m
    return np.concatenate(chunks)


def test_synth_through_jack_loopback_is_exact(jack_server):
    K, n_frames = 8, 500
    t = np.arange(n_frames)
    f0 = (220.0 * 2 ** (t / n_frames)).astype(np.float32)             # an octave glide
    amp = (0.2 + 0.1 * np.sin(t / 30.0)).astype(np.float32)
    dist = np.abs(np.sin(np.outer(t / 50.0, np.arange(1, K + 1)))).astype(np.float32) + 0.01
    cfg = EngineConfig(sample_rate=SR, block_size=BLOCK, in_channels=1, out_channels=2, synth_harmonics=K,
                       synth_noise_bands=0, synth_hop=HOP, frame_capacity=64, max_frame_backlog=64)
    with Engine(cfg) as eng:
        _loopback(eng)
        time.sleep(0.2)
        eng.read_input(np.zeros(1 << 17, np.float32))  # discard what came before the wiring

        at_last_frame = {}

        def feed():
            set_thread_realtime(5)  # a producer of real-time frames, as tonehost play's worker
            i = 0
            while i < n_frames:
                if eng.push_frame(f0[i], amp[i], dist[i]):
                    i += 1
                else:
                    eng.wait_block(0.05)
            while eng.frames_queued() > 0:
                eng.wait_block(0.05)
            at_last_frame.update(eng.stats())  # after this the synth holds the last frame, by design

        feeder = threading.Thread(target=feed)
        feeder.start()
        got = _record(eng, n_frames * HOP + SR // 2)
        feeder.join()
    stats = at_last_frame
    assert stats["frames_consumed"] == n_frames, stats
    assert stats["synth_frames_late"] == 0 and stats["frames_skipped"] == 0, stats
    expected = render_harmonic(f0, amp, dist, SR, HOP).astype(np.float32)
    start = int(np.flatnonzero(np.abs(got) > 0)[0])
    n = min(len(expected), len(got) - start)
    assert n > 0.9 * len(expected)
    np.testing.assert_allclose(got[start:start + n], expected[:n], atol=1e-6)
    assert np.abs(got[start:start + n]).max() > 0.1


def test_scheduled_frames_start_at_their_due_sample_through_jack(jack_server):
    """Scheduled synthesis (EngineConfig.synth_schedule): a frame pushed with ``due = N`` sounds from engine sample
    N exactly, at every phase of the block grid; through the loopback it arrives a whole number of server periods
    later (one: JACK's own feedback delay), the same for every frame, to the sample. Frames pushed in time are
    never late."""
    K = 4
    cfg = EngineConfig(sample_rate=SR, block_size=BLOCK, in_channels=1, out_channels=2, synth_harmonics=K,
                       synth_noise_bands=0, synth_hop=48, frame_capacity=64, synth_schedule=True)
    dist = np.ones(K, np.float32)
    offsets = [0, 1, 37, 64, 127, 128, 200, 301]
    with Engine(cfg) as eng:
        _loopback(eng)
        time.sleep(0.2)
        buf = np.zeros(1 << 17, np.float32)
        eng.read_input(buf)
        period = eng.server_period[0] if eng.server_period else BLOCK
        start = eng.clock() + 4 * BLOCK
        dues = []
        assert eng.push_frame(300.0, 0.0, dist, due=start, ramp=1)
        for i, off in enumerate(offsets):
            on = start + (i + 1) * 4800 + off
            dues.append(on)
            assert eng.push_frame(300.0, 0.3, dist, due=on, ramp=1)
            assert eng.push_frame(300.0, 0.0, dist, due=on + 2400, ramp=1)
        chunks = []
        end = dues[-1] + 4800 + period
        first, complete = None, False
        deadline = time.monotonic() + 60   # about 6 s of audio; a loaded machine's server may run slower
        while time.monotonic() < deadline:
            eng.wait_block(0.05)
            m = eng.read_input(buf)
            if m:
                if first is None:
                    first = eng.last_input_position
                chunks.append(buf[:m].copy())
                if eng.last_input_position + m > end:
                    complete = True
                    break
        stats = eng.stats()
    assert complete, "the input stopped short of the last frame"
    got = np.concatenate(chunks)
    delays = []
    for on in dues:
        seg = got[on - first:on - first + 2400]
        delays.append(int(np.flatnonzero(seg)[0]))
    # the frame's ramp (1 sample) starts at its due sample; the loop back through JACK adds whole periods
    assert len(set(delays)) == 1, delays
    assert delays[0] == period + 1, delays  # JACK feeds an output back one period later; PortAudio adds nothing
    assert stats["synth_frames_late"] == 0, stats


def test_stream_runs_at_server_pace_and_counts(jack_server):
    """One callback per server cycle, counted against the server's own frame clock in the same window (a loaded
    machine's dummy server runs its cycles late of wall time: the wall clock is no reference)."""
    with jack.FrameClock() as server, \
            Engine(EngineConfig(sample_rate=SR, block_size=BLOCK, in_channels=1, out_channels=2)) as eng:
        time.sleep(0.2)
        s0, f0, t0 = eng.stats(), server.frames(), time.monotonic()
        time.sleep(2.0)
        s, f1, elapsed = eng.stats(), server.frames(), time.monotonic() - t0
    cycles = (f1 - f0) / BLOCK
    callbacks = s["callbacks"] - s0["callbacks"]
    assert cycles > 0.25 * elapsed * SR / BLOCK, (cycles, elapsed)   # the server ran (the comparison means something)
    assert abs(callbacks - cycles) <= 3, (callbacks, cycles, s)      # a callback for every cycle, none extra
    assert s["frames"] == s["callbacks"] * BLOCK
    assert s["callback_us_p99"] < 1e6 * BLOCK / SR, s


def test_overloaded_worker_gives_counted_silence_bounded_queues_and_recovers(jack_server):
    """A worker that stalls: underruns are counted, output is silence (not stale audio), queues stay bounded,
    and once it keeps up again the underruns stop."""
    cfg = EngineConfig(sample_rate=SR, block_size=BLOCK, in_channels=1, out_channels=2, input_ring_seconds=0.25)
    with Engine(cfg) as eng:
        ins, outs = _loopback(eng)
        tone = (0.25 * np.sin(2 * np.pi * 440 * np.arange(BLOCK) / SR)).astype(np.float32)
        buf = np.zeros(1 << 15, np.float32)

        def worker(seconds, stall):
            end = time.monotonic() + seconds
            set_thread_realtime(5)  # as tonehost play's worker: other processes' load does not make it late
            while time.monotonic() < end:
                eng.wait_block(0.05)
                eng.read_input(buf)              # keep the input drained
                while eng.stats()["output_queued"] < 2 * BLOCK:
                    eng.write_output(tone)
                if stall:
                    time.sleep(0.5)              # a model call far over budget (longer than the input ring)

        def in_thread(seconds, stall):
            t = threading.Thread(target=worker, args=(seconds, stall))
            t.start()
            t.join()

        in_thread(1.0, stall=False)
        s1 = eng.stats()
        in_thread(1.5, stall=True)
        s2 = eng.stats()
        in_thread(1.5, stall=False)
        time.sleep(0.1)
        eng.reset_stats()
        in_thread(1.0, stall=False)
        s3 = eng.stats()
    assert s2["output_underrun_blocks"] > s1["output_underrun_blocks"] + 5, (s1, s2)
    assert s2["input_dropped"] > 0, s2                       # the callback dropped, it did not wait
    assert s2["input_queued"] <= eng.input_ring.capacity
    assert s2["output_queued"] <= 4 * BLOCK
    # recovered: no more than the odd underrun from machine jitter once the worker keeps up
    assert s3["output_underrun_blocks"] <= 3, s3


def test_missing_device_and_bad_rate_are_clear_errors(jack_server):
    with pytest.raises(DeviceError, match="tonehost devices"):
        Engine(EngineConfig(device="no such device")).start()
    with pytest.raises(DeviceError, match="44100|Hz"):
        Engine(EngineConfig(sample_rate=44100)).start()
