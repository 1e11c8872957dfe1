"""``tonehost checkpoints``: list Magenta's hosted checkpoints, show one, fetch one (verified) into the cache."""
from __future__ import annotations

import argparse
import json
import sys
import textwrap

from tonehost.realtime.cli.options import ExamplesHelpFormatter, int_range, output_dir

HELP = "list, inspect and download Magenta's hosted model checkpoints"

EXAMPLES = """  tonehost checkpoints list                           # id, model, size, description; * = cached
  tonehost checkpoints list --json --full > index.json
  tonehost checkpoints info ddsp_flute                # URLs, mirrors, known files, cache state
  tonehost checkpoints fetch ddsp_flute               # into the cache; prints its folder
  tonehost checkpoints fetch https://example.org/ckpt/my_vae --to ./my_vae
  tonehost checkpoints --index mine.json fetch my_vae # your own entries (or $TONEHOST_INDEX)
  tonehost checkpoints fetch basic_rnn --offline      # the cached copy, or an error; never the network"""


def register(subparsers) -> None:
    """Add the ``checkpoints`` command and its ``list``, ``info`` and ``fetch`` sub-commands."""
    p = subparsers.add_parser(
        "checkpoints", help=HELP, description=HELP + ". The index holds Magenta.js's 35 hosted checkpoints and "
        "DDSP-VST's pitch model; add your own (self-hosted) entries with a JSON index file given by --index or "
        "$TONEHOST_INDEX (a list of {id, model, sizeMb, description, url[, mirrors, format, files]}).",
        formatter_class=ExamplesHelpFormatter, epilog="examples:\n" + EXAMPLES)
    p.add_argument("--index", action="append", metavar="FILE",
                   help="an extra JSON index file (repeatable; read after $TONEHOST_INDEX)")
    sub = p.add_subparsers(dest="checkpoints_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    lp = sub.add_parser("list", help="list every checkpoint of the index", epilog="examples:\n" + EXAMPLES,
                        formatter_class=ExamplesHelpFormatter,
                        description="List every checkpoint: id, model family, size and description.")
    lp.add_argument("--json", action="store_true",
                    help="print the index as JSON in Magenta.js's format (id, model, sizeMb, description, url)")
    lp.add_argument("--full", action="store_true", help="with --json: also mirrors, format and known file hashes")
    lp.add_argument("--cache-dir", metavar="DIR", help="cache directory used to mark cached checkpoints")
    lp.add_argument("--index", action="append", metavar="FILE", default=argparse.SUPPRESS,
                    help="an extra JSON index file (repeatable)")
    lp.set_defaults(func=cmd_list)

    ip = sub.add_parser("info", help="show one checkpoint: URLs, mirrors, known files, cache state",
                        epilog="examples:\n" + EXAMPLES, formatter_class=ExamplesHelpFormatter,
                        description="Show everything known about one checkpoint.")
    ip.add_argument("id", help="checkpoint id (see `tonehost checkpoints list`)")
    ip.add_argument("--cache-dir", metavar="DIR", help="cache directory (default: $TONEHOST_CACHE/checkpoints "
                    "or $XDG_CACHE_HOME/tonehost/checkpoints)")
    ip.add_argument("--json", action="store_true", help="print as JSON")
    ip.add_argument("--index", action="append", metavar="FILE", default=argparse.SUPPRESS,
                    help="an extra JSON index file (repeatable)")
    ip.set_defaults(func=cmd_info)

    fp = sub.add_parser(
        "fetch", help="download a checkpoint (resumable, verified, atomic) and print its directory",
        epilog="examples:\n" + EXAMPLES, formatter_class=ExamplesHelpFormatter,
        description="Download every file a checkpoint needs into the cache (or --to DIR), resuming interrupted "
        "downloads, retrying with backoff, falling back to mirrors, and verifying sizes and SHA-256 (the index's, "
        "or those recorded in checkpoints.lock.json on the first download). Prints the checkpoint directory.")
    fp.add_argument("source", help="a checkpoint id, an http(s) URL of a checkpoint directory, or a local "
                    "checkpoint directory")
    fp.add_argument("--to", metavar="DIR", type=output_dir, help="create the checkpoint in DIR instead of the cache")
    fp.add_argument("--cache-dir", metavar="DIR", help="cache directory (default: $TONEHOST_CACHE/checkpoints "
                    "or $XDG_CACHE_HOME/tonehost/checkpoints)")
    fp.add_argument("--offline", action="store_true", help="never use the network: use the cached copy or fail")
    fp.add_argument("--force", action="store_true", help="download again even if a verified copy exists")
    fp.add_argument("--retries", type=int_range(0, 100), default=4,
                    help="retries per file and server, 0..100 (default 4; pauses double from 0.5 s up to 30 s)")
    fp.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    fp.add_argument("--index", action="append", metavar="FILE", default=argparse.SUPPRESS,
                    help="an extra JSON index file (repeatable)")
    fp.set_defaults(func=cmd_fetch)


