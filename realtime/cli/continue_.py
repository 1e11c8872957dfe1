"""``tonehost continue``: continue a MIDI melody (or drum groove) with a MusicRNN checkpoint."""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from tonehost.exports.errors import UsageError
from tonehost.exports.note_sequence import NoteSequence, SequenceError
from tonehost.realtime.cli import options
from tonehost.realtime.cli.outputs import midi_output
from tonehost.realtime.pipelines.limits import MAX_STEPS

#: ``--steps`` asks for 1 .. MAX_STEPS: MusicRNN's own bound (pipelines.limits, 256 bars of sixteenths);
#: ``--steps 100000000`` used to run for hours with no sign of life.

HELP = "continue a MIDI melody or drum groove with MusicRNN (basic_rnn, melody_rnn, drum_kit_rnn, chord_pitches_improv)"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "continue", help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=HELP + ".\n\nexamples:\n"
        "  tonehost continue primer.mid -o out.mid                          # the shipped model, 64 steps, T=1.0\n"
        "  tonehost continue primer.mid -o out.mid --temperature 0          # the most likely event at every step\n"
        "  tonehost continue primer.mid -o out.mid --checkpoint basic_rnn   # the hosted basic_rnn (downloaded once)\n"
        "  tonehost continue primer.mid -o out.mid --temperature 1.0 --seed 7 --steps 128\n"
        "  tonehost continue primer.mid -o out.mid --checkpoint chord_pitches_improv --chords \"C G Am F\"\n"
        "  tonehost continue groove.mid -o more.mid --checkpoint drum_kit_rnn\n"
        "  tonehost continue primer.mid -o out.mid --checkpoint ./my_checkpoint_dir --qpm 90\n\n"
        "The primer is quantized to sixteenth notes (4 steps per quarter) at its own tempo; the output holds the "
        "primer followed by the new steps, written at --qpm (default: the primer's tempo). A melody model needs "
        "a one-voice primer within its pitch range (the shipped basic_rnn_folk, basic_rnn and "
        "chord_pitches_improv: 48-83, melody_rnn: "
        "0-127); drum_kit_rnn takes the primer's drum notes (or all notes when it has none), one hit per drum "
        "class and step. --chords spread evenly over primer + continuation, as magenta.js does. The checkpoint "
        "is fetched once (verified) and exported to ONNX once (cached next to it); the default model ships with "
        "tonehost and needs no network. Drums need the hosted drum_kit_rnn: tonehost ships no drums model (no "
        "registry package offers real drum performances to train one offline), so fetch it once (`tonehost "
        "checkpoints fetch drum_kit_rnn`) or pass --checkpoint DIR.")
    p.add_argument("primer", help="MIDI file to continue")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mid", type=midi_output, help="MIDI file to write (primer + "
                   "continuation)")
    p.add_argument("--checkpoint", metavar="ID|DIR", type=options.checkpoint_ref,
                   help="MusicRNN checkpoint id, URL or directory (default: basic_rnn_folk, the melody model "
                   "shipped with tonehost, in basic_rnn's format; works offline)")
    p.add_argument("--steps", type=options.int_range(1, MAX_STEPS), default=64,
                   help=f"new sixteenth-note steps to generate, 1..{MAX_STEPS} (default 64)")
    p.add_argument("--temperature", type=options.temperature, default=1.0,
                   help="sampling temperature (default 1.0); 0 takes the most likely event at every step (with a "
                   "small model that often just holds the last note)")
    p.add_argument("--chords", metavar="\"C G Am F\"", type=options.chord_progression, help="chord progression, for chord-conditioned "
                   "checkpoints (chord_pitches_improv)")
    p.add_argument("--qpm", type=options.tempo_qpm, help="tempo of the output in quarter notes per minute (default: the "
                   "primer's)")
    p.add_argument("--seed", type=options.non_negative_int, help="random seed of the sampling (default: fresh)")
    p.add_argument("--skip-polyphony", action="store_true", help="keep only the highest note of notes that "
                   "start together (magenta.js's own rule) instead of refusing a polyphonic primer")
    p.add_argument("--offline", action="store_true", help="never download the checkpoint")
    p.add_argument("--threads", type=options.threads, default=1,
                   help="onnxruntime threads, 1 .. 4x the cores (default 1)")
    p.set_defaults(func=cmd_continue)


def _bar_beat(step: int) -> str:
    return f"bar {step // 16 + 1} beat {step % 16 // 4 + 1}"


def _one_after_another(notes) -> bool:
    """Whether ``notes`` (that start on one grid step) sound one after another in time, none over the next."""
    ns = sorted(notes, key=lambda n: n.start_time)
    return all(a.end_time <= b.start_time + 1e-3 for a, b in zip(ns, ns[1:]))


def _longest(notes):
    """The longest of ``notes`` in seconds (the first of equals)."""
    return max(notes, key=lambda n: n.end_time - n.start_time)


