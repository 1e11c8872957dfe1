"""Error analysis of tonehost's raw pitch on the FDA development sentences (rl/sb 001-010) ONLY.

For every reference-voiced frame (mir_eval's reference grid, 15 ms) where tonehost's pitch (the unvoiced-guess
convention of :mod:`bench.pitch_peers`: a pitch for every frame) is more than 50 cents off, the frame is put in
classes (a frame can be in several):

- pitch ratio to the reference within 100 cents: ``octave_up`` / ``octave_down`` (2x, 1/2), ``x3_up`` (3x),
  ``x1.5_up`` / ``x1.5_down`` (3/2, 2/3), ``sub_x3`` (1/3); ``other_ratio``: none of them (mostly 50-300 cents);
- ``edge``: within 30 ms of a reference voicing boundary;
- ``unvoiced``: our tracker calls the frame unvoiced (its reported unvoiced guess is scored);
- ``low``: reference f0 below 80 Hz (creak, vocal fry);

and counts how many of each swift-f0 gets right (within 50 cents). ``--shifts`` reports the dev RPA of tonehost
and swift-f0 with their times shifted by -10..+10 ms (a timestamp bias of one tracker shows as a shift that helps
it alone; one that helps both is the reference's time convention).

``--headroom`` asks what any tracker built on YIN's CMND could still win (:func:`headroom`):

- where in the reference's voiced runs the errors lie (first / last 3 frames, middle, runs of <= 3 frames) and
  whether we call them voiced, with swift-f0's errors and the frames only we get wrong;
- whether the frame's CMND (the tracker's own window, adaptive width 128, centred at the reference time) holds the
  reference's pitch at all: its CMND within 50 cents of the reference against that within 50 cents of our pitch;
- what a wider integration window would do to voiced frames (the deepest dip within 200 cents of our pitch,
  widths 128 / 256 / 400 / 640 samples): errors fixed against right frames broken;
- a phonation-offset prior on the unvoiced guess (:func:`fall_prior_tracker`: an aperiodic frame's guess lowered
  5 cents per ms since the last voiced frame, at most 100 cents, for 40 ms), on fda-dev and on synthetic fading
  note ends (:func:`fading_end`: flat, falling, with jitter or vibrato), against the tracker's own guess.

    .venv/bin/python -m bench.pitch_errors [--shifts] [--headroom]

Measured with ``--headroom`` at 33636ac (fda-dev, 1236 reference-voiced frames; tonehost 195 errors, swift-f0 172):
the frames only tonehost gets wrong (61) lie at the starts (17), middles (15) and ends (26) of voiced runs; on the
voiced errors the CMND holds our pitch, not the reference's (its dip is deeper by > 0.05 on 2 %: the laryngograph
moves 50-100 cents within a frame or two where the sound does not show it); on the unvoiced ones there is no
periodicity to follow (CMND 0.75 at the reference's pitch, a clearly deeper dip there on 24 %), and wider windows
break about as many right frames as they fix. The offset prior lifts fda-dev RPA 0.8457 -> 0.8546 and lowers every
synthetic fading end (flat 0.950 -> 0.900, vibrato 0.942 -> 0.867, falling 200/400 cents 0.903 -> 0.896): a
statistic of FDA's speech, not tracking, so it is not adopted.

Never run on FDA 011-025 or MDB (held out): this script only loads ``fda-dev``. swift-f0's dev tracks are cached in
``bench/results/pitch_errors_swift_dev.pkl``.
"""
from __future__ import annotations

import argparse
import pickle

import numpy as np
import soundfile as sf

from bench._common import RESULTS, save_json
from bench.pitch_peers import load_sets, tracker_ours, tracker_swift


def frames(set_items, fn, shift=0.0):
    """Per file: ``(name, ref_times, ref_f0, times + shift, f0)`` of tracker ``fn`` (Hz, negative = unvoiced)."""
    out = []
    for wav, rt, rf in set_items:
        x, sr = sf.read(wav, dtype="float32", always_2d=True)
        t, f = fn(x.mean(axis=1), sr)
        out.append((wav.name, rt, rf, np.asarray(t, float) + shift, np.asarray(f, float)))
    return out


