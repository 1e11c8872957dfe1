"""``tonehost train-instrument`` end to end: unlabelled recordings of an instrument in, a playable model out.

What a user does, with FluidSynth standing in for the user's instrument (so the held-out truth is known):

1. "recordings": ``--recording-minutes`` of expressive melodies of another General MIDI instrument (default the
   flute, program 73, never used by the shipped violin), written as 48 kHz WAV files - no MIDI, no labels;
2. ``tonehost train-instrument REC.wav... -o OUT.onnx --minutes M`` through the real command line (its own
   pitch/loudness tracking, training and ONNX export);
3. held-out melodies (other seeds) of the same instrument: the multi-scale spectral distance to the FluidSynth
   audio (the training loss, :func:`bench.violin_quality.spectral_distance`) of

   - **trained**: the model from step 2, driven by the exact controls (MIDI f0, the live tracker's loudness),
   - **baseline**: a plain harmonic synth with a fixed 1/k or 1/k^2 spectrum at the oracle level (the better one),
   - **shipped violin**: the default instrument on the same controls (the "wrong instrument" reference);

   plus the live pipeline's resynthesis of the held-out audio with the trained model (voice tracker in the loop),
   a spectrogram PNG and WAVs under ``bench/results/train_instrument/``.

Usage::

    .venv/bin/python -m bench.train_instrument_quality [--instrument flute] [--recording-minutes 5] \\
        [--train-minutes 15] [--melodies 4] [--json bench/results/train_instrument_quality.json]

Needs the training extra (torch) and FluidSynth with ``fluid-soundfont-gm``.
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from bench._common import RESULTS, ROOT
from bench.violin_quality import (SR16, baseline_16k, ours_16k, pipeline_resynthesis, save_results,
                                  spectral_distance, spectrogram_png)
from tonehost.exports.checkpoints.shipped import default_instrument_path
from tonehost.exports.training.recipes import make_violin_data as V
from tonehost.realtime.pipelines.instrument import ControlsModel

OUT_DIR = RESULTS / "train_instrument"
INSTRUMENTS = {  # GM program, MIDI range
    "flute": (73, 60, 93),
    "trumpet": (56, 55, 82),
    "cello": (42, 36, 72),
    "clarinet": (71, 50, 89),
}
REC_SEED = 700000
EVAL_SEED = 800000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instrument", default="flute", choices=sorted(INSTRUMENTS))
    ap.add_argument("--soundfont", default="fluidr3", choices=sorted(V.SOUNDFONTS))
    ap.add_argument("--recording-minutes", type=float, default=5.0, help="minutes of 'user recordings'")
    ap.add_argument("--train-minutes", type=float, default=15.0, help="train-instrument's --minutes")
    ap.add_argument("--steps", type=int, default=4000, help="train-instrument's --steps")
    ap.add_argument("--melodies", type=int, default=4, help="held-out melodies")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each held-out melody")
    ap.add_argument("--work", default=str(OUT_DIR / "work"), help="recordings, model and training state")
    ap.add_argument("--json", default=str(RESULTS / "train_instrument_quality.json"))
    args = ap.parse_args(argv)
    program, low, high = INSTRUMENTS[args.instrument]
    sf2 = V.SOUNDFONTS[args.soundfont]
    if not Path(sf2).is_file():
        print(f"{sf2} is not installed (apt-get install fluid-soundfont-gm timgm6mb-soundfont)", file=sys.stderr)
        return 2
    work = Path(args.work)
    (work / "recordings").mkdir(parents=True, exist_ok=True)
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    # 1. the user's recordings: WAV files only
    recs = []
    n_files = max(1, int(round(args.recording_minutes)))
    for i in range(n_files):
        path = work / "recordings" / f"{args.instrument}_{i:02d}.wav"
        d = V.render_performance(args.recording_minutes * 60 / n_files, REC_SEED + i, sf2, keep_48k=True,
                                 program=program, low=low, high=high)
        sf.write(str(path), d["audio48"], 48000, subtype="PCM_24")
        recs.append(path)
    print(f"recordings: {len(recs)} WAV files, {args.recording_minutes:g} min of {args.instrument} "
          f"({Path(sf2).name}, program {program})", flush=True)

    # 2. the real command line
    model_path = work / f"{args.instrument}.onnx"
    cmd = [sys.executable, "-m", "tonehost", "train-instrument", *map(str, recs), "-o", str(model_path),
           "--minutes", str(args.train_minutes), "--steps", str(args.steps), "--work", str(work / "train")]
    print("$", " ".join(cmd[1:]), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    train_s = time.perf_counter() - t0
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-4:]
    print("\n".join("  " + line for line in tail))
    if proc.returncode != 0:
        print(f"train-instrument failed (exit {proc.returncode})", file=sys.stderr)
        return 1

    # 3. held-out melodies
    trained, violin = ControlsModel(model_path), ControlsModel(default_instrument_path("violin"))
    rows = []
    for i in range(args.melodies):
        seed = EVAL_SEED + i
        d = V.render_performance(args.seconds, seed, sf2, keep_48k=True, program=program, low=low, high=high)
        ref, f0, ld = d["audio"], d["f0_hz"], d["ld_db"]
        ours = ours_16k(trained, f0, ld)
        base = {p: baseline_16k(f0, ld, p) for p in (1.0, 2.0)}
        vio = ours_16k(violin, f0, ld)
        y16, lag = pipeline_resynthesis(model_path, d["audio48"])
        row = {"seed": seed, "trained": spectral_distance(ours, ref),
               "baseline": min(spectral_distance(base[1.0], ref), spectral_distance(base[2.0], ref)),
               "shipped_violin": spectral_distance(vio, ref),
               "pipeline_resynthesis": spectral_distance(y16, ref), "pipeline_lag_ms": 1000.0 * lag / SR16}
        rows.append(row)
        print(f"melody {seed}: trained {row['trained']:.3f}  baseline {row['baseline']:.3f}  shipped violin "
              f"{row['shipped_violin']:.3f}  live resynthesis {row['pipeline_resynthesis']:.3f}", flush=True)
        if i == 0:
            n = min(len(ref), 8 * SR16)
            spectrogram_png(OUT_DIR / f"spectrogram_{args.instrument}_{seed}.png",
                            {f"FluidSynth {args.instrument} (reference)": ref[:n],
                             "train-instrument model": ours[:n], "fixed-spectrum baseline (1/k)": base[1.0][:n],
                             "shipped violin": vio[:n]}, f"held-out melody {seed}")
            sf.write(str(OUT_DIR / f"{args.instrument}_{seed}_fluidsynth.wav"), ref, SR16)
            sf.write(str(OUT_DIR / f"{args.instrument}_{seed}_trained.wav"), ours, SR16)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "seed"}
    print("mean: " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    print(f"train-instrument: {train_s / 60:.1f} min wall, model {model_path.stat().st_size / 1e6:.2f} MB")
    results = {"instrument": args.instrument, "program": program, "soundfont": Path(sf2).name,
               "recording_minutes": args.recording_minutes, "train_minutes_cap": args.train_minutes,
               "train_wall_s": train_s, "train_log_tail": tail, "model": str(model_path),
               "model_bytes": model_path.stat().st_size, "melodies": args.melodies, "seconds_each": args.seconds,
               "mean": mean, "rows": rows, "host": platform.node(),
               "trained_beats_baseline": mean["trained"] < mean["baseline"]}
    save_results(args.json, results, OUT_DIR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
