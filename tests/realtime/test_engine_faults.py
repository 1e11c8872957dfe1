"""The engine notices a lost stream and never blocks on closing it (private JACK dummy servers, killed or frozen).

Signals: PortAudio's stream-finished callback, the stream turning inactive (PortAudio's JACK host API clears it
from JACK's shutdown callback), and a watchdog on the callback counter (a server that hangs: SIGSTOP). The engine
runs in a child process: a process whose JACK server died cannot be used for other audio tests afterwards.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent('''
    import faulthandler, json, sys, time
    faulthandler.dump_traceback_later(90, exit=True)   # a hang ends with every thread's stack on stderr
    from tonehost.realtime.audio.engine import Engine, EngineConfig
    from tonehost.realtime.audio.worker import Worker
    eng = Engine(EngineConfig(sample_rate=48000, block_size=int(sys.argv[1]), in_channels=1, out_channels=2,
                              watchdog_s=0.5))
    eng.start()
    worker = Worker(eng, lambda block: None, name="w").start()
    time.sleep(0.5)
    before = eng.failure()
    print("ready", flush=True)
    sys.stdin.readline()                      # the test kills or freezes the server, then says go
    t0 = time.monotonic()
    while eng.failure() is None and time.monotonic() - t0 < 5:
        time.sleep(0.005)
    detected = time.monotonic() - t0
    worker.join(2.0)
    t1 = time.monotonic()
    eng.close()
    closed = time.monotonic() - t1
    print(json.dumps({"before": before, "failure": eng.failure(), "detected_s": detected, "close_s": closed,
                      "exhausted": eng.exhausted, "worker_ended": not worker.running, "active": eng.active,
                      "server_period": eng.server_period}), flush=True)
''')


@pytest.mark.parametrize("sig,within", [(signal.SIGKILL, 0.3), (signal.SIGTERM, 0.3), (signal.SIGSTOP, 1.0)],
                         ids=["killed", "terminated", "frozen"])
def test_engine_detects_a_lost_server_and_closes_without_blocking(private_jack, sig, within):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, "64"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=private_jack.env)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        private_jack.kill(sig)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=15)   # the process exits too: nothing blocks in PortAudio at exit
    finally:
        if sig == signal.SIGSTOP:
            private_jack.kill(signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    r = json.loads(out.strip().splitlines()[-1])
    assert r["before"] is None and r["server_period"] == [128, 48000]
    assert r["failure"].startswith("the JACK server ") and "jackd" in r["failure"], r
    assert r["detected_s"] < within, r
    assert r["close_s"] < 0.2 and r["exhausted"] and r["worker_ended"] and not r["active"], r
    if sig == signal.SIGSTOP:
        assert "no callback for" in r["failure"], r
    else:
        assert "went away" in r["failure"], r


def test_a_healthy_stream_is_not_lost_and_closes_normally(private_jack):
    child = CHILD.replace('sys.stdin.readline()', 'time.sleep(2.0)').replace('time.monotonic() - t0 < 5',
                                                                            'time.monotonic() - t0 < 1.5')
    r = subprocess.run([sys.executable, "-c", child, "128"], capture_output=True, text=True, timeout=180,
                       env=private_jack.env)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["failure"] is None and not res["exhausted"] and res["close_s"] < 1.0, res


def test_a_process_whose_server_went_away_after_a_clean_close_exits_cleanly(private_jack):
    """PortAudio 19.6 asserts in Pa_Terminate at exit when its JACK server is gone (exit 134): the guard skips it."""
    child = textwrap.dedent('''
        import sys, time
        from tonehost.realtime.audio.engine import Engine, EngineConfig
        eng = Engine(EngineConfig(sample_rate=48000, block_size=128, in_channels=1, out_channels=2))
        eng.start(); time.sleep(0.3); eng.close()
        print("closed", flush=True)
        sys.stdin.readline()
    ''')
    proc = subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=private_jack.env)
    try:
        assert proc.stdout.readline().strip() == "closed", proc.stderr.read()
        private_jack.kill()
        out, err = proc.communicate("\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Assertion" not in err, err
