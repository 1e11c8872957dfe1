"""The one worker loop: read audio from a source, run a pipeline on it, hand the result on; in its own thread.

An :class:`AudioSource` is anything a worker reads mono float32 input from without blocking: the
:class:`~tonehost.realtime.audio.engine.Engine` (its input ring, filled by the GIL-free callback) or an
:class:`ArraySource` (a file or a test signal, all at once or at the pace of a real-time clock, as from a mic).

:class:`Worker` runs ``process(block)`` on whatever input is queued, passes the result to ``output`` (e.g.
``engine.write_output``), sleeps on ``source.wait_block`` (the engine's eventfd, woken once per audio block)
when nothing is queued, and calls ``on_end`` once a finite source is exhausted. An exception inside the loop
stops it and is raised again by :meth:`Worker.join`. The heavy work a pipeline does (numba ``nogil`` kernels,
ONNX Runtime, large numpy ops) releases the GIL, so the audio callback never waits for a worker.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from tonehost.realtime.io import replace_non_finite, warn_non_finite

__all__ = ["AudioSource", "ArraySource", "Worker", "BlockTimes", "set_thread_realtime", "below_audio_priority"]


def set_thread_realtime(priority: int) -> bool:
    """Run the calling thread under ``SCHED_FIFO`` at ``priority`` (Linux), below the audio server's threads.

    A worker whose frames are due a fixed ``D`` after their input (:class:`tonehost.realtime.pipelines.live_voice.
    LiveInstrument`) must finish each block within ``D`` even when other processes load every core; at an ordinary
    priority it waits its turn behind them. JACK's own threads run at ``SCHED_FIFO`` 10 (``jackd -R``), its
    clients' audio threads at 5 (JACK2: the server's priority minus 5). A worker must sit strictly below its own
    audio thread (:func:`below_audio_priority`): at the same ``SCHED_FIFO`` priority the audio thread would wait
    for the worker's block to finish before it gets a core (the soak's late JACK cycles on a loaded machine). It
    blocks once per block on the engine's eventfd, so it cannot starve the machine. Needs ``RLIMIT_RTPRIO`` (the
    ``audio`` group's limits) or root; otherwise nothing changes.

    Parameters
    ----------
    priority : int
        1..99 (0 or less: leave the thread as it is).

    Returns
    -------
    bool
        True when the thread now runs real-time.
    """
    import os
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(priority)))  # 0: the calling thread
    except (OSError, AttributeError):
        return False
    return True


def below_audio_priority(default: int = 4) -> int:
    """The ``SCHED_FIFO`` priority for a worker: one below the highest real-time thread of this process.

    Call it after the audio stream has started: the audio server's client thread (JACK's process thread, created
    by libjack inside this process) is then the process's real-time thread, and a worker one step below it
    preempts every ordinary process but never the audio callback. Reads ``/proc/self/task/*/stat`` (fields 40-41:
    ``rt_priority``, ``policy``; proc(5)).

    Parameters
    ----------
    default : int
        Returned when no real-time thread is found (a backend without one, or not Linux): below JACK2's default
        client priority 5.

    Returns
    -------
    int
        1..98, or 0 when the audio thread runs at priority 1 (no room below it: stay an ordinary thread).
    """
    import os
    best = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return default
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the ')' of comm, field 3 (state) is index 0: rt_priority (40) is index 37, policy (41) index 38
        try:
            rt_priority, policy = int(fields[37]), int(fields[38])
        except (IndexError, ValueError):
            continue
        if policy in (1, 2):  # SCHED_FIFO, SCHED_RR
            best = max(best, rt_priority)
    if best == 0:
        return default
    return best - 1


class BlockTimes:
    """Per-block worker CPU times (seconds) of the most recent ``keep`` blocks, and how many blocks were timed
    (also any other per-block number: :class:`~tonehost.realtime.pipelines.poly.PolyInstrument`'s active voices).

    A ring preallocated once (``keep`` float64): a live session of hours keeps flat memory (an unbounded list of
    floats grew 3.3 MB per 10 minutes at 128-frame blocks, measured by ``bench/soak.py``; a growing deque still
    added 2 MB while it filled) while the percentiles describe the recent blocks. Behaves as the list it replaces
    for its users: ``append``, ``clear``, ``len``, iteration, truth value and ``numpy.asarray`` (oldest first).

    Parameters
    ----------
    keep : int
        Blocks kept (default 65536: a few minutes at 48 kHz / 128).

    Attributes
    ----------
    count : int
        Blocks timed since the start (or the last :meth:`clear`), kept or not.
    maxlen : int
        ``keep``.
    """

    def __init__(self, keep: int = 1 << 16):
        # written through once now: np.zeros maps pages lazily, so the ring's RSS would grow while it first fills
        # (512 KB over the first ~3 minutes of a session), which a soak's memory slope counts as growth
        self._buf = np.full(int(keep), 0.0, np.float64)
        self.maxlen = int(keep)
        self.count = 0

    def append(self, seconds: float) -> None:
        self._buf[self.count % self.maxlen] = seconds
        self.count += 1

    def clear(self) -> None:
        self.count = 0

    def __len__(self) -> int:
        return min(self.count, self.maxlen)

    def __bool__(self) -> bool:
        return self.count > 0

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        n = len(self)
        if self.count <= self.maxlen:
            out = self._buf[:n].copy()
        else:
            k = self.count % self.maxlen
            out = np.concatenate([self._buf[k:], self._buf[:k]])
        return out if dtype is None else out.astype(dtype)

    def __iter__(self):
        return iter(self.__array__().tolist())

    def __getitem__(self, index):
        """The kept values as a list would give them (oldest first; negative indices from the newest)."""
        return self.__array__()[index]


@runtime_checkable
class AudioSource(Protocol):
    """What a :class:`Worker` reads from.

    Attributes
    ----------
    sample_rate : int
        Hz.
    exhausted : bool
        True once a finite source has nothing more to give (always False for a live stream).
    """

    sample_rate: int

    def read_input(self, buf: np.ndarray) -> int:
        """Move up to ``len(buf)`` queued mono float32 samples into ``buf``; never blocks; returns how many."""

    def wait_block(self, timeout: float) -> bool:
        """Sleep until more input may be queued (or ``timeout`` seconds); False on timeout."""

    @property
    def exhausted(self) -> bool:
        """True once no more input will come."""


class ArraySource:
    """An :class:`AudioSource` over an array: a file or a test signal.

    Parameters
    ----------
    audio : numpy.ndarray, shape (n,) or (n, channels)
        Float samples (channels are averaged).
    sample_rate : int
        Hz.
    realtime : bool
        Samples become readable at the pace of a real-time clock (as from a microphone) from :meth:`start` (or
        the first read) on; otherwise all at once.

    Attributes
    ----------
    position : int
        Samples read so far.
    t0 : float or None
        ``time.perf_counter()`` at the start of the real-time clock.
    """

    def __init__(self, audio: np.ndarray, sample_rate: int, realtime: bool = False):
        from tonehost.realtime.io import to_mono

        self.audio = to_mono(audio)
        self.sample_rate = int(sample_rate)
        self.realtime = realtime
        self.position = 0
        self.t0: float | None = None

    def start(self) -> "ArraySource":
        """Start the real-time clock now."""
        self.t0 = time.perf_counter()
        return self

    def available(self) -> int:
        """Samples readable now."""
        if not self.realtime:
            return len(self.audio) - self.position
        if self.t0 is None:
            self.start()
        due = min(len(self.audio), int((time.perf_counter() - self.t0) * self.sample_rate))
        return due - self.position

    def read_input(self, buf: np.ndarray) -> int:
        n = max(0, min(len(buf), self.available()))
        buf[:n] = self.audio[self.position:self.position + n]
        self.position += n
        return n

    def wait_block(self, timeout: float) -> bool:
        """Sleep ``min(timeout, 4 ms)`` (the clock of a real-time source advances meanwhile)."""
        time.sleep(min(timeout, 0.004))
        return self.available() > 0

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.audio)


class Worker:
    """A thread running ``output(process(block))`` on every block of input a source queues.

    Parameters
    ----------
    source : AudioSource
    process : callable
        ``process(block) -> result``; ``block`` is a float32 view ``[n]`` valid only during the call.
    output : callable, optional
        Called with each result that is not None (e.g. ``engine.write_output`` for audio).
    on_end : callable, optional
        Called once in the worker thread when a finite source is exhausted (not when stopped).
    max_block : int
        Most samples handed to ``process`` at once.
    poll_s : float
        Longest sleep on ``source.wait_block`` before looking again.
    name : str
        Thread name.
    realtime_priority : int
        Run the loop under ``SCHED_FIFO`` at this priority where allowed (:func:`set_thread_realtime`); 0: no.

    Attributes
    ----------
    non_finite : int
        NaN/inf input samples replaced by zeros before ``process`` saw them (a
        :class:`~tonehost.exports.errors.NonFiniteAudioWarning` is issued at the first).
    """

    def __init__(self, source: AudioSource, process: Callable[[np.ndarray], object],
                 output: Callable[[object], object] | None = None, on_end: Callable[[], None] | None = None,
                 max_block: int = 8192, poll_s: float = 0.1, name: str = "tonehost-worker",
                 realtime_priority: int = 0):
        self.source = source
        self.process = process
        self.output = output
        self.on_end = on_end
        self.poll_s = poll_s
        self.samples_read = 0
        self.non_finite = 0  # NaN/inf input samples replaced by zeros (one NonFiniteAudioWarning at the first)
        self.error: BaseException | None = None
        self.realtime_priority = realtime_priority
        #: True once the loop runs at real-time priority.
        self.realtime = False
        self._buf = np.zeros(int(max_block), np.float32)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Worker":
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def _run(self) -> None:
        self.realtime = set_thread_realtime(self.realtime_priority)
        try:
            while not self._stop.is_set():
                n = self.source.read_input(self._buf)
                if n > 0:
                    self.samples_read += n
                    bad = replace_non_finite(self._buf[:n])  # a clean block costs one numpy sum
                    if bad:
                        if not self.non_finite:
                            warn_non_finite(f"the input of {self._thread.name} ({type(self.source).__name__})",
                                            bad)
                        self.non_finite += bad
                    result = self.process(self._buf[:n])
                    if self.output is not None and result is not None:
                        self.output(result)
                    continue
                if getattr(self.source, "exhausted", False):  # a live stream has no end
                    if self.on_end is not None:
                        self.on_end()
                    break
                wait = getattr(self.source, "wait_block", None)
                if wait is not None:
                    wait(self.poll_s)
                else:
                    time.sleep(min(self.poll_s, 0.004))
        except BaseException as exc:  # surfaced by join()
            self.error = exc

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = 2.0) -> None:
        """Ask the loop to stop after the current block and wait for it (re-raises the loop's error)."""
        self._stop.set()
        self.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread; raise the exception that ended the loop, if any (once)."""
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join(timeout)
        if self.error is not None:
            err, self.error = self.error, None
            raise err
