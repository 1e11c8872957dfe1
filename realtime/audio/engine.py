"""The real-time engine: a full-duplex PortAudio stream whose callback is a Numba C function.

Graph::

    input --(callback)--> input ring --> worker(s) --> output ring --(callback)--> output
                                           \\--> control frames --(callback: harmonic + noise synth)--/

The callback (:mod:`tonehost.realtime.audio.callback`) never takes the GIL, never locks and never allocates: a Python thread
hogging the interpreter cannot make it late. Workers are ordinary Python threads that block on an eventfd the
callback signals once per block, read input with :meth:`Engine.read_input`, and hand back audio
(:meth:`Engine.write_output`) or synthesizer control frames (:meth:`Engine.push_frame`). Everything that can
go wrong is counted in :meth:`Engine.stats` (xruns, dropped input, output underruns, late synth frames).

A stream can also end under the engine: the JACK server quits or is killed, the device is unplugged, the server
hangs. :meth:`Engine.failure` notices it from three signals (PortAudio's stream-finished callback, the stream no
longer active -- PortAudio's JACK host API clears it from JACK's shutdown callback -- and a watchdog on the
callback counter) and returns one sentence; the engine then counts as :attr:`~Engine.exhausted`, so a
:class:`~tonehost.realtime.audio.worker.Worker` ends its loop. :meth:`Engine.close` never blocks on a dead stream:
it leaves it to the operating system (:func:`~tonehost.realtime.audio.devices.abandon_stream`).
"""
from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass, replace

import numpy as np
import sounddevice as sd
from numba import njit

from tonehost.dsp.harmonic import make_frame_buffer, make_harmonic_state
from tonehost.dsp.noise import make_noise_frame_buffer, make_noise_state
from tonehost.dsp.scheduled import (M_DUE, M_NOISE, M_RAMP, Q_APPLIED, Q_LATE, Q_LATE_MAX, Q_LATE_SUM,
                                    make_meta_buffer, make_sched_state)

from tonehost.realtime.audio import callback as cb
from tonehost.realtime.audio.atomics import cycle_counter, load_acquire, store_release
from tonehost.realtime.audio.devices import (DeviceError, abandon_stream, check_settings, close_within,
                                             host_api_name, jack_server_period, resolve_device,
                                             set_jack_client_name)
from tonehost.realtime.audio.ring import Ring, ring_discard_older


@dataclass
class EngineConfig:
    """What to open, and the engine's settings; every field is checked when the config is made
    (:func:`check_config`: one :class:`~tonehost.exports.errors.UsageError` naming the field).

    Parameters
    ----------
    device : int, str, (input, output) or None
        A PortAudio index (``tonehost devices``), a name substring, a pair of those, or None (the default device).
    sample_rate : float
        Hz, 1000 .. 1 000 000 (a JACK server runs at its own rate).
    block_size : int
        Frames per callback, 1 .. 8192 (on JACK the server's period rules).
    in_channels, out_channels : int
        0 .. 64 each, at least one of them > 0. The input is mixed to mono; the output is the same mono signal on
        every channel.
    latency : {"low", "high"} or float
        PortAudio's suggested latency (seconds when a number, >= 0).
    input_ring_seconds, output_ring_seconds : float
        Seconds of audio the rings between the callback and the workers hold, (0, 60].
    max_output_backlog : int
        Samples kept in the output ring (older ones are skipped); 0: two blocks.
    synth_harmonics : int
        > 0: the callback synthesises that many harmonics from control frames (:meth:`Engine.push_frame`);
        0 .. 4096.
    synth_noise_bands : int
        Filtered-noise bands of the in-callback synthesizer, 0 (harmonic only) .. 4096.
    synth_hop : int
        Audio samples per control frame (>= 1; 192 = 48 kHz / 250 frames per second).
    frame_capacity : int
        Control frames the ring holds (>= 1).
    max_frame_backlog : int
        Control frames kept queued (>= 1); older ones are skipped.
    synth_schedule : bool
        Frames carry the engine sample they start at (``push_frame(due=...)``).
    noise_seed : int
        Seed of the synthesizer's noise (>= 0).
    client_name : str
        The JACK client's name (not empty).
    input_gain, output_gain, monitor : float
        Linear gains 0 .. 16: input, output, and input mixed into the output (direct monitoring).
    watchdog_s, close_timeout_s : float
        Seconds (> 0): see below.
    wake_interval_s : float
        Seconds (>= 0): see below.

    Raises
    ------
    UsageError
        A field outside its range or of the wrong kind (``in_channels=-1`` and ``out_channels=3.5`` were
        accepted, ``input_ring_seconds=1e9`` was numpy's MemoryError for 256 TiB, ``sample_rate="x"`` a
        ValueError, ``latency="fast"`` failed only when the stream opened).

    Notes
    -----
    ``watchdog_s``: seconds without a single callback after which a started stream counts as lost (the server
    hung or the device went away); ``close_timeout_s``: longest wait for PortAudio to stop and close a stream
    that still looks alive before it is abandoned.

    ``wake_interval_s``: how often the callback wakes the workers (:meth:`Engine.wait_block`), rounded to whole
    blocks of the stream's actual period (JACK's, when the server runs another one than ``block_size``); 0 (the
    default): every block. Waking is the audio thread's costliest step in an input-only stream (an ``eventfd``
    write and the cross-CPU wake-up of a sleeping thread: 12-13 us median against 2 us for the rest of the
    callback, through JACK on a 2-core VM), so a worker that has nothing to do with less than a model frame of
    input (the piano transcriber: 32 ms) asks for fewer wake-ups; a worker that answers every block (``play``)
    keeps 0.
    """

    device: object = None
    sample_rate: float = 48000
    block_size: int = 128
    in_channels: int = 1
    out_channels: int = 2
    latency: object = "low"
    input_ring_seconds: float = 1.0
    output_ring_seconds: float = 1.0
    max_output_backlog: int = 0          # samples kept in the output ring; 0: two blocks
    synth_harmonics: int = 0             # >0: synthesise in the callback from control frames
    synth_noise_bands: int = 65          # 0: harmonic only
    synth_hop: int = 192                 # audio samples per control frame (48 kHz / 250 frames/s)
    frame_capacity: int = 64
    max_frame_backlog: int = 4           # control frames kept queued; older ones are skipped
    synth_schedule: bool = False         # frames carry the engine sample they start at (push_frame(due=...))
    noise_seed: int = 0
    client_name: str = "tonehost"
    input_gain: float = 1.0
    output_gain: float = 1.0
    monitor: float = 0.0                 # input mixed into the output (direct monitoring)
    watchdog_s: float = 1.0              # no callback for this long: the stream is lost
    close_timeout_s: float = 1.0         # longest wait on PortAudio when closing
    wake_interval_s: float = 0.0         # wake the workers about this often (whole blocks); 0: every block

    def __post_init__(self):
        check_config(self)


