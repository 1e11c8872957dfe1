"""The live voice's pitch-change detector (:class:`tonehost.dsp.pitch_change.PitchChangeDetector`): latency on
synthetic steps, robustness on real speech, CPU per block.

- **synthetic steps** (voice-like, :func:`tonehost.dsp.pitch_change.step_signal`, 10 steps per interval at random
  phases, 21 intervals: 11 from 150 to 1046 Hz, then low voices 80-250 Hz both ways and whole tones): detection
  latency p50/p95 after the step beside its floor (the new period ``T`` plus the window ``max(32, 0.67 T)`` it
  must repeat over), steps found (confirmed within ``max(20 ms, floor + 12 ms)``), detections with a wrong pitch
  (> 20 cents off the new note), other detections (outside those windows), when the tracker's f0 is first
  within 50 cents of the new note (p50), and the pitch the live instrument would play (as below) with and without
  the detector: when it settles within 50 cents of the new note (p50) and how long before that it is neither note
  (mean ms: a passing mixture of the two);
- **FDA rl/sb 001-010** (``shared/data/voice/fda``, 20 spoken sentences: glides, creak and consonants, the hard
  case; the *development* files the detector's defaults were chosen on; 011-025 and MDB-stem-synth stay held out
  and are not read here): the changes reported, how many carry the reference pitch (within 50 cents of a
  reference frame 5 ms before to 35 ms after the estimated change point), and the share of voiced reference frames
  where the pitch the live instrument would play (the tracker's voiced f0, replaced after each change as
  :class:`~tonehost.realtime.pipelines.live_voice.LiveInstrument` does) is within 50 cents of the reference, with
  and without the detector (both read at the tracker's nominal delay, which favours the tracker);
- **CPU** per 128-sample block at 48 kHz (43 samples at 16 kHz), process time, mean and worst block: the tracker
  and the detector in the same run (after one untimed call that compiles).

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.pitch_change [--threshold 0.05] [--min-periods 0.67]
        [--baseline OLD.py]

``--baseline`` runs another version of the detector first on the same signals and tracker frames (a before/after
in one run): ``git show REV:dsp/pitch_change.py > /tmp/pc_old.py``.

Writes bench/results/pitch_change.json.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time

import numpy as np
import soundfile as sf

from bench._common import save_json
from bench.pitch_peers import DATA, to16k
from tonehost.dsp.features import TrackerConfig, VoiceTracker
from tonehost.dsp.pitch_change import PitchChangeDetector, step_signal

SR = 16000
BLOCK = 43  # 128 samples at 48 kHz
PAIRS = [(220, 330), (330, 220), (440, 392), (600, 900), (150, 200), (262, 330), (500, 250), (196, 247), (220, 440),
         (440, 220), (1046, 523),
         # low voices (male singing and humming, 80-200 Hz), both ways, and whole tones
         (80, 110), (110, 80), (100, 150), (150, 100), (200, 150), (247, 196), (98, 110), (110, 98), (131, 147),
         (147, 131)]


def _frames(x: np.ndarray) -> list:
    tr = VoiceTracker()
    out, cpu = [], 0.0
    for i in range(0, len(x), BLOCK):
        before = tr.frames_out
        t0 = time.process_time()
        fr = tr.process(x[i:i + BLOCK])
        cpu += time.process_time() - t0
        out.append(((before + np.arange(1, len(fr) + 1)) * TrackerConfig().hop - i - 1, fr.f0_hz.copy(),
                    fr.voiced.copy()))
    return out, cpu


def _detect(x: np.ndarray, frames: list, detector=PitchChangeDetector, **kw) -> tuple[list, float, float]:
    det = detector(**kw)
    ev, cpu, worst = [], 0.0, 0.0
    for j, i in enumerate(range(0, len(x), BLOCK)):
        t0 = time.process_time()
        at, f0 = det.process(x[i:i + BLOCK], *frames[j])
        dt = time.process_time() - t0
        cpu, worst = cpu + dt, max(worst, dt)
        ev += [(i + int(s), i + int(a) + 1, float(f)) for s, a, f in zip(det.last_starts, at, f0)]
    return ev, cpu, worst


def floor_ms(f_new: float, tail: int = 32, min_periods: float = 0.67) -> float:
    """The earliest a change to ``f_new`` can be confirmed (ms): the newest ``max(tail, min_periods T)`` samples
    repeat at the new period ``T`` once ``T`` + that many samples of the new note have arrived."""
    t = SR / f_new
    return 1000.0 * (t + max(tail, min_periods * t)) / SR


def _tracker_ms(frames: list, step: int, f_new: float) -> float:
    """When the tracker's voiced f0 is first within 50 cents of ``f_new`` after ``step`` (ms; nan: not within 40)."""
    for j, (at, f0, v) in enumerate(frames):
        for a, f, vv in zip(at, f0, v):
            c = j * BLOCK + int(a) + 1
            if step <= c < step + SR // 25 and vv and f > 0 and abs(1200 * np.log2(f / f_new)) < 50:
                return 1000.0 * (c - step) / SR
    return float("nan")