def cmd_list(args) -> int:
    from tonehost.exports.checkpoints.download import cached_path, default_cache_dir
    from tonehost.exports.checkpoints.index import all_checkpoints, index_json

    entries = all_checkpoints(args.index)
    if args.json:
        json.dump(index_json(args.index, full=args.full), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    cache = args.cache_dir
    rows = []
    for c in entries.values():
        cached = "*" if cached_path(c.id, cache, args.index) else ""
        size = f"{c.size_mb:g}"
        rows.append((c.id + cached, c.model, size, c.description))
    w_id = max(len(r[0]) for r in rows)
    w_model = max(len(r[1]) for r in rows)
    print(f"{'ID':<{w_id}}  {'MODEL':<{w_model}}  {'SIZE MB':>7}  DESCRIPTION")
    for cid, model, size, desc in rows:
        short = desc if len(desc) <= 60 else desc[:57] + "..."
        print(f"{cid:<{w_id}}  {model:<{w_model}}  {size:>7}  {short}")
    print(f"\n{len(rows)} checkpoints; * = in the cache ({args.cache_dir or default_cache_dir()}). "
          "`tonehost checkpoints info ID` for details.")
    _print_shipped()
    return 0


def _print_shipped() -> None:
    """The models shipped with tonehost (no download; `--checkpoint NAME` takes them): they were in no list, and
    `checkpoints info basic_rnn_folk` answered "unknown checkpoint id"."""
    from tonehost.exports.checkpoints.shipped import SHIPPED_MODELS, shipped_models

    paths = shipped_models()
    w = max(len(n) for n in SHIPPED_MODELS)
    print("\nshipped with tonehost (no download, they work offline; each command's default):")
    for name, (model, desc) in SHIPPED_MODELS.items():
        where = paths[name] if paths[name] is not None else "(not installed: reinstall tonehost with its data)"
        print(f"  {name:<{w}}  {model:<15}  {where}")


def cmd_info(args) -> int:
    from tonehost.exports.checkpoints.download import LockFile, cached_path, default_cache_dir
    from tonehost.exports.checkpoints.index import get_checkpoint

    from tonehost.exports.checkpoints.shipped import SHIPPED_MODELS, shipped_models

    if args.id in SHIPPED_MODELS:
        model, desc = SHIPPED_MODELS[args.id]
        path = shipped_models()[args.id]
        if args.json:
            print(json.dumps({"id": args.id, "model": model, "description": desc, "shipped": True,
                              "path": None if path is None else str(path)}, indent=2))
            return 0
        print(f"id:          {args.id}")
        print(f"model:       {model}")
        print("description: " + textwrap.fill(desc, 100, subsequent_indent=" " * 13))
        print(f"shipped:     with tonehost, at {path} (works offline; no download)" if path is not None else
              "shipped:     with tonehost, but this installation lacks its data: reinstall tonehost")
        return 0
    c = get_checkpoint(args.id, args.index)
    path = cached_path(c.id, args.cache_dir, args.index)
    record = LockFile(args.cache_dir or default_cache_dir()).get(c.id)
    if args.json:
        d = c.to_full_json()
        d["cached"] = str(path) if path else None
        d["lock"] = record
        print(json.dumps(d, indent=2))
        return 0
    print(f"id:          {c.id}")
    print(f"model:       {c.model}")
    print(f"size:        {c.size_mb:g} MB")
    print(f"format:      {c.format}")
    print("description: " + textwrap.fill(c.description, 100, subsequent_indent=" " * 13))
    print(f"url:         {c.url}")
    for m in c.mirrors:
        print(f"mirror:      {m}")
    if c.origin != "builtin":
        print(f"defined in:  {c.origin}")
    if c.files:
        print("known files:")
        for f in c.files:
            print(f"  {f.name:<28} {'' if f.size is None else f.size:>10}  {f.sha256 or '(hash recorded on first download)'}")
    print(f"cached:      {path if path else 'no'}")
    if record:
        print(f"lock:        {len(record.get('files', {}))} files recorded {record.get('recorded', '')}")
    return 0


def cmd_fetch(args) -> int:
    from tonehost.exports.checkpoints.download import fetch_checkpoint

    path = fetch_checkpoint(args.source, to=args.to, cache_dir=args.cache_dir, offline=args.offline,
                            progress=not args.quiet and sys.stderr.isatty(), extra_index=args.index,
                            retries=args.retries, force=args.force)
    print(path)
    return 0
