"""Error analysis of tonehost's raw pitch on the FDA development sentences (rl/sb 001-010) ONLY.

For every reference-voiced frame (mir_eval's reference grid, 15 ms) where tonehost's pitch (the unvoiced-guess
convention of :mod:`bench.pitch_peers`: a pitch for every frame) is more than 50 cents off, the frame is put in
classes (a frame can be in several):

- pitch ratio to the reference within 100 cents: ``octave_up`` / ``octave_down`` (2x, 1/2), ``x3_up`` (3x),
  ``x1.5_up`` / ``x1.5_down`` (3/2, 2/3), ``sub_x3`` (1/3); ``other_ratio``: none of them (mostly 50-300 cents);
- ``edge``: within 30 ms of a reference voicing boundary;
- ``unvoiced``: our tracker calls the frame unvoiced (its reported unvoiced guess is scored);
- ``low``: reference f0 below 80 Hz (creak, vocal fry);

and counts how many of each swift-f0 gets right (within 50 cents). ``--shifts`` reports the dev RPA of tonehost
and swift-f0 with their times shifted by -10..+10 ms (a timestamp bias of one tracker shows as a shift that helps
it alone; one that helps both is the reference's time convention).

    .venv/bin/python -m bench.pitch_errors [--shifts]

Never run on FDA 011-025 or MDB (held out): this script only loads ``fda-dev``. swift-f0's dev tracks are cached in
``bench/results/pitch_errors_swift_dev.pkl``.
"""
from __future__ import annotations

import argparse
import pickle

import numpy as np
import soundfile as sf

from bench._common import RESULTS, save_json
from bench.pitch_peers import load_sets, tracker_ours, tracker_swift


def frames(set_items, fn, shift=0.0):
    """Per file: ``(name, ref_times, ref_f0, times + shift, f0)`` of tracker ``fn`` (Hz, negative = unvoiced)."""
    out = []
    for wav, rt, rf in set_items:
        x, sr = sf.read(wav, dtype="float32", always_2d=True)
        t, f = fn(x.mean(axis=1), sr)
        out.append((wav.name, rt, rf, np.asarray(t, float) + shift, np.asarray(f, float)))
    return out


def on_grid(rt, rf, t, f):
    """mir_eval's reference and estimate on the reference grid: ``(ref_voicing, ref_cents, est_voicing, est_cents)``."""
    import mir_eval
    rv, rc, ev, ec = mir_eval.melody.to_cent_voicing(rt, rf, t, f)
    return rv, rc, ev, ec


def rpa(runs, shift=0.0):
    """Mean raw pitch accuracy over the files of ``runs`` (:func:`frames`), times shifted by ``shift`` s."""
    import mir_eval
    s = []
    for name, rt, rf, t, f in runs:
        rv, rc, ev, ec = on_grid(rt, rf, t + shift, f)
        s.append(mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec))
    return float(np.mean(s))


