"""``tonehost devices``: the audio devices PortAudio sees (``--midi``: the MIDI ports, ALSA and JACK MIDI)."""
from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser("devices", help="list audio devices (use the index with --device N); --midi: MIDI ports",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="List the audio devices PortAudio can open (on Linux usually through JACK or "
                                   "ALSA).\nPass the index, or part of the name, to --device of play/transcribe.\n"
                                   "With --midi: the MIDI ports of the ALSA sequencer and of JACK MIDI, inputs (what\n"
                                   "play --midi-in reads) and outputs (what play/transcribe --live --midi-out write "
                                   "to),\nnumbered as those options take them.\n\nexamples:\n"
                                   "  tonehost devices\n  tonehost devices --midi\n  tonehost devices --midi --json")
    p.add_argument("--midi", action="store_true", help="list MIDI ports (ALSA and JACK MIDI) instead")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run_midi(args) -> int:
    """``devices --midi``: one table per direction; says which MIDI systems are missing."""
    from tonehost.realtime.midi.ports import jack_server_running, list_ports, midi_apis

    systems = [name for _, name in midi_apis()]
    ports = {d: list_ports(d) for d in ("input", "output")}
    if args.json:
        print(json.dumps({d: [{"index": p.index, "name": p.name, "system": p.system} for p in ps]
                          for d, ps in ports.items()}, indent=2))
        return 0
    seen = {p.system for ps in ports.values() for p in ps}
    for d, title in (("input", "MIDI inputs (play --midi-in N)"), ("output", "MIDI outputs (play --midi-out N, "
                                                                             "transcribe --live --midi-out N)")):
        print(title + ":")
        for p in ports[d]:
            print(f"  {p.index:>3}  {p.name:<48} {p.system}")
        if not ports[d]:
            print("  none")
    missing = []
    if "ALSA" not in systems:
        missing.append("no ALSA sequencer (/dev/snd/seq; load it with `modprobe snd-seq`)")
    if "JACK" in systems and "JACK" not in seen:
        # a server without MIDI ports (the dummy backend has none) was asked "is a JACK server running?"
        missing.append("the JACK server has no MIDI ports (its backend has none: start a program that has some, "
                       "e.g. a synth or a2jmidid)" if jack_server_running() else
                       "no JACK MIDI ports (no JACK server is running)")
    if missing:
        print("note: " + "; ".join(missing) + ". A name that matches no port creates one "
              "(tonehost-midi:NAME) for other programs to connect to.")
    return 0


def run(args) -> int:
    if args.midi:
        return run_midi(args)
    from tonehost.realtime.audio.devices import describe_available, list_devices

    devs = list_devices()
    if args.json:
        print(json.dumps(devs, indent=2))
        return 0
    if not devs:
        print(describe_available())
        return 1
    print(f"{'idx':>3}  {'name':<32} {'host API':<28} {'in':>3} {'out':>3} {'rate':>7} {'low lat ms':>10}")
    for d in devs:
        print(f"{d['index']:>3}  {d['name'][:32]:<32} {d['hostapi'][:28]:<28} {d['max_input_channels']:>3} "
              f"{d['max_output_channels']:>3} {d['default_samplerate']:>7.0f} {d['default_low_latency_ms']:>10.1f}")
    return 0