def on_grid(rt, rf, t, f):
    """mir_eval's reference and estimate on the reference grid: ``(ref_voicing, ref_cents, est_voicing, est_cents)``."""
    import mir_eval
    rv, rc, ev, ec = mir_eval.melody.to_cent_voicing(rt, rf, t, f)
    return rv, rc, ev, ec


def rpa(runs, shift=0.0):
    """Mean raw pitch accuracy over the files of ``runs`` (:func:`frames`), times shifted by ``shift`` s."""
    import mir_eval
    s = []
    for name, rt, rf, t, f in runs:
        rv, rc, ev, ec = on_grid(rt, rf, t + shift, f)
        s.append(mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec))
    return float(np.mean(s))


#: Wrong-pitch kinds by the estimate's ratio to the reference (each within 100 cents of its ratio):
#: ``(name, cents of the ratio)``; a wrong frame that is none of them is ``< 3 semitones`` or ``other``.
RATIO_KINDS = (("octave up", 1200.0), ("octave down", -1200.0), ("fifth up", 702.0), ("fifth down", -702.0),
               ("x3 up", 1902.0), ("x3 down", -1902.0))


def error_kind(cents):
    """The kind of each wrong estimate from its offset to the reference (cents, array-like): a name of
    :data:`RATIO_KINDS`, ``< 3 semitones`` (50-300 cents, no ratio) or ``other``; ``""`` where it is right (within
    50 cents). Shared by :func:`classify` and :func:`bench.sung_synth.classify`."""
    c = np.asarray(cents, dtype=np.float64)
    out = np.where(np.abs(c) <= 50, "", np.where(np.abs(c) < 300, "< 3 semitones", "other")).astype(object)
    for name, at in RATIO_KINDS:
        out[(np.abs(c - at) < 100) & (np.abs(c) > 50)] = name
    return out


#: :func:`classify`'s keys for the ratio kinds of :func:`error_kind`.
_RATIO_KEYS = {"octave_up": "octave up", "octave_down": "octave down", "x3_up": "x3 up", "x1.5_up": "fifth up",
               "x1.5_down": "fifth down", "sub_x3": "x3 down"}


def classify(ours, swift):
    """Counts of error classes over all dev files (frames on the reference grid)."""
    tot = {"ref_voiced": 0, "errors": 0}
    cls = {k: 0 for k in ("octave_up", "octave_down", "x3_up", "x1.5_up", "x1.5_down", "sub_x3", "other_ratio",
                          "edge", "unvoiced", "low", "unvoiced_not_edge", "edge_or_unvoiced")}
    swift_right = {k: 0 for k in cls}
    per_file = {}
    cents_off = []
    for (name, rt, rf, t, f), (_, _, _, ts, fs) in zip(ours, swift):
        rv, rc, ev, ec = on_grid(rt, rf, t, f)
        _, _, evs, ecs = on_grid(rt, rf, ts, fs)
        v = rv > 0
        # voicing boundaries of the reference
        edges = np.flatnonzero(np.diff(v.astype(int)) != 0)
        dist = np.full(len(v), np.inf)
        for e in edges:
            te = 0.5 * (rt[e] + rt[e + 1])
            dist = np.minimum(dist, np.abs(rt - te))
        d = ec - rc  # cents
        err = v & (np.abs(d) > 50)
        ok_s = v & (np.abs(ecs - rc) <= 50)
        tot["ref_voiced"] += int(v.sum())
        tot["errors"] += int(err.sum())
        per_file[name] = {"voiced": int(v.sum()), "errors": int(err.sum()), "swift_errors": int((v & ~ok_s).sum())}
        cents_off += list(d[err])
        kind = error_kind(d)
        masks = {k: kind == name for k, name in _RATIO_KEYS.items()}
        masks.update(edge=dist <= 0.030, unvoiced=ev <= 0, low=1200 * np.log2(np.maximum(rf[:len(v)], 1e-3) / 80) < 0)
        masks["other_ratio"] = np.isin(kind, ["< 3 semitones", "other"])
        masks["unvoiced_not_edge"] = masks["unvoiced"] & ~masks["edge"]
        masks["edge_or_unvoiced"] = masks["unvoiced"] | masks["edge"]
        for k, m in masks.items():
            cls[k] += int((err & m).sum())
            swift_right[k] += int((err & m & ok_s).sum())
    return tot, cls, swift_right, per_file, np.array(cents_off)


