"""SPSC ring buffer: order, wrap-around, full/empty behaviour, and a concurrent producer/consumer."""
import threading

import numpy as np

from tonehost.realtime.audio.ring import Ring


def test_push_pop_wraps_in_order():
    r = Ring(8)
    out = np.zeros(8, np.float32)
    seq = 0
    for step in range(50):
        n = 1 + step % 5
        assert r.push(np.arange(seq, seq + n, dtype=np.float32)) == n
        assert r.pop(out[:n]) == n
        np.testing.assert_array_equal(out[:n], np.arange(seq, seq + n))
        seq += n
    assert r.available() == 0


def test_full_ring_refuses_whole_block_and_discard_keeps_newest():
    r = Ring(8)
    assert r.push(np.ones(6, np.float32)) == 6
    assert r.push(np.ones(3, np.float32)) == 0  # does not fit: nothing written
    assert r.available() == 6
    assert r.discard_older(2) == 4
    assert r.available() == 2
    assert r.pop(np.zeros(5, np.float32)) == 2


def test_concurrent_producer_consumer_loses_nothing():
    r = Ring(256)
    total = 200_000
    got = np.zeros(total, np.float32)

    def produce():
        i = 0
        while i < total:
            n = min(37, total - i)
            if r.push(np.arange(i, i + n, dtype=np.float32)):
                i += n

    t = threading.Thread(target=produce)
    t.start()
    buf = np.zeros(64, np.float32)
    pos = 0
    while pos < total:
        m = r.pop(buf)
        got[pos:pos + m] = buf[:m]
        pos += m
    t.join()
    np.testing.assert_array_equal(got, np.arange(total, dtype=np.float32))
