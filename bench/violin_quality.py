"""Quality of the shipped violin (``exports/shipped/violin.onnx``) against the FluidSynth violin it learnt from.

Held-out melodies (same generator as the training data, seeds never used in training) are rendered with
FluidSynth; their exact controls (MIDI f0, the live tracker's loudness) drive

- **ours**: the shipped ONNX model stepped frame by frame through
  :class:`tonehost.realtime.pipelines.instrument.ControlsModel` (the run-time path), synthesised by
  :func:`tonehost.dsp.harmonic.render_harmonic` + :func:`tonehost.dsp.noise.render_noise` at 16 kHz (before the
  model's post gain);
- **baseline**: a plain harmonic synth with a fixed spectrum (1/k or 1/k^2 harmonic amplitudes, the better of
  the two is reported) whose amplitude follows the reference loudness exactly (oracle level per frame);

and the multi-scale spectral distance (FFT 2048..64, 75 % overlap, mean |S - S_ref| + mean |log S - log S_ref|;
the training loss) to the FluidSynth audio is reported per soundfont: FluidR3 (the training violin, held-out
melodies) and, for reference, TimGM6mb and MuseScore General (other violins the model never heard).

It also runs the whole live pipeline (:class:`tonehost.realtime.pipelines.instrument.InstrumentPipeline`, voice
tracker + live normaliser, 48 kHz) over the FluidR3 renders (resynthesis; output delay compensated), writes
spectrogram PNGs (reference / ours / baseline) and renders the voice recordings in ``shared/data/voice/`` to WAVs
for listening, all under ``bench/results/violin/``.

Usage::

    .venv/bin/python -m bench.violin_quality [--melodies 6] [--seconds 20] [--json bench/results/violin_quality.json]
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from bench._common import RESULTS, ROOT, SHARED_DATA, save_json
from tonehost.dsp.harmonic import render_harmonic
from tonehost.dsp.noise import render_noise
from tonehost.exports.training.recipes import make_violin_data as V
from tonehost.exports.checkpoints.shipped import default_instrument_path
from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig

VOICE_DIR = SHARED_DATA / "voice"
OUT_DIR = RESULTS / "violin"
SR16 = 16000
HOP = 64
BENCH_SEED = 900000  # melodies from seeds 900000.. (training used 0..29, the eval set 100003..)


def spectral_distance(x, y, fft_sizes=(2048, 1024, 512, 256, 128, 64)) -> float:
    """Multi-scale spectral distance (the training loss, in numpy)."""
    import librosa
    n = min(len(x), len(y))
    x = np.asarray(x[:n], np.float32)
    y = np.asarray(y[:n], np.float32)
    total = 0.0
    for size in fft_sizes:
        sx = np.abs(librosa.stft(x, n_fft=size, hop_length=size // 4, window="hann", center=True,
                                 pad_mode="reflect"))
        sy = np.abs(librosa.stft(y, n_fft=size, hop_length=size // 4, window="hann", center=True,
                                 pad_mode="reflect"))
        total += float(np.mean(np.abs(sx - sy))) + float(np.mean(np.abs(np.log(sx + 1e-7) - np.log(sy + 1e-7))))
    return total


def save_results(path, results: dict, also: Path) -> None:
    """Write the results JSON (:func:`bench._common.save_json`) and say where it and the ``also`` folder are."""
    out = save_json(Path(path), results, indent=1)
    print(f"wrote {out} and {also.relative_to(ROOT)}/")


def run_model(model: ControlsModel, f0_hz, ld_db):
    """Step the controls model over the frames; returns amplitude [F], harmonics [F, K], noise [F, B]."""
    model.reset()
    amps, harms, noises = [], [], []
    for f, d in zip(f0_hz, ld_db):
        a, h, nz = model.step(float(f), float(d))
        amps.append(a)
        harms.append(h.copy())
        noises.append(nz.copy())
    return np.asarray(amps), np.asarray(harms), np.asarray(noises)


def ours_16k(model: ControlsModel, f0_hz, ld_db, seed: int = 0) -> np.ndarray:
    amp, harm, noise = run_model(model, f0_hz, ld_db)
    return render_harmonic(f0_hz, amp, harm, SR16, HOP) + render_noise(noise, HOP, seed=seed)


def baseline_16k(f0_hz, ld_db, power: float, K: int = 60) -> np.ndarray:
    """Fixed 1/k**power spectrum, amplitude matched per frame to the reference RMS (from its loudness)."""
    k = np.arange(1, K + 1, dtype=np.float64)
    dist = np.where(np.asarray(f0_hz)[:, None] * k < SR16 / 2, 1.0 / k ** power, 0.0)
    dist /= dist.sum(axis=1, keepdims=True)
    rms = np.where(ld_db > -119.9, 10.0 ** ((np.asarray(ld_db, np.float64) + 20.7) / 20.0), 0.0)
    amp = rms / np.sqrt(0.5 * np.sum(dist ** 2, axis=1))
    return render_harmonic(f0_hz, amp, dist, SR16, HOP)


def pipeline_resynthesis(path, x48: np.ndarray) -> tuple[np.ndarray, int]:
    """The live pipeline over a 48 kHz signal, resampled to 16 kHz and delay-compensated (lag in samples)."""
    from scipy.signal import resample_poly
    pipe = InstrumentPipeline(ControlsModel(path), PipelineConfig(sample_rate=48000))
    y = pipe.render(x48, 48000, tail_s=0.1).astype(np.float64) / pipe.post_gain
    y16 = resample_poly(y, 1, 3)
    ref16 = resample_poly(np.asarray(x48, np.float64), 1, 3)
    # delay: maximise the correlation of frame energies over 0..80 ms
    e_ref = np.add.reduceat(ref16[:len(ref16) // 64 * 64] ** 2, np.arange(0, len(ref16) // 64 * 64, 64))
    best, lag = -1.0, 0
    for lf in range(0, 21):
        e = np.add.reduceat(y16[lf * 64:lf * 64 + len(e_ref) * 64] ** 2, np.arange(0, len(e_ref) * 64, 64))
        m = min(len(e), len(e_ref))
        c = float(np.corrcoef(np.log(e[:m] + 1e-9), np.log(e_ref[:m] + 1e-9))[0, 1])
        if c > best:
            best, lag = c, lf * 64
    return y16[lag:lag + len(ref16)], lag


def spectrogram_png(path, signals: dict, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import librosa
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(signals), 1, figsize=(10, 2.6 * len(signals)), sharex=True)
    for ax, (name, x) in zip(np.atleast_1d(axes), signals.items()):
        S = librosa.amplitude_to_db(np.abs(librosa.stft(np.asarray(x, np.float32), n_fft=1024, hop_length=128)),
                                    ref=1.0, top_db=None)
        ax.imshow(np.clip(S, -100, None), origin="lower", aspect="auto", cmap="magma",
                  extent=[0, len(x) / SR16, 0, SR16 / 2], vmin=-100, vmax=max(-20, S.max()))
        ax.set_ylabel("Hz")
        ax.set_title(f"{title}: {name}")
    np.atleast_1d(axes)[-1].set_xlabel("s")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def render_voices(path, out_dir: Path) -> list[dict]:
    """The voice recordings through the shipped violin (live pipeline, 48 kHz WAVs)."""
    import soundfile as sf
    picks = sorted((VOICE_DIR / "mdb_stem_synth").glob("*.wav"))[:1] + \
        [VOICE_DIR / "fda" / n for n in ("rl001.wav", "sb001.wav")]
    rows = []
    for wav in picks:
        if not wav.is_file():
            continue
        x, sr = sf.read(str(wav), dtype="float32", always_2d=True)
        pipe = InstrumentPipeline(ControlsModel(path), PipelineConfig(sample_rate=48000))
        t0 = time.perf_counter()
        y = pipe.render(x.mean(axis=1), sr, tail_s=0.2)
        dt = time.perf_counter() - t0
        out = out_dir / f"voice_{wav.stem}_violin.wav"
        sf.write(str(out), y, 48000, subtype="FLOAT")
        rows.append({"input": str(wav.relative_to(VOICE_DIR.parent.parent)), "output": str(out.relative_to(ROOT)),
                     "seconds": len(y) / 48000, "render_x_realtime": len(y) / 48000 / dt,
                     "peak_dbfs": float(20 * np.log10(max(1e-9, float(np.max(np.abs(y)))))),
                     "out_rms_dbfs": float(10 * np.log10(max(1e-18, float(np.mean(y.astype(np.float64) ** 2)))))})
        print(f"voice {wav.name}: -> {out.name}, peak {rows[-1]['peak_dbfs']:.1f} dBFS, "
              f"{rows[-1]['render_x_realtime']:.1f}x real time")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="controls model (default: the shipped violin)")
    ap.add_argument("--melodies", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fonts", default="fluidr3,timgm6mb,musescore")
    ap.add_argument("--json", default=str(RESULTS / "violin_quality.json"))
    args = ap.parse_args(argv)
    path = Path(args.model) if args.model else default_instrument_path("violin")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    model = ControlsModel(path)
    results = {"model": str(path), "model_bytes": path.stat().st_size, "melodies": args.melodies,
               "seconds_each": args.seconds, "host": platform.node(), "fonts": {}}
    for font in [f for f in args.fonts.split(",") if f]:
        sf2 = V.SOUNDFONTS[font]
        if not Path(sf2).is_file():
            print(f"{font}: {sf2} not installed, skipped")
            continue
        rows = []
        for i in range(args.melodies):
            seed = BENCH_SEED + i
            d = V.render_performance(args.seconds, seed, sf2, keep_48k=(font == "fluidr3"))
            ref, f0, ld = d["audio"], d["f0_hz"], d["ld_db"]
            ours = ours_16k(model, f0, ld)
            base = {p: baseline_16k(f0, ld, p) for p in (1.0, 2.0)}
            row = {"seed": seed, "ours": spectral_distance(ours, ref),
                   "baseline_1/k": spectral_distance(base[1.0], ref),
                   "baseline_1/k^2": spectral_distance(base[2.0], ref)}
            row["baseline"] = min(row["baseline_1/k"], row["baseline_1/k^2"])
            if font == "fluidr3":
                y16, lag = pipeline_resynthesis(path, d["audio48"])
                row["pipeline_resynthesis"] = spectral_distance(y16, ref)
                row["pipeline_lag_ms"] = 1000.0 * lag / SR16
                if i < 2:
                    n = min(len(ref), 8 * SR16)
                    spectrogram_png(OUT_DIR / f"spectrogram_{font}_{seed}.png",
                                    {"FluidSynth violin (reference)": ref[:n], "shipped violin (ours)": ours[:n],
                                     "fixed-spectrum baseline (1/k)": base[1.0][:n],
                                     "live pipeline resynthesis": y16[:n]}, f"held-out melody {seed}")
                    import soundfile as sf
                    sf.write(str(OUT_DIR / f"melody_{seed}_fluidsynth.wav"), ref, SR16)
                    sf.write(str(OUT_DIR / f"melody_{seed}_ours.wav"), ours, SR16)
            rows.append(row)
            print(f"{font} melody {seed}: ours {row['ours']:.3f}  baseline {row['baseline']:.3f} "
                  f"(1/k {row['baseline_1/k']:.3f}, 1/k^2 {row['baseline_1/k^2']:.3f})"
                  + (f"  pipeline {row['pipeline_resynthesis']:.3f} (lag {row['pipeline_lag_ms']:.1f} ms)"
                     if "pipeline_resynthesis" in row else ""), flush=True)
        summary = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k not in ("seed",)}
        results["fonts"][font] = {"mean": summary, "rows": rows}
        print(f"{font} mean: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.items()))
    results["voices"] = render_voices(path, OUT_DIR)
    model.reset()
    for _ in range(50):
        model.step(440.0, -60.0)
    t0 = time.perf_counter()
    for i in range(2000):
        model.step(440.0 + i % 7, -60.0 + i % 11)
    step_us = (time.perf_counter() - t0) / 2000 * 1e6
    results["controls_step_us"] = step_us
    results["controls_step_core_pct_at_250fps"] = step_us * 250 / 1e4
    print(f"controls step: {step_us:.0f} us per frame ({step_us * 250 / 1e4:.1f} % of a core at 250 frames/s)")
    save_results(args.json, results, OUT_DIR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
