"""Audio I/O: the engine (a PortAudio stream whose callback is a GIL-free Numba C function), its lock-free rings,
atomics and devices.

- :mod:`~tonehost.realtime.audio.engine` -- :class:`Engine`, :class:`EngineConfig`;
- :mod:`~tonehost.realtime.audio.callback` -- the ``cfunc`` audio callback;
- :mod:`~tonehost.realtime.audio.ring` -- single-producer/single-consumer rings;
- :mod:`~tonehost.realtime.audio.atomics` -- acquire/release loads and stores for Numba;
- :mod:`~tonehost.realtime.audio.devices` -- listing and choosing devices, clear errors.
"""