#: The ranges :func:`check_config` holds an :class:`EngineConfig` to.
MIN_RATE, MAX_RATE = 1000, 1_000_000
MAX_BLOCK, MAX_CHANNELS, MAX_RING_SECONDS, MAX_GAIN, MAX_SYNTH_BANDS = 8192, 64, 60.0, 16.0, 4096


def check_config(cfg: "EngineConfig") -> None:
    """Raise one :class:`~tonehost.exports.errors.UsageError` naming the first field of ``cfg`` outside its range
    (see :class:`EngineConfig`); the message says ``EngineConfig <field> must be ..., got <value>``."""
    import math
    import numbers

    from tonehost.dsp._checks import check_int
    from tonehost.exports.errors import UsageError

    def bad(name, want):
        return UsageError(f"EngineConfig {name} must be {want}, got {getattr(cfg, name)!r:.60}")

    def real(v):
        return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)

    def whole(name, lo, hi):
        try:  # "EngineConfig <name> must be a whole number from lo to hi, got ..."
            check_int(f"EngineConfig {name}", getattr(cfg, name), lo, hi)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def number(name, lo, hi, lo_open=False, what="a number"):
        v = getattr(cfg, name)
        if not (real(v) and (lo < v if lo_open else lo <= v) and v <= hi):
            raise bad(name, f"{what} of {'more than' if lo_open else 'at least'} {lo:g} and at most {hi:.10g}")

    def is_device(d):
        return d is None or isinstance(d, str) or \
            (isinstance(d, numbers.Integral) and not isinstance(d, (bool, np.bool_)) and d >= 0)

    d = cfg.device
    if not (is_device(d) or (isinstance(d, (tuple, list)) and len(d) == 2 and all(map(is_device, d)))):
        raise bad("device", "None, a device index >= 0, a name substring or an (input, output) pair of them "
                            "(see `tonehost devices`)")
    number("sample_rate", MIN_RATE, MAX_RATE)
    whole("block_size", 1, MAX_BLOCK)
    whole("in_channels", 0, MAX_CHANNELS)
    whole("out_channels", 0, MAX_CHANNELS)
    if cfg.in_channels == 0 and cfg.out_channels == 0:
        raise UsageError("an engine needs at least one input or output channel (EngineConfig in_channels or "
                         "out_channels)")
    if not (cfg.latency in ("low", "high") or (real(cfg.latency) and cfg.latency >= 0)):
        raise bad("latency", "'low', 'high' or a number of seconds >= 0")
    number("input_ring_seconds", 0.0, MAX_RING_SECONDS, lo_open=True)
    number("output_ring_seconds", 0.0, MAX_RING_SECONDS, lo_open=True)
    whole("max_output_backlog", 0, int(MAX_RING_SECONDS * MAX_RATE))
    whole("synth_harmonics", 0, MAX_SYNTH_BANDS)
    whole("synth_noise_bands", 0, MAX_SYNTH_BANDS)
    whole("synth_hop", 1, MAX_RATE)
    whole("frame_capacity", 1, 1 << 20)
    whole("max_frame_backlog", 1, 1 << 20)
    if not isinstance(cfg.synth_schedule, (bool, np.bool_)):
        raise bad("synth_schedule", "True or False")
    whole("noise_seed", 0, (1 << 63) - 1)
    if not (isinstance(cfg.client_name, str) and cfg.client_name.strip()):
        raise bad("client_name", "a name (a non-empty str)")
    for name in ("input_gain", "output_gain", "monitor"):
        number(name, 0.0, MAX_GAIN)
    number("watchdog_s", 0.0, 3600.0, lo_open=True)
    number("close_timeout_s", 0.0, 3600.0, lo_open=True)
    number("wake_interval_s", 0.0, 3600.0, what="a wake interval in seconds")


