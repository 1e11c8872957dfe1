"""Audio I/O: the engine (a PortAudio stream whose callback is a GIL-free Numba C function), its lock-free rings,
atomics and devices.

- :mod:`~tonehost.realtime.audio.engine` -- :class:`Engine`, :class:`EngineConfig`;
- :mod:`~tonehost.realtime.audio.callback` -- the ``cfunc`` audio callback;
- :mod:`~tonehost.realtime.audio.ring` -- single-producer/single-consumer rings;
- :mod:`~tonehost.realtime.audio.atomics` -- acquire/release loads and stores for Numba;
- :mod:`~tonehost.realtime.audio.devices` -- listing and choosing devices, clear errors.
"""
from __future__ import annotations

#: The name buffer handed to ``PaJack_SetClientName`` (PortAudio keeps the pointer; kept alive here).
_PA_JACK_NAME: list = []


def _name_portaudio_jack_client(name: str = "tonehost") -> None:
    """Name PortAudio's JACK client before sounddevice initialises PortAudio (it does so when imported).

    Otherwise PortAudio's JACK host API first joins the graph as an active client named ``PortAudio`` (counted in
    the server's xruns like any other), and naming it ``tonehost`` later means re-initialising PortAudio. A no-op
    once sounddevice is imported, or with a PortAudio built without JACK.
    """
    import ctypes
    import ctypes.util
    import sys

    if "sounddevice" in sys.modules or _PA_JACK_NAME:
        return
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("portaudio") or "libportaudio.so.2")
        fn = lib.PaJack_SetClientName
    except (OSError, AttributeError, TypeError):
        return
    buf = ctypes.create_string_buffer(name.encode())
    fn.argtypes = [ctypes.c_char_p]
    if fn(buf) == 0:
        _PA_JACK_NAME.append(buf)


_name_portaudio_jack_client()
