"""``tonehost vae``: MusicVAE from the command line -- sample, interpolate, similar, encode, decode (MIDI in and out)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from tonehost.exports.errors import TonehostError, UsageError
from tonehost.realtime.cli import options
from tonehost.realtime.cli.outputs import midi_output, vectors_output
from tonehost.realtime.pipelines.limits import MAX_BATCH

#: The most sequences one command writes (-n, --steps, a --grid's width x height): MusicVAE's own bound
#: (pipelines.limits.MAX_BATCH, about 10 s of decoding for the 2-bar models on one core); -n 1000000000 used to end
#: in numpy's MemoryError traceback (954 GiB of z) and -n 100000 ran for hours without a word.
MAX_RESULTS = MAX_BATCH

HELP = "MusicVAE: sample, interpolate between, vary, encode and decode melodies, drums, trios and multitrack bars"

EXAMPLES = """examples:
  tonehost vae sample -o samples.mid                                   # 4 melodies (the shipped model), T=0.5
  tonehost vae sample -o samples.mid --checkpoint mel_2bar_small      # the hosted mel_2bar_small
  tonehost vae sample -o beats.mid --checkpoint drums_2bar_hikl_small -n 8 --temperature 0.8 --seed 3
  tonehost vae sample -o tune.mid --checkpoint mel_chords --chords "C G Am F"
  tonehost vae interpolate a.mid b.mid -o morph.mid --steps 7          # a -> b in 7 melodies, back to back
  tonehost vae interpolate a.mid b.mid c.mid d.mid -o grid.mid --grid 4x3 --split   # grid_01.mid ...
  tonehost vae similar riff.mid -o variations.mid -n 6 --similarity 0.8
  tonehost vae encode a.mid b.mid -o z.json                            # latent vectors (JSON or .npy)
  tonehost vae decode z.json -o back.mid                               # argmax decode of each vector
  tonehost vae sample -o parts.mid --checkpoint ./my_checkpoint_dir    # any MusicVAE checkpoint directory

