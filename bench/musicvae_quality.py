"""Quality of the shipped 2-bar melody MusicVAE (``mel_2bar_folk``): reconstruction, samples, an interpolation.

    .venv/bin/python -m bench.musicvae_quality                   # the shipped model (~2-4 min)
    .venv/bin/python -m bench.musicvae_quality --checkpoint DIR --samples 500

Data: the 2-bar windows (32 sixteenths from a bar line, >= 2 notes) of the *test* tunes of
``exports/training/recipes/melody_split.json``, in mel_2bar_small's melody encoding (21..108).

1. Reconstruction: each window encoded (z = mu) and decoded by argmax through :class:`tonehost.MusicVAE`
   (magenta.js ``decode(encode(x))``): the fraction of steps equal (target >= 0.90), of note-on steps equal, and
   of windows reproduced exactly.
2. Samples (``--samples`` each, fixed seeds), compared with the held-out windows by their note density (note-ons
   per 2 bars), pitch range (highest - lowest pitch, windows with notes) and pitch-class histogram (all notes
   pooled):

   - ``trained``: the shipped model, ``sample(n, temperature=0.5)`` (magenta.js's default) and at 1.0;
   - ``untrained``: the same architecture with fresh random weights (torch's default initialisation, written
     and loaded the same way), random-z decodes at 0.5;
   - ``5-gram``: the n-gram model of the MusicRNN bench (interpolated Kneser-Ney), fitted in this run on the
     training windows, sampled for 32 steps;
   - ``training windows``: a random subset of training windows -- the floor: what two real sets differ by.

   Distances: the 1-D Wasserstein distance between the density distributions and between the range
   distributions, the difference of their means, and the L1 distance and Jensen-Shannon divergence (bits)
   between pitch-class histograms.
3. A piano roll of an interpolation (``interpolate([a, b], 7)``) between two test windows:
   ``bench/results/musicvae_interpolation.png``.

Writes ``bench/results/musicvae_quality.json``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np


def window_stats(windows: np.ndarray) -> dict:
    """Per window note density and pitch range, and the pooled pitch-class histogram, of event windows
    (21..108 encoding: note-on code k is pitch k - 2 + 21)."""
    on = windows >= 2
    density = on.sum(1)
    pitches = np.where(on, windows - 2 + 21, -1)
    has = on.any(1)
    hi = np.where(on, pitches, -10 ** 6).max(1)
    lo = np.where(on, pitches, 10 ** 6).min(1)
    rng = (hi - lo)[has]
    pcs = pitches[on] % 12
    hist = np.bincount(pcs, minlength=12).astype(np.float64)
    hist = hist / hist.sum() if hist.sum() else hist
    return {"density": density, "range": rng, "pc_hist": hist, "empty": float(1 - has.mean())}


def compare(a: dict, ref: dict) -> dict:
    """Distances of a set's statistics to the reference set's."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    out = {"density_mean": float(a["density"].mean()), "range_mean": float(a["range"].mean()) if len(a["range"])
           else 0.0, "empty_fraction": a["empty"],
           "density_wasserstein": float(wasserstein_distance(a["density"], ref["density"])),
           "density_mean_difference": float(a["density"].mean() - ref["density"].mean()),
           "range_wasserstein": float(wasserstein_distance(a["range"], ref["range"])) if len(a["range"]) else None,
           "range_mean_difference": float(a["range"].mean() - ref["range"].mean()) if len(a["range"]) else None,
           "pc_hist_l1": float(np.abs(a["pc_hist"] - ref["pc_hist"]).sum()),
           "pc_hist_js_bits": float(jensenshannon(a["pc_hist"] + 1e-12, ref["pc_hist"] + 1e-12, base=2) ** 2)}
    return out


def events_of(samples: np.ndarray) -> np.ndarray:
    """Argmax events ``[n, T]`` of decoder one-hots ``[n, T, D]``."""
    return np.argmax(samples, axis=2)