def _check_primer(path: str, seq: NoteSequence, model, skip_polyphony: bool) -> NoteSequence:
    """The primer the converter will read, or a one-sentence error naming the file and the fix."""
    from tonehost.exports.sequences import DrumsOneHotConverter, MelodyConverter

    conv = model.data_converter
    if isinstance(conv, DrumsOneHotConverter):
        use_all = not any(n.is_drum for n in seq.notes)
        bad = sorted({n.pitch for n in seq.notes if (use_all or n.is_drum) and n.pitch not in conv.pitch_to_class})
        if bad:
            raise UsageError(f"{path}: pitch{'es' if len(bad) > 1 else ''} {', '.join(map(str, bad[:6]))} "
                             f"{'are' if len(bad) > 1 else 'is'} not in the drum kit the model knows (GM kick, "
                             "snare, hi-hats, toms, crash, ride); remove or remap those notes")
        out = seq.copy()
        out.notes = [n for n in out.notes if use_all or n.is_drum]
        return conv.clean_drums(out)
    if isinstance(conv, MelodyConverter):
        starts: dict[int, list] = {}
        for n in seq.notes:
            starts.setdefault(n.quantized_start_step, []).append(n)
        chords = [s for s, ns in sorted(starts.items()) if len(ns) > 1]
        # notes one after another that the grid put on one step are a one-voice line finer than the grid (a sung
        # line from `pitch --midi`: scoops and passing notes under a sixteenth), not a chord: it was refused as
        # polyphonic; the longest of each such step is kept
        grid = [s for s in chords if _one_after_another(starts[s])]
        chords = [s for s in chords if s not in grid]
        if chords and not skip_polyphony:
            raise UsageError(f"{path} is polyphonic ({len(starts[chords[0]])} notes start together at "
                             f"{_bar_beat(chords[0])}{f' and {len(chords) - 1} more places' if len(chords) > 1 else ''}"
                             "); give a one-voice melody, or pass --skip-polyphony to keep the highest note")
        if grid and not skip_polyphony:
            import warnings

            from tonehost.exports.errors import TonehostWarning

            drop = {id(n) for s in grid for n in starts[s] if n is not _longest(starts[s])}
            keep = [i for i, n in enumerate(seq.notes) if id(n) not in drop]
            seq = seq.copy()
            seq.notes = [seq.notes[i] for i in keep]
            warnings.warn(f"{path}: {options.counted(len(drop), 'note')} shorter than the model's "
                          f"sixteenth-note grid shared a step with the next (a one-voice line); the longest note "
                          "of each step is kept", TonehostWarning, stacklevel=2)
        lo, hi = conv.min_pitch, conv.max_pitch
        kept = [max(ns, key=lambda n: n.pitch) for ns in starts.values()]
        out_of_range = sorted({n.pitch for n in kept if not lo <= n.pitch <= hi})
        if out_of_range and all(n.is_drum for n in seq.notes):
            raise UsageError(f"{path} holds drums, and {model.checkpoint_dir.name if model.checkpoint_dir else 'this'} "
                             "is a melody model; continue drums with --checkpoint drum_kit_rnn")
        if out_of_range:
            span = f"{min(out_of_range)}..{max(out_of_range)}" if len(out_of_range) > 1 else str(out_of_range[0])
            raise UsageError(f"{path} has pitch{'es' if len(out_of_range) > 1 else ''} {span} outside the model's "
                             f"range {lo}..{hi}; transpose the melody into range")
    return seq


def cmd_continue(args) -> int:
    from tonehost.exports.sequences import parse_chord_progression
    from tonehost.realtime.pipelines.music_rnn import MusicRNN

    chords = parse_chord_progression(args.chords) if args.chords else None
    out_path = Path(args.output)  # checked (and its folder created) while parsing: options.output_file
    raw = NoteSequence.from_midi(args.primer)
    if not raw.notes:
        raise UsageError(f"{args.primer} has no notes to continue")
    try:
        primer = raw.quantize(4)
    except SequenceError as exc:
        raise SequenceError(f"{args.primer}: {exc}") from None

    t0 = time.perf_counter()
    model = MusicRNN(args.checkpoint, offline=args.offline, threads=args.threads)
    t_load = time.perf_counter() - t0
    label = args.checkpoint or model.checkpoint_dir.name
    if model.chord_encoder is not None and not chords:
        raise UsageError(f"{label} is conditioned on chords: pass --chords, e.g. --chords \"C G Am F\"")
    if model.chord_encoder is None and chords:
        raise UsageError(f"{label} takes no chords; drop --chords (chord_pitches_improv takes them)")
    if chords:
        chords = parse_chord_progression(chords, model.chord_encoder)
    model_input = _check_primer(args.primer, primer, model, args.skip_polyphony)
    t1 = time.perf_counter()
    cont = model.continue_sequence(model_input, args.steps, temperature=args.temperature or None,
                                   chord_progression=chords, rng=args.seed)
    t_gen = time.perf_counter() - t1

    T = primer.total_quantized_steps
    velocity = int(statistics.median(n.velocity for n in primer.notes)) if primer.notes else 100
    program = statistics.mode(n.program for n in primer.notes) if primer.notes else 0
    out = primer.copy()
    for n in cont.notes:
        n.quantized_start_step += T
        n.quantized_end_step += T
        n.velocity = velocity
        if not n.is_drum:
            n.program = program
        out.notes.append(n)
    out.total_quantized_steps = T + args.steps
    qpm = args.qpm or primer.qpm
    out.unquantize(qpm).to_midi(out_path)
    name = model.checkpoint_dir.name if model.checkpoint_dir else args.checkpoint
    print(f"{name}: {T}-step primer + {args.steps} new steps ({options.counted(len(cont.notes), 'note')}) in "
          f"{t_gen:.2f} s "
          f"(model ready in {t_load:.2f} s) -> {out_path}")
    return 0
