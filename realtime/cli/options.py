"""Option groups and option types several commands share (public: commands import nothing private from one another).

Option types (``type=`` of ``add_argument``) check every value when the command line is parsed, so a bad value is
one line (``tonehost: error: argument --block-size: ...``) before anything opens: :func:`positive_int`,
:func:`non_negative_int`, :func:`positive_float`, :func:`non_negative_float`, :func:`finite_float`,
:func:`sample_rate`, :func:`block_size`, :func:`temperature`, :func:`tempo_qpm`, :func:`checkpoint_ref`, :func:`instrument_name`, the ranges
:func:`int_range` and :func:`float_range` make, and for files the commands write :func:`output_file` (checks the
place and creates missing folders) and :func:`output_dir`. :class:`Parser` turns argparse's own errors into that one
line. :func:`clip_note` is the clip warning of a level readout (``play``'s status line; ``render`` may use it).
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from tonehost.exports.errors import UsageError
# --gain (linear, 16 = +24 dB), --pitch-shift (semitones either way), --input-gain (dB either way): DDSP(...)'s ranges
from tonehost.realtime.pipelines.instrument_ranges import MAX_GAIN, MAX_INPUT_GAIN_DB, MAX_PITCH_SHIFT

__all__ = ["add_instrument_args", "instrument_from_args", "audio_device", "Parser", "ExamplesHelpFormatter", "positive_int",
           "non_negative_int", "positive_float", "non_negative_float", "finite_float", "sample_rate", "block_size",
           "counted", "scheduler_address", "int_range", "float_range", "temperature", "tempo_qpm", "chord_progression", "threads",
           "checkpoint_ref", "instrument_name", "output_file", "output_file_or_stdout", "output_dir", "writes_file",
           "MIN_SAMPLE_RATE",
           "MAX_SAMPLE_RATE", "MIN_BLOCK_SIZE", "MAX_BLOCK_SIZE", "MAX_GAIN", "MAX_PITCH_SHIFT", "MAX_INPUT_GAIN_DB",
           "clip_note"]

#: The sample rates (Hz) the live commands accept (sound cards and JACK run 8 kHz .. 384 kHz).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 384000
#: The smallest audio block in frames: 16 (0.33 ms at 48 kHz) is below any sound card's or JACK's period; a
#: smaller one only multiplies the per-block overhead (``play --block-size 1`` spent 27 s measuring its start-up
#: latency one frame at a time before a 3 s session).
MIN_BLOCK_SIZE = 16
#: The largest audio block in frames (JACK periods go up to 8192).
MAX_BLOCK_SIZE = 8192


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are a :class:`~tonehost.exports.errors.UsageError` (one line).

    argparse prints its usage block and exits on a bad option; tonehost's :func:`~tonehost.realtime.cli.main`
    prints ``tonehost: error: <message> (see `tonehost CMD --help`)`` instead and exits 2. Sub-command parsers
    made with ``add_subparsers`` are of the same class.
    """

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def _get_values(self, action, arg_strings):
        # argparse drops a lone "--" value (``--block-size=--``) and stores [] unchecked: refuse it instead
        if action.nargs is None and action.option_strings and list(arg_strings) == ["--"]:
            self.error(f"argument {'/'.join(action.option_strings)}: expected a value, got '--'")
        return super()._get_values(action, arg_strings)


class ExamplesHelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that lines of a description or epilog that start with two spaces (example
    command lines) are kept as written; every other line is wrapped to the terminal as usual."""

    def _fill_text(self, text, width, indent):
        return "\n".join(indent + line if line.startswith("  ") or not line.strip()
                         else super(ExamplesHelpFormatter, self)._fill_text(line, width, indent)
                         for line in text.split("\n"))


def _number(text: str, kind, what: str):
    try:
        value = kind(str(text).strip())
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (``--threads``, ``--steps``); raises ``ArgumentTypeError`` otherwise."""
    value = _number(text, int, "a whole number >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0 (``--retries``, ``--seed``)."""
    value = _number(text, int, "a whole number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``--seconds``, ``--hop-ms``)."""
    value = _number(text, float, "a number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (``--portamento``, ``--gain``, ``--duration``)."""
    value = _number(text, float, "a number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """argparse type: any finite number (``--pitch-shift`` in semitones, ``--input-gain`` in dB)."""
    return _number(text, float, "a finite number")


def sample_rate(text: str) -> int:
    """argparse type: a sample rate in Hz, a whole number in [:data:`MIN_SAMPLE_RATE`, :data:`MAX_SAMPLE_RATE`]."""
    what = f"a sample rate in Hz from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} (e.g. 48000)"
    value = _number(text, int, what)
    if not MIN_SAMPLE_RATE <= value <= MAX_SAMPLE_RATE:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def block_size(text: str) -> int:
    """argparse type: frames per audio block, a whole number in [:data:`MIN_BLOCK_SIZE`, :data:`MAX_BLOCK_SIZE`]."""
    what = f"frames per block from {MIN_BLOCK_SIZE} to {MAX_BLOCK_SIZE} (e.g. 128; best: the server's period)"
    value = _number(text, int, what)
    if not MIN_BLOCK_SIZE <= value <= MAX_BLOCK_SIZE:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def int_range(lo: int, hi: int | None = None):
    """An argparse type: a whole number in ``[lo, hi]`` (``hi`` None: no upper bound), e.g. ``int_range(0, 11)`` for
    ``--key`` (a pitch class), ``int_range(2)`` for ``vae interpolate --steps`` (both ends)."""
    what = f"a whole number from {lo} to {hi}" if hi is not None else f"a whole number >= {lo}"

    def whole_number(text: str) -> int:
        value = _number(text, int, what)
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    whole_number.__name__ = whole_number.__qualname__ = f"int_range({lo}, {hi})"
    return whole_number


def float_range(lo: float, hi: float):
    """An argparse type: a finite number in ``[lo, hi]``, e.g. ``float_range(0, 1)`` for ``vae similar
    --similarity``."""
    what = f"a number from {lo:g} to {hi:g}"

    def number(text: str) -> float:
        value = _number(text, float, what)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    number.__name__ = number.__qualname__ = f"float_range({lo:g}, {hi:g})"
    return number


def temperature(text: str) -> float:
    """argparse type: ``--temperature`` of the generative commands, 0 (argmax) to
    :data:`~tonehost.exports.tfjs.random.MAX_TEMPERATURE` (``--temperature 1e308`` overflowed float32 with a numpy
    warning and sampled uniformly)."""
    from tonehost.exports.tfjs.random import MAX_TEMPERATURE

    return float_range(0.0, MAX_TEMPERATURE)(text)


def tempo_qpm(text: str) -> float:
    """argparse type: ``--qpm``, quarter notes per minute in the range a MIDI file holds
    (:data:`~tonehost.exports.note_sequence.MIN_QPM`..``MAX_QPM``; ``--qpm 1e-9`` ended in mido's traceback)."""
    from tonehost.exports.note_sequence import MAX_QPM, MIN_QPM

    return float_range(MIN_QPM, MAX_QPM)(text)


def threads(text: str) -> int:
    """argparse type: ``--threads`` (ONNX Runtime's intra-op threads) and ``transcribe --jobs`` (worker processes,
    each with its own model), a whole number from 1 to 4x the cores this process may use (past the cores they only
    share them): ``--threads 100000`` made ONNX Runtime spin up that many threads (minutes of every core before
    the first block); ``--jobs 1000`` would start a process (and a model) per file."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return int_range(1, 4 * max(1, cores))(text)


def chord_progression(text: str) -> str:
    """argparse type: ``--chords``, a non-empty progression such as ``"C G Am F"`` (``--chords ""`` was taken as
    no chords at all and silently ignored); the symbols themselves are checked against the model once it is
    loaded."""
    if not str(text).strip():
        raise argparse.ArgumentTypeError("expected chord symbols such as \"C G Am F\", got an empty string "
                                         "(leave --chords out for a model without chords)")
    return str(text).strip()


def checkpoint_ref(text: str) -> str:
    """argparse type: ``--checkpoint``, a non-empty index id, folder, URL or ``.onnx`` path (an empty value used
    to fall through to the hosted violin's download); returned stripped of surrounding blanks."""
    t = str(text).strip()
    if not t:
        raise argparse.ArgumentTypeError("expected an index id, a checkpoint folder or a .onnx file, got an empty "
                                         "string (leave --checkpoint out for the shipped model)")
    if "\0" in t:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid file name or id")
    return t


def instrument_name(text: str) -> str:
    """argparse type: ``--instrument``, one of :data:`tonehost.exports.resolve.INSTRUMENTS` (an unknown or empty
    name used to reach the checkpoint index: ``unknown checkpoint id 'ddsp_x'. Did you mean ddsp_vst_pitch?``)."""
    from tonehost.exports.resolve import INSTRUMENTS

    name = str(text).strip()
    if name not in INSTRUMENTS:
        hint = (f"for the index id use --checkpoint {name}" if name.startswith("ddsp_")
                else "for your own model use --checkpoint")
        raise argparse.ArgumentTypeError(f"expected an instrument, one of {', '.join(INSTRUMENTS)}, got {text!r} "
                                         f"({hint})")
    return name


def scheduler_address(text: str) -> str:
    """argparse type: a Dask scheduler address, ``[tcp://]HOST:PORT`` (``--scheduler foo`` was a 30-line traceback
    from inside distributed: "missing port number in address 'foo'")."""
    import urllib.parse

    t = text.strip()
    u = urllib.parse.urlsplit(t if "://" in t else "tcp://" + t)
    try:
        port = u.port
    except ValueError:
        port = None
    if not u.hostname or port is None or not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"expected a Dask scheduler address HOST:PORT or tcp://HOST:PORT (e.g. "
                                         f"tcp://10.0.0.5:8786), got {text!r}")
    return t


def counted(n: int, noun: str) -> str:
    """``"1 note"``, ``"2 notes"``: a count and its noun for the commands' summary lines ("1 notes" was printed)."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def clip_note(peak: float) -> str:
    """``" CLIP"`` when a peak (linear, 1 = 0 dBFS) is above full scale, else ``""``: the clip warning of ``play``'s
    status line, for any command that reports a level (``render``'s summary may use it too)."""
    return " CLIP" if peak > 1.0 else ""


def _expand_user(text: str) -> Path:
    """``~`` and ``~user`` expanded; a ``~name`` naming no user stays as written, as a shell leaves it (pathlib raises
    RuntimeError there: found by the options fuzz with ``-o ~0``)."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        return Path(text)


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_writable(folder: Path) -> None:
    """Create and remove a file in ``folder`` (the permission bits do not tell: root, read-only mounts, /proc)."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=".tonehost-probe-")
    os.close(fd)
    os.unlink(name)


def output_file(text: str) -> Path:
    """argparse type: a file the command will write; its missing folders are created now.

    The same check for every command's outputs: the path is not empty and not a folder, an existing file there
    is writable, and the folder it goes in exists (created, with its parents, if missing) and is writable.

    Returns
    -------
    pathlib.Path
        The path, ``~`` expanded.

    Raises
    ------
    argparse.ArgumentTypeError
        With the reason and the fix (argparse prefixes the option's name).
    """
    if not str(text).strip():
        raise argparse.ArgumentTypeError("expected a file name, got an empty string")
    if str(text) == "-":  # a file named "-" was created where standard output was meant (./- names that file)
        raise argparse.ArgumentTypeError("'-' (standard output) is not taken here; give a file name such as out.mid")
    if "\0" in str(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid file name")
    if Path(text).name in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file name inside it")
    path = Path(os.path.normpath(_expand_user(text)))  # "a/../b" names b: no folder made on the way
    try:
        if path.is_dir() or path.name in ("", ".", ".."):
            raise argparse.ArgumentTypeError(f"{path} is a folder; give a file name inside it")
        if path.exists() and not os.access(path, os.W_OK):
            raise argparse.ArgumentTypeError(f"{path} exists and is not writable; pick another name")
        folder = path.parent
        base = _nearest_existing(folder)
        if not base.is_dir():
            raise argparse.ArgumentTypeError(f"cannot create {folder}: {base} is a file, not a folder")
        if not os.access(base, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"cannot write in {base} (permission denied); pick another place")
        folder.mkdir(parents=True, exist_ok=True)
        _probe_writable(folder)
        try:
            name_max = os.pathconf(folder, "PC_NAME_MAX")
        except (OSError, ValueError):
            name_max = 255
        if len(os.fsencode(path.name)) > name_max:
            raise argparse.ArgumentTypeError(f"the file name {path.name[:32]}... is longer than this file system "
                                             f"allows ({name_max} bytes); pick a shorter name")
    except OSError as exc:  # a name too long, a read-only file system, a folder even root cannot write in
        raise argparse.ArgumentTypeError(f"cannot write {path}: {exc.strerror or exc}; pick another place") from None
    return path


def output_file_or_stdout(text: str) -> Path | str:
    """argparse type: ``-`` (standard output) or an :func:`output_file`."""
    return "-" if str(text) == "-" else output_file(text)


def writes_file(option_type):
    """Mark an argparse type as naming a file the command writes (:func:`output_file` and its kin).

    :func:`tonehost.realtime.cli.outputs.refuse_overwriting_inputs` compares the values of options of such types
    with every file the command line names otherwise (its inputs), for every command, before the command runs.
    Returns ``option_type`` itself.
    """
    option_type.writes_file = True
    return option_type


writes_file(output_file)
writes_file(output_file_or_stdout)


def output_dir(text: str) -> Path:
    """argparse type: a folder the command writes into; created (with its parents) if missing, checked writable."""
    if not str(text).strip():
        raise argparse.ArgumentTypeError("expected a folder name, got an empty string")
    if "\0" in str(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid folder name")
    path = _expand_user(text)
    try:
        base = _nearest_existing(path)
        if not base.is_dir():
            raise argparse.ArgumentTypeError(f"{base} is a file, not a folder")
        if not os.access(base, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"cannot write in {base} (permission denied); pick another place")
        path.mkdir(parents=True, exist_ok=True)
        _probe_writable(path)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot write in {path}: {exc.strerror or exc}; pick another place") \
            from None
    return path


def add_instrument_args(p) -> None:
    """The DDSP instrument options of ``render`` and ``play``."""
    p.add_argument("--instrument", type=instrument_name, default="violin",
                   help="DDSP instrument: violin (default; the violin "
                   "shipped with tonehost, no download), flute, trumpet, tenor_saxophone (hosted checkpoints, "
                   "index id ddsp_<name>)")
    p.add_argument("--checkpoint", type=checkpoint_ref,
                   help="instead of --instrument: an index id (e.g. ddsp_violin for the hosted "
                   "violin), a checkpoint directory (model.json + settings.json) or a .onnx controls model")
    p.add_argument("--tracker", choices=["yin", "ddsp-vst"], default="yin",
                   help="pitch tracker: yin (tonehost's low-latency tracker, default) or ddsp-vst (its model)")
    p.add_argument("--pitch-shift", type=float_range(-MAX_PITCH_SHIFT, MAX_PITCH_SHIFT), default=0.0,
                   help=f"transpose, in semitones, -{MAX_PITCH_SHIFT:g}..{MAX_PITCH_SHIFT:g} (default 0)")
    p.add_argument("--input-gain", type=float_range(-MAX_INPUT_GAIN_DB, MAX_INPUT_GAIN_DB), default=0.0,
                   help=f"input gain in dB, -{MAX_INPUT_GAIN_DB:g}..{MAX_INPUT_GAIN_DB:g} (default 0); live, it sets "
                   "the level the tracker and the "
                   "instrument hear; `render` without --live (the default) normalises the level over the whole "
                   "file first, so there it changes little (render --live hears it as play does)")
    p.add_argument("--no-auto-register", action="store_true",
                   help="don't shift by octaves toward the instrument's register (settings.json meanPitch)")
    p.add_argument("--reverb", action="store_true", help="add magenta.js-style reverb (3 s, 30%% wet)")
    p.add_argument("--gain", type=float_range(0.0, MAX_GAIN), default=1.0,
                   help=f"output gain, linear, 0..{MAX_GAIN:g} (+{20 * math.log10(MAX_GAIN):.0f} dB; default 1); "
                   "play shows CLIP when the output goes over 0 dBFS")
    p.add_argument("--offline", action="store_true", help="never download a checkpoint: a hosted instrument must "
                   "be in the cache (`tonehost checkpoints fetch ID`)")


def instrument_from_args(args, sample_rate: int = 48000):
    """A :class:`~tonehost.realtime.pipelines.instrument.DDSP` from :func:`add_instrument_args`' options."""
    from tonehost.realtime.pipelines.instrument import DDSP

    return DDSP(args.checkpoint, instrument=args.instrument, sample_rate=sample_rate, offline=args.offline,
                tracker=args.tracker, input_gain_db=args.input_gain, pitch_shift=args.pitch_shift,
                auto_register=not args.no_auto_register, reverb=args.reverb, output_gain=args.gain)


def audio_device(arg):
    """``--device`` as PortAudio wants it: an index (digits) or a name (substring), None for the default."""
    if arg is None:
        return None
    return int(arg) if str(arg).isdigit() else arg
