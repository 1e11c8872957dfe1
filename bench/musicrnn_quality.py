"""Quality of the shipped melody MusicRNN (``basic_rnn_folk``) on held-out tunes, against n-gram models.

    .venv/bin/python -m bench.musicrnn_quality                 # the shipped model, all test tunes (~2-4 min)
    .venv/bin/python -m bench.musicrnn_quality --max-tunes 200 # quicker
    .venv/bin/python -m bench.musicrnn_quality --checkpoint DIR

Data: the *test* part of ``exports/training/recipes/melody_split.json`` (music21 corpus melodies; tunes are moved
by octaves into basic_rnn's range 48..83 exactly as for training, those that do not fit are left out and
counted), in magenta.js's melody encoding (one event per sixteenth: NO_EVENT, NOTE_OFF, 36 note-ons).

Measured for every test tune, at positions 1..T-1 (event t predicted from events 0..t-1; the RNN starts from
zero state as ``continue_sequence`` does, the n-grams from begin markers):

- the shipped checkpoint through :class:`tonehost.MusicRNN` (its ONNX step model, batched over tunes);
- 3- and 5-gram models, interpolated modified Kneser-Ney and interpolated Witten-Bell
  (:class:`tonehost.exports.training.ngram.NGramModel`), fitted in this run on the same training tunes the RNN
  was trained on -- once as written and once with the RNN's augmentation (every transposition within 6
  semitones that stays in range) -- the best of these is the reference to beat;

reporting NLL (nats per event, and perplexity), next-event accuracy (argmax), the accuracy on note-on events
and on events other than NO_EVENT, and a 95 % bootstrap interval (over tunes) of the NLL and accuracy
differences between the RNN and the best n-gram. Writes ``bench/results/musicrnn_quality.json``.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def rnn_scores(model, events: list[np.ndarray], batch: int = 256) -> list[dict]:
    """Per tune: log-probabilities of events 1..T-1 and the argmax predictions, from the ONNX step model."""
    D = model.event_depth
    eye = np.eye(D, dtype=np.float32)
    out: list[dict | None] = [None] * len(events)
    order = np.argsort([len(e) for e in events])
    for i in range(0, len(order), batch):
        idx = order[i:i + batch]
        chunk = [events[j] for j in idx]
        T = max(len(e) for e in chunk)
        x = np.zeros((len(chunk), T), np.int64)
        for r, e in enumerate(chunk):
            x[r, :len(e)] = e
        state = model.initial_state(len(chunk))
        logp = np.zeros((len(chunk), T - 1), np.float64)
        pred = np.zeros((len(chunk), T - 1), np.int64)
        for t in range(T - 1):
            logits, state = model.step(eye[x[:, t]], state)
            lg = logits.astype(np.float64)
            lse = np.log(np.exp(lg - lg.max(1, keepdims=True)).sum(1)) + lg.max(1)
            logp[:, t] = lg[np.arange(len(chunk)), x[:, t + 1]] - lse
            pred[:, t] = logits.argmax(1)
        for r, j in enumerate(idx):
            n = len(events[j]) - 1
            out[j] = {"logp": logp[r, :n], "pred": pred[r, :n]}
    return out


def ngram_scores(model, events: list[np.ndarray]) -> list[dict]:
    """Per tune: log-probabilities of events 1..T-1 and the argmax predictions of an n-gram model."""
    out = []
    for e in events:
        d = model.sequence_distributions(e)[1:]
        out.append({"logp": np.log(d[np.arange(len(d)), e[1:]]), "pred": d.argmax(1)})
    return out


def summarize(scores: list[dict], events: list[np.ndarray]) -> dict:
    """Pooled NLL, perplexity and accuracies over all predicted events."""
    logp = np.concatenate([s["logp"] for s in scores])
    pred = np.concatenate([s["pred"] for s in scores])
    tgt = np.concatenate([e[1:] for e in events])
    onset = tgt >= 2
    change = tgt != 0
    nll = float(-logp.mean())
    return {"nll": nll, "perplexity": float(np.exp(nll)), "accuracy": float((pred == tgt).mean()),
            "accuracy_note_on": float((pred == tgt)[onset].mean()), "accuracy_not_no_event":
            float((pred == tgt)[change].mean()), "events": int(len(tgt))}


def bootstrap(a: list[dict], b: list[dict], events, n: int = 1000, seed: int = 0) -> dict:
    """95 % intervals (resampling tunes) of pooled NLL(a) - NLL(b) and accuracy(a) - accuracy(b)."""
    rng = np.random.default_rng(seed)
    la = np.array([-s["logp"].sum() for s in a])
    lb = np.array([-s["logp"].sum() for s in b])
    ca = np.array([(s["pred"] == e[1:]).sum() for s, e in zip(a, events)])
    cb = np.array([(s["pred"] == e[1:]).sum() for s, e in zip(b, events)])
    cnt = np.array([len(e) - 1 for e in events])
    dn, da = [], []
    for _ in range(n):
        i = rng.integers(0, len(cnt), len(cnt))
        k = cnt[i].sum()
        dn.append((la[i].sum() - lb[i].sum()) / k)
        da.append((ca[i].sum() - cb[i].sum()) / k)
    q = lambda v: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]  # noqa: E731
    return {"nll_difference_95": q(dn), "accuracy_difference_95": q(da)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.musicrnn_quality", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="MusicRNN checkpoint directory (default: the shipped basic_rnn_folk)")
    ap.add_argument("--max-tunes", type=int, help="use only the first N test tunes (default: all)")
    ap.add_argument("--json", default="musicrnn_quality", help="result name or path (default "
                    "bench/results/musicrnn_quality.json)")
    args = ap.parse_args(argv)

    from bench._common import save_json
    from tonehost.exports.training import melodies as M
    from tonehost.exports.training.melody_training import rnn_data, transpose_events
    from tonehost.exports.training.ngram import NGramModel
    from tonehost.realtime.pipelines.music_rnn import MusicRNN

    t0 = time.perf_counter()
    parts = M.split_tunes(M.cached_tunes(), M.load_split())
    train = rnn_data(parts["train"])
    test = rnn_data(parts["test"])
    n_test_all = len(parts["test"])
    events = test.events[:args.max_tunes] if args.max_tunes else test.events
    print(f"test: {len(events)} tunes ({n_test_all - len(test.events)} of {n_test_all} do not fit 48..83), "
          f"{sum(len(e) - 1 for e in events)} predicted events; n-grams fitted on {len(train.events)} training "
          f"tunes ({train.steps} events) [{time.perf_counter() - t0:.0f} s]")

    model = MusicRNN(args.checkpoint, offline=True)
    t1 = time.perf_counter()
    rnn = rnn_scores(model, events)
    results = {"rnn": {"checkpoint": str(model.checkpoint_dir), "layers": model.units,
                       **summarize(rnn, events), "seconds": time.perf_counter() - t1}}
    scores = {"rnn": rnn}
    D = train.n_classes
    augmented = []
    for e in train.events:
        notes = e[e >= 2]
        for s in range(-6, 7):
            if len(notes) and notes.min() + s >= 2 and notes.max() + s <= D - 1:
                augmented.append(transpose_events(e, s))
    for data_name, seqs in (("as written", train.events), ("transposed +-6", augmented)):
        for smoothing in ("kneser-ney", "witten-bell"):
            for order in (3, 5):
                t2 = time.perf_counter()
                ng = NGramModel(order, D, smoothing).fit(seqs)
                key = f"{order}-gram {smoothing} ({data_name})"
                scores[key] = ngram_scores(ng, events)
                results[key] = {**summarize(scores[key], events), "seconds": time.perf_counter() - t2}
    ngram_keys = [k for k in results if k != "rnn"]
    best_nll = min(ngram_keys, key=lambda k: results[k]["nll"])
    best_acc = max(ngram_keys, key=lambda k: results[k]["accuracy"])
    print(f"\n{'model':44s} {'NLL':>7s} {'ppl':>6s} {'acc':>7s} {'acc on':>7s} {'acc !=':>7s}")
    print(f"{'':44s} {'nats':>7s} {'':>6s} {'':>7s} {'note-on':>7s} {'NO_EV':>7s}")
    for k, r in results.items():
        print(f"{k:44s} {r['nll']:7.4f} {r['perplexity']:6.3f} {r['accuracy']:7.4f} {r['accuracy_note_on']:7.4f} "
              f"{r['accuracy_not_no_event']:7.4f}")
    bs = bootstrap(scores["rnn"], scores[best_nll], events)
    bs_acc = bootstrap(scores["rnn"], scores[best_acc], events)
    beats = results["rnn"]["nll"] < results[best_nll]["nll"] and results["rnn"]["accuracy"] > results[best_acc]["accuracy"]
    summary = {"best_ngram_by_nll": best_nll, "best_ngram_by_accuracy": best_acc,
               "nll_rnn_minus_best_ngram_95": bs["nll_difference_95"],
               "accuracy_rnn_minus_best_ngram_95": bs_acc["accuracy_difference_95"], "rnn_beats_ngrams": beats}
    print(f"\nRNN - best n-gram ({best_nll}): NLL {results['rnn']['nll'] - results[best_nll]['nll']:+.4f} nats/event "
          f"(95% {bs['nll_difference_95'][0]:+.4f}..{bs['nll_difference_95'][1]:+.4f}); accuracy vs {best_acc}: "
          f"{results['rnn']['accuracy'] - results[best_acc]['accuracy']:+.4f} "
          f"(95% {bs_acc['accuracy_difference_95'][0]:+.4f}..{bs_acc['accuracy_difference_95'][1]:+.4f})")
    print("the RNN beats every n-gram on both" if beats else "the RNN does NOT beat the best n-gram on both")
    path = save_json(args.json, {"test_tunes": len(events), "test_tunes_not_fitting": n_test_all - len(test.events),
                                 "train_tunes": len(train.events), "train_events": train.steps,
                                 "results": results, "summary": summary,
                                 "seconds": time.perf_counter() - t0})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