@njit(nogil=True, cache=True)
def _now_cycles():
    return cycle_counter()


def _cycles_per_second() -> float:
    t0, c0 = time.perf_counter(), _now_cycles()
    time.sleep(0.05)
    t1, c1 = time.perf_counter(), _now_cycles()
    return (c1 - c0) / (t1 - t0)


@njit(nogil=True, cache=True)
def _push_frame(hframes, nframes, fidx, f0, amp, dist, noise):
    """Producer side of the synth frame ring: one frame if there is room (returns 1) else 0."""
    cap = hframes.shape[0]
    w = fidx[0]
    oldest = min(load_acquire(fidx, 8), load_acquire(fidx, 16))
    if w - oldest >= cap:
        return 0
    row = w % cap
    hframes[row, 0] = f0
    hframes[row, 1] = amp
    k = min(dist.shape[0], hframes.shape[1] - 2)
    for i in range(k):
        hframes[row, 2 + i] = dist[i]
    if nframes.shape[0] == cap:
        b = min(noise.shape[0], nframes.shape[1])
        for i in range(b):
            nframes[row, i] = noise[i]
    store_release(fidx, 0, w + 1)
    return 1


@njit(nogil=True, cache=True)
def _push_scheduled(hframes, nframes, meta, fidx, due, ramp, has_noise, f0, amp, dist, noise):
    """Producer side of the scheduled frame ring: one frame (with its due sample) if there is room (1) else 0."""
    cap = hframes.shape[0]
    w = fidx[0]
    if w - load_acquire(fidx, 8) >= cap:
        return 0
    row = w % cap
    hframes[row, 0] = f0
    hframes[row, 1] = amp
    k = min(dist.shape[0], hframes.shape[1] - 2)
    for i in range(k):
        hframes[row, 2 + i] = dist[i]
    for i in range(k, hframes.shape[1] - 2):
        hframes[row, 2 + i] = 0.0
    meta[row, M_DUE] = due
    meta[row, M_RAMP] = ramp
    meta[row, M_NOISE] = 0
    if has_noise and nframes.shape[0] == cap:
        b = min(noise.shape[0], nframes.shape[1])
        for i in range(b):
            nframes[row, i] = noise[i]
        for i in range(b, nframes.shape[1]):
            nframes[row, i] = 0.0
        meta[row, M_NOISE] = 1
    store_release(fidx, 0, w + 1)
    return 1


class _Stopper:
    """``stop()`` only (for :func:`close_within`, whose ``close()`` must not close a stream merely stopped)."""

    def __init__(self, stream):
        self.stream = stream

    def stop(self):
        self.stream.stop()

    def close(self):
        pass


