"""Hops of any allowed size never write past the tracker's buffers (the trial's ``--hop-ms 300`` heap corruption:
``VoiceTracker`` kept ``keep + 4096`` samples of history while its Numba kernel appends up to one hop), and a hop
out of range is one ``ValueError`` naming the range, not a crash, a hang or a MemoryError."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest


def test_long_hops_track_without_corrupting_memory():
    """Run in a child process: before the fix this aborted the interpreter (malloc: unaligned tcache chunk) or
    hung, which would take the test runner with it."""
    code = textwrap.dedent("""
        import numpy as np
        import tonehost
        from tonehost.dsp.features import MAX_HOP, VoiceTracker, TrackerConfig
        t = np.arange(3 * 16000) / 16000
        x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        for hop in (4097, 4800, 5000, 6400, MAX_HOP):
            times, f0, conf = tonehost.track_pitch(x, 16000, hop_length=hop)
            assert len(times) >= 3 * 16000 // hop - 1, (hop, len(times))
            assert np.all(np.isfinite(f0)) and np.all((conf >= 0) & (conf <= 1))
            voiced = f0[f0 > 0]
            assert len(voiced) == 0 or np.all(np.abs(voiced - 220) < 5), (hop, voiced)
        tr = VoiceTracker(TrackerConfig(hop=MAX_HOP))
        for i in range(0, len(x), 777):  # pushed in odd blocks
            tr.process(x[i:i + 777])
        assert tr.frames_out == len(x) // MAX_HOP
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])


@pytest.mark.parametrize("hop", [0, -5, 16001, 5000.5, 10**9])
def test_out_of_range_hops_are_one_value_error(hop):
    import tonehost
    from tonehost.dsp.features import MAX_HOP, TrackerConfig, VoiceTracker

    x = np.zeros(16000, np.float32)
    with pytest.raises(ValueError, match=f"1 to {MAX_HOP}"):
        tonehost.track_pitch(x, 16000, hop_length=hop)
    if float(hop).is_integer():
        with pytest.raises(ValueError, match=f"1 to {MAX_HOP}"):
            VoiceTracker(TrackerConfig(hop=int(hop)))
