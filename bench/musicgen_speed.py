"""MusicRNN speed: tonehost (ONNX Runtime, 1 thread) vs @magenta/music 1.23.1 (tfjs CPU in Node), same checkpoints.

For each of the four hosted MusicRNN architectures (basic_rnn 2x512 / 38 classes, melody_rnn 2x512 / 130,
drum_kit_rnn 3x256 + attention / 512, chord_pitches_improv 3x256 / 38 + chords), a random-weight checkpoint of
the hosted shape is written in the exact format and both sides run, in the same process tree and one after the
other (never at the same time), the same continuation of a 16-step primer:

* ``continuation_ms``: one ``continueSequence(primer, 64)`` (argmax), median of ``--repeat`` runs after a warm-up;
* ``step_ms``: the cost of one generated step, ``(t(64 steps) - t(1 step)) / 63`` on both sides (ours also
  reports ``stream_step_ms``, one :meth:`MusicRNNStream.sample` timed directly);
* ``sampled_continuation_ms``: ours with ``temperature=1.0`` (tfjs's cdf rule on NumPy draws);
* the argmax continuations of both sides are compared (they must be identical).

MusicVAE (``--vae-models``, default a flat, a hierarchical and a groove model at their hosted widths:
mel_2bar_small, mel_16bar_small_q2, groovae_2bar_humanize): the public API end to end on both sides, median of
``--repeat`` after a warm-up -- ``encode`` of one sequence, ``decode`` of its z (argmax), ``sample(4)`` (temperature
0.5), ``interpolate`` between 2 sequences in 5 steps; and the live GrooVAE budget: one bar through tap2drum_1bar
(encode + decode of one window) against one beat at 120 qpm (500 ms).

Writes ``bench/results/musicgen_speed.json``. Needs node and ``npm ci --prefix tests/node``.

    .venv/bin/python -m bench.musicgen_speed [--repeat 5] [--archs basic_rnn,drum_kit_rnn] [--parts rnn,vae]
        [--vae-models mel_2bar_small,groovae_2bar_humanize]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import time

import numpy as np

from bench._common import ROOT, save_json, tmpdir

NODE_DIR = ROOT / "tests" / "node"
SCRIPT = NODE_DIR / "music_rnn_parity.js"
ARCHS = ("basic_rnn", "melody_rnn", "drum_kit_rnn", "chord_pitches_improv")
CHORDS = ["C", "G", "Am", "F"]


def primer(name: str):
    from tonehost.exports.note_sequence import Note, NoteSequence, QuantizationInfo, Tempo

    rng = np.random.default_rng(5)
    notes = []
    if name == "drum_kit_rnn":
        for s in range(16):
            for p in (36, 38, 42):
                if rng.random() < 0.4:
                    notes.append(Note(p, quantized_start_step=s, quantized_end_step=s + 1, is_drum=True))
    else:
        for s in range(0, 16, 2):
            notes.append(Note(int(rng.integers(55, 76)), quantized_start_step=s, quantized_end_step=s + 2))
    return NoteSequence(notes=notes, quantization_info=QuantizationInfo(4), total_quantized_steps=16,
                        tempos=[Tempo(0.0, 120.0)])


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def ours(directory, name: str, repeat: int) -> dict:
    from tonehost.exports.convert.music_rnn import export_music_rnn
    from tonehost.realtime.pipelines.music_rnn import MusicRNN

    t0 = time.perf_counter()
    export_music_rnn(directory, force=True)
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = MusicRNN(directory)
    load_s = time.perf_counter() - t0
    seq = primer(name)
    chords = CHORDS if name == "chord_pitches_improv" else None
    t64 = median_ms(lambda: model.continue_sequence(seq, 64, chord_progression=chords), repeat)
    t1 = median_ms(lambda: model.continue_sequence(seq, 1, chord_progression=chords), repeat)
    sampled = median_ms(lambda: model.continue_sequence(seq, 64, 1.0, chords, rng=1), repeat)
    stream = model.stream(chords=chords, steps_per_chord=16)
    stream.feed_sequence(seq)
    stream.take(8)
    t0 = time.perf_counter()
    n = 64 * repeat
    stream.take(n)
    stream_step = (time.perf_counter() - t0) * 1e3 / n
    events = model.continue_sequence_and_return_probabilities(seq, 64, chord_progression=chords).events
    return {"export_s": round(export_s, 3), "load_s": round(load_s, 3), "continuation_ms": round(t64, 2),
            "one_step_continuation_ms": round(t1, 2), "step_ms": round((t64 - t1) / 63, 3),
            "stream_step_ms": round(stream_step, 3), "sampled_continuation_ms": round(sampled, 2),
            "events": events.tolist()}


def node(url: str, name: str, repeat: int, work) -> dict:
    seq = primer(name).to_json()
    chords = CHORDS if name == "chord_pitches_improv" else None
    cases = [{"url": url, "seq": seq, "steps": steps, "temperature": None, "chords": chords, "seed": None,
              "repeat": repeat} for steps in (64, 1)]
    cf, of = work / f"{name}_cases.json", work / f"{name}_out.json"
    cf.write_text(json.dumps(cases))
    p = subprocess.run(["node", str(SCRIPT), str(cf), str(of)], capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"node failed: {p.stderr[-2000:]}")
    r64, r1 = json.loads(of.read_text())["results"]
    for r in (r64, r1):
        if "error" in r:
            raise RuntimeError(f"node: {r['error']}")
    # runMs: mean of `repeat` runs after the first (which also initialized the model and warmed tfjs up)
    return {"init_ms": r64["initMs"], "continuation_ms": round(r64["runMs"], 2),
            "one_step_continuation_ms": round(r1["runMs"], 2),
            "step_ms": round((r64["runMs"] - r1["runMs"]) / 63, 3), "events": r64["events"]}


VAE_MODELS = ("mel_2bar_small", "mel_16bar_small_q2", "groovae_2bar_humanize")
VAE_SCRIPT = NODE_DIR / "music_vae_parity.js"
BEAT_MS_120 = 500.0


def vae_ours(directory, name: str, seqs, repeat: int) -> dict:
    from tonehost.exports.convert.music_vae import export_music_vae
    from tonehost.realtime.pipelines.music_vae import MusicVAE

    t0 = time.perf_counter()
    export_music_vae(directory, force=True)
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = MusicVAE(directory, seed=1)
    load_s = time.perf_counter() - t0
    z = model.encode(seqs[:1])
    return {"export_s": round(export_s, 3), "load_s": round(load_s, 3),
            "encode_ms": round(median_ms(lambda: model.encode(seqs[:1]), repeat), 2),
            "decode_ms": round(median_ms(lambda: model.decode(z), repeat), 2),
            "sample_ms": round(median_ms(lambda: model.sample(4), repeat), 2),
            "interpolate_ms": round(median_ms(lambda: model.interpolate(seqs[:2], 5), repeat), 2)}


def vae_node(url: str, name: str, seqs, repeat: int, work) -> dict:
    case = {"name": name, "url": url, "seqs": [s.to_json() for s in seqs],
            "timing": {"repeat": repeat, "sample": 4, "interp": 5}}
    cf, of = work / f"vae_{name}_cases.json", work / f"vae_{name}_out.json"
    cf.write_text(json.dumps([case]))
    p = subprocess.run(["node", str(VAE_SCRIPT), str(cf), str(of)], capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"node failed: {p.stderr[-2000:]}")
    r = json.loads(of.read_text())["results"][0]
    if "error" in r:
        raise RuntimeError(f"node: {r['error']}")
    return {"init_ms": round(r["init_ms"], 1), **{k: round(v, 2) for k, v in r["timing"].items()}}


def groove_bar(work, repeat: int) -> dict:
    """One bar through tap2drum_1bar at its hosted widths (the live tap2drum step) vs one beat at 120 qpm."""
    from tonehost.exports.convert.music_vae_standins import random_sequences, write_standin
    from tonehost.realtime.pipelines.music_vae import MusicVAE

    d = write_standin(work / "tap2drum_1bar", "tap2drum_1bar", scale=False, seed=3)
    model = MusicVAE(d)
    bar = random_sequences("tap2drum_1bar", np.random.default_rng(0), n=1)
    ms = median_ms(lambda: model.decode(model.encode(bar)), max(repeat, 20))
    return {"bar_encode_decode_ms": round(ms, 2), "beat_ms_at_120_qpm": BEAT_MS_120,
            "fraction_of_a_beat": round(ms / BEAT_MS_120, 4)}


def run_vae(names, repeat: int, work, server) -> dict:
    from tonehost.exports.convert.music_vae_standins import STANDINS, random_sequences, write_standin

    results = {}
    for name in names:
        s = STANDINS[name]
        d = write_standin(work / name, name, scale=False, seed=1)
        seqs = random_sequences(name, np.random.default_rng(2), n=2)
        o = vae_ours(d, name, seqs, repeat)
        n = vae_node(f"{server.url}/{name}", name, seqs, repeat, work)
        speed = {k: round(n[k] / o[k], 1) for k in ("encode_ms", "decode_ms", "sample_ms", "interpolate_ms")}
        results[name] = {"enc": list(s.enc), "z": s.z, "dec": list(s.dec), "conductor": list(s.conductor),
                         "steps": s.config["dataConverter"]["args"]["numSteps"], "tonehost": o, "magenta_js": n,
                         "speedup": speed}
        print(f"{name:24s} encode {o['encode_ms']:7.2f} vs {n['encode_ms']:8.1f} ms ({speed['encode_ms']:.0f}x), "
              f"decode {o['decode_ms']:7.2f} vs {n['decode_ms']:8.1f} ms ({speed['decode_ms']:.0f}x), sample(4) "
              f"{o['sample_ms']:7.2f} vs {n['sample_ms']:8.1f} ms ({speed['sample_ms']:.0f}x), interpolate(2, 5) "
              f"{o['interpolate_ms']:7.2f} vs {n['interpolate_ms']:8.1f} ms ({speed['interpolate_ms']:.0f}x)",
              flush=True)
    g = groove_bar(work, repeat)
    print(f"tap2drum_1bar: one bar encode + decode {g['bar_encode_decode_ms']:.2f} ms = "
          f"{100 * g['fraction_of_a_beat']:.1f}% of a beat at 120 qpm", flush=True)
    return {"models": results, "groove_bar": g}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (default 5)")
    ap.add_argument("--archs", default=",".join(ARCHS), help="comma-separated architectures (default: all four)")
    ap.add_argument("--json", default="musicgen_speed", help="results file (default bench/results/musicgen_speed.json)")
    ap.add_argument("--parts", default="rnn,vae", help="rnn, vae or both (default rnn,vae)")
    ap.add_argument("--vae-models", default=",".join(VAE_MODELS),
                    help=f"comma-separated MusicVAE ids at their hosted widths (default {','.join(VAE_MODELS)})")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "@magenta" / "music").is_dir():
        raise SystemExit("needs node and `npm ci --prefix tests/node` (@magenta/music 1.23.1)")
    from tonehost.exports.convert.music_rnn import ARCHITECTURES, write_random_checkpoint
    from tonehost.realtime.testing.checkpoint_server import CheckpointServer

    work = tmpdir()
    server = CheckpointServer(work).start()
    results, vae = {}, None
    try:
        for name in (args.archs.split(",") if "rnn" in parts else []):
            d = write_random_checkpoint(work / name, name, seed=1)
            o = ours(d, name, args.repeat)
            n = node(f"{server.url}/{name}", name, args.repeat, work)
            same = o.pop("events") == n.pop("events")
            results[name] = {"layers": list(ARCHITECTURES[name]["layers"]),
                             "attention": ARCHITECTURES[name]["attention"], "tonehost": o, "magenta_js": n,
                             "same_argmax_continuation": same,
                             "speedup_continuation": round(n["continuation_ms"] / o["continuation_ms"], 1),
                             "speedup_step": round(n["step_ms"] / o["step_ms"], 1)}
            print(f"{name:22s} 64-step continuation: tonehost {o['continuation_ms']:8.1f} ms, magenta.js "
                  f"{n['continuation_ms']:8.1f} ms ({results[name]['speedup_continuation']:.1f}x); per step "
                  f"{o['step_ms']:.3f} vs {n['step_ms']:.3f} ms ({results[name]['speedup_step']:.1f}x); same "
                  f"continuation: {same}", flush=True)
        if "vae" in parts:
            vae = run_vae(args.vae_models.split(","), args.repeat, work, server)
    finally:
        server.stop()
    out = {"results": results, "music_vae": vae, "repeat": args.repeat, "onnxruntime_threads": 1, "tfjs_backend": "cpu",
           "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": platform.python_version(),
                       "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()}}
    print("->", save_json(args.json, out))


if __name__ == "__main__":
    main()
