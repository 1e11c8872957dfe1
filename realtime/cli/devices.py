"""``tonehost devices``: the audio devices PortAudio sees, with host API, channels and default rate."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("devices", help="list audio devices (use the index with --device N)",
                       description="List the audio devices PortAudio can open (on Linux usually through JACK or "
                                   "ALSA). Pass the index, or part of the name, to --device of play/transcribe.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
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