Results are written one after another into one MIDI file (each the model's length: 2 bars for the 2-bar
models, 16 for mel_16bar, one bar for multitrack), or one file each with --split (OUT_01.mid, OUT_02.mid, ...).
Input MIDI is quantized to the model's grid (sixteenth notes; multitrack 24 steps per quarter) at its own tempo;
a melody model reads the non-drum notes (one voice: of notes starting together the highest is kept; pitches
21-108), a drum model the drum notes; a longer input is cut to the model's length (with a note saying so).
--temperature 0 takes the most likely event at every step (sample defaults to 0.5, the others to 0). The default
model (mel_2bar_folk) ships with tonehost and needs no network; a hosted checkpoint is fetched once (verified) and
exported to ONNX once (cached next to it)."""


def register(subparsers) -> None:
    p = subparsers.add_parser("vae", help=HELP, description=HELP + ".\n\n" + EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="vae_command", metavar="ACTION")
    sub.required = True

    def common(q, temperature: float, inputs: bool = True, output_help: str = "MIDI file to write (missing folders "
               "are created)", stdout: bool = False):
        # every number and the output are checked while parsing (cli.options): a bad value is one line, exit 2
        q.add_argument("-o", "--output", required=True, metavar="OUT", help=output_help,
                       type=vectors_output if stdout else midi_output)
        q.add_argument("--checkpoint", metavar="ID|DIR", type=options.checkpoint_ref,
                       help="MusicVAE checkpoint id, URL or directory (default: mel_2bar_folk, the 2-bar melody "
                       "model shipped with tonehost, in mel_2bar_small's format; works offline; "
                       "`tonehost checkpoints list` shows the 25 hosted ones)")
        q.add_argument("--temperature", type=options.temperature, default=temperature,
                       help=f"sampling temperature; 0 takes the most likely event (default {temperature:g})")
        q.add_argument("--chords", metavar="\"C G Am F\"", type=options.chord_progression,
                       help="chord progression for chord-conditioned checkpoints (mel_chords, multitrack_chords: "
                       "one chord)")
        q.add_argument("--key", type=options.int_range(0, 11), metavar="0..11", help="key for key-conditioned checkpoints (0 = C)")
        q.add_argument("--qpm", type=options.tempo_qpm, help="tempo of the output (default: the input's, else 120)")
        q.add_argument("--seed", type=options.non_negative_int, help="random seed (default: fresh)")
        q.add_argument("--split", action="store_true", help="write one MIDI file per result (OUT_01.mid, ...)")
        q.add_argument("--offline", action="store_true", help="never download the checkpoint")
        q.add_argument("--threads", type=options.threads, default=1,
                       help="onnxruntime threads, 1 .. 4x the cores (default 1)")

    q = sub.add_parser("sample", help="new sequences from random latent vectors",
                       description="New sequences from z ~ N(0, 1).\n\n" + EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("-n", "--num", type=options.int_range(1, MAX_RESULTS), default=4,
                   help=f"how many, 1..{MAX_RESULTS} (default 4)")
    common(q, 0.5)
    q.set_defaults(func=cmd_sample)

    q = sub.add_parser("interpolate", help="a path between 2 inputs (or a grid between 4)",
                       description="Sequences between 2 inputs (a line, both ends included) or 4 (a grid: first "
                       "row from the 1st to the 3rd input, last row from the 2nd to the 4th).\n\n" + EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("inputs", nargs="+", metavar="IN.mid", help="2 or 4 MIDI files")
    q.add_argument("--steps", type=options.int_range(2, MAX_RESULTS), default=5,
                   help=f"sequences along the line, 2..{MAX_RESULTS} (default 5)")
    q.add_argument("--grid", metavar="WxH", help="grid size for 4 inputs (default STEPSxSTEPS)")
    common(q, 0.0)
    q.set_defaults(func=cmd_interpolate)

    q = sub.add_parser("similar", help="variations of one input",
                       description="Variations of one input: z = z_in * s + noise * (1 - s).\n\n" + EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("input", metavar="IN.mid")
    q.add_argument("-n", "--num", type=options.int_range(1, MAX_RESULTS), default=4,
                   help=f"how many, 1..{MAX_RESULTS} (default 4)")
    q.add_argument("--similarity", type=options.float_range(0, 1), default=0.8, help="0 (unrelated) .. 1 (the input) (default 0.8)")
    common(q, 0.0)
    q.set_defaults(func=cmd_similar)

    q = sub.add_parser("encode", help="latent vectors of MIDI files (JSON or .npy)",
                       description="Latent vectors (z = mu) of MIDI files: a JSON list of lists, or a NumPy .npy "
                       "[n, Z] when OUT ends with .npy; - writes JSON on standard output.\n\n" + EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("inputs", nargs="+", metavar="IN.mid")
    common(q, 0.0, output_help="z.json, z.npy or - (standard output)", stdout=True)
    q.set_defaults(func=cmd_encode)

    q = sub.add_parser("decode", help="MIDI from latent vectors",
                       description="Decode latent vectors (a JSON list of lists or a .npy [n, Z], as `vae encode` "
                       "writes) to MIDI.\n\n" + EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("z", metavar="Z.json|Z.npy")
    common(q, 0.0)
    q.set_defaults(func=cmd_decode)


# --------------------------------------------------------------------------------------------------- helpers

def load_model(args):
    """The MusicVAE of ``--checkpoint``, with ``--seed``, ``--offline``, ``--threads``."""
    from tonehost.realtime.pipelines.music_vae import MusicVAE

    # the numbers and -o (its folder created) were checked while parsing (cli.options)
    return MusicVAE(args.checkpoint, seed=args.seed, offline=args.offline, threads=args.threads)


def controls(args, model) -> dict:
    """``chord_progression`` and ``key`` for the model, or a one-line error."""
    from tonehost.exports.sequences import parse_chord_progression

    chords = parse_chord_progression(args.chords, model.chord_encoder) if args.chords else None
    if model.chord_encoder is not None and not chords:
        raise UsageError(f"{model.name} is conditioned on chords: pass --chords, e.g. --chords \"C G Am F\"")
    if model.chord_encoder is None and chords:
        raise UsageError(f"{model.name} takes no chords; drop --chords (mel_chords and the multitrack *_chords "
                         "checkpoints take them)")
    if args.key is not None and not model.spec.get("conditionOnKey"):
        raise UsageError(f"{model.name} takes no key; drop --key")
    return {"chord_progression": chords, "key": args.key}


def keep_kit_drums(seq, model, src) -> None:
    """Keep, in place, the notes of ``seq`` a drum model reads: the drum notes (all notes when none is marked as
    drums), then only the pitches of the model's kit (``converter.pitch_to_class``), with a note on standard error
    naming the file and the pitches skipped. Used by ``vae`` (drum models) and ``groove`` (GrooVAE)."""
    if any(n.is_drum for n in seq.notes):
        seq.notes = [n for n in seq.notes if n.is_drum]
    known = model.converter.pitch_to_class
    unknown = sorted({n.pitch for n in seq.notes if n.pitch not in known})
    if unknown:
        print(f"tonehost: note: {src}: drum pitches {', '.join(map(str, unknown[:8]))} are not in the model's "
              "kit; skipped", file=sys.stderr)
        seq.notes = [n for n in seq.notes if n.pitch in known]


def read_midi(path: str):
    """A MIDI file's notes, before any model loads (an empty file was reported only after a hosted checkpoint
    was downloaded); the one-sentence error names the file."""
    from tonehost.exports.note_sequence import NoteSequence

    p = Path(path)
    seq = NoteSequence.from_midi(p)  # a missing, empty, truncated or non-MIDI file, or a folder: one line
    if not seq.notes:
        raise UsageError(f"{p} has no notes")
    return seq


def read_input(path: str, model, seq=None):
    """A MIDI file (``seq``: as :func:`read_midi` read it) as the model's input: the notes its converter reads,
    quantized to its grid; the one-sentence error names the file."""
    p = Path(path)
    seq = read_midi(p) if seq is None else seq
    kind = model.spec["dataConverter"]["type"]
    if kind.startswith("Melody"):
        model.check_input(seq, str(p))
        seq.notes = [n for n in seq.notes if not n.is_drum]
    elif kind.startswith("Drum"):
        keep_kit_drums(seq, model, p)
    try:
        if kind != "GrooveConverter":
            seq = seq.quantize(model.steps_per_quarter)
            if kind.startswith("Drum"):  # one hit per drum class and step, as the encoders assume
                seq = model.converter.clean_drums(seq)
            steps = seq.total_quantized_steps or 0
            if steps > model.num_steps and not model.arch.segmented_by_track:
                bars = model.num_steps / model.steps_per_quarter / 4
                print(f"tonehost: note: {p} is {steps / model.steps_per_quarter / 4:g} bars; {model.name} reads "
                      f"the first {bars:g}", file=sys.stderr)
        else:
            limit = model.num_steps * 60.0 / seq.qpm / model.steps_per_quarter
            if seq.total_time > limit + 1e-9:
                print(f"tonehost: note: {p} is {seq.total_time:.2f} s; {model.name} reads the first {limit:.2f} s "
                      "(`tonehost groove` takes any length)", file=sys.stderr)
                seq.notes = [n for n in seq.notes if n.start_time < limit - 0.5 * limit / model.num_steps]
        model.to_tensor(seq)  # converter errors now, naming the file
    except TonehostError as exc:
        raise type(exc)(f"{p}: {exc.user_message}", p) from None
    return seq


def write_output(results, path: str, model, qpm: float | None, split: bool, inputs=()) -> list[Path]:
    """Write decoded sequences: back to back in one MIDI file, or one file each (``split``: ``OUT_01.mid``, ...;
    refused before anything is written when one of those names an input: ``similar riff_01.mid -o riff.mid
    --split`` overwrote its own input)."""
    from tonehost.exports.note_sequence import NoteSequence, Tempo

    qpm = qpm or 120.0
    out = Path(path)
    spq = model.steps_per_quarter
    seg_seconds = (96 if model.arch.segmented_by_track else model.num_steps) * 60.0 / qpm / spq

    def timed(seq):
        s = seq.unquantize(qpm) if seq.is_quantized else seq
        if not seq.is_quantized and seq.tempos and seq.tempos[0].qpm != qpm:  # groove: rescale to the tempo
            r = seq.tempos[0].qpm / qpm
            for n in s.notes:
                n.start_time *= r
                n.end_time *= r
        return s

    if split:
        from tonehost.realtime.cli.outputs import refuse_same_file

        stem, suffix = out.with_suffix(""), out.suffix or ".mid"
        paths = [Path(f"{stem}_{k + 1:02d}{suffix}") for k in range(len(results))]
        refuse_same_file(inputs, [("--split", p) for p in paths])
        for p, seq in zip(paths, results):
            s = timed(seq)
            s.tempos = [Tempo(0.0, qpm)]
            s.total_time = max(seg_seconds, max((n.end_time for n in s.notes), default=0.0))
            s.to_midi(p)
        return paths
    whole = NoteSequence(tempos=[Tempo(0.0, qpm)])
    for k, seq in enumerate(results):
        for n in timed(seq).notes:
            n.start_time = max(0.0, n.start_time + k * seg_seconds)
            n.end_time += k * seg_seconds
            n.quantized_start_step = n.quantized_end_step = None
            whole.notes.append(n)
    whole.total_time = len(results) * seg_seconds
    whole.to_midi(out)
    return [out]


def _report(model, what: str, results, paths, t_load: float, t_run: float) -> None:
    notes = sum(len(r.notes) for r in results)
    where = paths[0] if len(paths) == 1 else f"{paths[0]} .. {paths[-1].name}"
    print(f"{model.name}: {what}: {options.counted(len(results), 'sequence')}, {options.counted(notes, 'note')} in "
          f"{t_run:.2f} s (model ready in {t_load:.2f} s) -> {where}")


def _load(args):
    t0 = time.perf_counter()
    model = load_model(args)
    return model, time.perf_counter() - t0


# -------------------------------------------------------------------------------------------------- commands

def cmd_sample(args) -> int:
    model, t_load = _load(args)
    kw = controls(args, model)
    t0 = time.perf_counter()
    results = model.sample(args.num, temperature=args.temperature, progress=sys.stderr.isatty(), **kw)
    t_run = time.perf_counter() - t0
    _report(model, "sample", results, write_output(results, args.output, model, args.qpm, args.split), t_load,
            t_run)
    return 0


def cmd_interpolate(args) -> int:
    if len(args.inputs) not in (2, 4):
        raise UsageError(f"interpolate takes 2 or 4 MIDI files, got {len(args.inputs)}")
    n_interps = args.steps
    if args.grid:
        if len(args.inputs) != 4:
            raise UsageError("--grid needs 4 inputs (the corners)")
        try:
            w, h = (int(v) for v in args.grid.lower().split("x"))
        except ValueError:
            raise UsageError(f"--grid is WIDTHxHEIGHT, e.g. 4x3; got {args.grid!r}") from None
        if w < 2 or h < 2:
            raise UsageError(f"--grid needs at least 2x2, got {args.grid}")
        if w * h > MAX_RESULTS:
            raise UsageError(f"--grid {args.grid} is {w * h} sequences; at most {MAX_RESULTS} (e.g. 30x30)")
        n_interps = (w, h)
    elif len(args.inputs) == 4 and args.steps ** 2 > MAX_RESULTS:
        raise UsageError(f"4 corners and --steps {args.steps} make a {args.steps}x{args.steps} grid "
                         f"({args.steps ** 2} sequences); at most {MAX_RESULTS}: use --steps 31 or less, or --grid WxH")
    raw = [read_midi(p) for p in args.inputs]
    model, t_load = _load(args)
    kw = controls(args, model)
    seqs = [read_input(p, model, r) for p, r in zip(args.inputs, raw)]
    qpm = args.qpm or seqs[0].qpm
    t0 = time.perf_counter()
    results = model.interpolate(seqs, n_interps, temperature=args.temperature, qpm=qpm,
                                  progress=sys.stderr.isatty(), **kw)
    t_run = time.perf_counter() - t0
    _report(model, "interpolate", results, write_output(results, args.output, model, qpm, args.split, args.inputs),
            t_load, t_run)
    return 0


def cmd_similar(args) -> int:
    raw = read_midi(args.input)
    model, t_load = _load(args)
    kw = controls(args, model)
    seq = read_input(args.input, model, raw)
    qpm = args.qpm or seq.qpm
    t0 = time.perf_counter()
    results = model.similar(seq, args.num, args.similarity, temperature=args.temperature, qpm=qpm,
                            progress=sys.stderr.isatty(), **kw)
    t_run = time.perf_counter() - t0
    _report(model, "similar", results, write_output(results, args.output, model, qpm, args.split, [args.input]),
            t_load, t_run)
    return 0


def cmd_encode(args) -> int:
    raw = [read_midi(p) for p in args.inputs]
    model, t_load = _load(args)
    kw = controls(args, model)
    seqs = [read_input(p, model, r) for p, r in zip(args.inputs, raw)]
    z = model.encode(seqs, **kw)
    if args.output == "-":
        try:
            json.dump(z.tolist(), sys.stdout)
            sys.stdout.write("\n")
            sys.stdout.flush()
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    import io

    from tonehost.realtime.midi.output import write_atomic

    out = Path(args.output)
    if out.suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, z)
        data = buf.getvalue()
    else:
        data = json.dumps({"checkpoint": model.name, "z": z.tolist()}).encode()
    write_atomic(out, data)  # a failed or interrupted write leaves the old file, never half a JSON
    print(f"{model.name}: {len(seqs)} sequence{'s' if len(seqs) != 1 else ''} -> z [{z.shape[0]}, {z.shape[1]}] "
          f"-> {out}")
    return 0


def read_z(path: str, z_dims: int) -> np.ndarray:
    """Latent vectors from a ``.npy`` or a JSON file (a list of lists, or ``{"z": [...]}`` as ``vae encode``
    writes); a one-sentence error names the file."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{p} is a folder; give the z.json or z.npy file `tonehost vae encode` wrote")
    if not p.is_file():
        raise UsageError(f"{p}: no such file")
    try:
        if p.suffix == ".npy":
            z = np.load(p, allow_pickle=False)
        else:
            data = json.loads(p.read_text())
            if isinstance(data, dict) and "z" not in data:  # (the message ended in KeyError's bare "'z'")
                raise UsageError(f"{p} is a JSON object without a \"z\" list (`tonehost vae encode` writes a list "
                                 "of lists)")
            z = np.asarray(data["z"] if isinstance(data, dict) else data, dtype=np.float32)
    except UnicodeDecodeError:  # a binary file (a .mid given to decode): not the decoder's byte offset
        what = "a MIDI file; `vae encode` it first" if p.read_bytes()[:4] == b"MThd" else "a binary file"
        raise UsageError(f"{p} is not a latent vector file (a JSON list of lists or a .npy, as `tonehost vae "
                         f"encode` writes) but {what}") from None
    except (ValueError, KeyError, OSError, TypeError) as exc:
        raise UsageError(f"{p} is not a latent vector file (a JSON list of lists or a .npy, as `tonehost vae "
                         f"encode` writes): {str(exc).splitlines()[0][:80]}") from None
    z = np.asarray(z, np.float32)
    if z.ndim == 1:
        z = z[None, :]
    if z.ndim != 2 or z.shape[1] != z_dims:
        raise UsageError(f"{p} holds shape {list(z.shape)}; this model decodes finite [n, {z_dims}] vectors "
                         "(encode with the same checkpoint)")
    if not np.all(np.isfinite(z)):  # (it said "holds shape [1, 128]" of a right shape holding NaN)
        raise UsageError(f"{p} holds {int(np.count_nonzero(~np.isfinite(z)))} NaN or infinite values; this model "
                         f"decodes finite [n, {z_dims}] vectors")
    if len(z) > MAX_RESULTS:  # 100000 vectors decoded for minutes without a word
        raise UsageError(f"{p} holds {len(z)} vectors; decode at most {MAX_RESULTS} at a time (split the file)")
    return z


def cmd_decode(args) -> int:
    model, t_load = _load(args)
    kw = controls(args, model)
    z = read_z(args.z, model.z_dims)
    t0 = time.perf_counter()
    results = model.decode(z, temperature=args.temperature, qpm=args.qpm, progress=sys.stderr.isatty(), **kw)
    t_run = time.perf_counter() - t0
    _report(model, "decode", results, write_output(results, args.output, model, args.qpm, args.split, [args.z]), t_load,
            t_run)
    return 0
