"""Audio devices through PortAudio (sounddevice): listing, resolving a user's choice, clear errors.

Also names PortAudio's JACK client (``PaJack_SetClientName``), so that tonehost's ports show up as
``tonehost:in_1`` ... in JACK instead of the anonymous ``PortAudio``; asks a running JACK server for its period
(:func:`jack_server_period`); and keeps the streams of a server that went away out of PortAudio's clean-up
(:func:`abandon_stream`): closing a JACK stream whose server is gone blocks for good inside ``Pa_CloseStream``.
"""
from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import threading

import sounddevice as sd

from tonehost.exports.errors import DeviceError


def list_devices() -> list[dict]:
    """All devices PortAudio sees, with their host API name, channel counts and default rate."""
    apis = sd.query_hostapis()
    out = []
    for i, d in enumerate(sd.query_devices()):
        out.append({
            "index": i,
            "name": d["name"],
            "hostapi": apis[d["hostapi"]]["name"],
            "max_input_channels": d["max_input_channels"],
            "max_output_channels": d["max_output_channels"],
            "default_samplerate": d["default_samplerate"],
            "default_low_latency_ms": 1000 * max(
                d["default_low_input_latency"] if d["max_input_channels"] else 0.0,
                d["default_low_output_latency"] if d["max_output_channels"] else 0.0),
        })
    return out


def describe_available() -> str:
    devs = list_devices()
    if not devs:
        return ("no audio devices at all: is a sound server running? (on Linux: start JACK, e.g. "
                "`jackd -d alsa` or, without a sound card, `jackd -d dummy -r 48000 -p 128`)")
    return "available: " + "; ".join(f"[{d['index']}] {d['name']} ({d['hostapi']}, "
                                      f"{d['max_input_channels']} in/{d['max_output_channels']} out)" for d in devs)


def resolve_device(device, kind: str) -> int:
    """Return the PortAudio index of ``device`` (index, name substring, or None for the default).

    ``kind`` is ``"input"`` or ``"output"``. Raises :class:`DeviceError` naming what exists instead.
    """
    try:
        info = sd.query_devices(device, kind)
    except (ValueError, sd.PortAudioError) as exc:
        what = "default" if device is None else repr(device)
        raise DeviceError(f"no {kind} device {what} ({exc}); {describe_available()}. "
                          f"Pick one with --device N (see `tonehost devices`).") from None
    return int(info["index"])


def check_settings(device: int, kind: str, sample_rate: float, channels: int) -> None:
    """Raise :class:`DeviceError` if the device cannot open ``channels`` at ``sample_rate``."""
    info = sd.query_devices(device)
    have = info[f"max_{kind}_channels"]
    if channels > have:
        raise DeviceError(f"device [{device}] {info['name']} has {have} {kind} channels, {channels} asked for; "
                          f"use fewer channels or another --device (see `tonehost devices`).")
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device, samplerate=sample_rate, channels=channels, dtype="float32")
    except sd.PortAudioError as exc:
        raise DeviceError(f"device [{device}] {info['name']} cannot run {kind} at {sample_rate:g} Hz ({exc}); "
                          f"its default rate is {info['default_samplerate']:g} Hz: pass --samplerate "
                          f"{info['default_samplerate']:g}, or restart the sound server at {sample_rate:g} Hz.") from None


from tonehost.realtime.audio import _PA_JACK_NAME

_jack_name_set: list = _PA_JACK_NAME  # the name PortAudio's JACK client has (set before PortAudio started)
_abandoned: list = []


def _default_jack_server() -> str:
    return os.environ.get("JACK_DEFAULT_SERVER") or "default"


#: The JACK server PortAudio's JACK host API joined (sounddevice initialises PortAudio when imported).
_pa_server = [_default_jack_server()]


def set_jack_client_name(name: str) -> None:
    """Name PortAudio's JACK client (re-initialises PortAudio; call before any stream is open).

    Does nothing once a stream was abandoned (:func:`abandon_stream`): re-initialising PortAudio would try to
    close it and block.
    """
    if _jack_name_set and _jack_name_set[0].value == name.encode():
        return
    if _abandoned:
        return
    libname = getattr(sd, "_libname", None) or ctypes.util.find_library("portaudio")
    try:
        lib = ctypes.CDLL(libname)
        fn = lib.PaJack_SetClientName
    except (OSError, AttributeError, TypeError):
        return  # a PortAudio built without JACK: nothing to name
    buf = ctypes.create_string_buffer(name.encode())
    fn.argtypes = [ctypes.c_char_p]
    if fn(buf) == 0:
        _jack_name_set[:] = [buf]  # PortAudio keeps the pointer: keep the buffer alive
        sd._terminate()
        sd._initialize()
        _pa_server[0] = _default_jack_server()


def host_api_name(device: int) -> str:
    """The PortAudio host API name of device index ``device`` (e.g. ``"JACK Audio Connection Kit"``, ``"ALSA"``)."""
    info = sd.query_devices(device)
    return sd.query_hostapis(info["hostapi"])["name"]


