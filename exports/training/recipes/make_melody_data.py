"""Recipe: the melody data of the shipped melody models (MusicRNN ``melody_rnn_folk``, MusicVAE ``mel_2bar_folk``).

Commands::

    python -m tonehost.exports.training.recipes.make_melody_data --write-split    # once: the committed split
    python -m tonehost.exports.training.recipes.make_melody_data                  # later: check it, print counts

Both extract every melody of music21's corpus (:mod:`tonehost.exports.training.melodies`: the ABC folk-tune
collections through music21's tokenizer, the Bach chorales' soprano lines through the score; about 3 minutes of
one core, cached in ``cache_dir("melody_data")``). ``--write-split`` writes ``recipes/melody_split.json``: a
train/validation/test split (80/10/10) by piece, seed 1234, tunes with the same opening grouped into one part.
The shipped split was made with music21 10.5.1. Without it the command checks that the committed split covers
the corpus this machine has and prints the counts per part and collection, and the steps each model will see.

``--out FILE.npz`` also writes the tunes (notes on the 4-steps-per-quarter grid, bar lines) to a file.
The test part is for the final benchmarks only (``bench/musicrnn_quality.py``, ``bench/musicvae_quality.py``):
training uses train, and choices (widths, epochs, early stopping) look at validation only.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys

import numpy as np


def main(argv=None) -> int:
    from tonehost.exports.training import melodies as M

    ap = argparse.ArgumentParser(prog="python -m tonehost.exports.training.recipes.make_melody_data",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-split", action="store_true", help=f"write the split to {M.SPLIT_PATH}")
    ap.add_argument("--seed", type=int, default=1234, help="seed of the split (default 1234)")
    ap.add_argument("--out", help="also write the tunes to this .npz")
    args = ap.parse_args(argv)

    tunes = M.cached_tunes()
    print(f"{len(tunes)} tunes from music21's corpus")
    if args.write_split:
        split = M.make_split(tunes, seed=args.seed)
        import music21

        split["music21"] = music21.__version__
        M.SPLIT_PATH.write_text(json.dumps(split, separators=(",", ":")) + "\n")
        print(f"wrote {M.SPLIT_PATH} ({M.SPLIT_PATH.stat().st_size // 1024} KiB): {split['counts']}")
    part_of = M.load_split()
    missing = [t.piece_id for t in tunes if t.piece_id not in part_of]
    absent = len(set(part_of) - {t.piece_id for t in tunes})
    parts = M.split_tunes(tunes, part_of)
    by_coll = collections.Counter((t.piece_id.split("/")[0], part_of[t.piece_id]) for t in tunes
                                  if t.piece_id in part_of)
    for coll in sorted({c for c, _ in by_coll}):
        print(f"  {coll:20s} " + "  ".join(f"{p} {by_coll[(coll, p)]:5d}" for p in ("train", "validation", "test")))
    for p, ts in parts.items():
        ev = [M.rnn_events(t) for t in ts]
        fit = [e for e in ev if e is not None]
        windows = sum(len(M.vae_windows(t)) for t in ts)
        print(f"{p:10s}: {len(ts)} tunes; RNN range 48..83: {len(fit)} tunes, {sum(map(len, fit))} steps; "
              f"2-bar windows: {windows}")
    if missing:
        print(f"note: {len(missing)} tunes of this corpus are not in the split (another music21 version?), "
              f"e.g. {missing[0]}; they are left out")
    if absent:
        print(f"note: {absent} pieces of the split are not in this corpus")
    if args.out:
        print(f"wrote {M.save_tunes(tunes, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
