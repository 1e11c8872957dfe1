"""Does the audio path depend on the GIL? Measure xruns per client with and without a GIL-hogging thread.

``GilHog`` is a pure-Python thread spinning in a tight loop in *this* process (it holds the GIL except at the
interpreter's switch interval). ``measure_window`` runs a window and returns the xruns jackd attributes to each
client. ``python_callback_control`` runs a conventional sounddevice Python callback under the same hog in a
subprocess with its own JACK client name: the failure mode the engine is built to avoid, and proof that the
measurement can tell the difference.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time

from tonehost.realtime.testing.jack import XrunLog


class GilHog:
    """A thread that holds the GIL as much as a pure-Python loop can, for a ``with`` block."""

    def __init__(self):
        self._stop = False
        self.iterations = 0
        self._thread = threading.Thread(target=self._spin, daemon=True, name="gil-hog")

    def _spin(self):
        n = 0
        while not self._stop:
            n += 1
        self.iterations = n

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self._thread.join()


def measure_window(seconds: float, engine=None, hog: bool = False) -> dict:
    """Xruns per JACK client (from the server log) and the engine's own counters over one window."""
    log = XrunLog().start()
    before = engine.stats() if engine is not None else None
    if hog:
        with GilHog():
            time.sleep(seconds)
    else:
        time.sleep(seconds)
    counts = log.stop()
    out = {"seconds": seconds, "hog": hog, "per_client": counts, "log_available": log.available}
    if engine is not None:
        after = engine.stats()
        out["engine_callbacks"] = after["callbacks"] - before["callbacks"]
        out["engine_xrun_flags"] = after["xruns"] - before["xruns"]
        out["engine_callback_us_p99"] = after["callback_us_p99"]
    return out


_CONTROL = r"""
import sys, time, threading, sounddevice as sd
from tonehost.realtime.audio.devices import set_jack_client_name
name = sys.argv[1]; seconds = float(sys.argv[2]); hog = sys.argv[3] == "1"; block = int(sys.argv[4])
set_jack_client_name(name)
n = [0, 0]
def cb(indata, outdata, frames, t, status):
    n[0] += 1
    if status: n[1] += 1
    outdata[:] = indata[:, :1] * 0.5
stop = False
def spin():
    x = 0
    while not stop: x += 1
with sd.Stream(samplerate=48000, blocksize=block, channels=(1, 2), callback=cb):
    time.sleep(0.3)
    if hog: threading.Thread(target=spin, daemon=True).start()
    time.sleep(seconds)
    stop = True
print(n[0], n[1])
"""


def python_callback_control(seconds: float, hog: bool, name: str = "pycallback", block_size: int = 128) -> dict:
    """Xruns of a plain sounddevice Python callback (in a subprocess) over one window."""
    log = XrunLog().start()
    r = subprocess.run([sys.executable, "-c", _CONTROL, name, str(seconds), "1" if hog else "0", str(block_size)],
                       capture_output=True, text=True, timeout=seconds + 60)
    counts = log.stop()
    cbs, flagged = (int(x) for x in r.stdout.split()[:2]) if r.returncode == 0 else (0, 0)
    return {"seconds": seconds, "hog": hog, "xruns": counts.get(name, 0), "callbacks": cbs,
            "status_flagged": flagged, "returncode": r.returncode, "stderr": r.stderr[-500:]}
