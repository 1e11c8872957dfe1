"""Pitch trackers on shared/data/voice: tonehost's live tracker vs swift-f0, PESTO, torchcrepe (CREPE), librosa
pyin and the DDSP-VST model, on the same files in the same run.

Metrics (mir_eval, 50 cents): raw pitch accuracy (RPA), raw chroma accuracy, voicing recall / false alarm (VFA),
overall accuracy, per set; every tracker reports a pitch for its unvoiced frames as a negative value (the MIREX
convention), so RPA scores the pitch whatever the voicing decision and VFA scores the voicing. Plus compute time
per second of audio and each tracker's **measured latency**: the input is cut a little after a pitch step
(220 -> 330 Hz, voice-like), the tracker runs on what it got (as a stream would have), and the latency is the
shortest cut after the step for which it reports the new pitch (within 50 cents) in any frame. A causal tracker
that needs no future shows its analysis delay; a centred one shows the future half of its window.

Which files serve what (never tune on what is reported as held out):

- ``fda-dev``: FDA rl/sb 001-010 (20 spoken sentences): tonehost's voicing model was fitted on these
  (``--fit-voicing`` re-derives :data:`tonehost.dsp.features.VOICING_WEIGHTS` from them);
- ``fda-held``: FDA rl/sb 011-025 (30 sentences) and ``mdb-held``: MDB-stem-synth (male singing, exact f0): held
  out, never used to fit or tune anything.

    .venv/bin/python -m bench.pitch_peers [--quick] [--peers tonehost,swift-f0,pesto,crepe,pyin,ddsp-vst]
    .venv/bin/python -m bench.pitch_peers --sets fda-dev   # while developing: the development set only
    .venv/bin/python -m bench.pitch_peers --fit-voicing [--fit-conditions clean,highpass:300,pink:10]
    .venv/bin/python -m bench.pitch_peers --peers tonehost,swift-f0 --condition reverb:0.3:10   # a mic in a room

``--condition`` degrades every file the same way for every tracker (seeded per file, :func:`degrade`): pink noise
at an SNR, mains hum, a synthetic room (RT60, direct-to-reverberant ratio), a small mic's high-pass; joined with
``+``. Held out at e86691a, tonehost / swift-f0 raw pitch accuracy on FDA 011-025: clean 0.845 / 0.861, pink:20
0.844 / 0.863, pink:10 0.811 / 0.856, reverb:0.3:10 0.811 / 0.860, reverb:0.4 0.725 / 0.815, highpass:200 0.817 /
0.860, highpass:300 0.792 / 0.864; with hum:50:-30 our voicing false alarm is 0.121 (swift-f0 0.331).

``bench.pitch_errors`` classifies tonehost's errors on fda-dev (octave, voicing edges, unvoiced guesses, low f0,
time shifts) beside swift-f0's.

Peers that are not installed are skipped with a note: ``pip install swift-f0``; PESTO and torchcrepe need
``torch`` plus ``pip install --no-deps pesto-pitch torchcrepe`` (their only torchaudio use is file loading,
which this bench does not call; a stub module stands in where no torchaudio wheel matches the torch build).
Writes bench/results/pitch_peers.json.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import time
import types

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from bench._common import SHARED_DATA, save_json

DATA = SHARED_DATA / "voice"
SR = 16000


def load_sets(quick: bool) -> dict:
    """{set name: [(wav, ref_times, ref_f0)]}: fda-dev, fda-held, mdb-held (see the module docstring)."""
    sets = {"fda-dev": [], "fda-held": [], "mdb-held": []}
    for w in sorted((DATA / "fda").glob("*.wav")):
        f = np.loadtxt(w.with_suffix(".f0ref"))
        key = "fda-dev" if int(w.stem[2:]) <= 10 else "fda-held"
        sets[key].append((w, np.arange(len(f)) * 0.015, f))
    if quick:
        sets = {k: v[::3] for k, v in sets.items()}
    for w in sorted((DATA / "mdb_stem_synth").glob("*.wav")):
        ref = np.loadtxt(w.with_suffix(".csv"), delimiter=",")
        sets["mdb-held"].append((w, ref[:, 0], ref[:, 1]))
    return sets


# ------------------------------------------------------------------------------------------------ conditions
# --condition: the same degradation applied to every file before every tracker (a mic in a room rather than a
# studio). Seeded per file, so each tracker hears the same signal.

def pink_noise(n, rng):
    """Pink (1/f power) noise of unit RMS (white noise shaped in the frequency domain)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=float)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0.0
    y = np.fft.irfft(spec, n)
    return y / (np.sqrt(np.mean(y * y)) + 1e-20)