def _run_positions(v):
    """Per reference frame: ``start`` / ``end`` (first / last 3 frames of a voiced run longer than 3), ``mid``,
    ``short`` (a run of <= 3 frames), or ``""`` (reference-unvoiced)."""
    pos = np.full(len(v), "", dtype=object)
    i = 0
    while i < len(v):
        if not v[i]:
            i += 1
            continue
        j = i
        while j < len(v) and v[j]:
            j += 1
        for q in range(i, j):
            pos[q] = "short" if j - i <= 3 else "start" if q - i < 3 else "end" if j - 1 - q < 3 else "mid"
        i = j
    return pos


def _cmnd_at(y, centre, period, width, max_lag):
    """CMND (:func:`tonehost.dsp.yin.yin_cmnd`, adaptive width) of the window of ``y`` (16 kHz, padded) whose span
    ``max(width, period) + period`` is centred on sample ``centre``; shape (max_lag + 2,)."""
    from tonehost.dsp.yin import window_length, yin_cmnd
    span = max(width, period) + period
    end = int(centre + span / 2)
    d, c = np.zeros(max_lag + 2), np.zeros(max_lag + 2)
    yin_cmnd(y, end - window_length(width, max_lag, True), width, max_lag, d, c, True)
    return c


def fall_prior_tracker(rate=5.0, cap=100.0, within_ms=40.0, min_aper=0.4):
    """``track_pitch(..., unvoiced_guess=True)`` (same frames, same guess, same alignment) with a phonation-offset
    prior on the unvoiced frames' guess: a frame whose aperiodicity (YIN's CMND at its period) exceeds ``min_aper``
    within ``within_ms`` after the last voiced frame gets its guess lowered ``min(rate * ms, cap)`` cents (``rate``
    0: the tracker's own guess). Evaluated, not adopted (see the module docstring).

    Returns
    -------
    callable
        ``(audio, sample_rate) -> (times s, f0 Hz, negative where unvoiced)``, as the trackers of
        :mod:`bench.pitch_peers`.
    """
    import math

    from tonehost.dsp.features import TrackerConfig, VoiceTracker, _CentreAligner
    from tonehost.dsp.resample import Resampler

    def track(x, sr):
        cfg = TrackerConfig()
        rs = Resampler(int(sr), cfg.sample_rate) if sr != cfg.sample_rate else None
        x = np.asarray(x, np.float64)
        delay = rs.delay_out() if rs is not None else 0.0
        tail = np.zeros(int(math.ceil(delay)) + cfg.window // 2 + 2 * cfg.hop + (rs.taps if rs is not None else 0))
        y = np.r_[rs.process(x), rs.process(tail)] if rs is not None else np.r_[x, tail]
        tr = VoiceTracker(cfg)
        tr.features_log = []
        fr = tr.process(y)
        aper = np.array([a[0] for a in tr.features_log])
        n, m = len(fr), cfg.guess_median
        raw = fr.raw_f0_hz.astype(np.float64)
        ext = np.r_[np.full(m - 1, raw[0]), raw]
        guess = np.median(np.lib.stride_tricks.sliding_window_view(ext, m), axis=1)
        k = np.arange(n)
        last = np.maximum.accumulate(np.where(fr.voiced, k, -(10 ** 9)))
        ms = (k - last) * 1000.0 * cfg.hop / cfg.sample_rate
        drop = np.where((ms <= within_ms) & (aper > min_aper), np.minimum(rate * ms, cap), 0.0)
        est = np.where(fr.voiced, fr.f0_hz, guess * 2.0 ** (-drop / 1200.0))
        avail = ((k + 1) * cfg.hop - delay) / cfg.sample_rate
        avail, est, _, _, voiced = _CentreAligner(cfg).push(avail, est, fr, True)
        t = avail - cfg.pitch_delay_s
        keep = (t >= 0) & (t < len(x) / sr)
        return t[keep], np.where(voiced, est, -est)[keep]
    return track


def fading_end(f0, fall_cents, jitter_cents=0.0, vibrato_cents=0.0, seed=0, sample_rate=16000):
    """A voice-like note (:func:`tonehost.dsp.features.voice_like`) whose last 60 ms fall ``fall_cents`` while
    fading 30 dB, then 0.1 s of silence, in -50 dB noise; optional jitter (smoothed noise, growing to
    ``jitter_cents`` over the fade) and 5.5 Hz vibrato. Returns ``(audio, f0 per sample)``; the fade is 0.30-0.36 s."""
    from tonehost.dsp.features import voice_like
    rng = np.random.default_rng(seed)
    n1, n2, n3 = int(0.3 * sample_rate), int(0.06 * sample_rate), int(0.1 * sample_rate)
    c = np.r_[np.zeros(n1), np.linspace(0, -fall_cents, n2), np.full(n3, -float(fall_cents))]
    c = c + vibrato_cents * np.sin(2 * np.pi * 5.5 * np.arange(len(c)) / sample_rate)
    if jitter_cents:
        w = np.convolve(rng.standard_normal(len(c)), np.ones(80) / np.sqrt(80), "same")
        c = c + jitter_cents * w * np.r_[np.full(n1, 0.2), np.linspace(0.2, 1, n2), np.ones(n3)]
    f = f0 * 2 ** (c / 1200)
    env = np.r_[np.ones(n1), 10 ** (-np.linspace(0, 30, n2) / 20), np.zeros(n3)]
    return voice_like(f, sample_rate) * env + 0.003 * rng.standard_normal(len(f)), f


def fall_prior(dev, ours) -> dict:
    """fda-dev RPA and synthetic fading-end shares (frames within 50 cents over the fade) of
    :func:`fall_prior_tracker` with and without the prior; the prior-free one must equal ``ours`` (checked)."""
    off, on = fall_prior_tracker(0.0), fall_prior_tracker()
    same = frames(dev, off)
    if abs(rpa(same) - rpa(ours)) > 1e-12:
        raise RuntimeError("fall_prior_tracker without the prior differs from track_pitch")
    res = {"fda-dev": {"own guess": rpa(same), "fall prior": rpa(frames(dev, on))}, "synthetic": {}}
    kinds = {"flat": (0, 0, 0), "flat, jitter": (0, 30, 0), "flat, vibrato": (0, 0, 50), "fall 100": (100, 0, 0),
             "fall 200/400": (200, 0, 0), "fall 200, jitter": (200, 30, 0)}
    for name, (fall, jit, vib) in kinds.items():
        shares = {"own guess": [], "fall prior": []}
        for f0 in (90.0, 110.0, 140.0, 180.0, 240.0, 330.0):
            for fl in ((200, 400) if fall == 200 and not jit else (fall,)):
                for seed in range(2):
                    x, f = fading_end(f0, fl, jit, vib, seed)
                    for key, fn in (("own guess", off), ("fall prior", on)):
                        t, est = fn(x, 16000)
                        m = (t > 0.30) & (t < 0.36)
                        truth = np.interp(t[m], np.arange(len(f)) / 16000, f)
                        shares[key].append(float(np.mean(np.abs(1200 * np.log2(np.abs(est[m]) / truth)) <= 50)))
        res["synthetic"][name] = {k: float(np.mean(v)) for k, v in shares.items()}
    return res


def headroom(dev, ours, swift) -> dict:
    """What is left to win on fda-dev and where (see the module docstring's ``--headroom``).

    Parameters
    ----------
    dev : list of (wav path, ref_times, ref_f0)
        The fda-dev items (:func:`bench.pitch_peers.load_sets`).
    ours, swift : list
        :func:`frames` of tonehost and swift-f0 on ``dev``.

    Returns
    -------
    dict
        ``positions``: {"POS/V|U": [frames, our errors, swift-f0's errors, ours only]} (V: we call it voiced);
        ``cmnd``: per error kind (``voiced`` / ``unvoiced``) the median CMND at the reference's and at our pitch
        and the share of frames where the reference's is deeper by more than 0.05; ``width``: per integration
        width, [voiced errors, of them fixed, voiced right frames, of them broken].
    """
    from scipy.signal import resample_poly

    from tonehost.dsp.features import TrackerConfig
    from tonehost.dsp.yin import _refine
    cfg = TrackerConfig()
    max_lag, sr16, pad = cfg.max_lag, cfg.sample_rate, 4000
    positions, cm, widths = {}, {"voiced": [], "unvoiced": []}, {}
    for (wav, _, _), (_, rt, rf, t, f), (_, _, _, ts, fs) in zip(dev, ours, swift):
        rv, rc, ev, ec = on_grid(rt, rf, t, f)
        _, _, _, ecs = on_grid(rt, rf, ts, fs)
        v = rv > 0
        err = v & (np.abs(ec - rc) > 50)
        err_s = v & (np.abs(ecs - rc) > 50)
        for i, p in enumerate(_run_positions(v)):
            if p:
                a = positions.setdefault(f"{p}/{'V' if ev[i] > 0 else 'U'}", [0, 0, 0, 0])
                a[0] += 1
                a[1] += int(err[i])
                a[2] += int(err_s[i])
                a[3] += int(err[i] and not err_s[i])
        x, sr = sf.read(wav, dtype="float64", always_2d=True)
        g = np.gcd(int(sr), sr16)
        y = np.r_[np.zeros(pad), resample_poly(x.mean(axis=1), sr16 // g, int(sr) // g), np.zeros(pad)]
        for i in np.flatnonzero(v):
            est = 10.0 * 2.0 ** (ec[i] / 1200.0)  # mir_eval's cents are relative to 10 Hz
            t_est, t_ref = sr16 / est, sr16 / rf[i]
            centre = pad + rt[i] * sr16
            if err[i] and t_est < max_lag - 2 and t_ref < max_lag - 2:
                c = _cmnd_at(y, centre, t_ref, cfg.width, max_lag)
                near = [c[max(2, int(tt * 2 ** (-50 / 1200))):int(tt * 2 ** (50 / 1200)) + 2].min()
                        for tt in (t_ref, t_est)]
                cm["voiced" if ev[i] > 0 else "unvoiced"].append(near)
            if ev[i] > 0 and t_est < max_lag - 2:
                for w in (128, 256, 400, 640):
                    c = _cmnd_at(y, centre, t_est, w, max_lag)
                    lo = max(cfg.min_lag, int(t_est * 2 ** (-200 / 1200)))
                    hi = min(max_lag - 1, int(t_est * 2 ** (200 / 1200)) + 1)
                    k = lo + int(np.argmin(c[lo:hi + 1]))
                    ok = abs(1200 * np.log2(sr16 / _refine(c, k, max_lag) / rf[i])) <= 50
                    a = widths.setdefault(w, [0, 0, 0, 0])
                    if err[i]:
                        a[0] += 1
                        a[1] += int(ok)
                    else:
                        a[2] += 1
                        a[3] += int(not ok)
    cmnd = {}
    for k, rows in cm.items():
        r = np.array(rows).reshape(-1, 2)
        cmnd[k] = {"frames": len(r), "median_cmnd_at_ref": float(np.median(r[:, 0])) if len(r) else None,
                   "median_cmnd_at_ours": float(np.median(r[:, 1])) if len(r) else None,
                   "ref_deeper_by_0.05": float(np.mean(r[:, 0] < r[:, 1] - 0.05)) if len(r) else None}
    return {"positions": positions, "cmnd": cmnd, "width": {str(w): a for w, a in widths.items()},
            "fall_prior": fall_prior(dev, ours)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shifts", action="store_true", help="dev RPA with tonehost's times shifted by -10..10 ms")
    ap.add_argument("--headroom", action="store_true",
                    help="where the errors lie, whether the CMND holds the reference's pitch, wider windows")
    ap.add_argument("-o", "--output", default="pitch_errors")
    args = ap.parse_args(argv)
    dev = load_sets(False)["fda-dev"]  # development files only
    cache = RESULTS / "pitch_errors_swift_dev.pkl"
    if cache.exists():
        swift = pickle.loads(cache.read_bytes())
    else:
        swift = frames(dev, tracker_swift)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(swift))
    ours = frames(dev, tracker_ours)
    res = {"files": [w.name for w, _, _ in dev], "rpa_tonehost": rpa(ours), "rpa_swift": rpa(swift)}
    tot, cls, sw, per_file, off = classify(ours, swift)
    res.update(totals=tot, classes=cls, swift_right_on_class=sw, per_file=per_file)
    print(f"fda-dev RPA tonehost {res['rpa_tonehost']:.4f}  swift-f0 {res['rpa_swift']:.4f}")
    print(f"ref-voiced frames {tot['ref_voiced']}, tonehost errors {tot['errors']} "
          f"({tot['errors'] / tot['ref_voiced']:.3f})")
    for k in cls:
        print(f"  {k:18s} {cls[k]:5d} ({cls[k] / max(tot['errors'], 1):.3f} of errors); swift-f0 right on {sw[k]}")
    h, e = np.histogram(off, bins=[-4000, -2000, -1400, -1000, -800, -600, -300, -100, -50, 50, 100, 300, 600, 800,
                                   1000, 1400, 2000, 4000])
    print("  cents off histogram:", ", ".join(f"[{a},{b}):{c}" for a, b, c in zip(e[:-1], e[1:], h)))
    for name, p in per_file.items():
        print(f"  {name}: {p}")
    if args.shifts:
        res["shift_rpa"] = {}
        for ms in (-10, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 10):
            res["shift_rpa"][ms] = {"tonehost": rpa(ours, ms / 1000.0), "swift-f0": rpa(swift, ms / 1000.0)}
            print(f"  shift {ms:+3d} ms: RPA tonehost {res['shift_rpa'][ms]['tonehost']:.4f}, "
                  f"swift-f0 {res['shift_rpa'][ms]['swift-f0']:.4f}")
    if args.headroom:
        res["headroom"] = h = headroom(dev, ours, swift)
        print("  errors by place in the reference's voiced runs (V/U: we call the frame voiced / unvoiced):")
        for k in sorted(h["positions"]):
            a = h["positions"][k]
            print(f"    {k:8s} frames {a[0]:4d}  tonehost errors {a[1]:3d}  swift-f0 errors {a[2]:3d}  "
                  f"tonehost only {a[3]:3d}")
        for k, c in h["cmnd"].items():
            print(f"  {k} errors: {c['frames']} frames, CMND within 50 cents of the reference (median) "
                  f"{c['median_cmnd_at_ref']:.2f} vs of ours {c['median_cmnd_at_ours']:.2f}; reference's dip "
                  f"deeper by > 0.05 on {c['ref_deeper_by_0.05']:.2f}")
        for w, a in h["width"].items():
            print(f"  integration width {w:>3s}: voiced errors fixed {a[1]}/{a[0]}, right frames broken {a[3]}/{a[2]}")
        fp = h["fall_prior"]
        print(f"  phonation-offset prior on the unvoiced guess: fda-dev RPA {fp['fda-dev']['own guess']:.4f} -> "
              f"{fp['fda-dev']['fall prior']:.4f}; synthetic fading ends, frames within 50 cents:")
        for name, v in fp["synthetic"].items():
            print(f"    {name:17s} {v['own guess']:.3f} -> {v['fall prior']:.3f}")
    print(f"wrote {save_json(args.output, res)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
