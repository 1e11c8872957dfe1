"""The play worker's real-time priority sits strictly below the process's audio thread.

At equal ``SCHED_FIFO`` priority the JACK process thread waits for the worker's block to finish before it gets a
core on a loaded machine (JACK2 client threads run at 5, the worker ran at 5 too): late JACK cycles in the soak.
Each case runs in a fresh interpreter: a test process that has initialised PortAudio holds JACK's own real-time
threads already.
"""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

CHILD = """
import json, sys, threading
from tonehost.realtime.audio.worker import below_audio_priority, set_thread_realtime
out = {"none": below_audio_priority(), "none_default_3": below_audio_priority(default=3)}
for prio in map(int, sys.argv[1:]):
    ready, done, ok = threading.Event(), threading.Event(), []
    def audio_thread():
        ok.append(set_thread_realtime(prio)); ready.set(); done.wait(10)
    t = threading.Thread(target=audio_thread, daemon=True); t.start(); ready.wait(5)
    out[str(prio)] = [ok, below_audio_priority()]
    done.set(); t.join(5)
print(json.dumps(out))
"""


def _can_go_realtime() -> bool:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        return True
    except (OSError, AttributeError):
        return False


def _child(*prios: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, *map(str, prios)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_without_a_realtime_thread_the_default_is_below_jack_clients():
    r = _child()
    assert r["none"] == 4 and r["none_default_3"] == 3


@pytest.mark.skipif(not _can_go_realtime(), reason="needs RLIMIT_RTPRIO or root to create a SCHED_FIFO thread")
def test_one_below_the_highest_realtime_thread():
    r = _child(5, 9, 1)
    assert r["5"] == [[True], 4]
    assert r["9"] == [[True], 8]
    assert r["1"] == [[True], 0]  # an audio thread at 1 leaves no room below: the worker stays an ordinary thread
