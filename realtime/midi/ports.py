"""MIDI ports through python-rtmidi on every MIDI system this machine has: ALSA sequencer and JACK MIDI.

One list for each direction, the one ``tonehost devices --midi`` prints: every ALSA port (when the ALSA sequencer,
``/dev/snd/seq``, exists) then every JACK MIDI port (when a JACK server runs), numbered from 0. ``--midi-in`` and
``--midi-out`` take a number of that list, a port's name or a unique part of it; another name creates a port of
that name for other programs to connect to (ALSA first, else JACK MIDI). The MIDI clients are named
``tonehost-midi`` (never ``tonehost``: JACK would then rename the audio client to ``tonehost-01`` and break
scripts that connect to ``tonehost:in_0``), and :class:`OpenPort` says exactly which port was opened or created.

"Input" ports are those tonehost reads from (a keyboard's output), "output" ports those it writes to (a synth's
input), as python-rtmidi lists them.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass

from tonehost.exports.errors import DeviceError

__all__ = ["MidiPort", "OpenPort", "midi_apis", "list_ports", "describe", "open_port", "port_name",
           "jack_server_running", "CLIENT_NAME"]

#: The MIDI client name tonehost registers with ALSA and JACK.
CLIENT_NAME = "tonehost-midi"

_quiet: list = []


def port_name(text: str) -> str:
    """argparse type of ``--midi-in`` / ``--midi-out``: a port number or name, not blank.

    ``play --midi-in ""`` ran the voice path with no MIDI port and no word about it. Surrounding spaces are
    dropped (as :func:`open_port` matches names).

    Returns
    -------
    str
        The name, stripped.

    Raises
    ------
    argparse.ArgumentTypeError
        An empty or blank name, or one holding control characters (argparse prefixes the option's name).
    """
    import argparse

    name = str(text).strip()
    if not name:
        raise argparse.ArgumentTypeError("expected a MIDI port number or name (see `tonehost devices --midi`), got "
                                         "an empty string")
    if any(not c.isprintable() for c in name):
        raise argparse.ArgumentTypeError(f"{text!r} is not a MIDI port name (it holds control characters)")
    return name
_abandoned: list = []  # ports of a server that went away, kept open until the process ends


def _quiet_libjack() -> None:
    """Silence libjack's own error and info lines ("Cannot connect to server socket ...") for this process.

    libjack prints them on standard error when a client cannot reach a server; tonehost reports what matters in
    its own one line. Process-wide (libjack keeps one handler); PortAudio's JACK host API installs its own, silent,
    handler too.
    """
    if _quiet:
        return
    import glob

    import rtmidi

    # python-rtmidi's wheel bundles its own libjack (python_rtmidi.libs/libjack-*.so); PortAudio uses the system's
    here = os.path.dirname(os.path.dirname(os.path.abspath(rtmidi.__file__)))
    libs = sorted(glob.glob(os.path.join(here, "python_rtmidi*", "libjack*.so*")))
    libs.append(ctypes.util.find_library("jack") or "libjack.so.0")
    handler = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(lambda msg: None)
    _quiet.append(handler)  # keep the C callback alive
    for name in libs:
        try:
            lib = ctypes.CDLL(name)
            lib.jack_set_error_function(handler)
            lib.jack_set_info_function(handler)
        except (OSError, AttributeError):
            continue


def _alsa_sequencer() -> bool:
    return not sys.platform.startswith("linux") or os.path.exists("/dev/snd/seq")


def midi_apis() -> list[tuple[int, str]]:
    """The rtmidi APIs usable here, in order of preference: ``[(api, "ALSA"), (api, "JACK")]`` or a subset.

    ALSA counts when ``/dev/snd/seq`` exists (on other systems: the platform's own MIDI API), JACK when
    python-rtmidi was built with it (whether a server runs shows when a port is listed).
    """
    import rtmidi

    compiled = rtmidi.get_compiled_api()
    apis = []
    for api in compiled:
        if api == rtmidi.API_UNIX_JACK or api == rtmidi.API_RTMIDI_DUMMY:
            continue
        if api == rtmidi.API_LINUX_ALSA and not _alsa_sequencer():
            continue
        apis.append((api, "ALSA" if api == rtmidi.API_LINUX_ALSA else rtmidi.get_api_display_name(api)))
    if rtmidi.API_UNIX_JACK in compiled:
        apis.append((rtmidi.API_UNIX_JACK, "JACK"))
    return apis


def _make(direction: str, api: int, client_name: str):
    """An rtmidi MidiIn/MidiOut on ``api``, or None when that MIDI system is not there (no server, no device)."""
    import rtmidi

    if api == rtmidi.API_UNIX_JACK:
        _quiet_libjack()
    cls = rtmidi.MidiIn if direction == "input" else rtmidi.MidiOut
    try:
        return cls(rtapi=api, name=client_name)
    except Exception:  # rtmidi.SystemError / RuntimeError: e.g. "JACK server not running?"
        return None


def jack_server_running() -> bool:
    """Whether a JACK server answers (a JACK MIDI client can be made), for ``devices --midi``'s note.

    Returns
    -------
    bool
        False also when python-rtmidi was built without JACK.
    """
    import rtmidi

    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        return False
    rt = _make("input", rtmidi.API_UNIX_JACK, CLIENT_NAME + "-probe")
    if rt is None:
        return False
    rt.delete()
    return True


@dataclass(frozen=True)
class MidiPort:
    """One MIDI port of :func:`list_ports`.

    Attributes
    ----------
    index : int
        Its number in the list of its direction (what ``--midi-in N`` / ``--midi-out N`` take).
    name : str
        The port's name as the MIDI system shows it (JACK: ``client:port``).
    system : str
        ``"ALSA"`` or ``"JACK"`` (elsewhere: the platform API's name).
    direction : str
        ``"input"`` (tonehost reads from it) or ``"output"`` (tonehost writes to it).
    """

    index: int
    name: str
    system: str
    direction: str
    _api: int = 0
    _api_index: int = 0


def list_ports(direction: str) -> list[MidiPort]:
    """Every MIDI port tonehost could open for ``direction`` (``"input"`` or ``"output"``), numbered from 0.

    Parameters
    ----------
    direction : str

    Returns
    -------
    list of MidiPort
        ALSA ports first, then JACK MIDI ports; empty when there is no MIDI system.
    """
    if direction not in ("input", "output"):
        raise ValueError(f"direction must be 'input' or 'output', got {direction!r}")
    out: list[MidiPort] = []
    for api, system in midi_apis():
        rt = _make(direction, api, CLIENT_NAME + "-list")
        if rt is None:
            continue
        try:
            names = rt.get_ports()
        finally:
            rt.delete()
        for i, name in enumerate(names):
            out.append(MidiPort(len(out), name, system, direction, api, i))
    return out


def describe(ports: list[MidiPort]) -> str:
    """``[0] name (ALSA); [1] ...`` or ``none``."""
    return "; ".join(f"[{p.index}] {p.name} ({p.system})" for p in ports) or "none"


@dataclass
class OpenPort:
    """A MIDI port tonehost opened (:func:`open_port`).

    Attributes
    ----------
    rt : rtmidi.MidiIn or rtmidi.MidiOut
    name : str
        The full name of the port others see or that tonehost connected to (JACK: ``client:port``).
    system : str
        ``"ALSA"`` or ``"JACK"``.
    created : bool
        True when tonehost created the port (no existing port matched), False when it connected to one.
    """

    rt: object
    name: str
    system: str
    created: bool

    def describe(self) -> str:
        """One phrase for the console: what was opened, on which system."""
        if self.created:
            return f"{self.system} MIDI port {self.name} (created; connect to it)"
        return f"{self.system} MIDI port {self.name}"

    def close(self, abandon: bool = False) -> None:
        """Close the port and free the client.

        ``abandon=True`` (the audio server went away or hangs): a JACK port and its client are left to the operating
        system instead (closing a JACK MIDI port whose server is gone blocks for about a second inside libjack, for
        good where the server hangs); a port of another system, which does not depend on that server, is closed.
        """
        if abandon and self.system == "JACK":
            _abandoned.append(self.rt)
            return
        try:
            self.rt.close_port()
        finally:
            self.rt.delete()


def _own_port_name(direction: str, api: int, system: str, port_name: str) -> str:
    """The full name the MIDI system gave the port tonehost just created (JACK may rename the client)."""
    other = "output" if direction == "input" else "input"  # our input port is an output of others' view
    rt = _make(other, api, CLIENT_NAME + "-list")
    found = []
    if rt is not None:
        try:
            for name in rt.get_ports():
                client, _, rest = name.partition(":")
                if client.startswith(CLIENT_NAME) and (rest == port_name or rest.startswith(port_name + " ")):
                    found.append(name)  # JACK lists the newest client (tonehost-midi-01, ...) last
        finally:
            rt.delete()
    return found[-1] if found else f"{CLIENT_NAME}:{port_name}"


def open_port(direction: str, spec: str, client_name: str = CLIENT_NAME) -> OpenPort:
    """Open the MIDI port ``spec`` names, or create one of that name.

    Parameters
    ----------
    direction : str
        ``"input"`` (tonehost reads notes from it) or ``"output"`` (tonehost sends notes to it).
    spec : str
        A number of ``tonehost devices --midi``'s list, a port's exact name, a unique part of one
        (case-insensitive), or a new name: then a port of that name is created (ALSA when the ALSA sequencer is
        there, else JACK MIDI).
    client_name : str
        The MIDI client's name (ALSA client, JACK client).

    Returns
    -------
    OpenPort

    Raises
    ------
    DeviceError
        No MIDI system at all (no ALSA sequencer, no JACK server); a number that is not in the list; a part of a
        name that matches several ports; a port that cannot be opened.
    """
    spec = str(spec).strip()
    if not spec:
        raise DeviceError(f"empty MIDI {direction} name; pass a port's name or number (see `tonehost devices --midi`)")
    flag = "--midi-in" if direction == "input" else "--midi-out"
    ports = list_ports(direction)
    chosen = None
    if spec.isdigit():
        hits = [p for p in ports if p.index == int(spec)]
        if not hits:
            raise DeviceError(f"no MIDI {direction} number {spec}; available: {describe(ports)} "
                              f"(`tonehost devices --midi` lists them; pass a number, a name, or a new name to "
                              f"create a port)")
        chosen = hits[0]
    else:
        exact = [p for p in ports if p.name == spec]
        part = [p for p in ports if spec.lower() in p.name.lower()]
        if exact:
            chosen = exact[0]
        elif len(part) == 1:
            chosen = part[0]
        elif len(part) > 1:
            raise DeviceError(f"MIDI {direction} {spec!r} matches {len(part)} ports: {describe(part)}; pass "
                              f"its number or more of its name to {flag}")
    apis = midi_apis()
    if chosen is not None:
        rt = _make(direction, chosen._api, client_name)
        if rt is None:
            raise DeviceError(f"cannot open the {chosen.system} MIDI system for {flag} {spec!r}; is it still running?")
        try:
            rt.open_port(chosen._api_index, name=("midi_in" if direction == "input" else "midi_out"))
        except Exception as exc:
            rt.delete()
            raise DeviceError(f"cannot open MIDI {direction} {chosen.name} ({exc}); pick another with {flag} "
                              "(see `tonehost devices --midi`)") from None
        if direction == "input":
            rt.ignore_types(sysex=True, timing=True, active_sense=True)
        return OpenPort(rt, chosen.name, chosen.system, created=False)
    errors = []
    for api, system in apis:
        rt = _make(direction, api, client_name)
        if rt is None:
            errors.append(f"{system}: not running" if system == "JACK" else f"{system}: unavailable")
            continue
        try:
            rt.open_virtual_port(spec)
        except Exception as exc:
            rt.delete()
            errors.append(f"{system}: {exc}")
            continue
        if direction == "input":
            rt.ignore_types(sysex=True, timing=True, active_sense=True)
        return OpenPort(rt, _own_port_name(direction, api, system, spec), system, created=True)
    tried = "; ".join(errors) or ("no MIDI system compiled into python-rtmidi" if not apis else "")
    raise DeviceError(f"no MIDI system to create {flag} port {spec!r} on ({tried}); on Linux load the ALSA "
                      f"sequencer (modprobe snd-seq) or start JACK, or drop {flag}")