def abandon_stream(*keep_alive) -> None:
    """Leave a stream whose device or server went away open for good, instead of blocking on closing it.

    PortAudio's JACK host API waits for the server's process thread to acknowledge a stop or a close; with the
    server gone (or hung) ``Pa_StopStream``/``Pa_CloseStream``/``Pa_Terminate`` wait forever (seen with
    PortAudio 19.6: the main thread stuck in ``Pa_CloseStream``, Ctrl-C ignored). This keeps ``keep_alive`` (the
    stream and the memory its C callback points into) referenced until the process ends, and removes
    sounddevice's exit handler, which would call ``Pa_Terminate`` and block the exit. The operating system
    reclaims everything when the process exits.

    Parameters
    ----------
    *keep_alive : object
        Objects that must outlive the process's remaining life (the stream, the engine's arrays, ...).
    """
    _abandoned.append(keep_alive)
    atexit.unregister(sd._exit_handler)


def streams_abandoned() -> int:
    """How many streams :func:`abandon_stream` left open in this process."""
    return len(_abandoned)


def close_within(stream, timeout: float) -> bool:
    """Stop and close ``stream`` (a sounddevice stream), giving up after ``timeout`` seconds.

    Returns
    -------
    bool
        True when the stream was closed; False when PortAudio was still blocked after ``timeout`` (the call is
        left to finish in a daemon thread and the stream is abandoned, see :func:`abandon_stream`).
    """
    def run():
        try:
            stream.stop()
        finally:
            stream.close()

    t = threading.Thread(target=run, name="tonehost-close-stream", daemon=True)
    t.start()
    t.join(timeout)
    return not t.is_alive()


_JACK_NO_START_SERVER = 0x01
_JACK_SERVER_NAME = 0x04


def _libjack():
    try:
        return ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
    except OSError:
        return None


def jack_server_alive(server: str) -> bool | None:
    """Whether the JACK server named ``server`` answers (a short-lived client opened and closed), None without
    libjack."""
    lib = _libjack()
    if lib is None:
        return None
    lib.jack_client_open.restype = ctypes.c_void_p
    lib.jack_client_open.argtypes = None  # variadic: (name, options, status*, server_name)
    lib.jack_client_close.argtypes = [ctypes.c_void_p]
    status = ctypes.c_int(0)
    client = lib.jack_client_open(ctypes.c_char_p(b"tonehost-exit-probe"),
                                  ctypes.c_int(_JACK_NO_START_SERVER | _JACK_SERVER_NAME), ctypes.byref(status),
                                  ctypes.c_char_p(server.encode()))
    if not client:
        return False
    lib.jack_client_close(ctypes.c_void_p(client))
    return True


def _exit_guard() -> None:
    """At exit, before sounddevice's handler: skip ``Pa_Terminate`` when PortAudio's JACK server has gone.

    PortAudio 19.6's JACK host API asserts in ``Terminate`` when ``jack_deactivate`` fails on a dead server, which
    aborts the process (exit 134) after everything else went well; the operating system frees what it holds.
    """
    if _abandoned:
        return
    try:
        jack = any(api["name"].startswith("JACK") for api in sd.query_hostapis())
    except Exception:
        return
    if jack and jack_server_alive(_pa_server[0]) is False:
        atexit.unregister(sd._exit_handler)


atexit.register(_exit_guard)  # atexit runs last-registered first: before sounddevice's own handler


def jack_server_period(client_name: str = "tonehost-probe") -> tuple[int, int] | None:
    """``(period_frames, sample_rate)`` of the running JACK server, or None (no server, no libjack).

    Opens a short-lived JACK client (``jack_client_open`` with ``JackNoStartServer``, through ctypes: libjack is
    already loaded by PortAudio's JACK host API), reads ``jack_get_buffer_size`` and ``jack_get_sample_rate``
    and closes it. Call it only when a JACK stream is open (libjack prints to standard error when no server
    runs, unless PortAudio installed its silent error handler first).

    Parameters
    ----------
    client_name : str
        Name of the probe client (visible in the JACK graph for a few milliseconds).
    """
    name = ctypes.util.find_library("jack")
    try:
        lib = ctypes.CDLL(name or "libjack.so.0")
    except OSError:
        return None
    lib.jack_client_open.restype = ctypes.c_void_p
    lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.jack_get_buffer_size.restype = ctypes.c_uint32
    lib.jack_get_buffer_size.argtypes = [ctypes.c_void_p]
    lib.jack_get_sample_rate.restype = ctypes.c_uint32
    lib.jack_get_sample_rate.argtypes = [ctypes.c_void_p]
    lib.jack_client_close.argtypes = [ctypes.c_void_p]
    status = ctypes.c_int(0)
    client = lib.jack_client_open(client_name.encode(), _JACK_NO_START_SERVER, ctypes.byref(status))
    if not client:
        return None
    try:
        return int(lib.jack_get_buffer_size(client)), int(lib.jack_get_sample_rate(client))
    finally:
        lib.jack_client_close(client)