def _played(frames: list, ev: list, align: int, hold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tracker's voiced f0 per frame, and the same with the detector's changes (LiveInstrument's override)."""
    c = np.concatenate([j * BLOCK + f[0] + 1 for j, f in enumerate(frames)])
    f0 = np.concatenate([f[1] for f in frames]).astype(float)
    v = np.concatenate([f[2] for f in frames])
    base = np.where(v, f0, 0.0)
    played = base.copy()
    due = sorted((max(a, s + int(round(SR / f)) + align), f) for s, a, f in ev)
    k, fast, until = 0, 0.0, -1
    for i in range(len(c)):
        while k < len(due) and due[k][0] <= c[i]:
            fast, until = due[k][1], due[k][0] + hold
            k += 1
        if fast > 0:
            if c[i] > until or (v[i] and abs(1200 * np.log2(max(f0[i], 1.0) / fast)) < 25):
                fast = 0.0
            else:
                played[i] = fast
    return c, base, played


def _timeline(frames: list, ev: list, align: int, hold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pitch the live instrument would play, as a step function: sample of each change of it, the tracker's
    voiced f0 there (0 unvoiced), and the same with the detector's changes (at their due sample, held as
    :func:`_played` holds them)."""
    c = np.concatenate([j * BLOCK + f[0] + 1 for j, f in enumerate(frames)])
    f0 = np.concatenate([f[1] for f in frames]).astype(float)
    v = np.concatenate([f[2] for f in frames])
    due = sorted((max(a, s + int(round(SR / f)) + align), f) for s, a, f in ev)
    at, base, played = [], [], []
    k, fast, until = 0, 0.0, -1
    for i in range(len(c)):
        while k < len(due) and due[k][0] <= c[i]:
            fast, until = due[k][1], due[k][0] + hold
            at.append(due[k][0])
            base.append(base[-1] if base else 0.0)
            played.append(fast)
            k += 1
        cur = f0[i] if v[i] else 0.0
        p = cur
        if fast > 0:
            if c[i] > until or (v[i] and abs(1200 * np.log2(max(f0[i], 1.0) / fast)) < 25):
                fast = 0.0
            else:
                p = fast
        at.append(c[i])
        base.append(cur)
        played.append(p)
    return np.array(at), np.array(base), np.array(played)


def _settle_ms(at: np.ndarray, f: np.ndarray, step: int, f_old: float, f_new: float) -> tuple[float, float]:
    """From the step: when the played pitch is within 50 cents of ``f_new`` for good (the next 60 ms), and for how
    long before that it was neither note (ms; a passing mixture or a wrong octave)."""
    end = step + int(0.06 * SR)
    k = np.flatnonzero((at >= step) & (at < end))
    if not len(k):
        return float("nan"), float("nan")
    k = np.r_[k[0] - 1, k] if k[0] > 0 else k
    t = np.maximum(at[k], step)
    dur = np.diff(np.r_[t, end])
    cents = lambda g: np.abs(1200 * np.log2(np.maximum(f[k], 1.0) / g))  # noqa: E731
    new = cents(f_new) < 50
    bad = ~new & ~(cents(f_old) < 50)
    last_off = np.flatnonzero(~new)
    i = last_off[-1] + 1 if len(last_off) else 0
    if i >= len(k):
        return float("nan"), float(1000.0 * dur[bad].sum() / SR)
    return 1000.0 * (t[i] - step) / SR, float(1000.0 * dur[:i][bad[:i]].sum() / SR)

def _load(path: str):
    """``PitchChangeDetector`` from a copy of ``dsp/pitch_change.py`` (another version, for a before/after run)."""
    spec = importlib.util.spec_from_file_location("pitch_change_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # (Numba's cache finds a kernel's module by name)
    spec.loader.exec_module(mod)
    return mod.PitchChangeDetector


def _synthetic(signals: list, detector, kw: dict, res: dict) -> tuple[float, float, int]:
    cpu_d = worst = 0.0
    blocks = 0
    for (a, b), x, steps, frames, tracker_ms in signals:
        ev, cd, wd = _detect(x, frames, detector, **kw)
        cpu_d, worst, blocks = cpu_d + cd, max(worst, wd), blocks + len(frames)
        fl = floor_ms(b, min_periods=kw.get("min_periods", 0.67))
        window = max(20.0, fl + 12.0)  # found: confirmed within this long after the step (ms)
        lat, wrong = [], 0
        for s in steps:
            got = [e for e in ev if s <= e[1] < s + int(window * SR / 1000)]
            if got:
                lat.append(1000.0 * (got[0][1] - s) / SR)
                wrong += abs(1200 * np.log2(got[0][2] / b)) >= 20
        extra = sum(1 for e in ev if not any(s <= e[1] < s + int(window * SR / 1000) for s in steps))
        at, base, played = _timeline(frames, ev, int(round(3.5e-3 * SR)), int(round(15e-3 * SR)))
        st_b = np.array([_settle_ms(at, base, s, a, b) for s in steps])
        st_p = np.array([_settle_ms(at, played, s, a, b) for s in steps])
        p50, p95 = (np.percentile(lat, [50, 95]) if lat else (float("nan"),) * 2)
        tr50 = float(np.nanpercentile(tracker_ms, 50)) if np.isfinite(tracker_ms).any() else float("nan")
        res[f"{a}->{b}"] = {"found": len(lat), "of": len(steps), "wrong": int(wrong), "other_detections": extra,
                            "p50_ms": float(p50), "p95_ms": float(p95), "floor_ms": fl, "window_ms": window,
                            "tracker_p50_ms": tr50, "played_settle_p50_ms": float(np.nanmedian(st_p[:, 0])),
                            "tracker_settle_p50_ms": float(np.nanmedian(st_b[:, 0])),
                            "played_neither_ms_mean": float(np.nanmean(st_p[:, 1])),
                            "tracker_neither_ms_mean": float(np.nanmean(st_b[:, 1]))}
        print(f"  {a:5d} -> {b:5d} Hz: found {len(lat):2d}/{len(steps)}, wrong pitch {wrong}, other {extra}, latency "
              f"p50/p95 {p50:5.2f} / {p95:5.2f} ms (floor {fl:5.2f}, window {window:4.1f}; tracker within 50 "
              f"cents p50 {tr50:5.2f})\n{'':18s}played pitch settled on the new note p50 "
              f"{np.nanmedian(st_p[:, 0]):5.2f} ms (tracker alone {np.nanmedian(st_b[:, 0]):5.2f}), neither note "
              f"before that {np.nanmean(st_p[:, 1]):4.2f} ms (tracker alone {np.nanmean(st_b[:, 1]):4.2f})")
    return cpu_d, worst, blocks


def _fda(files: list, detector, kw: dict) -> tuple[dict, float, float, int]:
    tot = right = n_ref = good_base = good_played = 0
    cpu_d = worst = 0.0
    blocks = 0
    for rt, rf, x, frames in files:
        ev, cd, wd = _detect(x, frames, detector, **kw)
        cpu_d, worst, blocks = cpu_d + cd, max(worst, wd), blocks + len(frames)
        for s, _, f in ev:
            k = np.flatnonzero((rt >= s / SR - 0.005) & (rt <= s / SR + 0.035) & (rf > 0))
            tot += 1
            right += bool(len(k) and np.min(np.abs(1200 * np.log2(f / rf[k]))) < 50)
        c, base, played = _played(frames, ev, int(round(3.5e-3 * SR)), int(round(15e-3 * SR)))
        t = c / SR - TrackerConfig().pitch_delay_s
        ref = np.interp(t, rt, rf)
        m = (np.interp(t, rt, (rf > 0).astype(float)) > 0.99) & (base > 0)
        n_ref += int(m.sum())
        good_base += int((np.abs(1200 * np.log2(np.maximum(base[m], 1.0) / ref[m])) < 50).sum())
        good_played += int((np.abs(1200 * np.log2(np.maximum(played[m], 1.0) / ref[m])) < 50).sum())
    out = {"changes": tot, "right": right, "voiced_frames": n_ref, "tracker_within_50c": good_base / max(n_ref, 1),
           "with_changes_within_50c": good_played / max(n_ref, 1)}
    print(f"  FDA rl/sb 001-010 (development files): {tot} changes, {right} with the reference pitch; played pitch "
          f"within 50 cents in {100 * good_played / max(n_ref, 1):.1f}% of {n_ref} voiced frames (tracker alone "
          f"{100 * good_base / max(n_ref, 1):.1f}%)")
    return out, cpu_d, worst, blocks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--min-periods", type=float, default=None)
    ap.add_argument("--steps", type=int, default=10, help="steps per interval")
    ap.add_argument("--baseline", default=None, help="also run the PitchChangeDetector of this copy of "
                    "dsp/pitch_change.py (e.g. `git show REV:dsp/pitch_change.py > /tmp/pc_old.py`), default settings")
    args = ap.parse_args(argv)
    kw = {k: v for k, v in (("threshold", args.threshold), ("min_periods", args.min_periods)) if v is not None}
    signals, files = [], []
    _frames(np.zeros(SR // 10))  # compile (Numba) before timing
    cpu_t = 0.0
    blocks = 0
    for seed, (a, b) in enumerate(PAIRS):
        x, steps = step_signal(SR, a, b, args.steps, seed)
        frames, ct = _frames(x)
        cpu_t, blocks = cpu_t + ct, blocks + len(frames)
        signals.append(((a, b), x, steps, frames, np.array([_tracker_ms(frames, s, b) for s in steps])))
    for w in sorted((DATA / "fda").glob("*.wav")):
        if int(w.stem[2:]) > 10:
            continue  # held out
        rf = np.loadtxt(w.with_suffix(".f0ref"))
        y, sr = sf.read(str(w))
        x = to16k(y if y.ndim == 1 else y.mean(axis=1), sr)
        frames, ct = _frames(x)
        cpu_t, blocks = cpu_t + ct, blocks + len(frames)
        files.append((np.arange(len(rf)) * 0.015, rf, x, frames))
    res = {"settings": kw, "tracker_cpu_us_per_block": 1e6 * cpu_t / blocks}
    runs = [("detector", PitchChangeDetector, kw)]
    if args.baseline:
        runs.insert(0, ("baseline", _load(args.baseline), {}))
    for name, det, dkw in runs:
        _detect(signals[0][1][:SR // 2], signals[0][3], det, **dkw)  # compile (Numba) before timing
        print(f"{name}: PitchChangeDetector({dkw}) on voice-like steps ({args.steps} per interval, random phases)")
        syn = {}
        c1, w1, _ = _synthetic(signals, det, dkw, syn)
        fda, c2, w2, _ = _fda(files, det, dkw)
        res[name] = {"synthetic": syn, "fda_dev": fda, "cpu_us_per_block": 1e6 * (c1 + c2) / blocks,
                     "cpu_us_worst_block": 1e6 * max(w1, w2)}
        print(f"  CPU per 128-sample block (process time, same run): tracker {1e6 * cpu_t / blocks:.0f} us, "
              f"detector {1e6 * (c1 + c2) / blocks:.0f} us (worst block {1e6 * max(w1, w2):.0f} us)")
    print(f"wrote {save_json('pitch_change', res)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
