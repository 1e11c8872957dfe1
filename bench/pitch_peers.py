"""Pitch trackers on shared/data/voice: tonehost's live tracker vs librosa pyin, the DDSP-VST model, swift-f0.

Metrics (mir_eval, 50 cents): raw pitch accuracy, raw chroma accuracy, voicing recall / false alarm, overall
accuracy, per data set; plus each tracker's compute time per second of audio and its algorithmic latency
(how far behind the newest sample its estimate is centred / how much future it needs).

    .venv/bin/python -m bench.pitch_peers [--quick]

Writes bench/results/pitch_peers.json.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from bench._common import SHARED_DATA, save_json

DATA = SHARED_DATA / "voice"


def load_sets(quick: bool):
    sets = {"fda": [], "mdb_stem_synth": []}
    fda = sorted((DATA / "fda").glob("*.wav"))
    for w in (fda[::5] if quick else fda):
        f = np.loadtxt(w.with_suffix(".f0ref"))
        sets["fda"].append((w, np.arange(len(f)) * 0.015, f))
    for w in sorted((DATA / "mdb_stem_synth").glob("*.wav")):
        ref = np.loadtxt(w.with_suffix(".csv"), delimiter=",")
        sets["mdb_stem_synth"].append((w, ref[:, 0], ref[:, 1]))
    return sets


def to16k(x, sr):
    if sr == 16000:
        return x
    g = math.gcd(int(sr), 16000)
    return resample_poly(x, 16000 // g, int(sr) // g)


def tracker_ours(x, sr):
    from tonehost.dsp.features import track_pitch
    t, f, c = track_pitch(x, sr)
    return t, f


def tracker_pyin(x, sr):
    import librosa
    y = to16k(x, sr)
    f, v, p = librosa.pyin(y, fmin=65, fmax=1100, sr=16000, frame_length=1024, hop_length=160)
    t = librosa.times_like(f, sr=16000, hop_length=160)
    return t, np.where(v, np.nan_to_num(f), 0.0)


_vst = None


def tracker_ddsp_vst(x, sr):
    global _vst
    from tonehost.exports.convert.pitch_model import DDSPVSTPitchModel
    if _vst is None:
        _vst = DDSPVSTPitchModel()
    t, f, c, pw = _vst.track(to16k(x, sr), hop=320, center=True)
    return t, np.where(c >= 0.5, f, 0.0)


_swift = None


def tracker_swift(x, sr):
    global _swift
    import swift_f0
    if _swift is None:
        _swift = swift_f0.SwiftF0()
    r = _swift.detect(to16k(x, sr).astype(np.float32), 16000, fmin=65, fmax=1100)
    return np.asarray(r.timestamps), np.where(np.asarray(r.confidence) >= 0.5, r.pitch_hz, 0.0)


# Algorithmic latency (ms): how far behind the newest input sample the estimate is centred (causal trackers),
# or the future context it needs (centred offline trackers: half their frame).
LATENCY_MS = {
    "tonehost (live YIN)": None,  # filled from the tracker config
    "pyin (librosa)": 1000 * 512 / 16000,  # centred 1024-sample frames; needs 32 ms of future, plus HMM smoothing
    "ddsp-vst model": 1000 * 1024 / 16000,  # DDSP-VST feeds the newest 1024 samples: centre 32 ms back + 20 ms hop
    "swift-f0": None,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every 5th FDA file")
    args = ap.parse_args()
    import mir_eval
    from tonehost.dsp.features import TrackerConfig

    cfg = TrackerConfig()
    LATENCY_MS["tonehost (live YIN)"] = 1000 * cfg.pitch_delay_s
    trackers = {"tonehost (live YIN)": tracker_ours, "pyin (librosa)": tracker_pyin,
                "ddsp-vst model": tracker_ddsp_vst}
    try:
        import swift_f0  # noqa: F401
        trackers["swift-f0"] = tracker_swift
        LATENCY_MS["swift-f0"] = 1000 * 0.016  # 16 ms hop, centred frames (needs future context)
    except ImportError:
        print("swift-f0 not installed (pip install swift-f0): skipped")
    sets = load_sets(args.quick)
    results = {}
    for name, fn in trackers.items():
        results[name] = {}
        for set_name, items in sets.items():
            scores, compute, dur = [], 0.0, 0.0
            for wav, rt, rf in items:
                x, sr = sf.read(wav, dtype="float32", always_2d=True)
                x = x.mean(axis=1)
                fn(x[: sr // 10], sr)  # warm-up (JIT, sessions)
                t0 = time.perf_counter()
                t, f = fn(x, sr)
                compute += time.perf_counter() - t0
                dur += len(x) / sr
                rv, rc, ev, ec = mir_eval.melody.to_cent_voicing(rt, rf, np.asarray(t, float),
                                                                 np.asarray(f, float))
                vr, vfa = mir_eval.melody.voicing_measures(rv, ev)
                scores.append([mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec),
                               mir_eval.melody.raw_chroma_accuracy(rv, rc, ev, ec), vr, vfa,
                               mir_eval.melody.overall_accuracy(rv, rc, ev, ec)])
            m = np.mean(scores, axis=0)
            results[name][set_name] = {"raw_pitch_accuracy": m[0], "raw_chroma_accuracy": m[1],
                                       "voicing_recall": m[2], "voicing_false_alarm": m[3],
                                       "overall_accuracy": m[4], "files": len(items),
                                       "compute_ms_per_audio_s": 1000 * compute / dur}
        results[name]["latency_ms"] = LATENCY_MS.get(name)
    print(f"{'tracker':22s} {'set':15s} {'RPA':>6s} {'RCA':>6s} {'VR':>6s} {'VFA':>6s} {'OA':>6s} "
          f"{'ms/s':>7s} {'latency ms':>10s}")
    for name, r in results.items():
        for set_name in sets:
            s = r[set_name]
            print(f"{name:22s} {set_name:15s} {s['raw_pitch_accuracy']:6.3f} {s['raw_chroma_accuracy']:6.3f} "
                  f"{s['voicing_recall']:6.3f} {s['voicing_false_alarm']:6.3f} {s['overall_accuracy']:6.3f} "
                  f"{s['compute_ms_per_audio_s']:7.1f} {r['latency_ms'] or float('nan'):10.1f}")
    print(f"wrote {save_json('pitch_peers', results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
