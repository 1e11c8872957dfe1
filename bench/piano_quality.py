"""Piano transcription quality of tonehost's shipped model vs basic-pitch, same audio, same run (mir_eval).

Audio:

- ``shared/data/piano``: Bach BWV 846 (synthesized piano, 129 notes) and stereo_sample (real piano, 8 notes);
- MIDI rendered with a soundfont *not used in training*: Debian's ``musescore-general-soundfont-small``
  (``/usr/share/sounds/sf3/MuseScore_General_Lite.sf3``, Grand Piano): ``piano_sample.mid`` (madmom), a seeded
  random piece (``bench.transcribe_common.random_piano_midi``), and Monteverdi / Palestrina scores from music21's
  corpus (composers the training set does not use) played by the recipe's humanised pianist with a fixed seed;
- the same MIDI rendered with FluidR3_GM (a training soundfont), for comparison.

Metrics: mir_eval note P/R/F1 with onset tolerance 50 ms (pitch within 50 cents, offsets ignored), and F1 with
offsets (default 20 %/50 ms). The peer is basic-pitch (Spotify, ICASSP 2022; its ONNX model from the PyPI wheel,
default thresholds), run on the same wav files. tonehost runs through the real path: the checkpoint directory ->
cached ONNX export -> streaming runner (offline call) -> magenta.js note decoder.

    .venv/bin/python -m bench.piano_quality [--checkpoint DIR|ID] [--no-basic-pitch] [--seconds S]

Needs: ``pip install --no-deps basic-pitch`` + ``pretty_midi resampy`` (peer), music21 (corpus pieces), Debian
``fluidsynth fluid-soundfont-gm musescore-general-soundfont-small``. Writes ``bench/results/piano_quality.json``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from bench._common import ROOT, tmpdir
from bench.transcribe_accuracy import scores
from bench.transcribe_common import DATA, midi_notes, random_piano_midi, reference_notes, render, save

HELD_OUT_SF = "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"
TRAIN_SF = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
CORPUS_PIECES = (("monteverdi", 0), ("monteverdi", 5), ("monteverdi", 11), ("palestrina", 3), ("palestrina", 40))


def corpus_midis(tmp: Path) -> list[tuple[str, Path]]:
    """Humanised performances (seeded) of a few music21 corpus scores outside the training composers."""
    try:
        from music21 import corpus
    except ImportError:
        print("music21 not installed: corpus pieces skipped")
        return []
    from tonehost.exports.training.recipes.make_piano_data import perform_score, score_notes, write_midi

    out = []
    for k, (composer, idx) in enumerate(CORPUS_PIECES):
        paths = sorted(str(p) for p in corpus.getComposer(composer))
        path = paths[idx % len(paths)]
        notes = score_notes(path, max_quarters=64)
        piece = perform_score(np.random.default_rng(100 + k), notes, Path(path).stem)
        piece.pedal = []
        mid = tmp / f"{composer}_{Path(path).stem}.mid"
        write_midi(piece, mid, program=0)
        out.append((f"{composer}/{Path(path).stem}", mid))
    return out


def basic_pitch_notes(wav: Path):
    """basic-pitch's notes (ONNX model from the wheel, default thresholds) as (intervals, pitches)."""
    from basic_pitch import ICASSP_2022_MODEL_PATH
    from basic_pitch.inference import predict

    _, _, events = predict(str(wav), ICASSP_2022_MODEL_PATH)
    iv = np.array([[e[0], max(e[1], e[0] + 1e-3)] for e in events]).reshape(-1, 2)
    return iv, np.array([e[2] for e in events], dtype=float)


