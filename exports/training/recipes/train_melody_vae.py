"""Recipe: train the shipped 2-bar melody MusicVAE ``exports/shipped/mel_2bar_folk`` (mel_2bar_small format).

Commands (seeded; ``train`` resumes from ``WORK/train_state.pt``, saved every minute of CPU time and at the end;
``--cpu-minutes`` caps the CPU time of all runs of one WORK together)::

    python -m tonehost.exports.training.recipes.make_melody_data          # the data (cached) + the split check
    nice -n 10 python -m tonehost.exports.training.recipes.train_melody_vae train --work W --cpu-minutes 9.5
    python -m tonehost.exports.training.recipes.train_melody_vae export --work W

``export`` writes the model with the best validation reconstruction accuracy as a layers checkpoint in
mel_2bar_small's format (a flat BiLSTM encoder ``encoder/cell_0/bidirectional_rnn/{fw,bw}/...``,
``encoder/{mu,sigma}``, ``decoder/z_to_initial_state``, ``decoder/multi_rnn_cell/cell_{0,1}/lstm_cell``,
``decoder/output_projection``; ``config.json`` = ``MelodyConverter {numSteps 32, minPitch 21, maxPitch 108}``),
quantized to uint16 like the hosted ``_q2`` checkpoints (``--quantize none`` for float32), plus
``model_card.json`` and the tests' fixture (24 held-out test windows with mu and argmax decodes of the torch model
holding the stored weights), and prints the validation reconstruction accuracy (torch). The shipped-model tests and
``bench/musicvae_quality.py`` run it through :class:`tonehost.MusicVAE`.

Data: every 2-bar window (32 steps, starting on a bar line, at least 2 notes) of the training tunes of
``recipes/melody_split.json``, pitches as written (21..108), randomly transposed (p = 0.5, up to 6 semitones).
Model and schedule: :class:`~tonehost.exports.training.melody_training.VaeConfig` (encoder 2 x 128, z 64,
decoder 2 x 128, forget gates starting at +1; the decoder's previous-event inputs dropped with p = 0.25; batches
of 64 windows, Adam 3e-3 with cosine decay over 1900 steps, clipping 1.0, free bits
48 nats, beta ramped to 0.2 over the first 30 %, seed 1); the kept model is the one with the best
reconstruction accuracy on 1000 validation windows (checked every 200 steps). A first attempt (forget gates at 0,
no input dropout, 2400 steps planned) reached only 0.64 validation reconstruction accuracy by step 800 and was
stopped. Quality on the test tunes: ``python -m
bench.musicvae_quality``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from tonehost.exports.paths import SHIPPED_DIR

NAME = "mel_2bar_folk"
#: The shipped-model tests' held-out fixture (in a source checkout).
FIXTURE = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "shipped_melody" / f"{NAME}_heldout.npz"


def _data(part: str):
    from tonehost.exports.training import melodies as M
    from tonehost.exports.training.melody_training import vae_data

    tunes = M.split_tunes(M.cached_tunes(), M.load_split())
    return vae_data(tunes[part])


def cmd_train(args) -> int:
    import torch

    from tonehost.exports.training.melody_training import VaeConfig, train_vae

    torch.set_num_threads(1)
    cfg = VaeConfig(enc_units=args.enc_units, z_dims=args.z_dims, dec_units=tuple(args.dec_units),
                    steps=args.steps, seed=args.seed, lr=args.lr, free_nats=args.free_nats, max_beta=args.max_beta)
    train, val = _data("train"), _data("validation")
    print(f"train: {len(train.windows)} windows; validation: {len(val.windows)} windows")
    train_vae(train, val, args.work, cfg, cpu_minutes=args.cpu_minutes)
    return 0


def cmd_export(args) -> int:
    import torch

    from tonehost.exports.tfjs import write_layers_checkpoint
    from tonehost.exports.training import melodies as M
    from tonehost.exports.training.melody_models import MelodyVAE, vae_config
    from tonehost.exports.training.melody_training import load_state, vae_evaluate

    torch.set_num_threads(1)
    cfg, state = load_state(args.work)
    model = MelodyVAE(M.VAE_MAX_PITCH - M.VAE_MIN_PITCH + 3, cfg["enc_units"], cfg["z_dims"], cfg["dec_units"])
    model.load_state_dict(state)
    model.eval()
    out = Path(args.out)
    for old in out.glob("group1-shard*"):
        old.unlink()
    quantize = None if args.quantize == "none" else args.quantize
    write_layers_checkpoint(out, model.layers_weights(), quantize=quantize, config=vae_config())
    val = _data("validation")
    ev = vae_evaluate(model, val.windows)
    st = torch.load(Path(args.work) / "train_state.pt", weights_only=False)
    card = {"model": "MusicVAE (mel_2bar_small format)", "recipe": "tonehost.exports.training.recipes.train_melody_vae",
            "data": "2-bar windows of music21 corpus melodies, recipes/melody_split.json train part",
            "split_sha256": hashlib.sha256(M.SPLIT_PATH.read_bytes()).hexdigest(), "quantize": quantize,
            "config": cfg, "best_step": st["best"][1], "steps_run": st["step"],
            "cpu_minutes": round(st["cpu_seconds"] / 60, 2), "validation": ev}
    (out / "model_card.json").write_text(json.dumps(card, indent=1) + "\n")
    fixture = Path(args.fixture) if args.fixture else None
    if fixture is not None:
        # held-out test windows, and mu and the argmax decodes of the torch model holding the stored weights
        from tonehost.exports.tfjs import read_layers_checkpoint

        stored = MelodyVAE.from_layers_weights(read_layers_checkpoint(out))
        test = _data("test").windows
        wins = test[np.random.default_rng(7).permutation(len(test))[:24]]
        with torch.no_grad():
            mu, _ = stored.encode(torch.from_numpy(wins))
            decoded = stored.greedy_decode(mu, wins.shape[1]).numpy()
        fixture.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(fixture, windows=wins.astype(np.int64), mu=mu.numpy().astype(np.float32),
                            decoded=decoded.astype(np.int64))
        print(f"wrote {fixture}")
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {out} ({size / 1e6:.2f} MB): validation reconstruction accuracy {ev['recon_accuracy']:.4f} "
          f"(torch, {ev['windows']} windows); KL {ev['kl']:.1f} nats. Through tonehost.MusicVAE: python -m "
          "bench.musicvae_quality, tests/realtime/test_shipped_melody.py")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tonehost.exports.training.recipes.train_melody_vae",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train or resume")
    t.add_argument("--work", required=True, help="folder of train_state.pt")
    t.add_argument("--cpu-minutes", type=float, default=25.0, help="CPU budget of all runs of WORK (default 25)")
    t.add_argument("--steps", type=int, default=1900, help="length of the learning-rate schedule (default 1900)")
    t.add_argument("--enc-units", type=int, default=128)
    t.add_argument("--z-dims", type=int, default=64)
    t.add_argument("--dec-units", type=int, nargs="+", default=[128, 128])
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--free-nats", type=float, default=48.0)
    t.add_argument("--max-beta", type=float, default=0.2)
    t.add_argument("--seed", type=int, default=1)
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("export", help="write the layers checkpoint")
    e.add_argument("--work", required=True)
    e.add_argument("--out", default=str(SHIPPED_DIR / NAME), help=f"default exports/shipped/{NAME}")
    e.add_argument("--quantize", choices=["none", "uint8", "uint16"], default="uint16")
    e.add_argument("--fixture", default=str(FIXTURE) if FIXTURE.parent.parent.is_dir() else None,
                   help="also write held-out windows + the torch model's mu and decodes here (default "
                   f"tests/fixtures/shipped_melody/{NAME}_heldout.npz in a source checkout)")
    e.set_defaults(func=cmd_export)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
