"""Recipe: train the shipped default violin (``exports/shipped/violin.onnx``) from FluidSynth renders.

Reproduce the shipped weights (2 CPU cores, one used; seeds fixed)::

    .venv/bin/python -m tonehost.exports.training.recipes.make_violin_data --out /tmp/violin/data --minutes 40 --seed 0 \\
        --soundfonts fluidr3,timgm6mb
    .venv/bin/python -m tonehost.exports.training.recipes.make_violin_data --out /tmp/violin/eval --minutes 2 --seed 1 \\
        --soundfonts fluidr3,timgm6mb
    .venv/bin/python -m tonehost.exports.training.recipes.train_violin --data /tmp/violin/data --eval /tmp/violin/eval \\
        --work /tmp/violin/work --max-minutes 55 --export exports/shipped/violin.onnx

(10,000 steps, 42 minutes on one core of the 2-core build machine.)

Training resumes from ``--work/state.pt`` when it exists (re-run the same command to continue); the wall-clock
cap applies per run. ``--export-only`` exports the current checkpoint.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="directory from make_violin_data (training)")
    ap.add_argument("--eval", help="directory from make_violin_data (held out, other seed)")
    ap.add_argument("--work", required=True, help="training directory (state.pt, log)")
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--max-minutes", type=float, default=50.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--post-gain", type=float, default=3.0, help="output gain stored in the model")
    ap.add_argument("--export", help="write the ONNX controls model here when done")
    ap.add_argument("--export-only", action="store_true")
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    from tonehost.exports.training import ddsp as T

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = T.FrameData.from_npz_dir(args.data)
    eval_data = T.FrameData.from_npz_dir(args.eval) if args.eval else None
    cfg = T.TrainConfig(steps=args.steps, batch=args.batch, seconds=args.seconds, seed=args.seed,
                        max_minutes=args.max_minutes)
    logf = open(work / "train.log", "a")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    if args.export_only:
        model = T.load_checkpoint(work)
    else:
        log(f"data: {data.n_frames / T.FRAME_RATE / 60:.1f} min; config {cfg}")
        model = T.train(data, work, cfg, log=log, eval_data=eval_data)
        log(f"parameters: {T.n_params(model)}")
    if eval_data is not None:
        log(f"held-out loss: {T.evaluate(model, eval_data, cfg):.4f}")
    if args.export:
        settings = T.settings_from_data(data, post_gain=args.post_gain)
        settings["trainedOn"] = json.loads((Path(args.data) / "stats.json").read_text()) \
            if (Path(args.data) / "stats.json").is_file() else {}
        out = T.export_onnx(model, args.export, settings, post_gain=args.post_gain)
        log(f"exported {out} ({out.stat().st_size / 1e6:.2f} MB), ONNX matches torch "
            f"(max abs {T.check_onnx_matches(model, out):.1e}); settings {settings}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