class _N:
    def __init__(self, onset, offset, pitch):
        self.onset, self.offset, self.pitch = onset, offset, pitch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="checkpoint id or directory (default: the shipped onsets_frames_small)")
    ap.add_argument("--no-basic-pitch", action="store_true")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the random piece")
    args = ap.parse_args()
    from tonehost.exports.convert.onsets_frames import export_checkpoint
    from tonehost.exports.checkpoints.shipped import default_transcriber_dir
    from tonehost.exports.onnx_session import make_session
    from tonehost.realtime.pipelines.transcriber import transcribe_array

    ckpt = Path(args.checkpoint) if args.checkpoint else default_transcriber_dir()
    if not ckpt.is_dir():
        from tonehost.exports.resolve import checkpoint_dir
        ckpt = checkpoint_dir(args.checkpoint)
    sess = make_session(export_checkpoint(ckpt)[0])
    tmp = tmpdir()

    items = []  # (set, name, wav path, ref intervals, ref pitches)
    for name in ("FMP_C1_F12_Bach_BWV846_Sibelius-Tracks", "stereo_sample"):
        items.append(("shared", name, DATA / f"{name}.wav", *reference_notes(name)))
    midis = [("piano_sample.mid", DATA / "piano_sample.mid")]
    random_piano_midi(tmp / "random.mid", args.seconds, seed=7)
    midis.append((f"random {args.seconds:.0f} s (seed 7)", tmp / "random.mid"))
    midis += corpus_midis(tmp)
    for sf_name, sf_path in (("held-out MuseScore_General_Lite", HELD_OUT_SF), ("train FluidR3_GM", TRAIN_SF)):
        for name, mid in midis:
            wav = tmp / f"{mid.stem}.{Path(sf_path).stem}.wav"
            render(mid, wav, soundfont=sf_path)  # program of the MIDI file, Grand Piano by default
            items.append((sf_name, name, wav, *midi_notes(mid)))

    print(f"model: {ckpt}")
    print(f"{'set':34s} {'audio':38s} {'ref':>5s} | {'tonehost P/R/F1':>20s} {'F1off':>6s} | "
          f"{'basic-pitch P/R/F1':>20s} {'F1off':>6s}")
    rows = []
    for set_name, name, wav, ref_iv, ref_p in items:
        audio, sr = sf.read(wav, dtype="float32", always_2d=True)
        t0 = time.perf_counter()
        ours = scores(ref_iv, ref_p, transcribe_array(sess, audio, sr).notes)
        t_ours = time.perf_counter() - t0
        row = {"set": set_name, "audio": name, "seconds": round(len(audio) / sr, 2), "ref_notes": int(len(ref_p)),
               "tonehost": {**ours, "compute_s": round(t_ours, 2)}}
        line = (f"{set_name:34s} {name[:38]:38s} {len(ref_p):5d} | {ours['P']:6.3f} {ours['R']:6.3f} "
                f"{ours['F1']:6.3f} {ours['F1_with_offsets']:6.3f} |")
        if not args.no_basic_pitch:
            t0 = time.perf_counter()
            iv, p = basic_pitch_notes(wav)
            bp = scores(ref_iv, ref_p, [_N(a, b, q) for (a, b), q in zip(iv, p)])
            row["basic_pitch"] = {**bp, "compute_s": round(time.perf_counter() - t0, 2)}
            line += f" {bp['P']:6.3f} {bp['R']:6.3f} {bp['F1']:6.3f} {bp['F1_with_offsets']:6.3f}"
        print(line, flush=True)
        rows.append(row)
    summary = {}
    for set_name in dict.fromkeys(r["set"] for r in rows):
        sel = [r for r in rows if r["set"] == set_name]
        summary[set_name] = {k: round(float(np.mean([r[k]["F1"] for r in sel])), 4)
                             for k in ("tonehost", "basic_pitch") if k in sel[0]}
    print("mean onset F1 per set:")
    for k, v in summary.items():
        print(f"  {k:34s} " + "  ".join(f"{m} {x:.3f}" for m, x in v.items()))
    print("->", save("piano_quality", {"model": str(ckpt.relative_to(ROOT) if ckpt.is_relative_to(ROOT) else ckpt),
                                        "items": rows, "mean_onset_f1": summary}))


if __name__ == "__main__":
    main()
