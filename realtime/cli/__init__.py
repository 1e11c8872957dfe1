"""The ``tonehost`` command line: one thin module per command, each parsing options and calling the library.

Each command module defines ``register(subparsers)``, which adds its parser and sets ``func`` (a callable taking
the parsed ``argparse.Namespace`` and returning an exit code). Every failure a user can fix is a
:class:`~tonehost.exports.errors.TonehostError`; :func:`main` is the one place that prints its one sentence
(``tonehost: error: ...``) and exits 1. Option values are checked while parsing (the types of
:mod:`tonehost.realtime.cli.options`); a bad one is the same one line, exit 2. Nothing else is caught: anything
else is a bug and keeps its traceback. The live commands (``play``, ``transcribe --live``) treat Ctrl-C as a
normal stop (summary, exit 0); elsewhere Ctrl-C prints ``interrupted`` and exits 130. Before any command runs,
:func:`~tonehost.realtime.cli.outputs.refuse_overwriting_inputs` refuses an output that names one of the command's
inputs (exit 1, nothing opened); a reader that closes the pipe early (``tonehost checkpoints list | head``) ends the
command quietly (exit 0), without a ``BrokenPipeError`` traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from tonehost import __version__
from tonehost.exports.errors import TonehostError, TonehostWarning

__all__ = ["main", "build_parser", "one_line", "COMMAND_MODULES"]

#: Command modules, in the order ``tonehost --help`` lists them.
COMMAND_MODULES = [
    "tonehost.realtime.cli.devices",
    "tonehost.realtime.cli.checkpoints",
    "tonehost.realtime.cli.export",
    "tonehost.realtime.cli.transcribe",
    "tonehost.realtime.cli.continue_",
    "tonehost.realtime.cli.vae",
    "tonehost.realtime.cli.groove",
    "tonehost.realtime.cli.pitch",
    "tonehost.realtime.cli.render",
    "tonehost.realtime.cli.play",
    "tonehost.realtime.cli.jam",
    "tonehost.realtime.cli.tap2drum",
    "tonehost.realtime.cli.train_instrument",
]


def build_parser() -> argparse.ArgumentParser:
    """The ``tonehost`` argument parser with every command registered."""
    from tonehost.realtime.cli.options import ExamplesHelpFormatter, Parser

    parser = Parser(
        prog="tonehost",
        description="Real-time host for Magenta's models: hum into a mic and hear a violin, "
        "transcribe piano live, measure where every millisecond goes.",
        formatter_class=ExamplesHelpFormatter, epilog="examples:\n"
        "  tonehost play                                   # hum into the mic, hear the shipped violin\n"
        "  tonehost transcribe take.wav -o take.mid        # piano audio to MIDI\n"
        "  tonehost continue primer.mid -o out.mid         # continue a melody with MusicRNN\n"
        "  tonehost vae sample -o samples.mid              # new melodies from MusicVAE\n"
        "  tonehost checkpoints list                       # Magenta's hosted checkpoints\n"
        "(`tonehost COMMAND --help` shows each command's options and examples)")
    parser.add_argument("--version", action="version", version=f"tonehost {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def one_line(message: str) -> str:
    """``message`` on one line: control characters (a newline in a file name, ...) shown escaped."""
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
                   for c in str(message))


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 a :class:`TonehostError`, 2 usage, 130 Ctrl-C)."""
    for stream in (sys.stdout, sys.stderr):  # a file name the console's encoding lacks is escaped, never a traceback
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):  # replaced streams (pytest's capture, io.StringIO)
            pass
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except TonehostError as exc:  # a bad option value (options.Parser): one line, like argparse's exit code
        print(f"tonehost: error: {one_line(exc.user_message)}", file=sys.stderr)
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from tonehost.realtime.cli.outputs import refuse_overwriting_inputs

    try:  # no command may write over a file it reads (or two outputs over each other), whatever its options
        refuse_overwriting_inputs(parser, args)
    except TonehostError as exc:  # exit 1, as render and pitch gave for it before this check moved here
        print(f"tonehost: error: {one_line(exc.user_message)}", file=sys.stderr)
        return 1
    import warnings

    def show(message, category, filename, lineno, file=None, line=None, _default=warnings.showwarning):
        if issubclass(category, TonehostWarning):  # repaired input: one line, no source location
            print(f"tonehost: warning: {message}", file=sys.stderr, flush=True)
        else:
            _default(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except TonehostError as exc:
        print(f"tonehost: error: {one_line(exc.user_message)}", file=sys.stderr)
        return _after_lost_stream(1, argv)
    except BrokenPipeError:  # `tonehost checkpoints list | head`: the reader has what it wanted
        _quiet_stdout()
        return 0
    finally:
        if argv is None:  # the command line: the process ends next
            try:  # what is left in stdout's buffer goes now, not in the interpreter's teardown (a traceback)
                sys.stdout.flush()
            except BrokenPipeError:
                _quiet_stdout()
            import gc

            # nothing left needs a cyclic collection: without this the interpreter's teardown collected the whole
            # import graph (numba, onnxruntime, scipy) for 2-3 s after a live session's summary on a loaded
            # machine (0.6 s with it); files are closed by then and sys.stdout/stderr are still flushed at exit
            gc.freeze()


def _quiet_stdout() -> None:
    """Point standard output at /dev/null after its reader went away (``| head``), so that neither a later print
    nor the interpreter's final flush raises ``BrokenPipeError`` again."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _after_lost_stream(code: int, argv) -> int:
    """Run from the command line (``argv`` None) after an audio stream was lost and left open
    (:func:`~tonehost.realtime.audio.devices.abandon_stream`): end the process now, output flushed, instead of
    tearing the interpreter down (over a second on a loaded machine; libjack's clean-up may wait on the dead
    server). Called in-process with an ``argv`` (tests), it just returns ``code``."""
    devices = sys.modules.get("tonehost.realtime.audio.devices")
    if argv is None and devices is not None and devices.streams_abandoned():
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
