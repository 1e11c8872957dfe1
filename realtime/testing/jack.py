"""JACK helpers for tests, benchmarks and users without a sound card.

- :class:`JackServer`: start ``jackd -R -d dummy`` (or reuse a running server) with its log captured; with a
  ``name``, a private server (``jackd -n NAME``) that a test may kill without touching anyone else's;
- :func:`ports`, :func:`connect`, :func:`disconnect`: the patchbay, through the ``jack_*`` command-line tools;
- :class:`XrunLog`: xruns per client in a time window, read from the server log (jackd names the client that
  was late: ``JackEngine::XRun: client = NAME was not finished``), so tonehost and the C reference client
  ``jack_simple_client`` are judged in the same window on the same machine;
- :class:`ReferenceClient`: runs ``jack_simple_client`` (C, real-time thread) as the yardstick.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

LOG_ENV = "TONEHOST_JACKD_LOG"
#: Seconds a ``jack_*`` command-line tool may take. They answer in milliseconds on an idle machine, but on a loaded
#: one (CI: a few shared cores, a dozen JACK clients starting and stopping) ``jack_lsp`` has been seen to take over
#: 5 s; a tool that times out is a failed test, a slow one only a slow test.
TOOL_TIMEOUT = 60.0
#: Seconds to wait for a server or a client to come up (polled: an idle machine returns at once).
START_TIMEOUT = 60.0
_XRUN = re.compile(r"client = (\S+) was not finished(?:, state = (\w+))?")


def _env(server: str | None = None):
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    if server:
        env["JACK_DEFAULT_SERVER"] = server
    return env


def server_running(server: str | None = None) -> bool:
    """True when the JACK server (``$JACK_DEFAULT_SERVER``, or ``server``) answers."""
    if shutil.which("jack_lsp") is None:
        return False
    try:
        out = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                             env=_env(server))
    except subprocess.TimeoutExpired:
        return False
    return out.returncode == 0 and "system:" in out.stdout


def ports(connections: bool = False) -> str:
    args = ["jack_lsp", "-c"] if connections else ["jack_lsp"]
    return subprocess.run(args, capture_output=True, text=True, timeout=TOOL_TIMEOUT, env=_env()).stdout


def client_ports(client: str) -> list[str]:
    return [p for p in ports().split() if p.startswith(client + ":")]


def connect(src: str, dst: str) -> None:
    r = subprocess.run(["jack_connect", src, dst], capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                       env=_env())
    if r.returncode != 0 and "already" not in (r.stderr + r.stdout):
        raise RuntimeError(f"jack_connect {src} {dst} failed: {r.stderr.strip() or r.stdout.strip()}")


def set_buffer_size(frames: int, settle: float = 0.5) -> None:
    """Change the running server's period (``jack_bufsize``), then let clients settle."""
    r = subprocess.run(["jack_bufsize", str(frames)], capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                       env=_env())
    if r.returncode != 0:
        raise RuntimeError(f"jack_bufsize {frames} failed: {r.stderr.strip() or r.stdout.strip()}")
    time.sleep(settle)


def disconnect(src: str, dst: str) -> None:
    subprocess.run(["jack_disconnect", src, dst], capture_output=True, text=True, timeout=TOOL_TIMEOUT, env=_env())