def piano_roll_png(seqs, labels, path, title: str) -> bool:
    """Draw quantized melodies side by side as one piano roll; False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(14, 4.5))
    T = 32
    pitches = [n.pitch for s in seqs for n in s.notes] or [60]
    for k, s in enumerate(seqs):
        colour = plt.cm.viridis(k / max(1, len(seqs) - 1))
        for n in s.notes:
            x0 = k * T + n.quantized_start_step
            ax.add_patch(plt.Rectangle((x0, n.pitch - 0.4), n.quantized_end_step - n.quantized_start_step, 0.8,
                                       color=colour, ec="black", lw=0.4))
        ax.axvline(k * T, color="grey", lw=1.2 if k else 0)
        for b in (8, 16, 24):
            ax.axvline(k * T + b, color="lightgrey", lw=0.4, zorder=0)
    ax.set_xlim(0, len(seqs) * T)
    ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
    ax.set_xticks([k * T + 16 for k in range(len(seqs))])
    ax.set_xticklabels(labels)
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.musicvae_quality", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="MusicVAE checkpoint directory (default: the shipped mel_2bar_folk)")
    ap.add_argument("--samples", type=int, default=1000, help="samples per generator (default 1000)")
    ap.add_argument("--max-windows", type=int, help="use only N test windows for the reconstruction (default all)")
    ap.add_argument("--json", default="musicvae_quality", help="result name or path")
    args = ap.parse_args(argv)

    import torch

    from bench._common import RESULTS, save_json
    from tonehost.exports.tfjs import write_layers_checkpoint
    from tonehost.exports.training import melodies as M
    from tonehost.exports.training.melody_models import MelodyVAE, vae_config
    from tonehost.exports.training.melody_training import vae_data
    from tonehost.exports.training.ngram import NGramModel
    from tonehost.realtime.pipelines.music_vae import MusicVAE

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    parts = M.split_tunes(M.cached_tunes(), M.load_split())
    test = vae_data(parts["test"])
    train = vae_data(parts["train"])
    W = test.windows[:args.max_windows] if args.max_windows else test.windows
    vae = MusicVAE(args.checkpoint, seed=0, offline=True)
    D = vae.arch.input_depth
    print(f"{vae}: {len(W)} test windows from {len(parts['test'])} tunes; {len(train.windows)} training windows")

    # 1. reconstruction
    t1 = time.perf_counter()
    eye = np.eye(D, dtype=np.float32)
    rec = []
    for i in range(0, len(W), 1024):
        z = vae.encode_tensors(eye[W[i:i + 1024]])
        rec.append(events_of(vae.decode_tensors(z)))
    rec = np.concatenate(rec)
    same = rec == W
    on = W >= 2
    recon = {"accuracy_per_step": float(same.mean()), "accuracy_note_on_steps": float(same[on].mean()),
             "accuracy_not_no_event_steps": float(same[W != 0].mean()), "exact_windows": float(same.all(1).mean()),
             "windows": int(len(W)), "seconds": time.perf_counter() - t1, "target": 0.90,
             "meets_target": bool(same.mean() >= 0.90)}
    print(f"reconstruction (argmax decode of encode): {recon['accuracy_per_step']:.4f} of steps "
          f"(target 0.90), {recon['accuracy_note_on_steps']:.4f} of note-on steps, "
          f"{recon['exact_windows']:.4f} of windows exact [{recon['seconds']:.0f} s]")

    # 2. samples
    n = args.samples
    ref = window_stats(test.windows)
    sets = {}
    sets["trained T=0.5"] = events_of(vae.decode_tensors(np.random.default_rng(1).standard_normal(
        (n, vae.z_dims)).astype(np.float32), temperature=0.5, rng=2))
    sets["trained T=1.0"] = events_of(vae.decode_tensors(np.random.default_rng(3).standard_normal(
        (n, vae.z_dims)).astype(np.float32), temperature=1.0, rng=4))
    torch.manual_seed(0)
    card_cfg = None
    try:
        import json
        card_cfg = json.loads((vae.checkpoint_dir / "model_card.json").read_text())["config"]
    except (OSError, ValueError, KeyError):
        pass
    if card_cfg is None:
        raise SystemExit("the checkpoint has no model_card.json with its widths; pass a shipped-format model")
    fresh = MelodyVAE(D, card_cfg["enc_units"], card_cfg["z_dims"], card_cfg["dec_units"])
    with tempfile.TemporaryDirectory() as tmp:
        write_layers_checkpoint(tmp, fresh.layers_weights(), config=vae_config())
        untrained = MusicVAE(tmp, seed=0, offline=True)
        sets["untrained T=0.5"] = events_of(untrained.decode_tensors(np.random.default_rng(5).standard_normal(
            (n, untrained.z_dims)).astype(np.float32), temperature=0.5, rng=6))
    ng = NGramModel(5, D, "kneser-ney").fit(train.windows)
    sets["5-gram KN (training windows)"] = ng.sample(n, M.VAE_STEPS, rng=7)
    pick = np.random.default_rng(8).permutation(len(train.windows))[:n]
    sets["training windows (floor)"] = train.windows[pick]
    samples = {k: compare(window_stats(v), ref) for k, v in sets.items()}
    samples["held-out test windows"] = {"density_mean": float(ref["density"].mean()),
                                        "range_mean": float(ref["range"].mean()), "empty_fraction": ref["empty"]}
    print(f"\n{'samples':32s} {'dens':>6s} {'W1 dens':>8s} {'range':>6s} {'W1 rng':>7s} {'PC L1':>6s} {'PC JS':>7s} "
          f"{'empty':>6s}")
    print(f"{'held-out test windows':32s} {ref['density'].mean():6.2f} {'':>8s} {ref['range'].mean():6.2f} {'':>7s} "
          f"{'':>6s} {'':>7s} {ref['empty']:6.3f}")
    for k, r in samples.items():
        if "density_wasserstein" not in r:
            continue
        print(f"{k:32s} {r['density_mean']:6.2f} {r['density_wasserstein']:8.3f} {r['range_mean']:6.2f} "
              f"{r['range_wasserstein'] if r['range_wasserstein'] is not None else float('nan'):7.3f} "
              f"{r['pc_hist_l1']:6.3f} {r['pc_hist_js_bits']:7.4f} {r['empty_fraction']:6.3f}")

    # 3. an interpolation between two test windows
    rng = np.random.default_rng(9)
    dens = (W >= 2).sum(1)
    cand = np.flatnonzero(dens >= 6)
    a, b = W[rng.choice(cand, 2, replace=False)]
    conv = vae.converter
    seq_a = conv.to_note_sequence(eye[a])
    seq_b = conv.to_note_sequence(eye[b])
    path = vae.interpolate([seq_a, seq_b], 7)
    png = RESULTS / "musicvae_interpolation.png"
    labels = ["A (input)"] + [f"t={k}/6" for k in range(7)] + ["B (input)"]
    drawn = piano_roll_png([seq_a] + path + [seq_b], labels, png,
                           f"{vae.name}: interpolate([A, B], 7), argmax decodes between two held-out test melodies")
    print(f"\ninterpolation piano roll: {png if drawn else 'not drawn (no matplotlib)'}")
    out = save_json(args.json, {"checkpoint": str(vae.checkpoint_dir), "reconstruction": recon, "samples": samples,
                                "samples_per_set": n, "interpolation_png": str(png) if drawn else None,
                                "seconds": time.perf_counter() - t0})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
