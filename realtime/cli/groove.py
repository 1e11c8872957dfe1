"""``tonehost groove``: humanize a drum MIDI file of any length with GrooVAE, window by window."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tonehost.exports.errors import TonehostError, UsageError
from tonehost.realtime.cli import options
from tonehost.realtime.cli.outputs import midi_output

HELP = "humanize a drum MIDI file (any length) with GrooVAE: velocities and timing, window by window"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "groove", help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=HELP + ".\n\nexamples:\n"
        "  tonehost groove drums.mid -o humanized.mid                       # groovae_2bar_humanize\n"
        "  tonehost groove taps.mid -o beat.mid --checkpoint tap2drum_2bar    # taps (any pitch) -> a beat\n"
        "  tonehost groove drums.mid -o replayed.mid --checkpoint groovae_4bar --temperature 0.5 --seed 1\n"
        "  tonehost groove drums.mid -o out.mid --checkpoint ./my_groovae_dir\n\n"
        "The drum notes (all notes when none is marked as drums) are quantized to sixteenth notes at the file's "
        "tempo and cut into windows of the model's length (2 bars for groovae_2bar_humanize, 1-4 for "
        "tap2drum_Nbar); each window is encoded and decoded by the model, which gives every hit a velocity and "
        "a timing offset, and the windows are put back in place. The output keeps the input's length and tempo. "
        "GM drum pitches are mapped to 9 classes (kick, snare, closed/open hi-hat, 3 toms, crash, ride); other "
        "pitches are skipped (tap2drum takes any pitch). --temperature 0 (the default) keeps the most likely "
        "hits; above 0 the hits are sampled.")
    p.add_argument("input", metavar="DRUMS.mid", help="MIDI file with drums")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mid", type=midi_output,
                   help="MIDI file to write (missing folders are created)")
    p.add_argument("--checkpoint", default="groovae_2bar_humanize", metavar="ID|DIR", type=options.checkpoint_ref,
                   help="GrooVAE checkpoint id, URL or directory (default groovae_2bar_humanize; also groovae_4bar, "
                   "tap2drum_1bar..tap2drum_4bar)")
    p.add_argument("--temperature", type=options.temperature, default=0.0,
                   help="hit sampling temperature; 0 keeps the most likely hits (default 0)")
    p.add_argument("--seed", type=options.non_negative_int, help="random seed (default: fresh)")
    p.add_argument("--offline", action="store_true", help="never download the checkpoint")
    p.add_argument("--threads", type=options.threads, default=1,
                   help="onnxruntime threads, 1 .. 4x the cores (default 1)")
    p.set_defaults(func=cmd_groove)


def cmd_groove(args) -> int:
    from tonehost.exports.note_sequence import NoteSequence
    from tonehost.realtime.pipelines.music_vae import MusicVAE

    # --temperature, --seed, --threads and -o (its folder created) were checked while parsing (cli.options)
    src, out = Path(args.input), Path(args.output)
    seq = NoteSequence.from_midi(src)  # a missing, empty, truncated or non-MIDI file, or a folder: one line
    if not seq.notes:  # (before the model loads: it was said after a hosted checkpoint's download)
        raise UsageError(f"{src} has no notes")
    t0 = time.perf_counter()
    model = MusicVAE(args.checkpoint, seed=args.seed, offline=args.offline, threads=args.threads)
    t_load = time.perf_counter() - t0
    conv = model.spec["dataConverter"]
    if conv["type"] != "GrooveConverter":
        raise UsageError(f"{model.name} is not a GrooVAE model; use groovae_2bar_humanize, groovae_4bar or "
                         "tap2drum_1bar..tap2drum_4bar")
    tapify = bool(conv["args"].get("tapify"))
    if not tapify:  # tap2drum takes any pitch
        from tonehost.realtime.cli.vae import keep_kit_drums

        keep_kit_drums(seq, model, src)
    if not seq.notes:
        raise UsageError(f"{src} has no drum notes to humanize (GM drum pitches on any channel, or any notes for "
                         "tap2drum)")
    t1 = time.perf_counter()
    try:
        result = model.groove(seq, temperature=args.temperature or None)
    except TonehostError as exc:
        raise type(exc)(f"{src}: {exc.user_message}", src) from None
    t_run = time.perf_counter() - t1
    result.to_midi(out)
    n_windows = int(np.ceil(max(1e-9, result.total_time) / (model.num_steps * 60.0 / seq.qpm / 4) - 1e-9))
    print(f"{model.name}: {options.counted(len(seq.notes), 'hit')} in {options.counted(n_windows, 'window')} of "
          f"{model.num_steps // 16:g} bar{'s' if model.num_steps > 16 else ''} -> "
          f"{options.counted(len(result.notes), 'note')} in "
          f"{t_run:.2f} s (model ready in {t_load:.2f} s) -> {out}")
    return 0
