"""What the live commands (``play``, ``transcribe --live``) share: how a session stops, and how it talks.

- :class:`Session`: wait until the user stops (Ctrl-C, SIGTERM, ``q`` + Enter), the time is up, a finite source
  ends, or the audio stream is lost; Ctrl-C and SIGTERM are a normal stop (the command prints its summary and
  exits 0; a second Ctrl-C gives up at once). A lost stream is a
  :class:`~tonehost.exports.errors.DeviceError` the command raises after saving what it has.
- :class:`StatusLine`: a status redrawn in place on a terminal; in a pipe or a log, one line per update at most
  once a second instead of one endless line.
- :func:`period_note`: the sentence saying what the JACK server runs when ``--block-size`` differs from its period.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Callable

__all__ = ["Session", "StatusLine", "period_note"]


class Session:
    """The stop conditions of a live command, polled from the main thread.

    Parameters
    ----------
    duration : float, optional
        Stop after this many seconds (None or 0: until stopped).
    failure : callable, optional
        ``failure() -> str | None``: why the audio stream was lost
        (:meth:`~tonehost.realtime.audio.engine.Engine.failure`).
    alive : callable, optional
        ``alive() -> bool``: False once the work ended by itself (a finite input file transcribed to its end).

    Attributes
    ----------
    reason : str
        Why :meth:`run` returned: ``"stopped"`` (Ctrl-C, SIGTERM, ``q``), ``"duration"``, ``"ended"`` or ``"lost"``.
    lost : str or None
        The failure sentence when ``reason == "lost"``.
    """

    def __init__(self, duration: float | None = None, failure: Callable[[], str | None] | None = None,
                 alive: Callable[[], bool] | None = None):
        self.duration = duration or None
        self.failure = failure or (lambda: None)
        self.alive = alive or (lambda: True)
        self._stop = threading.Event()
        self.reason = ""
        self.lost: str | None = None
        self.t0 = time.monotonic()
        self._old: dict = {}

    def request_stop(self) -> None:
        """Stop the session as Ctrl-C would (from any thread)."""
        self._stop.set()

    def _on_signal(self, signum, frame) -> None:
        if self._stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: give up now
        self._stop.set()

    def __enter__(self) -> "Session":
        self.t0 = time.monotonic()  # the session (and --duration) starts now, after the set-up
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}

    @property
    def elapsed(self) -> float:
        """Seconds since the session started (entered as a context manager, else created)."""
        return time.monotonic() - self.t0

    def run(self, tick: Callable[[], None] | None = None, every: float = 0.2, poll: float = 0.05) -> str:
        """Wait until the session ends; call ``tick()`` every ``every`` seconds meanwhile.

        Returns
        -------
        str
            :attr:`reason`.
        """
        next_tick = time.monotonic() + every
        while True:
            lost = self.failure()
            if lost is not None:
                self.reason, self.lost = "lost", lost
                break
            if self._stop.is_set():
                self.reason = "stopped"
                break
            if not self.alive():
                lost = self.failure()  # the work may have ended because the stream did
                self.reason, self.lost = ("lost", lost) if lost is not None else ("ended", None)
                break
            if self.duration and self.elapsed >= self.duration:
                self.reason = "duration"
                break
            now = time.monotonic()
            if tick is not None and now >= next_tick:
                tick()
                next_tick = now + every
            self._stop.wait(poll)
        return self.reason


class StatusLine:
    """A one-line status: redrawn in place (``\\r``) on a terminal, one line per update in a pipe.

    Parameters
    ----------
    stream : file, optional
        Default ``sys.stderr``.
    pipe_every : float
        In a pipe, print at most one update per this many seconds.
    """

    def __init__(self, stream=None, pipe_every: float = 1.0):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.pipe_every = pipe_every
        self._last = -1e9
        self._dirty = False
        self._lock = threading.Lock()

    def update(self, text: str) -> None:
        """Show ``text`` as the current status."""
        with self._lock:
            if self.tty:
                self.stream.write("\r" + text + "\x1b[K")
                self.stream.flush()
                self._dirty = True
                return
            now = time.monotonic()
            if now - self._last >= self.pipe_every:
                self._last = now
                self.stream.write(text.rstrip() + "\n")
                self.stream.flush()

    def message(self, text: str) -> None:
        """Print ``text`` on its own line (a terminal's status line is redrawn on the next update)."""
        with self._lock:
            if self.tty and self._dirty:
                self.stream.write("\r\x1b[K")
                self._dirty = False
            self.stream.write(text + "\n")
            self.stream.flush()

    def done(self) -> None:
        """End the status line (a newline on a terminal)."""
        with self._lock:
            if self.tty and self._dirty:
                self.stream.write("\n")
                self.stream.flush()
                self._dirty = False


def period_note(engine, block_size: int) -> str | None:
    """The sentence telling the user the JACK server's period when ``block_size`` differs from it, else None.

    Parameters
    ----------
    engine : tonehost.realtime.audio.engine.Engine
        A started engine (its ``server_period`` is read).
    block_size : int
        The ``--block-size`` asked for.
    """
    sp = getattr(engine, "server_period", None)
    if not sp or sp[0] == block_size:
        return None
    period, rate = sp
    extra = "adds up to one period of buffering" if block_size < period or block_size % period else \
        f"runs {block_size // period} server periods per block"
    return (f"note: the JACK server runs {period}-frame periods at {rate} Hz ({1000 * period / rate:.1f} ms); "
            f"--block-size {block_size} works through PortAudio's buffer adapter and {extra}: use --block-size "
            f"{period} for the lowest latency, or restart JACK with -p {block_size} if that is what you want")