class JackServer:
    """A JACK dummy server for the duration of a ``with`` block (reuses one already running).

    Parameters
    ----------
    rate, period : int
        Sample rate (Hz) and period (frames) of a server this starts.
    log_path : str, optional
        The server's log (default ``$TONEHOST_JACKD_LOG`` or a temporary file).
    name : str, optional
        Start a private server ``jackd -n NAME`` (never reuse one): clients reach it through
        ``JACK_DEFAULT_SERVER=NAME`` (:attr:`env` for child processes). For tests that kill the server
        (:meth:`kill`) without disturbing anyone else's. Reuse a few fixed names (:func:`private_server`): JACK's
        registry holds 8 servers per machine and frees a killed server's slot only for a server of the same name
        (:meth:`__exit__` does that for a server killed with SIGKILL).
    """

    def __init__(self, rate: int = 48000, period: int = 128, log_path: str | None = None, name: str | None = None):
        self.rate, self.period = rate, period
        self.name = name
        self.log_path = log_path or (None if name else os.environ.get(LOG_ENV))
        self.proc = None

    @property
    def env(self) -> dict:
        """Environment for a child process that should use this server."""
        return _env(self.name)

    def __enter__(self):
        if self.proc is not None and self.proc.poll() is None:
            return self  # already started (private_server)
        if self.name is None and server_running():
            return self
        if shutil.which("jackd") is None:
            raise RuntimeError("jackd is not installed: apt-get install jackd2")
        if self.log_path is None:
            self.log_path = os.path.join(tempfile.mkdtemp(prefix="tonehost-jack-"), "jackd.log")
        log = open(self.log_path, "ab")
        if self.name and server_running(self.name):
            raise RuntimeError(f"a JACK server named {self.name} already runs")
        named = ["-n", self.name] if self.name else []
        self.proc = subprocess.Popen(["jackd", *named, "-R", "-d", "dummy", "-r", str(self.rate), "-p",
                                      str(self.period)], stdout=log, stderr=subprocess.STDOUT, env=self.env)
        if self.name is None:
            os.environ[LOG_ENV] = self.log_path
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if server_running(self.name):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.proc.kill()
        raise RuntimeError(f"jackd did not start; see {self.log_path}")

    def kill(self, sig: int = 9) -> None:
        """Send ``sig`` (default SIGKILL) to a server this started (the server "goes away")."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig in (9, 15):
                self.proc.wait(timeout=10)

    def __exit__(self, *exc):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(18)  # SIGCONT: a frozen server must run to shut down
                self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.name and self.proc.returncode == -9:
                self._release_slot()

    def _release_slot(self) -> None:
        """Free what a SIGKILLed private server left: its slot in JACK's server registry (8 slots per machine,
        reclaimed only by a server of the same name), its socket and semaphores. Starts it again and stops it
        cleanly."""
        proc = subprocess.Popen(["jackd", "-n", self.name, "-d", "dummy", "-r", str(self.rate), "-p",
                                 str(self.period)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=self.env)
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if server_running(self.name) or proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def private_server(rate: int = 48000, period: int = 128, log_path: str | None = None, pool: int = 4) -> JackServer:
    """A started private :class:`JackServer` named ``tonehost-private-<uid>-<k>``, the first free ``k < pool``.

    Use it as a context manager (it is already started; ``__exit__`` stops it and frees its registry slot).
    """
    errors = []
    for k in range(pool):
        name = f"tonehost-private-{os.getuid()}-{k}"
        if server_running(name):
            continue  # another test run holds it
        try:
            return JackServer(rate, period, log_path, name=name).__enter__()
        except RuntimeError as exc:
            errors.append(str(exc))
    raise RuntimeError(f"no private JACK server could start ({'; '.join(errors) or 'all names in use'})")


class XrunLog:
    """Count xruns per JACK client in the server log between :meth:`start` and :meth:`stop`.

    jackd names every client that had not finished when a cycle missed its deadline, with its state:
    ``Running`` (it was executing: its own lateness) or ``Triggered`` (it was still waiting for a client upstream
    of it in the graph). :attr:`counts` holds both; :attr:`running` only the first kind.
    """

    def __init__(self, log_path: str | None = None):
        self.path = log_path or os.environ.get(LOG_ENV)
        self.offset = 0
        self.counts: dict[str, int] = {}
        self.running: dict[str, int] = {}

    @property
    def available(self) -> bool:
        return bool(self.path) and Path(self.path).is_file()

    def start(self) -> "XrunLog":
        self.offset = Path(self.path).stat().st_size if self.available else 0
        return self

    def stop(self) -> dict[str, int]:
        self.counts = {}
        if not self.available:
            return self.counts
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            text = f.read().decode("utf-8", "replace")
        self.running = {}
        for name, state in _XRUN.findall(text):
            self.counts[name] = self.counts.get(name, 0) + 1
            if state == "Running":
                self.running[name] = self.running.get(name, 0) + 1
        self.counts["_total"] = text.count("JackEngine::XRun")
        return self.counts


class ReferenceClient:
    """``jack_simple_client`` (the C reference: a sine from a real-time thread) for a ``with`` block.

    It has no input, so it runs in parallel with everything else in the graph. :class:`InputReferenceClient` is the
    C reference for a client that sits behind another one (tonehost behind a looping player)."""

    NAME = "jack_simple_client"
    PROGRAM = "jack_simple_client"

    def __init__(self, name: str | None = None):
        self.name = name or self.NAME
        self.proc = None

    def _argv(self, exe: str) -> list[str]:
        return [exe, self.name]  # jack_simple_client takes its client name as its only argument

    def __enter__(self):
        exe = shutil.which(self.PROGRAM)
        if exe is None:
            raise RuntimeError(f"{self.PROGRAM} is not installed: apt-get install jackd2")
        self.proc = subprocess.Popen(self._argv(exe), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=_env())
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end and self.proc.poll() is None:
            if client_ports(self.name):
                return self
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("jack_simple_client did not register its ports")

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=TOOL_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class InputReferenceClient(ReferenceClient):
    """``jack_latent_client`` (jackd2's C example: input copied to output through a delay line, from a real-time
    thread), client ``latent`` with ports ``latent:input``/``latent:output``, for a ``with`` block.

    Connect the same source to :attr:`input` as to the client under test and the two sit at the same place in
    the graph: a cycle the source finishes late starts both late, so their late cycles compare fairly."""

    NAME = "latent"  # jack_latent_client's fixed client name
    PROGRAM = "jack_latent_client"

    def __init__(self, delay: int = 128):
        super().__init__(self.NAME)
        self.delay = int(delay)

    @property
    def input(self) -> str:
        return f"{self.name}:input"

    def _argv(self, exe: str) -> list[str]:
        return [exe, str(self.delay)]  # its only argument: the delay in frames


_FRAME_CLOCK = r"""
import sys, jack
c = jack.Client(sys.argv[1], no_start_server=True)   # never activated: it only reads the server's frame counter
print(c.samplerate, flush=True)
for _ in sys.stdin:
    print(c.last_frame_time, flush=True)
