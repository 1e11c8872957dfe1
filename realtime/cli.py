"""The ``tonehost`` command line: one sub-command per module in :mod:`realtime.commands`.

Each command module defines ``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit code). Errors meant for the user are raised as
:class:`UserError` (or any exception with a ``user_message``) and printed without a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command modules, in the order ``tonehost --help`` lists them.
COMMAND_MODULES = [
    "realtime.commands.devices",
    "realtime.commands.checkpoints",
    "realtime.commands.export",
    "realtime.commands.transcribe",
    "realtime.commands.pitch",
    "realtime.commands.render",
    "realtime.commands.play",
    "realtime.commands.train_instrument",
]


class UserError(Exception):
    """An error the user can fix; printed as one clear message, never as a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tonehost",
        description="Real-time host for Magenta's models: hum into a mic and hear a violin, "
        "transcribe piano live, measure where every millisecond goes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # only errors that carry a message for the user are caught here
        message = getattr(exc, "user_message", None) or (str(exc) if isinstance(exc, UserError) else None)
        if message is None:
            raise
        print(f"tonehost: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
