"""The latency measures of ``bench.ddsp_jack`` checked on synthetic instrument outputs whose event times are known.

A jitter figure (p95 - p5 of the latency) is only as good as the measure's own spread: a measure that reads one
event time differently depending on the waveform's phase reports jitter the instrument does not have. Here every
signal is built with a known event time and the measures are applied to it; what they report minus the truth is
their own error, whose p95 - p5 is their own jitter and whose median is their bias.

- **pitch steps** (:func:`synthetic_step`): a harmonic synthesiser's output (one continuous phase, the cumulative
  f0, as :mod:`tonehost.dsp.harmonic`) stepping ``f_from`` -> ``f_to`` in a linear 0.5 ms f0 ramp centred at a
  known fractional sample; random start phase, harmonic balances around the violin's (measured on its output at
  440 and 660 Hz, each harmonic scaled by 0.7-1.3), the balance switching 3 ms either side of the change, an
  amplitude ripple (the model's after a step, 8 ms, 30%; also without ripple) and a dip of up to 50% near the
  change, filtered noise (200-4000 Hz) at -25 dB (the violin's output is 25-29 dB over its harmonic fit's
  residual). Pairs 440 -> 660 Hz (the violin an octave up, as in ``bench.ddsp_jack``) and 220 -> 330 Hz.
  Measures: ``step_arrival`` (the period measure used so far), ``step_phase_arrival`` (the fundamental's phase
  lines), the 330-vs-220 Hz partial energy;
- **onsets** (:func:`synthetic_onset`): silence (a -90 dB floor), then the tone at a known fractional sample in a
  0.5 ms ramp to 0.35-0.5 of its level (the live instrument's first frame), the rest 4 ms later; random start
  phase; 220, 440, 489 and 660 Hz (the pitches the violin starts notes on in ``bench.ddsp_jack``). Measures: the
  1 ms envelope reaching -20 dB (``detect_arrivals``, used so far) and ``onset_start``.

    .venv/bin/python -m bench.jitter_measures [--events 200] [--seed 0]

Writes ``bench/results/jitter_measures.json``.
"""
from __future__ import annotations

import argparse

import numpy as np

from bench._common import RESULTS, save_json
from tonehost.realtime.pipelines.instrument import detect_arrivals
from tonehost.realtime.pipelines.live_voice import onset_start, step_arrival, step_phase_arrival

SR = 48000
# the violin's harmonic balance (amplitude per harmonic, fundamental = 1) on its output at 440 and 660 Hz
VIOLIN_440 = np.array([1.0, 0.38, 0.16, 0.09, 0.12, 0.2, 0.06, 0.03])
VIOLIN_660 = np.array([1.0, 0.45, 0.41, 0.28, 0.32, 0.12, 0.08, 0.09])


def _balance(base: np.ndarray, rng, n: int = 20) -> np.ndarray:
    tail = base[-1] * (np.arange(len(base) + 1, n + 1) / len(base)) ** -2.0
    return np.concatenate([base, tail]) * rng.uniform(0.7, 1.3, n)


def _noise(rng, n: int) -> np.ndarray:
    from scipy.signal import butter, sosfilt
    v = sosfilt(butter(2, [200.0, 4000.0], "bandpass", fs=SR, output="sos"), rng.standard_normal(n))
    return v / max(float(np.sqrt(np.mean(v * v))), 1e-12)


def _harmonics(phase: np.ndarray, f0: np.ndarray, amps_at) -> np.ndarray:
    y = np.zeros(len(phase))
    for k in range(1, 21):
        y += np.where(k * f0 < 0.45 * SR, amps_at(k - 1) * np.sin(k * phase), 0.0)
    return y


def synthetic_step(rng, f_from: float = 440.0, f_to: float = 660.0, noise_db: float = -25.0, ramp: int = 24,
                   ripple: float = 0.3) -> tuple[np.ndarray, float]:
    """A harmonic instrument's output stepping ``f_from`` -> ``f_to`` (see the module docstring); ``ripple``: the
    depth of the 125 Hz amplitude ripple (0: none, and no dip either).

    Returns
    -------
    (numpy.ndarray float64, float)
        The signal (0.4 s at 48 kHz) and the change time (s): the middle of the f0 ramp.
    """
    n = int(0.4 * SR)
    tc = 0.2 * SR + rng.uniform(0.0, 1.0)
    t = np.arange(n, dtype=np.float64)
    f0 = f_from + (f_to - f_from) * np.clip((t - (tc - ramp / 2.0)) / ramp, 0.0, 1.0)
    phase = rng.uniform(0.0, 2.0 * np.pi) + 2.0 * np.pi * np.cumsum(f0) / SR
    b1, b2 = _balance(VIOLIN_440, rng), _balance(VIOLIN_660, rng)
    tb = tc + rng.uniform(-3.0, 3.0) * SR / 1000.0
    mix = np.clip((t - tb) / (0.002 * SR) + 0.5, 0.0, 1.0)
    y = _harmonics(phase, f0, lambda k: b1[k] + (b2[k] - b1[k]) * mix)
    td = tc + rng.uniform(-4.0, 2.0) * SR / 1000.0
    env = (1.0 + ripple * np.sin(2.0 * np.pi * t / (0.008 * SR) + rng.uniform(0.0, 2.0 * np.pi))) \
        * (1.0 - rng.uniform(0.0, 0.5) * (ripple > 0) * np.exp(-(((t - td) / (0.002 * SR)) ** 2)))
    y *= env
    rms = float(np.sqrt(np.mean(y * y)))
    y += _noise(rng, n) * env * rms * 10.0 ** (noise_db / 20.0)
    return 0.02 * y / rms, tc / SR


