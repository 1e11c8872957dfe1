"""Sample-accurate note-start detection and a loudness that can be read at any sample (the live instrument's onset path).

:class:`OnsetLoudness` runs over the same 16 kHz stream as the voice tracker (:class:`tonehost.dsp.features.VoiceTracker`),
with the same DC blocker, and keeps the squared samples, so that:

- :meth:`OnsetLoudness.mean_square` gives the mean square over the last ``window`` samples ending at *any* sample
  (the tracker's loudness is only defined at its frame grid), optionally starting no earlier than a note's start:
  right after an onset the window then holds only the note, so its level is right from the first millisecond
  instead of rising over the window's length;
- :meth:`OnsetLoudness.process` reports the first sample of a block at which a note starts after a quiet stretch:
  a fast envelope (one-pole on the squared signal, ``short`` samples ~ 1 ms) crosses ``margin_db`` above the noise
  floor (and above the tracker's gate), after at least ``quiet`` samples below that threshold - 6 dB. The noise
  floor follows the slow (``window``) envelope down at once and up by ``floor_rise_db_s``. The sample is exact
  (not rounded to a frame grid), so what is scheduled from it is too.

Everything per sample runs in one Numba ``nogil`` kernel; nothing is allocated per call.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from tonehost.dsp._checks import MAX_HOP, MAX_RATE, check_int

__all__ = ["OnsetLoudness"]

_RING = 1 << 15  # squared samples kept (2 s at 16 kHz); a block longer than this is processed in parts

# state (float64)
_XP, _YP, _SHORT, _LONG, _FLOOR, _QUIET, _LATCH, _RISE, _COUNT = range(9)
_N_STATE = 9


@njit(nogil=True, cache=True)
def _onset_block(x, st, ring, dc, a_short, a_long, rise, margin, gate, quiet, allow):
    """Push ``x`` (16 kHz samples); returns the index in ``x`` of the first note start (or -1) and records it."""
    mask = ring.shape[0] - 1
    xp = st[_XP]
    yp = st[_YP]
    es = st[_SHORT]
    el = st[_LONG]
    floor = st[_FLOOR]
    run = st[_QUIET]
    latch = st[_LATCH]
    count = int(st[_COUNT])
    trig = -1
    for i in range(x.shape[0]):
        v = x[i]
        yp = v - xp + dc * yp
        xp = v
        q = yp * yp
        ring[count & mask] = q
        es += a_short * (q - es)
        el += a_long * (q - el)
        if el < floor:
            floor = el
        else:
            floor *= rise
        hi = floor * margin
        if hi < gate:
            hi = gate
        if es < 0.25 * hi:
            run += 1.0
            if run >= quiet:
                latch = 1.0
        else:
            if run >= quiet:
                st[_RISE] = count  # where the rise out of the quiet stretch began
            run = 0.0
            if latch > 0.5 and es >= hi:
                latch = 0.0
                if allow and trig < 0:
                    trig = i
        count += 1
    st[_XP] = xp
    st[_YP] = yp
    st[_SHORT] = es
    st[_LONG] = el
    st[_FLOOR] = floor
    st[_QUIET] = run
    st[_LATCH] = latch
    st[_COUNT] = count
    return trig


@njit(nogil=True, cache=True)
def _window_sum(ring, start, end):
    mask = ring.shape[0] - 1
    acc = 0.0
    for i in range(start, end):
        acc += ring[i & mask]
    return acc


class OnsetLoudness:
    """Note starts at the exact sample, and the mean square at any sample (see the module docstring).

    Parameters
    ----------
    sample_rate : int
        Rate of the stream (16 kHz, the tracker's).
    window : int
        Loudness window in samples (the tracker's ``loudness_window``, 128 = 8 ms).
    short : int
        Time constant of the onset envelope in samples (16 = 1 ms).
    quiet : int
        Samples below threshold - 6 dB before a new note start counts (256 = 16 ms).
    margin_db : float
        A note starts this far above the noise floor (dB) ...
    gate_db : float
        ... and never below this level (power dB, the tracker's ``gate_db``).
    floor_rise_db_s : float
        How fast the noise floor estimate may rise (dB per second).
    dc_cutoff_hz : float
        The DC blocker's cutoff (the tracker's).

    Raises
    ------
    ArgumentError
        ``sample_rate`` not a whole number in 1..1e6, ``window`` not in 1..32768, ``short`` or ``quiet`` not in
        0..2**20.

    Attributes
    ----------
    count : int
        Samples pushed so far (the absolute index of the next one).
    rise_start : int
        Absolute index where the rise to the last note start began (the note's first sample, as near as the
        envelope tells).
    """

    def __init__(self, sample_rate: int = 16000, window: int = 128, short: int = 16, quiet: int = 256,
                 margin_db: float = 15.0, gate_db: float = -60.0, floor_rise_db_s: float = 3.0,
                 dc_cutoff_hz: float = 20.0):
        sample_rate = check_int("sample_rate", sample_rate, 1, MAX_RATE)
        window = check_int("window", window, 1, _RING)
        short = check_int("short", short, 0, MAX_HOP)
        quiet = check_int("quiet", quiet, 0, MAX_HOP)
        self.sample_rate = int(sample_rate)
        self.window = int(window)
        self._ring = np.zeros(_RING, np.float64)
        self._st = np.zeros(_N_STATE, np.float64)
        self._st[_FLOOR] = 1e-8
        self._dc = 1.0 - 2.0 * math.pi * dc_cutoff_hz / sample_rate
        self._a_short = 1.0 / max(1, short)
        self._a_long = 1.0 / max(1, window)
        self._rise = 10.0 ** (floor_rise_db_s / 10.0 / sample_rate)
        self._margin = 10.0 ** (margin_db / 10.0)
        self._gate = 10.0 ** (gate_db / 10.0)
        self._quiet = float(quiet)

    @property
    def count(self) -> int:
        return int(self._st[_COUNT])

    @property
    def rise_start(self) -> int:
        return int(self._st[_RISE])

    def process(self, x: np.ndarray, allow: bool = True) -> int:
        """Push samples; return the index in ``x`` of the first note start among them, or -1.

        Parameters
        ----------
        x : numpy.ndarray, float64, shape (n,)
            The next samples of the 16 kHz stream.
        allow : bool
            False: follow the signal (floor, quiet stretch) but report nothing (the instrument is already
            sounding).
        """
        x = np.ascontiguousarray(x, np.float64)
        trig = -1
        for s in range(0, len(x), _RING // 2):
            part = x[s:s + _RING // 2]
            t = _onset_block(part, self._st, self._ring, self._dc, self._a_short, self._a_long, self._rise,
                             self._margin, self._gate, self._quiet, allow and trig < 0)
            if t >= 0 and trig < 0:
                trig = s + t
        return trig

    def mean_square(self, end: int, start: int | None = None) -> float:
        """Mean square of the DC-blocked samples ``[max(end - window, start), end)`` (absolute indices).

        Parameters
        ----------
        end : int
            One past the last sample (at most :attr:`count`, at least ``count - 2**15 + window``).
        start : int, optional
            No earlier than this sample (a note's start); the window is then shorter, never empty.
        """
        a = end - self.window
        if start is not None and start > a:
            a = min(int(start), end - 1)
        return float(_window_sum(self._ring, a, end)) / (end - a)
