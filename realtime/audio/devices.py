"""Audio devices through PortAudio (sounddevice): listing, resolving a user's choice, clear errors.

Also names PortAudio's JACK client (``PaJack_SetClientName``), so that tonehost's ports show up as
``tonehost:in_1`` ... in JACK instead of the anonymous ``PortAudio``.
"""
from __future__ import annotations

import ctypes
import ctypes.util

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


_jack_name_set: list = []


def set_jack_client_name(name: str) -> None:
    """Name PortAudio's JACK client (re-initialises PortAudio; call before any stream is open)."""
    if _jack_name_set and _jack_name_set[0].value == name.encode():
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
