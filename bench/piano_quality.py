"""Piano transcription quality of tonehost's shipped model vs basic-pitch, same audio, same run (mir_eval).

Audio:

- ``shared/data/piano``: Bach BWV 846 (synthesized piano, 129 notes) and stereo_sample (real piano, 8 notes);
- MIDI rendered with a soundfont *not used in training*: Debian's ``musescore-general-soundfont-small``
  (``/usr/share/sounds/sf3/MuseScore_General_Lite.sf3``, Grand Piano): ``piano_sample.mid`` (madmom), a seeded
  random piece (``bench.transcribe_common.random_piano_midi``), and Monteverdi / Palestrina scores from music21's
  corpus (composers the training set does not use) played by the recipe's humanised pianist with a fixed seed;
- the same MIDI rendered with FluidR3_GM (a training soundfont), for comparison.

Metrics: mir_eval note P/R/F1 with onset tolerance 50 ms (pitch within 50 cents, offsets ignored), and F1 with
offsets (default 20 %/50 ms); speed (x real time on one core, one thread), model load time and peak RSS (VmHWM of
the fresh process each model runs in). Peers, on the same wav files in the same run: basic-pitch (Spotify, ICASSP
2022; its ONNX model from the PyPI wheel, default thresholds) and, with ``--transkun``, Transkun V2 (the most
accurate offline piano model here; slow on CPU, so by default on the shared and held-out sets only). tonehost
runs through the real path (``tonehost transcribe``'s: the file read in blocks -> cached ONNX export -> streaming
runner -> the shipped model's decoding), and once more with magenta.js's decoding (``tonehost_magenta``: the
velocity head, no ghost filter) for comparison.

    .venv/bin/python -m bench.piano_quality [--checkpoint DIR|ID] [--no-basic-pitch] [--transkun] [--seconds S]

Needs: ``pip install --no-deps basic-pitch`` + ``pretty_midi resampy`` (peer), ``tonehost[transkun]`` + ``pip install
--no-deps transkun`` (``--transkun``), music21 (corpus pieces), Debian
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


def _N(onset: float, offset: float, pitch: int):
    """A scored note (what ``bench.transcribe_accuracy.scores`` reads)."""
    from tonehost.exports.note_sequence import Note

    return Note(pitch=int(round(pitch)), start_time=float(onset), end_time=float(offset))


CHILD_MODELS = ("tonehost", "tonehost_magenta", "basic_pitch", "transkun")


def child(model: str, wav_list: Path, out_json: Path, checkpoint: str | None) -> None:
    """Transcribe every wav of ``wav_list`` with ``model`` in this (fresh) process; write notes, times, peak RSS."""
    import json

    t0 = time.perf_counter()
    if model.startswith("tonehost"):
        from tonehost.realtime.pipelines.transcriber import MAGENTA_DECODING, OnsetsAndFrames

        m = OnsetsAndFrames(checkpoint, decoding=MAGENTA_DECODING if model == "tonehost_magenta" else None)
        run = lambda w: [(n.start_time, n.end_time, n.pitch, n.velocity) for n in m.transcribe_file(w).notes]  # noqa: E731
    elif model == "transkun":
        from tonehost.realtime.pipelines.transkun import Transkun

        tk = Transkun(threads=1)
        run = lambda w: [(n.start_time, n.end_time, n.pitch, n.velocity) for n in tk.transcribe_file(w).notes]  # noqa: E731
    else:
        def run(w):
            iv, p = basic_pitch_notes(Path(w))
            return [(a, b, q, 0) for (a, b), q in zip(iv.tolist(), p.tolist())]
    load_s = time.perf_counter() - t0
    res = {}
    for w in wav_list.read_text().split("\n"):
        if w:
            t0 = time.perf_counter()
            notes = run(w)
            res[w] = {"notes": notes, "compute_s": time.perf_counter() - t0}
    hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
    out_json.write_text(json.dumps({"items": res, "load_s": load_s, "peak_rss_mb": int(hwm.split()[1]) / 1024}))


def run_child(model: str, wavs: list[Path], tmp: Path, checkpoint: str | None) -> dict | None:
    """:func:`child` in a fresh process (one CPU, one thread): its own peak memory, model loading included."""
    import json
    import subprocess

    from bench._common import module_command

    lst, out = tmp / f"{model}.list", tmp / f"{model}.json"
    lst.write_text("\n".join(map(str, wavs)))
    cmd = module_command("bench.piano_quality", "--child", model, lst, out)
    if checkpoint:
        cmd += ["--checkpoint", checkpoint]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                       env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    if r.returncode != 0:
        print(f"{model}: failed ({r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode})")
        return None
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="checkpoint id or directory (default: the shipped onsets_frames_small)")
    ap.add_argument("--no-basic-pitch", action="store_true")
    ap.add_argument("--transkun", action="store_true", help="add Transkun V2 (slow on CPU: about 1x real time)")
    ap.add_argument("--transkun-sets", default="shared,held-out MuseScore_General_Lite",
                    help="comma-separated sets Transkun runs on (default: the shared recordings and the held-out "
                    "soundfont)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the random piece")
    ap.add_argument("--child", nargs=3, metavar=("MODEL", "LIST", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]), Path(args.child[2]), args.checkpoint)
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

    models = ["tonehost", "tonehost_magenta"] + ([] if args.no_basic_pitch else ["basic_pitch"])
    runs = {}
    for model in models + (["transkun"] if args.transkun else []):
        subset = items if model != "transkun" else [it for it in items if it[0] in args.transkun_sets.split(",")]
        print(f"running {model} on {len(subset)} files ...", flush=True)
        r = run_child(model, [it[2] for it in subset], tmp, args.checkpoint)
        if r is not None:
            runs[model] = r
    names = list(runs)
    print(f"model: {args.checkpoint or 'shipped onsets_frames_small'} (tonehost = its decoding; tonehost_magenta = "
          "magenta.js decoding, the velocity head)")
    print(f"{'set':34s} {'audio':30s} {'ref':>4s} | " + " | ".join(f"{m[:16]:>16s} F1 F1off" for m in names))
    rows = []
    for set_name, name, wav, ref_iv, ref_p in items:
        dur = sf.info(str(wav)).duration
        row = {"set": set_name, "audio": name, "seconds": round(dur, 2), "ref_notes": int(len(ref_p))}
        line = f"{set_name:34s} {name[:30]:30s} {len(ref_p):4d} |"
        for m in names:
            got = runs[m]["items"].get(str(wav))
            if got is None:
                line += f" {'':>16s} {'-':>5s} {'-':>5s} |"
                continue
            sc = scores(ref_iv, ref_p, [_N(a, b, p) for a, b, p, _ in got["notes"]])
            row[m] = {**sc, "compute_s": round(got["compute_s"], 2), "x_real_time": round(dur / got["compute_s"], 1)}
            line += f" {'':>6s}P {sc['P']:.2f} R {sc['R']:.2f} {sc['F1']:5.3f} {sc['F1_with_offsets']:5.3f} |"
        print(line, flush=True)
        rows.append(row)
    summary = {}
    for set_name in dict.fromkeys(r["set"] for r in rows):
        sel = [r for r in rows if r["set"] == set_name]
        summary[set_name] = {m: {k: round(float(np.mean([r[m][k] for r in sel if m in r])), 4)
                                 for k in ("F1", "F1_with_offsets")}
                             for m in names if any(m in r for r in sel)}
    print("mean note F1 (onset only / with offsets) per set:")
    for k, v in summary.items():
        print(f"  {k:34s} " + "  ".join(f"{m} {x['F1']:.3f}/{x['F1_with_offsets']:.3f}" for m, x in v.items()))
    cost = {}
    for m in names:
        audio = sum(r["seconds"] for r in rows if m in r)
        compute = sum(v["compute_s"] for v in runs[m]["items"].values())
        cost[m] = {"x_real_time": round(audio / compute, 2), "load_s": round(runs[m]["load_s"], 2),
                   "peak_rss_mb": round(runs[m]["peak_rss_mb"], 1), "audio_s": round(audio, 1)}
        print(f"  {m:20s} speed {cost[m]['x_real_time']:7.2f}x real time (one core)   load {cost[m]['load_s']:5.1f} s"
              f"   peak RSS {cost[m]['peak_rss_mb']:7.1f} MB   ({audio:.0f} s of audio)")
    print("->", save("piano_quality", {"model": str(args.checkpoint or "shipped onsets_frames_small"),
                                        "items": rows, "mean_note_f1": summary, "cost": cost,
                                        "load_avg_1min": __import__("os").getloadavg()[0]}))


if __name__ == "__main__":
    main()
