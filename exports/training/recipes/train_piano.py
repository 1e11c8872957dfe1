"""Recipe: train the shipped piano model ``exports/shipped/onsets_frames_small`` (Onsets and Frames, small widths).

Commands (each re-runnable, seeded; ``train`` resumes from ``WORK/train_state.pt``, saved every ``--save-every``
seconds and at the end; ``--minutes`` caps one run's wall-clock time, ``--steps`` is the length of the learning-rate
schedule):

- data: ``python -m tonehost.exports.training.recipes.make_piano_data --out DATA --hours H --seed S [--pianos fluidsynth,salamander]``
- train: ``python -m tonehost.exports.training.recipes.train_piano train --data DATA[,DATA2...] --work WORK [--init OTHER/train_state.pt]``
- export: ``python -m tonehost.exports.training.recipes.train_piano export --data DATA[,...] --work WORK --out exports/shipped/onsets_frames_small``
  writes the tfjs layers checkpoint (q2, uint16), after setting the onset/frame head biases so that magenta.js's
  fixed 0.5 thresholds give the best note F1 on the held-out validation pieces (a constant added to a logit).

The shipped weights came from exactly this sequence (about 3 h 30 min of one core in all, parts on two)::

    make_piano_data --out D1 --hours 2.0 --seed 1234                       # FluidR3_GM + TimGM6mb pianos
    train_piano train --data D1 --work W1 --steps 3000 --minutes 50         # stage 1 (lr 6e-4)
    train_piano train --data D1 --work W1 --steps 4500 --minutes 19         #   resumed, longer schedule
    make_piano_data --out D2 --hours 4.0 --seed 1235
    make_piano_data --out D3 --hours 1.5 --seed 1236 --pianos salamander   # Salamander Grand (npm samples)
    train_piano train --data D2 --work W2 --init W1/train_state.pt --steps 7000 --lr 5e-4 --minutes 60
        # (stopped after its checkpoint at step 3137, then resumed with the third piano and two threads:)
    train_piano train --data D2,D3 --work W2 --steps 7000 --lr 5e-4 --minutes 90 --threads 2
    make_piano_data --out D4 --hours 2.0 --seed 1237 --pianos fluidsynth,salamander
    train_piano train --data D2,D3 --work W3 --init W2/train_state.pt --steps 2200 --lr 2e-4 --minutes 26
        # (stopped after its checkpoint at step 968, then resumed with D4, a longer schedule and two threads:)
    train_piano train --data D2,D3,D4 --work W3 --steps 3000 --lr 2e-4 --minutes 24 --threads 2
    train_piano train --data D2,D3,D4 --work W4 --init W3/train_state.pt --steps 2000 --lr 1.5e-4 --minutes 15 \\
        --threads 2                                                       # stage 4 (stopped by the cap at 1958)
    train_piano export --data D2,D3,D4 --work W4

Each stage was kept only if it raised the calibrated onset F1 on the validation pieces (every 25th piece of the
training sets; same 22 pieces): stage 2 0.836, stage 3 0.850, stage 4 0.856.

Widths: conv 16/16/32, fc 256, LSTM 128 (:data:`tonehost.exports.training.onsets_frames.SMALL_WIDTHS`); batches of 8 crops
of 160 frames (+3 context frames each side for the convolutions), Adam with cosine decay to 5 % of ``--lr``,
gradient clipping at 3, an auxiliary frame loss on ``activation_probs`` and a small L2 penalty on the fc
features (see :func:`tonehost.exports.training.onsets_frames.losses`).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np


import torch

from tonehost.exports.convert.onsets_frames import RF_PAD
from tonehost.exports.paths import SHIPPED_DIR, atomic_output
from tonehost.exports.training.onsets_frames import (SMALL_WIDTHS, OnsetsFrames, losses, rolls,
                                         torch_to_checkpoint)


def load_data(data, val_every: int = 25):
    """(train, val): lists of (mel float16 [T, 229], onset, frame, velocity rolls) from one data directory or a
    comma-separated list of them; every ``val_every``-th piece of each is held out for validation."""
    train, val = [], []
    for folder in str(data).split(","):
        for i, p in enumerate(sorted(Path(folder).glob("piece_*.npz"))):
            d = np.load(p)
            mel = d["mel"]
            item = (mel, *rolls(d["notes"], len(mel)))
            (val if i % val_every == val_every - 1 else train).append(item)
    return train, val


def batch(items, rng, size: int, length: int, ctx: int = RF_PAD):
    """Random crops: mel [B, L + 2 ctx, 229] (edge-padded with -100 dB silence, random +-10 dB gain),
    labels [B, L, 88]."""
    weights = np.array([len(it[0]) for it in items], float)
    idx = rng.choice(len(items), size=size, p=weights / weights.sum())
    mels, ons, frs, ves = [], [], [], []
    for i in idx:
        mel, on, fr, ve = items[i]
        T = len(mel)
        s = int(rng.integers(0, max(1, T - length)))
        e = min(T, s + length)
        m = np.full((length + 2 * ctx, mel.shape[1]), -100.0, np.float32)
        lo, hi = max(0, s - ctx), min(T, e + ctx)
        # gain: a dB shift (the per-frame top_db clip moves along with it)
        m[lo - (s - ctx):hi - (s - ctx)] = mel[lo:hi] + rng.uniform(-10, 10)
        lab = [np.zeros((length, 88), np.float32) for _ in range(3)]
        for k, r in enumerate((on, fr, ve)):
            lab[k][:e - s] = r[s:e]
        mels.append(m)
        ons.append(lab[0])
        frs.append(lab[1])
        ves.append(lab[2])
    t = lambda a: torch.from_numpy(np.stack(a))  # noqa: E731
    return t(mels), t(ons), t(frs), t(ves)


def evaluate(model: OnsetsFrames, items, max_frames: int = 4000):
    """Mean validation losses over whole pieces (each cut to ``max_frames``)."""
    model.eval()
    tot = {}
    with torch.no_grad():
        for mel, on, fr, ve in items:
            n = min(len(mel), max_frames)
            f = lambda a: torch.from_numpy(np.asarray(a[:n], np.float32))[None]  # noqa: E731
            ls = losses(model, f(mel), f(on), f(fr), f(ve), context=0)
            for k, v in ls.items():
                tot[k] = tot.get(k, 0.0) + float(v) / len(items)
    model.train()
    return tot


def cmd_train(args) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / "train_state.pt"
    train, val = load_data(args.data)
    print(f"data: {len(train)} train pieces ({sum(len(t[0]) for t in train)} frames), {len(val)} val", flush=True)
    model = OnsetsFrames(SMALL_WIDTHS)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, rng, log = 0, np.random.default_rng(args.seed), []
    if state_path.is_file() and not args.fresh:
        st = torch.load(state_path, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, log = st["step"], st["log"]
        rng.bit_generator.state = st["rng"]
        torch.set_rng_state(st["torch_rng"])
        print(f"resumed at step {step}", flush=True)
    elif args.init:
        st = torch.load(args.init, weights_only=False)
        model.load_state_dict(st["model"])
        print(f"initialised from {args.init} (its step {st['step']}); fresh optimiser and schedule", flush=True)

    def save() -> None:
        with atomic_output(state_path) as tmp:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "log": log,
                        "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "widths": SMALL_WIDTHS,
                        "init": args.init, "args": {k: v for k, v in vars(args).items() if k != "func"}}, tmp)

    t0 = last_save = last_print = time.time()
    run = {}
    model.train()
    while step < args.steps and time.time() - t0 < args.minutes * 60:
        lr = args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps))))
        for g in opt.param_groups:
            g["lr"] = lr
        mel, on, fr, ve = batch(train, rng, args.batch, args.length)
        ls = losses(model, mel, on, fr, ve)
        opt.zero_grad()
        ls["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 3.0)
        opt.step()
        step += 1
        for k, v in ls.items():
            run[k] = 0.98 * run.get(k, float(v.detach())) + 0.02 * float(v.detach())
        if time.time() - last_print > 60:
            last_print = time.time()
            print(f"step {step} lr {lr:.2e} " + " ".join(f"{k} {v:.4f}" for k, v in run.items())
                  + f" ({time.time() - t0:.0f} s)", flush=True)
        if time.time() - last_save > args.save_every:
            v = evaluate(model, val)
            log.append({"step": step, "train": dict(run), "val": v, "t": time.time() - t0})
            print(f"  val step {step}: " + " ".join(f"{k} {x:.4f}" for k, x in v.items()), flush=True)
            save()
            last_save = time.time()
    v = evaluate(model, val)
    log.append({"step": step, "train": dict(run), "val": v, "t": time.time() - t0})
    save()
    print(f"stopped at step {step} after {time.time() - t0:.0f} s; val " +
          " ".join(f"{k} {x:.4f}" for k, x in v.items()), flush=True)


def calibrate(model: OnsetsFrames, val) -> dict:
    """Shift the onset and frame head biases so that the 0.5 thresholds maximise F1 on the validation pieces.

    Onsets: F1 of onset frames with +-1 frame tolerance (consecutive predicted onset frames count once, as the
    decoder merges them); frames: frame-level F1. Returns the chosen shifts.
    """
    model.eval()
    ol_all, fl_all, on_all, fr_all = [], [], [], []
    with torch.no_grad():
        for mel, on, fr, _ in val:
            ol, fl, _ = model(torch.from_numpy(np.asarray(mel, np.float32))[None])
            ol_all.append(ol[0].numpy())
            fl_all.append(fl[0].numpy())
            on_all.append(on)
            fr_all.append(fr)

    def onset_f1(shift: float) -> float:
        tp = fp = fn = 0
        for ol, on in zip(ol_all, on_all):
            pred = ol + shift > 0
            first = pred & ~np.vstack([np.zeros((1, 88), bool), pred[:-1]])
            lab = on.astype(bool)
            near = lab | np.vstack([lab[1:], np.zeros((1, 88), bool)]) | np.vstack([np.zeros((1, 88), bool), lab[:-1]])
            hit = first & near
            tp += int(hit.sum())
            fp += int((first & ~near).sum())
            fn += max(0, int(lab.sum()) - int(hit.sum()))
        return 2 * tp / max(1, 2 * tp + fp + fn)

    def frame_f1(shift: float) -> float:
        tp = fp = fn = 0
        for fl, fr in zip(fl_all, fr_all):
            pred, lab = fl + shift > 0, fr.astype(bool)
            tp += int((pred & lab).sum())
            fp += int((pred & ~lab).sum())
            fn += int((~pred & lab).sum())
        return 2 * tp / max(1, 2 * tp + fp + fn)

    shifts = np.arange(-3.0, 6.01, 0.25)
    so = max(shifts, key=onset_f1)
    sf = max(shifts, key=frame_f1)
    res = {"onset_shift": float(so), "onset_f1_before": onset_f1(0.0), "onset_f1_after": onset_f1(so),
           "frame_shift": float(sf), "frame_f1_before": frame_f1(0.0), "frame_f1_after": frame_f1(sf)}
    with torch.no_grad():
        model.onset_probs.bias += float(so)
        model.frame_probs.bias += float(sf)
    return res


def cmd_export(args) -> None:
    from tonehost.exports.tfjs import write_layers_checkpoint

    torch.set_num_threads(1)
    st = torch.load(Path(args.work) / "train_state.pt", weights_only=False)
    model = OnsetsFrames(st["widths"])
    model.load_state_dict(st["model"])
    model.eval()
    cal = {}
    if not args.no_calibrate:
        _, val = load_data(args.data)
        cal = calibrate(model, val)
        print("calibration:", cal)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for p in out.glob("group*"):
        p.unlink()
    write_layers_checkpoint(out, torch_to_checkpoint(model), quantize="uint16")
    info = {"model": "onsets_frames_small", "family": "Onsets and Frames (magenta.js uni-directional)",
            "widths": {k: list(v) if isinstance(v, tuple) else v for k, v in st["widths"].items()},
            "steps": st["step"], "train_seconds_last_run": round(st["log"][-1]["t"] if st["log"] else 0),
            "val": st["log"][-1]["val"] if st["log"] else {}, "calibration": cal,
            "recipe": "exports/recipes/make_piano_data.py + exports/recipes/train_piano.py",
            "args": {k: v for k, v in st["args"].items() if isinstance(v, (str, int, float, bool))}}
    (Path(args.work) / "export_info.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info, indent=1))
    print("->", out, sum(p.stat().st_size for p in out.iterdir()), "bytes")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True, help="data directory (or several, comma-separated)")
    t.add_argument("--work", required=True)
    t.add_argument("--minutes", type=float, default=55.0, help="wall-clock cap of this run")
    t.add_argument("--steps", type=int, default=3000, help="total steps (the learning-rate schedule's length)")
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--length", type=int, default=160)
    t.add_argument("--lr", type=float, default=6e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--save-every", type=float, default=240.0, help="seconds between checkpoints")
    t.add_argument("--fresh", action="store_true", help="ignore an existing train_state.pt")
    t.add_argument("--init", help="start from the weights of another run's train_state.pt (stage 2 of the recipe)")
    t.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("export")
    e.add_argument("--data", required=True)
    e.add_argument("--work", required=True)
    e.add_argument("--out", default=str(SHIPPED_DIR / "onsets_frames_small"))
    e.add_argument("--no-calibrate", action="store_true")
    e.set_defaults(func=cmd_export)
    args = ap.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
