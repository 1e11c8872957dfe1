"""Recipe: train the shipped melody MusicRNN ``exports/shipped/basic_rnn_folk`` (basic_rnn format, LSTM 2 x 128).

Commands (seeded; ``train`` resumes from ``WORK/train_state.pt``, saved every minute of CPU time and at the end;
``--cpu-minutes`` caps the CPU time of all runs of one WORK together; a resumed run may give a longer ``--steps``:
the learning rate then follows the longer cosine from the current step). The shipped weights came from exactly::

    python -m tonehost.exports.training.recipes.make_melody_data          # the data (cached) + the split check
    nice -n 10 python -m tonehost.exports.training.recipes.train_melody_rnn train --work W --cpu-minutes 7
        # 1400 steps (the default schedule), 6.1 CPU minutes: validation NLL 1.013 (300 tunes)
    nice -n 10 python -m tonehost.exports.training.recipes.train_melody_rnn train --work W --cpu-minutes 11 --steps 2400
        # resumed with a longer schedule; best at step 2350: 0.982; 10.8 CPU minutes in all
    python -m tonehost.exports.training.recipes.train_melody_rnn export --work W

``export`` writes the best model on the validation tunes as a layers checkpoint in basic_rnn's exact format
(``rnn/multi_rnn_cell/cell_{0,1}/basic_lstm_cell/{kernel,bias}``, ``fully_connected/{weights,biases}``,
float32, ``config.json`` = basic_rnn's ``MelodyConverter {minPitch 48, maxPitch 83}``) through
:func:`tonehost.exports.tfjs.write_layers_checkpoint`, plus ``model_card.json`` (settings, step, CPU time,
validation scores, the split's SHA-256) and the tests' fixture (6 held-out test tunes with the torch model's
probabilities), then exports it to the ONNX step model :class:`tonehost.MusicRNN` runs and checks its
probabilities against the torch model on 20 validation tunes (max difference printed; it must be < 1e-5).

Data: the training part of ``recipes/melody_split.json`` (music21's folk-tune collections and chorale soprano
lines, moved by octaves into 48..83 when they do not fit as written; tunes wider than that are left out), in their
written keys (``--p-transpose P`` adds random transpositions up to 6 semitones). Model and schedule:
:class:`~tonehost.exports.training.melody_training.RnnConfig` (2 x 128, forget gates starting at +1, no dropout,
batches of 32 crops of <= 128 steps -- from the tune's start or, half the time, a bar line -- of random tunes,
Adam 3e-3 with cosine decay to 5 %, clipping 1.0, seed 1); the kept model is the one with the lowest NLL on 300
validation tunes (checked every 50 steps). Tried first and stopped (validation only): 2 x 192 with random crop
starts and forget gates at 0 stayed at the unigram level (NLL 1.52, every step NO_EVENT) for 200 steps; batches of
tunes of similar length (correlated batches) stayed there for 250; with transpositions (p = 0.5) and dropout 0.1
the same settings learned more slowly (NLL 1.083 at 1350 steps, against 1.013 without). The 5-gram
(Kneser-Ney) on the same 300 validation tunes: NLL 1.111, accuracy 0.683. Quality on the test tunes: ``python
-m bench.musicrnn_quality``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

NAME = "basic_rnn_folk"
#: The shipped-model tests' held-out fixture (in a source checkout).
FIXTURE = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "shipped_melody" / f"{NAME}_heldout.npz"


def _data(part: str):
    from tonehost.exports.training.melody_training import rnn_data, split_data

    return split_data(part, rnn_data)


def cmd_train(args) -> int:
    import torch

    from tonehost.exports.training.melody_training import RnnConfig, train_rnn

    torch.set_num_threads(1)
    cfg = RnnConfig(units=tuple(args.units), steps=args.steps, seed=args.seed, lr=args.lr, dropout=args.dropout,
                    p_transpose=args.p_transpose)
    train, val = _data("train"), _data("validation")
    print(f"train: {len(train.events)} tunes, {train.steps} steps; validation: {len(val.events)} tunes")
    train_rnn(train, val, args.work, cfg, cpu_minutes=args.cpu_minutes)
    return 0


def cmd_export(args) -> int:
    import torch

    from tonehost.exports.tfjs import read_layers_checkpoint, write_layers_checkpoint
    from tonehost.exports.training import melodies as M
    from tonehost.exports.training.melody_models import MelodyRNN, rnn_config
    from tonehost.exports.training.melody_training import clear_shards, load_trained, rnn_evaluate, run_card
    from tonehost.exports.convert.music_rnn import export_music_rnn
    from tonehost.exports.onnx_session import make_session

    torch.set_num_threads(1)
    cfg, model = load_trained(args.work, lambda c: MelodyRNN(M.RNN_MAX_PITCH - M.RNN_MIN_PITCH + 3, c["units"]))
    out = clear_shards(args.out)
    write_layers_checkpoint(out, model.layers_weights(), config=rnn_config(M.RNN_MIN_PITCH, M.RNN_MAX_PITCH))
    val = _data("validation")
    ev = rnn_evaluate(model, val.events)
    card = {"model": "MusicRNN (basic_rnn format)", "recipe": "tonehost.exports.training.recipes.train_melody_rnn",
            "data": "music21 corpus melodies, recipes/melody_split.json train part", **run_card(args.work, cfg, ev)}
    (out / "model_card.json").write_text(json.dumps(card, indent=1) + "\n")
    # through the real loader: the ONNX step model tonehost.MusicRNN runs, against torch, on validation tunes
    session = make_session(export_music_rnn(out)[0], 1)
    state_names = [i.name for i in session.get_inputs() if i.name != "x"]
    out_names = ["logits"] + [n + "_out" for n in state_names]
    worst = 0.0
    for e in val.events[:20]:
        with torch.no_grad():
            p_torch = torch.softmax(model(torch.from_numpy(e[None]))[0][0], -1).numpy()
        state = {n: np.zeros((1, session.get_inputs()[k + 1].shape[1]), np.float32)
                 for k, n in enumerate(state_names)}
        for t, ev_t in enumerate(e.tolist()):
            x = np.zeros((1, p_torch.shape[1]), np.float32)
            x[0, ev_t] = 1.0
            res = session.run(out_names, {"x": x, **state})
            state = dict(zip(state_names, res[1:]))
            lg = res[0][0].astype(np.float64)
            p = np.exp(lg - lg.max())
            worst = max(worst, float(np.abs(p / p.sum() - p_torch[t]).max()))
    fixture = Path(args.fixture) if args.fixture else None
    if fixture is not None:
        # held-out test tunes and the trained torch model's probabilities on them, for the shipped-model tests
        test = _data("test")
        pick = np.random.default_rng(7).permutation(len(test.events))
        chosen = [test.events[i] for i in pick if 60 <= len(test.events[i]) <= 200][:6]
        with torch.no_grad():
            probs = [torch.softmax(model(torch.from_numpy(e[None]))[0][0], -1).numpy() for e in chosen]
        fixture.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(fixture, events=np.concatenate(chosen).astype(np.int16),
                            offsets=np.cumsum([0] + [len(e) for e in chosen]),
                            probs=np.concatenate(probs).astype(np.float32))
        print(f"wrote {fixture}")
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {out} ({size / 1e6:.2f} MB): validation NLL {ev['nll']:.4f} nats/event, accuracy "
          f"{ev['accuracy']:.4f}; tonehost.MusicRNN vs torch: max |dp| = {worst:.2e}")
    return 0 if worst < 1e-5 else 1


def main(argv=None) -> int:
    from tonehost.exports.training.melody_training import recipe_parser

    ap, t, e = recipe_parser("tonehost.exports.training.recipes.train_melody_rnn", __doc__, NAME, FIXTURE,
                             "held-out tunes + the torch probabilities", cpu_minutes=20.0, steps=1400)
    t.add_argument("--units", type=int, nargs="+", default=[128, 128], help="LSTM widths (default 128 128)")
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--dropout", type=float, default=0.0)
    t.add_argument("--p-transpose", type=float, default=0.0, help="probability of a random transposition per crop "
                   "(default 0: the tunes as written)")
    t.add_argument("--seed", type=int, default=1)
    t.set_defaults(func=cmd_train)
    e.set_defaults(func=cmd_export)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
