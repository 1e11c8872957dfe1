"""``tonehost tap2drum``: tap a rhythm (MIDI or the mic), hear it as a full drum groove on the next bar (GrooVAE)."""
from __future__ import annotations

import argparse
import sys

from tonehost.exports.errors import UsageError
from tonehost.realtime.cli.live_music import (add_live_music_args, close_unstarted, open_midi_in, open_outputs,
                                              run_session)
from tonehost.realtime.cli.options import checkpoint_ref, finite_float, non_negative_int, temperature

HELP = "live: tap a rhythm on any key or pad (or into the mic); GrooVAE tap2drum plays it as a groove on the next bar"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "tap2drum", help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=HELP + ".\n\nexamples:\n"
        "  tonehost tap2drum --midi-in 0 --midi-out 1            # pads in, drums out (channel 10)\n"
        "  tonehost tap2drum --midi-in pads --fluidsynth          # hear it through FluidSynth in the engine\n"
        "  tonehost tap2drum --mic --fluidsynth --bars 2 --qpm 96 # clap into the mic, 2-bar windows\n"
        "  tonehost tap2drum --midi-in 0 --midi-out 1 --checkpoint ./my_tap2drum_dir\n\n"
        "The click counts in and keeps time (--click). Every window (--bars bars, 1 by default; the checkpoint "
        "tap2drum_Nbar\nis chosen to match) the taps you played go to the model, and the groove it makes plays "
        "on the next window, in\ntime: a tap up to half a sixteenth early belongs to the beat it anticipates, so "
        "the first hit is due that half\nstep (62.5 ms at 120 qpm) after the window closes. The model works "
        "while you play: the encoder follows the\ntaps step by step (z is ready at the close unless you tap in "
        "the last half step), then the decoder runs one\nstep at a time and each step's hits are scheduled at "
        "once. Hits it misses are counted late and dropped, never\nwaited for. A window without taps repeats the "
        "last groove (--no-hold: silence). q + Enter or Ctrl-C stops\nwith a summary.\n\n"
        "tonehost ships no tap2drum model: the hosted tap2drum_Nbar is downloaded once (tap2drum_1bar: 15.6 MB; `tonehost "
        "checkpoints fetch\ntap2drum_1bar` ahead of a session without a network), or give --checkpoint DIR.")
    p.add_argument("--mic", action="store_true", help="detect taps (claps, knocks) from the mic instead of MIDI")
    p.add_argument("--bars", type=int, choices=[1, 2, 3, 4], default=1, help="window length in bars: picks "
                   "tap2drum_Nbar (default 1)")
    p.add_argument("--checkpoint", metavar="ID|DIR", type=checkpoint_ref, help="a tap2drum checkpoint id, URL or directory (default "
                   "tap2drum_{bars}bar)")
    p.add_argument("--temperature", type=temperature, default=0.0, help="hit sampling temperature; 0 "
                   "keeps the most likely hits (default)")
    p.add_argument("--seed", type=non_negative_int, help="random seed (default: fresh)")
    p.add_argument("--no-hold", action="store_true", help="play nothing after a window without taps (default: "
                   "repeat the last groove)")
    p.add_argument("--tap-gate", type=finite_float, default=-45.0, metavar="DB", help="with --mic: taps must be louder "
                   "than this (power dB, default -45)")
    p.add_argument("--offline", action="store_true", help="never download the checkpoint")
    add_live_music_args(p, click="on")
    p.set_defaults(func=cmd_tap2drum)


def cmd_tap2drum(args) -> int:
    from tonehost.realtime.cli.live import StatusLine
    from tonehost.realtime.pipelines.jam import LiveSession, TapToDrums
    from tonehost.realtime.pipelines.music_vae import MusicVAE

    if not args.mic and not args.midi_in:
        raise UsageError("tap on a MIDI input (--midi-in PORT, see `tonehost devices --midi`) or into the mic "
                         "(--mic)")
    if not args.midi_out and args.fluidsynth is None:
        raise UsageError("nothing would play the groove: add --midi-out PORT and/or --fluidsynth [SF2]")
    status = StatusLine(sys.stderr)
    session = LiveSession(args.sample_rate, args.qpm, args.count_in, args.click, say=status.message)
    midi_in = None
    try:
        said = open_outputs(session, args)
        model = MusicVAE(args.checkpoint or f"tap2drum_{args.bars}bar", seed=args.seed, offline=args.offline)
        part = TapToDrums(model, args.temperature or None, args.seed, hold=not args.no_hold)
        if args.checkpoint is None and part.window_steps != 16 * args.bars:
            raise UsageError(f"{model.name} has {part.window_steps // 16}-bar windows, not {args.bars}")
        session.add_part(part)
        said.insert(0, f"{model.name}: {part.window_steps // 16}-bar windows")
        if args.mic:
            from tonehost.realtime.pipelines.listen import TapListener

            session.listeners.append(TapListener(args.sample_rate, gate_db=args.tap_gate))
            said.append("taps from the mic")
        if args.midi_in:
            midi_in = open_midi_in(session, args.midi_in)
            said.append(f"MIDI in: {midi_in.describe()}")
        status.message("tap2drum: " + "; ".join(said))
    except BaseException:
        close_unstarted(session, midi_in)
        raise
    run_session(session, args, status, "tapped", closers=[midi_in])
    return 0