class Engine:
    """A running audio graph. Use as a context manager, or call :meth:`start` / :meth:`stop`.

    Making one opens nothing (no device is needed until :meth:`start`).

    Parameters
    ----------
    config : EngineConfig, optional
        What to open (default ``EngineConfig()``: the default device, 48 kHz, 128-frame blocks, mono in, stereo out).
    **overrides
        Fields of :class:`EngineConfig` to change (``Engine(block_size=256)``); the caller's config is left as it was.

    Raises
    ------
    UsageError
        ``config`` is not an :class:`EngineConfig`, an override names no field, or a field is outside its range
        (:func:`check_config`).
    DeviceError
        From :meth:`start`: the device is missing or cannot run the rate, channels or block size.

    Examples
    --------
    >>> with Engine(in_channels=1, out_channels=0) as eng:     # doctest: +SKIP
    ...     eng.wait_input(4800); n = eng.read_input(buf)
    """

    _cps: float | None = None

    def __init__(self, config: EngineConfig | None = None, **overrides):
        from dataclasses import fields

        from tonehost.exports.errors import UsageError

        if config is not None and not isinstance(config, EngineConfig):
            raise UsageError(f"Engine takes an EngineConfig (or its fields as keywords: Engine(sample_rate=48000)), "
                             f"got {type(config).__name__}")
        unknown = sorted(set(overrides) - {f.name for f in fields(EngineConfig)})
        if unknown:  # dataclasses.replace's TypeError ("unexpected keyword argument 'blocksize'")
            raise UsageError(f"Engine has no setting {', '.join(unknown)}; EngineConfig's fields are "
                             f"{', '.join(f.name for f in fields(EngineConfig))}")
        cfg = replace(config or EngineConfig(), **overrides)  # the caller's config is left as it was; checked
        check_config(cfg)  # again: a config's fields may have been set after it was made
        self.config = cfg
        sr = float(cfg.sample_rate)
        self.max_block = max(4096, int(cfg.block_size))
        self.input_ring = Ring(int(sr * cfg.input_ring_seconds))
        self.output_ring = Ring(int(sr * cfg.output_ring_seconds))
        self._scratch = np.zeros(4 * self.max_block, np.float32)
        self._stats = np.zeros(cb.N_STATS, np.int64)
        self._params = np.zeros(cb.N_PARAMS, np.float64)
        self._cost = np.zeros(8192, np.int64)
        self._fidx = np.zeros(24, np.int64)
        self._fmeta = make_meta_buffer(max(1, cfg.frame_capacity if cfg.synth_harmonics > 0 else 1))
        self._sched = make_sched_state()
        self._ctl = np.zeros(cb.N_CONTROL, np.int64)
        K, B = int(cfg.synth_harmonics), int(cfg.synth_noise_bands)
        if K > 0:
            self._hframes = make_frame_buffer(cfg.frame_capacity, K, np.float32)
            self._hstate = make_harmonic_state(K)
            self._nframes = make_noise_frame_buffer(cfg.frame_capacity, B, np.float32) if B > 0 else \
                np.zeros((0, 1), np.float32)
            self._nstate = make_noise_state(B, seed=cfg.noise_seed) if B > 0 else np.zeros(1)
        else:
            self._hframes = np.zeros((0, 3), np.float32)
            self._nframes = np.zeros((0, 1), np.float32)
            self._hstate = self._nstate = np.zeros(1)
        self._eventfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._fill_control()
        p = self._params
        p[cb.P_IN_GAIN] = cfg.input_gain
        p[cb.P_OUT_GAIN] = cfg.output_gain
        p[cb.P_MONITOR] = cfg.monitor
        p[cb.P_SYNTH_ON] = 1.0 if K > 0 else 0.0
        p[cb.P_NOISE_ON] = 1.0 if (K > 0 and B > 0) else 0.0
        p[cb.P_SAMPLE_RATE] = sr
        p[cb.P_HOP] = cfg.synth_hop
        p[cb.P_MAX_OUT_BACKLOG] = cfg.max_output_backlog or 2 * cfg.block_size
        p[cb.P_MAX_FRAME_BACKLOG] = cfg.max_frame_backlog
        p[cb.P_RING_OUT_ON] = 1.0
        p[cb.P_SCHEDULED] = 1.0 if (K > 0 and cfg.synth_schedule) else 0.0
        if K > 0 and cfg.synth_schedule:  # compile (or load) the producer now, not at the first frame
            _push_scheduled(np.zeros_like(self._hframes[:1]), np.zeros_like(self._nframes[:1]),
                            np.zeros((1, self._fmeta.shape[1]), np.int64), np.zeros(24, np.int64), 0, 1, True,
                            0.0, 0.0, np.zeros(K, np.float32), np.zeros(max(1, B), np.float32))
        #: Engine sample index of the first sample the last :meth:`read_input` call returned (see there).
        self.last_input_position = 0
        self.stream = None
        self._closed = False
        self._running = False        # started and not asked to stop: a stream ending now was lost
        self._failure: str | None = None
        self._wd_count = -1
        self._wd_time = 0.0
        self._abandoned = False
        #: The PortAudio host API of the open stream (e.g. ``"JACK Audio Connection Kit"``), None before start.
        self.host_api: str | None = None
        #: ``(period_frames, sample_rate)`` of the JACK server the stream runs on (None: not JACK, or unknown).
        self.server_period: tuple[int, int] | None = None

    # ----------------------------------------------------------------- set-up
    def _fill_control(self):
        c, cfg = self._ctl, self.config
        c[cb.C_IN_CH] = max(0, cfg.in_channels)
        c[cb.C_OUT_CH] = max(0, cfg.out_channels)
        c[cb.C_MAX_BLOCK] = self.max_block
        c[cb.C_IN_DATA] = self.input_ring.data.ctypes.data
        c[cb.C_IN_IDX] = self.input_ring.idx.ctypes.data
        c[cb.C_IN_CAP] = self.input_ring.capacity
        c[cb.C_OUT_DATA] = self.output_ring.data.ctypes.data
        c[cb.C_OUT_IDX] = self.output_ring.idx.ctypes.data
        c[cb.C_OUT_CAP] = self.output_ring.capacity
        c[cb.C_SCRATCH] = self._scratch.ctypes.data
        c[cb.C_STATS] = self._stats.ctypes.data
        c[cb.C_PARAMS] = self._params.ctypes.data
        c[cb.C_COST] = self._cost.ctypes.data
        c[cb.C_COST_CAP] = self._cost.shape[0]
        for base, frames, state in ((cb.C_HFRAMES, self._hframes, self._hstate),
                                    (cb.C_NFRAMES, self._nframes, self._nstate)):
            c[base] = frames.ctypes.data if frames.shape[0] else 0
            c[base + 1], c[base + 2] = frames.shape
            c[base + 3] = state.ctypes.data
        c[cb.C_HSTATE_LEN] = self._hstate.shape[0]
        c[cb.C_NSTATE_LEN] = self._nstate.shape[0]
        c[cb.C_FIDX] = self._fidx.ctypes.data
        c[cb.C_EVENTFD] = self._eventfd
        c[cb.C_FMETA] = self._fmeta.ctypes.data
        c[cb.C_SCHED] = self._sched.ctypes.data

    def _open(self):
        cfg = self.config
        set_jack_client_name(cfg.client_name)
        dev = cfg.device if isinstance(cfg.device, (tuple, list)) else (cfg.device, cfg.device)
        ins, outs = cfg.in_channels > 0, cfg.out_channels > 0
        din = resolve_device(dev[0], "input") if ins else None
        dout = resolve_device(dev[1], "output") if outs else None
        if ins:
            check_settings(din, "input", cfg.sample_rate, cfg.in_channels)
        if outs:
            check_settings(dout, "output", cfg.sample_rate, cfg.out_channels)
        kind = "duplex" if (ins and outs) else ("input" if ins else "output")
        device = (din, dout) if kind == "duplex" else (din if ins else dout)
        channels = (cfg.in_channels, cfg.out_channels) if kind == "duplex" else max(cfg.in_channels, cfg.out_channels)
        # On JACK the server's period is the block: asking PortAudio for a fixed block size makes its buffer
        # processor hold a duplex stream's input back by one more period (measured through a JACK loopback: two
        # periods instead of JACK's one); 0 ("unspecified") hands the callback JACK's own buffers.
        blocksize = 0 if host_api_name(din if ins else dout).startswith("JACK") else cfg.block_size
        try:
            self.stream = sd._StreamBase(
                kind=kind, samplerate=cfg.sample_rate, blocksize=blocksize, device=device,
                channels=channels, dtype="float32", latency=cfg.latency,
                callback=cb.audio_callback.address,
                userdata=sd._ffi.cast("void *", self._ctl.ctypes.data), wrap_callback=None)
        except sd.PortAudioError as exc:
            raise DeviceError(f"could not open the audio stream ({exc}) on device {device} at "
                              f"{cfg.sample_rate:g} Hz, block {cfg.block_size}; see `tonehost devices`.") from None
        # PortAudio calls this C function (no GIL) when the stream becomes inactive, e.g. the host ended it
        self._finished_ptr = sd._ffi.cast("PaStreamFinishedCallback *", cb.stream_finished.address)
        sd._lib.Pa_SetStreamFinishedCallback(self.stream._ptr, self._finished_ptr)
        self.host_api = host_api_name(din if ins else dout)
        if self.host_api.startswith("JACK"):
            self.server_period = jack_server_period(f"{cfg.client_name}-probe")
        period = self.server_period[0] if self.server_period else int(cfg.block_size)
        self._params[cb.P_WAKE_EVERY] = self.wake_blocks(cfg.wake_interval_s, cfg.sample_rate, period)

    @staticmethod
    def wake_blocks(interval_s: float, sample_rate: float, period: int) -> int:
        """Callbacks between two wake-ups of the workers: ``interval_s`` in whole periods, at least 1.

        Parameters
        ----------
        interval_s : float
            Seconds (0: every block).
        sample_rate : float
            Hz.
        period : int
            Frames per callback.

        Returns
        -------
        int
            ``max(1, round(interval_s * sample_rate / period))``.
        """
        return max(1, int(round(float(interval_s) * float(sample_rate) / max(1, int(period)))))

    @property
    def wake_every(self) -> int:
        """Callbacks between two wake-ups of the workers (1: every callback; set at open from
        ``EngineConfig.wake_interval_s``)."""
        return max(1, int(self._params[cb.P_WAKE_EVERY]))

    def start(self) -> "Engine":
        if self._closed:
            raise DeviceError("this engine was closed; make a new one")
        if Engine._cps is None:
            Engine._cps = _cycles_per_second()
        try:
            if self.stream is None:
                self._open()
            self._stats[cb.S_FINISHED] = 0
            try:
                self.stream.start()
            except sd.PortAudioError as exc:
                raise DeviceError(f"could not start the audio stream ({exc}) at {self.config.sample_rate:g} Hz, "
                                  f"block {self.config.block_size}; is the sound server still running? See "
                                  "`tonehost devices`.") from None
            self._failure = None
            self._wd_count, self._wd_time = -1, time.monotonic()
            self._running = True
        except BaseException:
            self.close()  # nothing half-open stays behind (stream, eventfd)
            raise
        return self

    def failure(self, ask_portaudio: bool = True) -> str | None:
        """Why a started stream ended without being asked to, or None while it runs (or was stopped).

        Three signals, checked in this order: PortAudio's stream-finished callback ran
        (:data:`~tonehost.realtime.audio.callback.stream_finished`); PortAudio reports the stream inactive
        (``Pa_IsStreamActive``; its JACK host API clears it from JACK's shutdown callback the moment the server
        quits, is killed, or drops the client); no callback for ``config.watchdog_s`` seconds (a hung server, a
        device that stopped). Once lost, a stream stays lost. Cheap (no system call); any thread may call it.
        ``ask_portaudio=False`` skips the ``Pa_IsStreamActive`` call (plain memory reads only: what the worker
        loop polls through :attr:`exhausted`).

        Returns
        -------
        str or None
            One sentence naming the server or device and what to do, for a
            :class:`~tonehost.exports.errors.DeviceError`.
        """
        if self._failure is not None:
            return self._failure
        if not self._running or self.stream is None:
            return None
        now = time.monotonic()
        n = int(self._stats[cb.S_CALLBACKS])
        if n != self._wd_count:
            self._wd_count, self._wd_time = n, now
        if not self._running:  # stop() raced with this check
            return None
        silent = now - self._wd_time
        if self._stats[cb.S_FINISHED] or (ask_portaudio and not self.stream.active):
            jack_how, how = "went away (it ended tonehost's audio stream)", "ended the stream"
        elif silent > self.config.watchdog_s:
            jack_how = f"stopped running tonehost's audio (no callback for {silent:.1f} s: hung or gone)"
            how = f"stopped calling back for {silent:.1f} s"
        else:
            return None
        if self.host_api and self.host_api.startswith("JACK"):
            self._failure = (f"the JACK server {jack_how}; start it again (e.g. `jackd -d alsa`, or "
                             "`jackd -d dummy -r 48000 -p 128` without a sound card) and rerun")
        else:
            self._failure = (f"the audio device went away ({self.host_api or 'PortAudio'} {how}); reconnect it "
                             "or pick another with --device (see `tonehost devices`)")
        return self._failure

    @property
    def exhausted(self) -> bool:
        """True once the stream was lost (:meth:`failure`): no more input will come. A running stream has no end.

        Polled by the worker loop whenever no input is queued, so it reads memory only (the finished flag, the
        callback counter, a failure already found by :meth:`failure`), never PortAudio.
        """
        return self.failure(ask_portaudio=False) is not None

    def _abandon(self) -> None:
        abandon_stream(self.stream, self._ctl, self._stats, self._params, self._scratch, self.input_ring,
                       self.output_ring, self._hframes, self._nframes, self._hstate, self._nstate, self._fidx,
                       self._cost, self._fmeta, self._sched, getattr(self, "_finished_ptr", None))
        self._abandoned = True

    def stop(self) -> None:
        """Stop the stream (bounded: a stream that cannot be stopped within ``close_timeout_s`` is abandoned)."""
        self._running = False
        if self.stream is None or self._abandoned:
            return
        if self._failure is not None:  # the server is gone: PortAudio would wait for it forever
            self._abandon()
            return
        if self.stream.active and not close_within(_Stopper(self.stream), self.config.close_timeout_s):
            self._abandon()

    def close(self) -> None:
        """Stop and close the stream and free the eventfd; never blocks longer than ``close_timeout_s``.

        A lost stream (:meth:`failure`), or one PortAudio does not close in time, is left open for the process's
        lifetime instead (:func:`~tonehost.realtime.audio.devices.abandon_stream`), with the memory its callback
        uses and the eventfd it writes to.
        """
        self.stop()
        if self.stream is not None and not self._abandoned:
            if not close_within(self.stream, self.config.close_timeout_s):
                self._abandon()
        if not self._abandoned:
            self.stream = None
        if not self._closed:
            if not self._abandoned:
                os.close(self._eventfd)
            self._closed = True

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    @property
    def sample_rate(self) -> int:
        """The stream's rate in Hz."""
        return int(self.config.sample_rate)

    @property
    def active(self) -> bool:
        """True while the stream runs (False once stopped, closed or lost)."""
        return self.stream is not None and not self._abandoned and self._failure is None and self.stream.active

    # ---------------------------------------------------------------- workers
    def wait_block(self, timeout: float = 0.1) -> bool:
        """Block (without the GIL) until the callback has woken the workers since the last call (every
        :attr:`wake_every` callbacks); False on timeout."""
        r, _, _ = select.select([self._eventfd], [], [], timeout)
        if r:
            try:
                os.read(self._eventfd, 8)
            except BlockingIOError:
                pass
            return True
        return False

    def wait_input(self, min_samples: int, timeout: float = 1.0) -> int:
        """Wait until ``min_samples`` input samples are queued (or ``timeout``); return how many are."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.input_ring.available()
            if n >= min_samples:
                return n
            left = deadline - time.monotonic()
            if left <= 0:
                return n
            self.wait_block(min(left, 0.1))

    def read_input(self, buf: np.ndarray) -> int:
        """Move up to ``len(buf)`` mono input samples (float32) into ``buf``; never blocks.

        Sets :attr:`last_input_position`: the engine sample index (:meth:`clock`'s time base) of ``buf[0]``, i.e.
        the samples read so far plus those the callback dropped because the ring was full (exact unless a drop
        happened while these samples were queued: then the position is ahead by the dropped amount, and frames
        scheduled from it come that much later, once).
        """
        self.last_input_position = int(self.input_ring.idx[8]) + int(self._fidx[cb.F_IN_DROPPED])
        return self.input_ring.pop(buf)

    def clock(self) -> int:
        """Samples the callback has output so far: the engine sample index of the next block's first sample."""
        return int(self._fidx[cb.F_CLOCK])

    def input_keep_latest(self, keep: int) -> int:
        """Drop queued input older than the newest ``keep`` samples (a worker catching up); return dropped."""
        return int(ring_discard_older(self.input_ring.idx, keep))

    def write_output(self, buf: np.ndarray) -> int:
        """Queue mono output samples for the callback; returns how many were taken (0 if the ring is full)."""
        return self.output_ring.push(buf)

    def push_frame(self, f0_hz: float, amplitude: float, distribution: np.ndarray,
                   noise_magnitudes: np.ndarray | None = None, due: int | None = None, ramp: int = 0) -> bool:
        """Queue one control frame for the in-callback synthesizer; False if the frame ring is full.

        With ``EngineConfig.synth_schedule``, ``due`` is the engine sample (:meth:`clock`'s time base; input sample
        ``i`` and output sample ``i`` are one block's same frame) at which the frame takes effect, exactly, and
        ``ramp`` the samples its controls take to get there (default ``synth_hop``); ``noise_magnitudes`` None keeps
        the current noise filter (:mod:`tonehost.dsp.scheduled`).
        """
        if self._hframes.shape[0] == 0:
            raise DeviceError("this engine has no synthesizer: set EngineConfig.synth_harmonics > 0")
        noise = np.zeros(0, np.float32) if noise_magnitudes is None else np.asarray(noise_magnitudes, np.float32)
        dist = np.asarray(distribution, np.float32)
        if self.config.synth_schedule:
            if due is None:
                raise DeviceError("a scheduled synthesizer needs each frame's due sample (push_frame(due=...))")
            return bool(_push_scheduled(self._hframes, self._nframes, self._fmeta, self._fidx, int(due),
                                        int(ramp or self.config.synth_hop), noise_magnitudes is not None,
                                        float(f0_hz), float(amplitude), dist, noise))
        return bool(_push_frame(self._hframes, self._nframes, self._fidx, float(f0_hz), float(amplitude), dist,
                                noise))

    def frames_queued(self) -> int:
        return int(self._fidx[0] - min(self._fidx[8], self._fidx[16]))

    # ------------------------------------------------------------- parameters
    def set_param(self, name: str, value: float) -> None:
        """Set ``input_gain``, ``output_gain``, ``monitor`` (linear gains 0..:data:`MAX_GAIN`, as
        :class:`EngineConfig`), ``synth``, ``noise`` or ``ring_out`` (0 off / 1 on) while running.

        Raises
        ------
        UsageError
            An unknown name (it was a KeyError), or a value out of its range (a NaN gain reached the callback
            and silenced the output).
        """
        import math
        import numbers

        from tonehost.exports.errors import UsageError

        index = {"input_gain": cb.P_IN_GAIN, "output_gain": cb.P_OUT_GAIN, "monitor": cb.P_MONITOR,
                 "synth": cb.P_SYNTH_ON, "noise": cb.P_NOISE_ON, "ring_out": cb.P_RING_OUT_ON}
        if name not in index:
            raise UsageError(f"Engine.set_param takes {', '.join(index)}, got {name!r:.60}")
        gain = name in ("input_gain", "output_gain", "monitor")
        ok = isinstance(value, numbers.Real) and math.isfinite(value) and (
            0.0 <= value <= MAX_GAIN if gain else value in (0, 1))
        if not ok:
            want = f"a number from 0 to {MAX_GAIN:g}" if gain else "0 (off) or 1 (on)"
            raise UsageError(f"Engine.set_param {name} must be {want}, got {value!r:.60}")
        self._params[index[name]] = float(value)

    # ------------------------------------------------------------------ stats
    def stats(self) -> dict:
        """Counters since start: callbacks, xruns (by PortAudio flag), drops, underruns, callback cost."""
        s = self._stats.copy()
        cps = Engine._cps or 1.0
        n = int(min(s[cb.S_CALLBACKS], self._cost.shape[0]))
        costs = self._cost[:n] / cps * 1e6 if n else np.zeros(1)
        return {
            "callbacks": int(s[cb.S_CALLBACKS]),
            "frames": int(s[cb.S_FRAMES]),
            "xruns": int(s[cb.S_XRUN_BLOCKS]),
            "input_underflow": int(s[cb.S_INPUT_UNDERFLOW]),
            "input_overflow": int(s[cb.S_INPUT_OVERFLOW]),
            "output_underflow": int(s[cb.S_OUTPUT_UNDERFLOW]),
            "output_overflow": int(s[cb.S_OUTPUT_OVERFLOW]),
            "priming": int(s[cb.S_PRIMING]),
            "input_dropped": int(s[cb.S_INPUT_DROPPED]),
            "output_underrun_samples": int(s[cb.S_OUTPUT_UNDERRUN]),
            "output_underrun_blocks": int(s[cb.S_OUTPUT_UNDERRUN_BLOCKS]),
            "output_skipped": int(s[cb.S_OUTPUT_SKIPPED]),
            "synth_frames_late": int(s[cb.S_SYNTH_LATE] + self._sched[Q_LATE]),
            "synth_late_samples_max": int(self._sched[Q_LATE_MAX]),
            "synth_late_samples_mean": float(self._sched[Q_LATE_SUM] / max(1, self._sched[Q_LATE])),
            "synth_frames_applied": int(self._sched[Q_APPLIED]),
            "frames_consumed": int(s[cb.S_FRAMES_CONSUMED]),
            "frames_skipped": int(s[cb.S_FRAMES_SKIPPED]),
            "input_queued": self.input_ring.available(),
            "output_queued": self.output_ring.available(),
            "callback_us_p50": float(np.percentile(costs, 50)),
            "callback_us_p99": float(np.percentile(costs, 99)),
            "callback_us_max": float(s[cb.S_MAX_CYCLES] / cps * 1e6),
        }

    def output_peak(self, reset: bool = True) -> float:
        """Largest absolute output sample since the last reset (a meter for what the callback synthesised)."""
        v = float(self._stats[cb.S_OUT_PEAK]) * 1e-6
        if reset:
            self._stats[cb.S_OUT_PEAK] = 0
        return v

    def callback_costs_us(self) -> np.ndarray:
        """Cost of the most recent callbacks (up to 8192), in microseconds."""
        n = int(min(self._stats[cb.S_CALLBACKS], self._cost.shape[0]))
        return self._cost[:n] / (Engine._cps or 1.0) * 1e6

    def synth_late(self) -> tuple[int, int]:
        """Control frames the in-callback synthesizer applied after their due sample, and all it applied.

        Cheap (three reads, no dict): the running totals of ``stats()["synth_frames_late"]`` and
        ``stats()["synth_frames_applied"]``; :meth:`reset_stats` sets them back to 0.

        Returns
        -------
        (int, int)
            Late frames, applied frames.
        """
        return int(self._stats[cb.S_SYNTH_LATE] + self._sched[Q_LATE]), int(self._sched[Q_APPLIED])

    def reset_stats(self) -> None:
        started, finished = self._stats[cb.S_OUTPUT_STARTED], self._stats[cb.S_FINISHED]
        self._stats[:] = 0
        self._stats[cb.S_OUTPUT_STARTED] = started
        self._stats[cb.S_FINISHED] = finished
        self._sched[Q_LATE] = self._sched[Q_LATE_SUM] = self._sched[Q_LATE_MAX] = self._sched[Q_APPLIED] = 0
        self._wd_count = -1

    def latency(self) -> dict:
        """Latencies PortAudio reports for the open stream (seconds), plus the block period."""
        lat = self.stream.latency if self.stream is not None else (0.0, 0.0)
        if not isinstance(lat, (tuple, list)):
            lat = (lat, lat) if self.config.in_channels > 0 else (0.0, lat)
        return {"input": float(lat[0]), "output": float(lat[1]),
                "block": self.config.block_size / float(self.config.sample_rate)}