def synthetic_onset(rng, f0: float = 440.0, noise_db: float = -25.0, ramp: int = 24) -> tuple[np.ndarray, float]:
    """A harmonic instrument's output starting a note after silence (see the module docstring).

    Returns
    -------
    (numpy.ndarray float64, float)
        The signal (0.4 s at 48 kHz) and the onset (s): where its first amplitude ramp starts.
    """
    n = int(0.4 * SR)
    t0 = 0.1 * SR + rng.uniform(0.0, 1.0)
    t = np.arange(n, dtype=np.float64) - t0
    a1 = rng.uniform(0.35, 0.5)
    env = np.where(t > 0.004 * SR, a1 + (1.0 - a1) * np.clip((t - 0.004 * SR) / (0.004 * SR), 0.0, 1.0),
                   a1 * np.clip(t / ramp, 0.0, 1.0))
    phase = rng.uniform(0.0, 2.0 * np.pi) + 2.0 * np.pi * f0 * np.clip(t, 0.0, None) / SR
    bal = _balance(VIOLIN_440, rng)
    y = _harmonics(phase, np.full(n, f0), lambda k: bal[k]) * env
    rms = float(np.sqrt(np.mean(y[int(0.2 * SR):] ** 2)))
    y += _noise(rng, n) * env * rms * 10.0 ** (noise_db / 20.0)
    y += rng.standard_normal(n) * rms * 10.0 ** (-90.0 / 20.0)
    return 0.02 * y / rms, t0 / SR


def _stats(err_ms) -> dict:
    e = np.asarray(err_ms, float)
    ok = e[np.isfinite(e)]
    p5, p50, p95 = np.percentile(ok, [5, 50, 95]) if len(ok) else (np.nan,) * 3
    return {"n": int(len(ok)), "missed": int(len(e) - len(ok)), "bias_ms": float(p50), "spread_ms": float(p95 - p5),
            "range_ms": float(np.ptp(ok)) if len(ok) else float("nan")}


def check_steps(events: int, seed: int, pairs=((440.0, 660.0), (220.0, 330.0)), ripples=(0.0, 0.3)) -> dict:
    """Every step measure's error on ``events`` synthetic steps per pair and ripple depth:
    ``{"FROM->TO ripple R": {measure: stats}}``."""
    rng = np.random.default_rng(seed)
    out = {}
    for (fa, fb), rip in ((p, r) for r in ripples for p in pairs):
        err = {"period": [], "phase": [], "partials": []}
        for _ in range(events):
            y, tc = synthetic_step(rng, fa, fb, ripple=rip)
            ts = tc - 0.005  # the "input step": the measures look for the change after it
            truth = 1000.0 * (tc - ts)
            fi, fo = (fa / 2.0, fb / 2.0) if fa == 440.0 else (fa, fb)
            err["period"].append(step_arrival(y, SR, ts, fi, fo) - truth)
            err["phase"].append(step_phase_arrival(y, SR, ts, fi, fo) - truth)
            err["partials"].append(detect_arrivals(y, SR, 0.05, ts)["pitch_step_ms"] - truth)
        out[f"{fa:.0f}->{fb:.0f} ripple {rip:.1f}"] = {k: _stats(v) for k, v in err.items()}
    return out


def check_onsets(events: int, seed: int, pitches=(220.0, 440.0, 489.0, 660.0)) -> dict:
    """Every onset measure's error on ``events`` synthetic onsets per pitch: ``{pitch: {measure: stats}}``."""
    rng = np.random.default_rng(seed + 1)
    out = {}
    for f in pitches:
        err = {"envelope": [], "start": []}
        for _ in range(events):
            y, t0 = synthetic_onset(rng, f)
            t_in = t0 - 0.002  # the "input onset"
            truth = 1000.0 * (t0 - t_in)
            err["envelope"].append(detect_arrivals(y, SR, t_in, 0.35)["onset_ms"] - truth)
            err["start"].append(onset_start(y, SR, t_in, 0.35) - truth)
        out[f"{f:.0f}"] = {k: _stats(v) for k, v in err.items()}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200, help="events per pitch pair / onset pitch (default 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default=str(RESULTS / "jitter_measures.json"))
    args = ap.parse_args(argv)
    steps, onsets = check_steps(args.events, args.seed), check_onsets(args.events, args.seed)
    print(f"latency measures on synthetic events with known times ({args.events} per case): error = measured - "
          "true, ms (bias = p50, spread = p95 - p5, range = max - min)")
    for kind, res in (("pitch step", steps), ("onset", onsets)):
        for case, ms in res.items():
            for name, st in ms.items():
                print(f"  {kind:10s} {case:20s} {name:9s}: bias {st['bias_ms']:+6.3f}  spread {st['spread_ms']:.3f}  "
                      f"range {st['range_ms']:.3f}  ({st['n']} found, {st['missed']} missed)")
    out = save_json(args.output, {"events": args.events, "seed": args.seed, "steps": steps, "onsets": onsets,
                                  "command": "python -m bench.jitter_measures"
                                  + (f" --events {args.events}" if args.events != 200 else "")
                                  + (f" --seed {args.seed}" if args.seed else "")})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