def _active_rms(x, sr):
    """RMS over the 50 ms frames within 30 dB of the loudest (the speech, not its pauses)."""
    n = max(1, int(0.05 * sr))
    fr = x[:len(x) // n * n].reshape(-1, n)
    p = np.mean(fr * fr, axis=1)
    return float(np.sqrt(np.mean(p[p >= p.max() * 1e-3]))) if len(p) else 0.0


def degrade(x, sr, condition: str, seed: int = 0):
    """``x`` under ``condition``: ``clean``; ``pink:SNR`` (pink noise, SNR dB re the active speech level);
    ``hum:F:DB`` (mains hum at F Hz with its 2nd-5th harmonics falling 6 dB each, DB re the active speech level);
    ``reverb:RT60[:DRR]`` (a synthetic room: an exponentially decaying noise tail of RT60 s, direct-to-reverberant
    energy ratio DRR dB, default 3: a laptop mic about a metre away); ``highpass:FC`` (a small mic's or a phone's
    4th-order Butterworth high-pass at FC Hz, which takes a low voice's fundamental away); ``gain:DB`` (the level
    scaled); ``clip:DB`` (clipped DB under the peak); conditions joined with ``+`` apply in order."""
    y = np.asarray(x, np.float64)
    rng = np.random.default_rng(seed)
    for part in re.split(r"\+(?=[a-z])", condition):  # "gain:+20" is one part
        name, *arg = part.split(":")
        level = _active_rms(y, sr)
        if name == "clean":
            continue
        if name == "pink":
            y = y + level * 10 ** (-float(arg[0]) / 20) * pink_noise(len(y), rng)
        elif name == "hum":
            f, db = float(arg[0]), float(arg[1])
            t = np.arange(len(y)) / sr
            h = sum(0.5 ** (k - 1) * np.sin(2 * np.pi * k * f * t + k) for k in range(1, 6))
            y = y + level * 10 ** (db / 20) * h / np.sqrt(np.mean(h * h))
        elif name == "gain":  # a quiet (or hot) input: the level scaled by DB
            y = y * 10 ** (float(arg[0]) / 20)
        elif name == "clip":  # an overdriven input: clipped at DB under the file's peak
            c = np.max(np.abs(y)) * 10 ** (-float(arg[0]) / 20)
            y = np.clip(y, -c, c)
        elif name == "highpass":  # a small mic or a phone: 4th-order Butterworth high-pass at FC Hz
            from scipy.signal import butter, sosfilt
            y = sosfilt(butter(4, float(arg[0]), "highpass", fs=sr, output="sos"), y)
        elif name == "reverb":
            rt60, drr = float(arg[0]), float(arg[1]) if len(arg) > 1 else 3.0
            n = int(rt60 * sr)
            tail = rng.standard_normal(n) * np.exp(-6.91 * np.arange(n) / n)
            tail[: int(0.002 * sr)] = 0.0  # the first reflections arrive after the direct sound
            tail *= 10 ** (-drr / 20) / np.sqrt(np.sum(tail * tail))
            from scipy.signal import fftconvolve
            y = y + fftconvolve(y, tail)[:len(y)]
        else:
            raise ValueError(f"unknown condition {part!r}: clean, pink:SNR, hum:F:DB, reverb:RT60[:DRR], highpass:FC, gain:DB, clip:DB")
    return y.astype(np.float32)


def to16k(x, sr):
    if sr == SR:
        return np.asarray(x, np.float64)
    g = math.gcd(int(sr), SR)
    return resample_poly(np.asarray(x, np.float64), SR // g, int(sr) // g)


# ------------------------------------------------------------------------------------------------ trackers
# each: (audio float, sample_rate) -> (times s, f0 Hz with -f0 where unvoiced)

def tracker_ours(x, sr):
    from tonehost.dsp.features import track_pitch
    t, f, c = track_pitch(x, sr, unvoiced_guess=True)
    return t, f


def tracker_pyin(x, sr):
    import librosa
    y = to16k(x, sr)
    f, v, p = librosa.pyin(y, fmin=50, fmax=2000, sr=SR, frame_length=1024, hop_length=160, fill_na=None)
    t = librosa.times_like(f, sr=SR, hop_length=160)
    return t, np.where(v, f, -f)


_models: dict = {}


def tracker_ddsp_vst(x, sr):
    from tonehost.exports.convert.pitch_model import DDSPVSTPitchModel
    if "vst" not in _models:
        _models["vst"] = DDSPVSTPitchModel()
    t, f, c, pw = _models["vst"].track(to16k(x, sr).astype(np.float32), hop=320, center=True)
    return t, np.where(c >= 0.5, f, -f)


def tracker_swift(x, sr):
    import swift_f0
    if "swift" not in _models:
        _models["swift"] = swift_f0.SwiftF0()
    r = _models["swift"].detect(to16k(x, sr).astype(np.float32), SR, fmin=50, fmax=2000)
    f = np.asarray(r.pitch_hz, float)
    return np.asarray(r.timestamps), np.where(np.asarray(r.confidence) >= 0.5, f, -f)


def _torchaudio_stub():
    """PESTO and torchcrepe import torchaudio for file loading only; no wheel matches this torch build here."""
    try:
        import torchaudio  # noqa: F401
    except ImportError:
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")


def tracker_pesto(x, sr):
    import torch
    _torchaudio_stub()
    import pesto
    y = torch.from_numpy(to16k(x, sr).astype(np.float32))
    t, f, c, _ = pesto.predict(y, SR, step_size=10.0)
    t, f, c = t.numpy() / 1000.0, f.numpy().astype(float), c.numpy()
    # PESTO's confidence is not a voicing probability (0.1-0.2 on clean singing): 0.12 was chosen on fda-dev
    # (voicing false alarm ~0.05 there, like the targets)
    return t, np.where(c >= 0.12, f, -f)


CREPE_MODEL = ["full"]  # --crepe-model


def tracker_crepe(x, sr):
    import torch
    _torchaudio_stub()
    import torchcrepe
    y = torch.from_numpy(to16k(x, sr).astype(np.float32))[None]
    # fmax 1900: CREPE's bins end at ~1975 Hz, and torchcrepe's decoder returns ~2000 Hz everywhere on FDA speech
    # with fmax=2000 (its viterbi transition over the clipped bins)
    f, p = torchcrepe.predict(y, SR, hop_length=160, fmin=50, fmax=1900, model=CREPE_MODEL[0], batch_size=512,
                              device="cpu", return_periodicity=True)
    f, p = f[0].numpy().astype(float), p[0].numpy()
    p = torchcrepe.filter.median(torch.from_numpy(p)[None], 3)[0].numpy()
    t = np.arange(len(f)) * 160 / SR
    return t, np.where(p >= 0.21, f, -f)  # torchcrepe's documented unvoiced threshold


PEERS = {
    "tonehost": (tracker_ours, "tonehost live tracker (YIN + causal candidate HMM + voicing model)"),
    "swift-f0": (tracker_swift, "swift-f0 0.x (ONNX CNN, 16 ms hop)"),
    "pesto": (tracker_pesto, "PESTO mir-1k_g7 (10 ms step)"),
    "crepe": (tracker_crepe, "torchcrepe (CREPE, 10 ms hop; --crepe-model full or tiny)"),
    "pyin": (tracker_pyin, "librosa pyin (1024-sample frames)"),
    "ddsp-vst": (tracker_ddsp_vst, "DDSP-VST model (CREPE-micro, 1024 samples, 20 ms hop)"),
}


def available(name: str) -> str | None:
    """None when the peer can run, else why not."""
    try:
        if name == "swift-f0":
            import swift_f0  # noqa: F401
        elif name in ("pesto", "crepe"):
            import torch  # noqa: F401
            _torchaudio_stub()
            __import__("pesto" if name == "pesto" else "torchcrepe")
        elif name == "ddsp-vst":
            import tflite  # noqa: F401
    except ImportError as exc:
        return f"not installed ({exc.name})"
    return None


# ------------------------------------------------------------------------------------------------ latency

def step_signal(f_from=220.0, f_to=330.0, t_step=0.5, total=0.65):
    from tonehost.dsp.features import voice_like
    n = int(total * SR)
    f = np.where(np.arange(n) / SR < t_step, f_from, f_to)
    return voice_like(f, SR, 0.3)


def measured_latency_ms(fn, f_to=330.0, t_step=0.5, max_ms=120, ours=False) -> float:
    """Shortest cut after the step (ms) at which the tracker, given only the audio up to the cut, reports the new
    pitch in some frame (see the module docstring). For tonehost the frames are taken as a stream emits them:
    a frame counts at the input sample that completes it."""
    x = step_signal(f_to=f_to, t_step=t_step)
    if ours:
        from tonehost.dsp.features import measure_tracker_latency
        return float(measure_tracker_latency(None, 220.0, f_to)["step_ms"])

    def reported(cut_ms):
        n = int((t_step + cut_ms / 1000.0) * SR)
        t, f = fn(x[:n], SR)
        t, f = np.asarray(t, float), np.asarray(f, float)
        near = (t >= t_step - 0.005) & (f > 0)
        return bool(np.any(np.abs(1200 * np.log2(np.maximum(f[near], 1e-3) / f_to)) < 50))

    coarse = next((c for c in range(0, max_ms + 1, 10) if reported(c)), None)
    if coarse is None:
        return float("nan")
    return float(next((c for c in range(max(0, coarse - 8), coarse + 1, 2) if reported(c)), coarse))


# ------------------------------------------------------------------------------------------------ voicing fit

def fit_voicing(sets, conditions=("clean",)) -> tuple:
    """Maximum-likelihood logistic voicing model on the fda-dev files only (features of
    :func:`tonehost.dsp.features.voicing_features`; labels: the laryngograph reference at each frame's time), each
    file heard under every one of ``conditions`` (:func:`degrade`)."""
    from tonehost.dsp.features import TrackerConfig, VoiceTracker, voicing_features
    cfg = TrackerConfig()
    feats, labels = [], []
    for (wav, rt, rf), cond in ((item, c) for item in sets["fda-dev"] for c in conditions):
        x, sr = sf.read(wav)
        x = degrade(np.asarray(x, np.float64).reshape(len(x), -1).mean(axis=1), sr, cond,
                    seed=sum(map(ord, wav.name)) + 1)
        tr = VoiceTracker(cfg)
        tr.features_log = []
        tr.process(np.r_[to16k(x, sr), np.zeros(cfg.window)])
        log = np.array(tr.features_log)
        t = np.arange(1, len(log) + 1) * cfg.hop / SR - cfg.pitch_delay_s
        ok = (t > 0) & (t < rt[-1]) & (log[:, 3] >= cfg.gate_db)
        idx = np.clip(np.round(t / 0.015).astype(int), 0, len(rf) - 1)
        feats += [voicing_features(a, b, c) for a, b, c in log[ok, :3]]
        labels += list(rf[idx][ok] > 0)
    A, y = np.array(feats), np.array(labels, float)
    w = np.zeros(A.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-A @ w))
        H = (A * (p * (1 - p))[:, None]).T @ A + 1e-3 * np.eye(len(w))
        w -= np.linalg.solve(H, A.T @ (p - y))
    p = 1 / (1 + np.exp(-A @ w))
    print(f"fitted on {len(y)} frames of {len(sets['fda-dev'])} fda-dev files under {', '.join(conditions)}")
    print("VOICING_WEIGHTS = (" + ", ".join(f"{v:.3f}" for v in w) + ")")
    for lo in np.arange(0, 1, 0.2):
        m = (p >= lo) & (p < lo + 0.2)
        print(f"  P(voiced) {lo:.1f}-{lo + 0.2:.1f}: {m.sum():5d} frames, {y[m].mean() if m.any() else 0:.2f} voiced")
    return tuple(w)


# ------------------------------------------------------------------------------------------------ main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every 3rd FDA file")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of " + ", ".join(PEERS))
    ap.add_argument("--fit-voicing", action="store_true", help="fit tonehost's voicing model on fda-dev and exit")
    ap.add_argument("--crepe-model", choices=["full", "tiny"], default="full",
                    help="torchcrepe capacity (full: CREPE as published, ~20x slower on a CPU; tiny)")
    ap.add_argument("--sets", default="fda-dev,fda-held,mdb-held",
                    help="comma-separated subset of fda-dev, fda-held, mdb-held (develop on fda-dev only)")
    ap.add_argument("--condition", default="clean",
                    help="degrade every file the same way for every tracker: clean, pink:SNR, hum:F:DB, reverb:RT60[:DRR], highpass:FC, gain:DB, clip:DB, "
                    "joined with + (e.g. reverb:0.4+pink:20)")
    ap.add_argument("--fit-conditions", default="clean",
                    help="--fit-voicing hears every fda-dev file under each of these comma-separated conditions")
    ap.add_argument("-o", "--output", default="pitch_peers")
    args = ap.parse_args(argv)
    try:  # an unknown or malformed condition fails here, before any work
        degrade(np.zeros(10), SR, args.condition)
    except (ValueError, IndexError) as exc:
        ap.error(f"--condition {args.condition!r}: {exc} (clean, pink:SNR, hum:F:DB, reverb:RT60[:DRR], highpass:FC, gain:DB, clip:DB, joined with +)")
    import mir_eval

    CREPE_MODEL[0] = args.crepe_model
    sets = load_sets(args.quick)
    if not args.fit_voicing:
        keep = args.sets.split(",")
        unknown = set(keep) - set(sets)
        if unknown:
            ap.error(f"unknown sets {sorted(unknown)}")
        sets = {k: v for k, v in sets.items() if k in keep}
    if args.fit_voicing:
        fit_voicing(sets, tuple(args.fit_conditions.split(",")))
        return 0
    results = {"condition": args.condition,
               "sets": {k: [str(w.name) for w, _, _ in v] for k, v in sets.items()},
               "roles": {"fda-dev": "fitted tonehost's voicing model", "fda-held": "held out",
                         "mdb-held": "held out"}, "trackers": {}}
    for name in args.peers.split(","):
        fn, what = PEERS[name]
        if name == "crepe":
            what = what.replace("; --crepe-model full or tiny", f", {args.crepe_model}")
        why = available(name)
        if why:
            print(f"{name}: skipped, {why}")
            continue
        fn(np.zeros(SR // 2), SR)  # warm-up (JIT, sessions, weights)
        r = {"what": what}
        for set_name, items in sets.items():
            scores, compute, dur = [], 0.0, 0.0
            for wav, rt, rf in items:
                x, sr = sf.read(wav, dtype="float32", always_2d=True)
                x = degrade(x.mean(axis=1), sr, args.condition, seed=sum(map(ord, wav.name)))
                t0 = time.perf_counter()
                t, f = fn(x, sr)
                compute += time.perf_counter() - t0
                dur += len(x) / sr
                rv, rc, ev, ec = mir_eval.melody.to_cent_voicing(rt, rf, np.asarray(t, float), np.asarray(f, float))
                vr, vfa = mir_eval.melody.voicing_measures(rv, ev)
                scores.append([mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec),
                               mir_eval.melody.raw_chroma_accuracy(rv, rc, ev, ec), vr, vfa,
                               mir_eval.melody.overall_accuracy(rv, rc, ev, ec)])
            m = np.mean(scores, axis=0)
            r[set_name] = {"raw_pitch_accuracy": m[0], "raw_chroma_accuracy": m[1], "voicing_recall": m[2],
                           "voicing_false_alarm": m[3], "overall_accuracy": m[4], "files": len(items),
                           "compute_ms_per_audio_s": 1000 * compute / dur}
        r["latency_ms"] = measured_latency_ms(fn, ours=name == "tonehost")
        results["trackers"][name] = r
        print(f"{name}: done ({r['latency_ms']:.0f} ms latency)", flush=True)
    print(f"\n{'tracker':10s} {'set':9s} {'RPA':>6s} {'RCA':>6s} {'VR':>6s} {'VFA':>6s} {'OA':>6s} {'ms/s':>7s} "
          f"{'latency':>8s}")
    for name, r in results["trackers"].items():
        for set_name in sets:
            s = r[set_name]
            print(f"{name:10s} {set_name:9s} {s['raw_pitch_accuracy']:6.3f} {s['raw_chroma_accuracy']:6.3f} "
                  f"{s['voicing_recall']:6.3f} {s['voicing_false_alarm']:6.3f} {s['overall_accuracy']:6.3f} "
                  f"{s['compute_ms_per_audio_s']:7.1f} {r['latency_ms']:6.0f}ms")
    tr = results["trackers"]
    if "tonehost" in tr and "swift-f0" in tr:
        print("\ntargets (held-out sets): RPA >= swift-f0, VFA <= 0.05, latency <= 10 ms")
        for set_name in ("fda-held", "mdb-held"):
            if set_name not in sets:
                continue
            a, b = tr["tonehost"][set_name], tr["swift-f0"][set_name]
            print(f"  {set_name}: RPA {a['raw_pitch_accuracy']:.3f} vs swift-f0 {b['raw_pitch_accuracy']:.3f} "
                  f"({'met' if a['raw_pitch_accuracy'] >= b['raw_pitch_accuracy'] else 'MISSED'}); VFA "
                  f"{a['voicing_false_alarm']:.3f} ({'met' if a['voicing_false_alarm'] <= 0.05 else 'MISSED'})")
        lat = tr["tonehost"]["latency_ms"]
        print(f"  latency {lat:.0f} ms ({'met' if lat <= 10 else 'MISSED'})")
    print(f"wrote {save_json(args.output, results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
