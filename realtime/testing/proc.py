"""Watching a command-line process from a test or a bench: its output lines as they come, with their time."""
from __future__ import annotations

import re
import threading
import time

__all__ = ["Lines"]


class Lines:
    """Collect the lines of a text stream (a ``Popen``'s ``stdout``/``stderr``) in a thread, stamped on arrival.

    Parameters
    ----------
    stream : file
        A text stream, read until its end.

    Attributes
    ----------
    lines : list of (float, str)
        ``(time.monotonic(), line)`` for each line so far, without the newline.
    """

    def __init__(self, stream):
        self.lines: list[tuple[float, str]] = []
        self._t = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._t.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def count(self, pattern: str) -> int:
        """Lines so far matching the regular expression ``pattern``."""
        rx = re.compile(pattern)
        return sum(1 for _, line in list(self.lines) if rx.search(line))

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 90.0, proc=None) -> bool:
        """Wait until ``count`` lines match ``pattern``; False on ``timeout`` or once ``proc`` has exited."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.count(pattern) >= count:
                return True
            if proc is not None and proc.poll() is not None:
                self._t.join(timeout=2)
                return self.count(pattern) >= count
            time.sleep(0.05)
        return False

    def text(self, timeout: float = 5.0) -> str:
        """Everything read (waits up to ``timeout`` s for the stream to end)."""
        self._t.join(timeout=timeout)
        return "\n".join(line for _, line in self.lines)
