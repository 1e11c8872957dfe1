"""A JACK client in a child process that plays a recording, looped, into a port: the "performer" of live tests.

Run in its own process (``python -m tonehost.realtime.testing.player AUDIO PORT``), so it never contends with the
program under test for the GIL. It resamples the recording to the server's rate once, connects its output to
``PORT`` when that port appears, prints ``ready``, and plays until it is terminated or the server goes away.
Needs the ``JACK-Client`` package (``pip install 'tonehost[test]'``).

:class:`LoopPlayer` starts and stops it from a test or a bench::

    with LoopPlayer("piano.wav", "tonehost:in_0", env=server.env):
        ...
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time

__all__ = ["LoopPlayer", "main"]


class LoopPlayer:
    """Play ``audio`` in a loop into JACK port ``port`` from a child process, for a ``with`` block.

    Parameters
    ----------
    audio : path
        A recording (any format :func:`~tonehost.realtime.io.read_audio` reads; mixed to mono, resampled).
    port : str
        The destination port (``tonehost:in_0``); waited for up to ``timeout`` seconds.
    name : str
        The player's JACK client name.
    env : dict, optional
        Environment of the child (``JackServer.env`` for a private server).
    gain : float
        Linear gain applied to the recording.
    timeout : float
        Longest wait for the port to appear.
    """

    def __init__(self, audio, port: str, name: str = "tonehost_player", env: dict | None = None,
                 gain: float = 1.0, timeout: float = 60.0):
        self.args = [sys.executable, "-m", "tonehost.realtime.testing.player", str(audio), port, "--name", name,
                     "--gain", str(gain), "--timeout", str(timeout)]
        self.env, self.timeout = env, timeout
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "LoopPlayer":
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=self.env)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            rest = self.proc.stdout.read() if self.proc.poll() is not None else ""
            self.__exit__()
            raise RuntimeError(f"the JACK player did not start: {line}{rest}")
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def main(argv: list[str] | None = None) -> int:
    """The child process: ``AUDIO PORT [--name N] [--gain G] [--timeout S]``."""
    import jack
    import numpy as np

    from tonehost.dsp.resample import resample_to
    from tonehost.realtime.io import read_audio

    ap = argparse.ArgumentParser(prog="tonehost.realtime.testing.player")
    ap.add_argument("audio")
    ap.add_argument("port")
    ap.add_argument("--name", default="tonehost_player")
    ap.add_argument("--gain", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args(argv)
    x, sr = read_audio(args.audio)
    client = jack.Client(args.name, no_start_server=True)
    signal = (resample_to(x, sr, client.samplerate) * args.gain).astype(np.float32)
    n = len(signal)
    # the recording followed by its own start again (up to the largest JACK period): any cycle's frames are one
    # slice, so the callback allocates nothing and stays short (it is upstream of the client under test, and
    # every cycle it finishes late starts that client late)
    looped = np.concatenate([signal, np.resize(signal, 8192)])
    out = client.outports.register("out")
    pos = [0]
    gone = threading.Event()

    @client.set_process_callback
    def process(frames):
        i = pos[0]
        out.get_array()[:] = looped[i:i + frames]  # wraps around: a seamless loop
        pos[0] = (i + frames) % n

    @client.set_shutdown_callback
    def shutdown(status, reason):
        gone.set()

    with client:
        deadline = time.monotonic() + args.timeout
        while not client.get_ports(args.port):
            if time.monotonic() > deadline:
                print(f"port {args.port} did not appear", flush=True)
                return 1
            time.sleep(0.05)
        client.connect(out, args.port)
        print("ready", flush=True)
        while not gone.is_set():
            gone.wait(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
