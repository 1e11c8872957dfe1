"""The callback wakes the workers every ``wake_every``-th block (``EngineConfig.wake_interval_s``), not always.

The eventfd write that wakes a sleeping worker is most of an input-only callback's cost on the audio thread
(12-13 us median against 2 us for the rest, measured through JACK on a 2-core VM), so ``transcribe --live``,
whose worker needs 32 ms of input per model frame, asks for a wake-up about every 10 ms. Checked on the compiled
callback called directly (exact counts), through a private JACK server (a child process: PortAudio binds to the
server named at its initialisation), and on the configuration ``transcribe --live`` opens.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tonehost.realtime.audio import callback as cb
from tonehost.realtime.audio.engine import Engine, EngineConfig


def _drain(fd: int) -> int:
    """The eventfd's counter (the callback adds 1 per wake-up), reset to 0; 0 when nothing was written."""
    try:
        return int.from_bytes(os.read(fd, 8), sys.byteorder)
    except BlockingIOError:
        return 0


@pytest.mark.parametrize("wake_every,blocks,expected", [(1, 12, 12), (4, 12, 3), (4, 13, 3), (5, 12, 2)])
def test_the_callback_wakes_every_nth_block(wake_every, blocks, expected):
    eng = Engine(EngineConfig(in_channels=1, out_channels=0, block_size=128))  # never opened: no stream
    try:
        eng._params[cb.P_WAKE_EVERY] = wake_every
        x = np.ones(128, np.float32)
        for _ in range(blocks):
            assert cb.audio_callback.ctypes(x.ctypes.data, None, 128, None, 0, eng._ctl.ctypes.data) == 0
        assert eng.stats()["callbacks"] == blocks
        assert eng.input_ring.available() == 128 * blocks  # every block's input is queued, woken or not
        assert _drain(eng._eventfd) == expected
        cb.stream_finished.ctypes(eng._ctl.ctypes.data)      # a stream that ends always wakes the workers
        assert _drain(eng._eventfd) == 1
    finally:
        eng.close()


def test_wake_blocks_rounds_the_interval_to_whole_periods():
    assert Engine.wake_blocks(0.0, 48000, 128) == 1            # the default: every block
    assert Engine.wake_blocks(0.010, 48000, 128) == 4          # 10.7 ms
    assert Engine.wake_blocks(0.010, 48000, 1024) == 1         # a period longer than the interval
    assert Engine.wake_blocks(0.010, 44100, 64) == 7
    with pytest.raises(Exception, match="wake interval"):
        Engine(EngineConfig(wake_interval_s=-1.0))


def test_transcribe_live_asks_for_a_wake_up_every_10_ms(monkeypatch):
    from tonehost.realtime.audio import engine as engine_mod
    from tonehost.realtime.cli import transcribe

    opened = []

    class FakeEngine:
        def __init__(self, config):
            opened.append(config)

        def start(self):
            return self

        def close(self):
            pass

    monkeypatch.setattr(engine_mod, "Engine", FakeEngine)
    args = argparse.Namespace(input_file=None, device=None, sample_rate=48000, block_size=128)
    source, sr, close = transcribe._open_source(args)
    assert sr == 48000 and len(opened) == 1
    assert opened[0].wake_interval_s == transcribe.LIVE_WAKE_S == 0.010
    assert opened[0].in_channels == 1 and opened[0].out_channels == 0


CHILD = textwrap.dedent('''
    import json, sys, time
    from tonehost.realtime.audio.engine import Engine, EngineConfig
    eng = Engine(EngineConfig(sample_rate=48000, block_size=128, in_channels=1, out_channels=0,
                              wake_interval_s=float(sys.argv[1])))
    eng.start()
    time.sleep(0.3)
    while eng.wait_block(0.0):
        pass
    n0, woken, t0 = eng.stats()["callbacks"], 0, time.monotonic()
    # 400 callbacks (about 1.1 s at 375 a second; a loaded machine's dummy server may run slower: up to 30 s)
    while eng.stats()["callbacks"] - n0 < 400 and time.monotonic() - t0 < 30.0:
        woken += eng.wait_block(0.2)
    n = eng.stats()["callbacks"] - n0
    eng.close()
    print(json.dumps({"wake_every": eng.wake_every, "callbacks": n, "woken": woken,
                      "server_period": eng.server_period}))
''')


@pytest.mark.parametrize("interval,every", [(0.0, 1), (0.010, 4)])
def test_wake_ups_through_jack(private_jack, interval, every):
    proc = subprocess.run([sys.executable, "-c", CHILD, str(interval)], capture_output=True, text=True, timeout=120,
                          env=private_jack.env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["server_period"] == [128, 48000] and r["wake_every"] == every
    assert r["callbacks"] >= 400, r                  # the stream ran (within 30 s, however loaded the machine)
    # a worker that is slow to wait again sees two wake-ups as one, so woken <= callbacks / every
    assert r["callbacks"] / every * 0.5 <= r["woken"] <= r["callbacks"] / every + 2, r