def classify(ours, swift):
    """Counts of error classes over all dev files (frames on the reference grid)."""
    tot = {"ref_voiced": 0, "errors": 0}
    cls = {k: 0 for k in ("octave_up", "octave_down", "x3_up", "x1.5_up", "x1.5_down", "sub_x3", "other_ratio",
                          "edge", "unvoiced", "low", "unvoiced_not_edge", "edge_or_unvoiced")}
    swift_right = {k: 0 for k in cls}
    per_file = {}
    cents_off = []
    for (name, rt, rf, t, f), (_, _, _, ts, fs) in zip(ours, swift):
        rv, rc, ev, ec = on_grid(rt, rf, t, f)
        _, _, evs, ecs = on_grid(rt, rf, ts, fs)
        v = rv > 0
        # voicing boundaries of the reference
        edges = np.flatnonzero(np.diff(v.astype(int)) != 0)
        dist = np.full(len(v), np.inf)
        for e in edges:
            te = 0.5 * (rt[e] + rt[e + 1])
            dist = np.minimum(dist, np.abs(rt - te))
        d = ec - rc  # cents
        err = v & (np.abs(d) > 50)
        ok_s = v & (np.abs(ecs - rc) <= 50)
        tot["ref_voiced"] += int(v.sum())
        tot["errors"] += int(err.sum())
        per_file[name] = {"voiced": int(v.sum()), "errors": int(err.sum()), "swift_errors": int((v & ~ok_s).sum())}
        cents_off += list(d[err])
        masks = {
            "octave_up": np.abs(d - 1200) < 100, "octave_down": np.abs(d + 1200) < 100,
            "x3_up": np.abs(d - 1902) < 100, "x1.5_up": np.abs(d - 702) < 100, "x1.5_down": np.abs(d + 702) < 100,
            "sub_x3": np.abs(d + 1902) < 100,
            "edge": dist <= 0.030, "unvoiced": ev <= 0, "low": 1200 * np.log2(np.maximum(rf[:len(v)], 1e-3) / 80) < 0,
        }
        ratio = np.zeros(len(v), bool)
        for k in ("octave_up", "octave_down", "x3_up", "x1.5_up", "x1.5_down", "sub_x3"):
            ratio |= masks[k]
        masks["other_ratio"] = ~ratio
        masks["unvoiced_not_edge"] = masks["unvoiced"] & ~masks["edge"]
        masks["edge_or_unvoiced"] = masks["unvoiced"] | masks["edge"]
        for k, m in masks.items():
            cls[k] += int((err & m).sum())
            swift_right[k] += int((err & m & ok_s).sum())
    return tot, cls, swift_right, per_file, np.array(cents_off)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shifts", action="store_true", help="dev RPA with tonehost's times shifted by -10..10 ms")
    ap.add_argument("-o", "--output", default="pitch_errors")
    args = ap.parse_args(argv)
    dev = load_sets(False)["fda-dev"]  # development files only
    cache = RESULTS / "pitch_errors_swift_dev.pkl"
    if cache.exists():
        swift = pickle.loads(cache.read_bytes())
    else:
        swift = frames(dev, tracker_swift)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(swift))
    ours = frames(dev, tracker_ours)
    res = {"files": [w.name for w, _, _ in dev], "rpa_tonehost": rpa(ours), "rpa_swift": rpa(swift)}
    tot, cls, sw, per_file, off = classify(ours, swift)
    res.update(totals=tot, classes=cls, swift_right_on_class=sw, per_file=per_file)
    print(f"fda-dev RPA tonehost {res['rpa_tonehost']:.4f}  swift-f0 {res['rpa_swift']:.4f}")
    print(f"ref-voiced frames {tot['ref_voiced']}, tonehost errors {tot['errors']} "
          f"({tot['errors'] / tot['ref_voiced']:.3f})")
    for k in cls:
        print(f"  {k:18s} {cls[k]:5d} ({cls[k] / max(tot['errors'], 1):.3f} of errors); swift-f0 right on {sw[k]}")
    h, e = np.histogram(off, bins=[-4000, -2000, -1400, -1000, -800, -600, -300, -100, -50, 50, 100, 300, 600, 800,
                                   1000, 1400, 2000, 4000])
    print("  cents off histogram:", ", ".join(f"[{a},{b}):{c}" for a, b, c in zip(e[:-1], e[1:], h)))
    for name, p in per_file.items():
        print(f"  {name}: {p}")
    if args.shifts:
        res["shift_rpa"] = {}
        for ms in (-10, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 10):
            res["shift_rpa"][ms] = {"tonehost": rpa(ours, ms / 1000.0), "swift-f0": rpa(swift, ms / 1000.0)}
            print(f"  shift {ms:+3d} ms: RPA tonehost {res['shift_rpa'][ms]['tonehost']:.4f}, "
                  f"swift-f0 {res['shift_rpa'][ms]['swift-f0']:.4f}")
    print(f"wrote {save_json(args.output, res)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