"""


class FrameClock:
    """The server's frame counter (``jack_last_frame_time``: the frames processed up to the current cycle), read
    from a child process for a ``with`` block, so a test can judge a rate on the server's own clock rather than on
    wall time (a loaded machine's dummy server runs its cycles late). A child, because a second JACK client that
    opens and closes in a process already holding PortAudio's or rtmidi's has crashed that process.

    Parameters
    ----------
    name : str
        The child's JACK client name.
    env : dict, optional
        Environment of the child (``JackServer.env`` for a private server; default this process's).
    """

    def __init__(self, name: str = "tonehost_frame_clock", env: dict | None = None):
        self.name, self.env = name, env
        self.proc = None
        self.samplerate = None

    def __enter__(self) -> "FrameClock":
        import sys

        self.proc = subprocess.Popen([sys.executable, "-c", _FRAME_CLOCK, self.name], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=self.env or _env())
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.__exit__()
            raise RuntimeError("the JACK frame clock did not start")
        self.samplerate = int(line)
        return self

    def frames(self) -> int:
        """The server's frame count now (to one period)."""
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=TOOL_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def engine_ports(client: str = "tonehost") -> tuple[list[str], list[str]]:
    """(input ports, output ports) a PortAudio stream of ``client`` registered (``client:in_0`` ...)."""
    own = client_ports(client)
    return [p for p in own if ":in_" in p], [p for p in own if ":out_" in p]


def isolate_input(port: str) -> None:
    """Disconnect the sound card's capture ports (PortAudio auto-connects them) from ``port``."""
    for cap in ("system:capture_1", "system:capture_2"):
        disconnect(cap, port)


def wait_new_port(pattern: str, before: set[str], timeout: float = 90.0, alive=lambda: True) -> str | None:
    """The first port matching the regex ``pattern`` that was not in ``before`` (a client another process is
    starting), or None after ``timeout`` or once ``alive()`` is false."""
    rx = re.compile(pattern)
    end = time.monotonic() + timeout
    while time.monotonic() < end and alive():
        for p in ports().split():
            if p not in before and rx.match(p):
                return p
        time.sleep(0.1)
    return None
