"""CPU cost of the voice tracker's YIN kernels (dsp/yin.py), the block-cached difference function against the kernel
before it, measured in the same run on real speech, and the check that the tracker's frames stay the same.

The reference is the same :func:`tonehost.dsp.yin.yin_cmnd` given a ``d`` without room for its block cache: then
it sums every lag afresh (``_direct_d``, bit for bit the kernel before the cache). :func:`reference_kernel` makes
:class:`~tonehost.dsp.features.VoiceTracker` (and so ``track_pitch``) allocate such a ``d``.

- ``kernels``: CPU microseconds per 2 ms frame of each kernel (old / new ``yin_cmnd``, ``yin_frame``,
  ``predominant_lag``, ``tail_aperiodicity``) run over every frame of the audio;
- ``tracker``: process CPU time of ``dsp.features.track_pitch`` (tracker + resampling to 16 kHz) per audio second,
  old and new kernel alternately (best of ``--repeats``);
- ``equality``: ``track_pitch_blocks`` with old and new kernel on every FDA file (dev and held out) and on
  MDB-stem-synth: frames whose f0, confidence or voicing differ at all, voicing flips, largest f0 difference
  (cents) and confidence difference.

The audio is FDA's 50 sentences (resampled to 16 kHz) concatenated and repeated to ``--seconds`` (nothing is
fitted here, so dev and held-out files serve alike as test signals). Timings are process CPU time (one thread)
on a shared machine: compare old and new within one run.

    .venv/bin/python -m bench.tracker_speed [--seconds 600] [--repeats 3] [--skip-equality]

Measured (``--seconds 600 --repeats 2``, 2-core box under load, process CPU): yin_cmnd 14.97 -> 6.58 us per frame,
yin_frame 16.06 -> 7.13, predominant_lag 2.77 (3.2 before its one-pass partials; not switched by the reference),
track_pitch 1.077 -> 0.820 CPU s per audio minute; 51 files, 64801 frames, none differing.

Writes bench/results/tracker_speed.json.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import time

import numpy as np
import soundfile as sf
from numba import njit
from scipy.signal import lfilter, resample_poly

from bench._common import SHARED_DATA, save_json

DATA = SHARED_DATA / "voice"
SR = 16000


def reference_scratch(max_lag: int, width: int | None = None):
    """``(d, cmnd)`` as before the block cache: ``d`` of ``3 * max_lag + 2`` (room for the reversed window copy
    only), so :func:`tonehost.dsp.yin.yin_cmnd` runs its reference path."""
    return np.zeros(3 * max_lag + 2), np.zeros(max_lag + 2)


@contextlib.contextmanager
def reference_kernel():
    """Within the block, new :class:`~tonehost.dsp.features.VoiceTracker` objects use the reference kernel."""
    import tonehost.dsp.features as features
    saved = features.scratch
    features.scratch = reference_scratch
    try:
        yield
    finally:
        features.scratch = saved


def fda_audio(seconds: float | None = None) -> np.ndarray:
    """FDA's 50 sentences at 16 kHz, concatenated (and repeated to ``seconds`` when given)."""
    xs = []
    for w in sorted((DATA / "fda").glob("*.wav")):
        x, sr = sf.read(w, always_2d=True)
        g = math.gcd(int(sr), SR)
        xs.append(resample_poly(x.mean(axis=1), SR // g, int(sr) // g))
    x = np.concatenate(xs)
    if seconds is not None:
        x = np.tile(x, int(math.ceil(seconds * SR / len(x))))[:int(seconds * SR)]
    return x


# ------------------------------------------------------------------------------------------------ kernels

def _kernel_loops():
    from tonehost.dsp.yin import predominant_lag, tail_aperiodicity, yin_cmnd, yin_frame

    @njit(nogil=True)
    def run_cmnd(h, window, width, max_lag, hop, d, cmnd):
        for end in range(window, h.shape[0], hop):
            yin_cmnd(h, end - window, width, max_lag, d, cmnd, True)

    @njit(nogil=True)
    def run_frame(h, window, width, min_lag, max_lag, hop, d, cmnd, periods):
        k = 0
        for end in range(window, h.shape[0], hop):
            periods[k] = yin_frame(h, end - window, width, min_lag, max_lag, 0.15, 0.0, 0.25, d, cmnd, True)[0]
            k += 1

    @njit(nogil=True)
    def run_pred(h, window, width, min_lag, max_lag, hop, d, cmnd, periods, ms, mc):
        k = 0
        s = 0.0
        for end in range(window, h.shape[0], hop):
            yin_cmnd(h, end - window, width, max_lag, d, cmnd, True)
            period = periods[k]
            k += 1
            span = min(window, int(max(width, period) + 2 * period))
            s += predominant_lag(h, end - span, span, cmnd, period, min_lag, max_lag, ms, mc)
        return s

    @njit(nogil=True)
    def run_tail(h, window, hop, periods, n):
        k = 0
        s = 0.0
        for end in range(window, h.shape[0], hop):
            s += tail_aperiodicity(h, end, n, periods[k])
            k += 1
        return s

    return run_cmnd, run_frame, run_pred, run_tail


def kernel_costs(x: np.ndarray) -> dict:
    """CPU us per frame of the kernels over every frame of ``x`` (16 kHz), old and new ``yin_cmnd``."""
    from tonehost.dsp.features import TrackerConfig
    from tonehost.dsp.yin import scratch
    c = TrackerConfig()
    a = 1.0 - 2.0 * math.pi * c.dc_cutoff_hz / c.sample_rate
    h = lfilter([1.0, -1.0], [1.0, -a], x)  # the tracker's DC blocker
    run_cmnd, run_frame, run_pred, run_tail = _kernel_loops()
    n = (len(h) - c.window + c.hop - 1) // c.hop
    periods = np.zeros(n + 1)
    new = scratch(c.max_lag)
    old = reference_scratch(c.max_lag)
    warm = h[:c.window + 64 * c.hop]

    def cost(fn, *args):
        fn(warm, *args)
        t0 = time.process_time()
        fn(h, *args)
        return 1e6 * (time.process_time() - t0) / n

    g = (c.window, c.width, c.max_lag, c.hop)
    out = {"frames": n}
    out["yin_cmnd_old_us"] = cost(run_cmnd, *g, *old)
    out["yin_cmnd_new_us"] = cost(run_cmnd, *g, *new)
    f = (c.window, c.width, c.min_lag, c.max_lag, c.hop)
    out["yin_frame_old_us"] = cost(run_frame, *f, *old, periods)
    out["yin_frame_new_us"] = cost(run_frame, *f, *new, periods)
    cm = cost(run_cmnd, *g, *new)
    out["predominant_lag_us"] = cost(run_pred, *f, *new, periods, c.missing_share, c.max_sub_cmnd) - cm
    out["tail_aperiodicity_us"] = cost(run_tail, c.window, c.hop, periods, c.tail)
    return out


# ------------------------------------------------------------------------------------------------ tracker

def tracker_costs(x: np.ndarray, repeats: int) -> dict:
    """Process CPU s per audio s of ``track_pitch`` on ``x`` (16 kHz), old and new kernel alternately (best of
    ``repeats``)."""
    from tonehost.dsp.features import track_pitch
    track_pitch(x[:SR], SR)
    with reference_kernel():
        track_pitch(x[:SR], SR)
    old, new = [], []
    for _ in range(repeats):
        with reference_kernel():
            t0 = time.process_time()
            track_pitch(x, SR)
            old.append(time.process_time() - t0)
        t0 = time.process_time()
        track_pitch(x, SR)
        new.append(time.process_time() - t0)
    dur = len(x) / SR
    return {"audio_s": dur, "old_cpu_s_per_audio_s": min(old) / dur, "new_cpu_s_per_audio_s": min(new) / dur,
            "old_cpu_s_per_audio_min": 60 * min(old) / dur, "new_cpu_s_per_audio_min": 60 * min(new) / dur,
            "speedup": min(old) / min(new)}


# ------------------------------------------------------------------------------------------------ equality

def _frames(x, sr):
    from tonehost.dsp.features import track_pitch_blocks
    parts = list(track_pitch_blocks([x], sr, unvoiced_guess=True))
    return [np.concatenate([p[i] for p in parts]) for i in range(5)]


def equality() -> dict:
    """Old vs new kernel, frame by frame, through ``track_pitch_blocks`` on every FDA and MDB file."""
    files = sorted((DATA / "fda").glob("*.wav")) + sorted((DATA / "mdb_stem_synth").glob("*.wav"))
    tot = {"files": 0, "frames": 0, "frames_differing": 0, "voicing_flips": 0, "max_f0_cents": 0.0,
           "max_confidence_diff": 0.0, "max_loudness_diff_db": 0.0}
    for w in files:
        x, sr = sf.read(w, dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        new = _frames(x, sr)
        with reference_kernel():
            old = _frames(x, sr)
        assert all(len(a) == len(b) for a, b in zip(old, new))
        tot["files"] += 1
        tot["frames"] += len(new[0])
        differs = np.zeros(len(new[0]), bool)
        for a, b in zip(old, new):
            differs |= a != b
        tot["frames_differing"] += int(differs.sum())
        tot["voicing_flips"] += int(np.sum(old[4] != new[4]))
        f_old, f_new = np.abs(old[1].astype(np.float64)), np.abs(new[1].astype(np.float64))
        both = (f_old > 0) & (f_new > 0)
        if both.any():
            c = np.max(np.abs(1200 * np.log2(f_new[both] / f_old[both])))
            tot["max_f0_cents"] = max(tot["max_f0_cents"], float(c))
        tot["max_confidence_diff"] = max(tot["max_confidence_diff"], float(np.max(np.abs(old[2] - new[2]))))
        tot["max_loudness_diff_db"] = max(tot["max_loudness_diff_db"], float(np.max(np.abs(old[3] - new[3]))))
    return tot


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600.0, help="audio length for the timings")
    ap.add_argument("--repeats", type=int, default=3, help="track_pitch runs per kernel (best counts)")
    ap.add_argument("--skip-equality", action="store_true")
    ap.add_argument("-o", "--output", default="tracker_speed")
    args = ap.parse_args(argv)
    x = fda_audio(args.seconds)
    res = {"seconds": args.seconds, "kernels": kernel_costs(x)}
    k = res["kernels"]
    print(f"kernels, CPU us per frame ({k['frames']} frames): yin_cmnd {k['yin_cmnd_old_us']:.2f} -> "
          f"{k['yin_cmnd_new_us']:.2f}, yin_frame {k['yin_frame_old_us']:.2f} -> {k['yin_frame_new_us']:.2f}, "
          f"predominant_lag {k['predominant_lag_us']:.2f}, tail_aperiodicity {k['tail_aperiodicity_us']:.2f}",
          flush=True)
    t = res["tracker"] = tracker_costs(x, args.repeats)
    print(f"track_pitch, CPU s per audio minute: {t['old_cpu_s_per_audio_min']:.3f} -> "
          f"{t['new_cpu_s_per_audio_min']:.3f} ({t['speedup']:.2f}x)", flush=True)
    if not args.skip_equality:
        e = res["equality"] = equality()
        print(f"equality: {e['files']} files, {e['frames']} frames, {e['frames_differing']} differ, "
              f"{e['voicing_flips']} voicing flips, max f0 diff {e['max_f0_cents']:.3g} cents, max confidence "
              f"diff {e['max_confidence_diff']:.3g}")
    print(f"wrote {save_json(args.output, res)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
