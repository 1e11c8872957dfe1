"""Per-block cost of the DDSP synth kernels at 48 kHz: 60 harmonics + 65-band filtered noise.

For block sizes 64/128/256 it renders ``--seconds`` of audio block by block with moving controls (one frame
every ``--hop`` samples, 50 frames/s at 48 kHz by default) and times every block call (harmonic_block +
noise_block, the frame updates they do included). Reports p50/p99/max in microseconds and as % of one core
(cost / block duration). It also reports the amortised cost of the same loop run entirely inside Numba (no
Python call overhead, as from the engine's cfunc callback), and the cost of a 16 kHz -> 48 kHz resampler block.

Usage::

    .venv/bin/python -m bench.synth_cost [--seconds 20] [--json bench/results/synth_cost.json]
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
from numba import njit

from bench._common import RESULTS, save_json
from tonehost.dsp.harmonic import harmonic_block, make_frame_buffer, make_harmonic_state
from tonehost.dsp.noise import make_noise_frame_buffer, make_noise_state, noise_block
from tonehost.dsp.resample import Resampler, resample_block

SR = 48000


def _controls(n_frames, K, B, seed=0):
    rng = np.random.default_rng(seed)
    frames = make_frame_buffer(n_frames, K)
    frames[:, 0] = 110.0 * 2 ** (rng.integers(0, 24, n_frames) / 12)  # jumps across two octaves
    frames[:, 1] = rng.uniform(0.1, 0.5, n_frames)
    frames[:, 2:] = rng.random((n_frames, K)) ** 2
    noise = make_noise_frame_buffer(n_frames, B)
    noise[:] = rng.random((n_frames, B)) * 0.01
    return frames, noise


@njit(nogil=True)
def _loop(out, block, n_blocks, frames, noise_frames, hs, ns, hop):
    tmp = np.zeros(block, dtype=np.float32)
    rp = 0
    rq = 0
    nf = frames.shape[0]
    for b in range(n_blocks):
        rp = harmonic_block(out, block, frames, rp, nf, hs, 48000.0, hop)
        rq = noise_block(tmp, block, noise_frames, rq, nf, ns, hop)
        for i in range(block):
            out[i] += tmp[i]
    return rp


def measure(block: int, seconds: float, hop: int, K: int = 60, B: int = 65) -> dict:
    n_blocks = int(seconds * SR) // block
    n_frames = n_blocks * block // hop + 2
    frames, noise_frames = _controls(n_frames, K, B)
    hs, ns = make_harmonic_state(K), make_noise_state(B, seed=1)
    out = np.zeros(block, dtype=np.float32)
    tmp = np.zeros(block, dtype=np.float32)
    # warm up (JIT compile / cache load)
    harmonic_block(out, block, frames, 0, n_frames, make_harmonic_state(K), float(SR), hop)
    noise_block(tmp, block, noise_frames, 0, n_frames, make_noise_state(B), hop)
    times = np.empty(n_blocks)
    rp = rq = 0
    clock = time.perf_counter_ns
    for b in range(n_blocks):
        t0 = clock()
        rp = harmonic_block(out, block, frames, rp, n_frames, hs, float(SR), hop)
        rq = noise_block(tmp, block, noise_frames, rq, n_frames, ns, hop)
        times[b] = clock() - t0
    us = times / 1000.0
    block_us = block / SR * 1e6
    # whole loop inside numba (no Python dispatch per block)
    _loop(out, block, 10, frames, noise_frames, make_harmonic_state(K), make_noise_state(B), hop)
    t0 = time.perf_counter()
    _loop(out, block, n_blocks, frames, noise_frames, make_harmonic_state(K), make_noise_state(B), hop)
    inner_us = (time.perf_counter() - t0) / n_blocks * 1e6
    # 16k -> 48k resampler block (block/3 input samples)
    rs = Resampler(16000, SR)
    xin = np.random.default_rng(2).normal(size=max(block // 3, 1))
    rout = np.zeros(rs.max_out(len(xin)))
    resample_block(xin, len(xin), rout, rs.state, rs.bank, rs.L, rs.M)
    rt = np.empty(2000)
    for i in range(len(rt)):
        t0 = clock()
        resample_block(xin, len(xin), rout, rs.state, rs.bank, rs.L, rs.M)
        rt[i] = clock() - t0
    res = {
        "block": block,
        "block_us": block_us,
        "n_blocks": n_blocks,
        "harmonics": K,
        "noise_bands": B,
        "hop": hop,
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "max_us": float(us.max()),
        "p50_pct_core": float(np.percentile(us, 50) / block_us * 100),
        "p99_pct_core": float(np.percentile(us, 99) / block_us * 100),
        "numba_loop_mean_us": inner_us,
        "numba_loop_pct_core": inner_us / block_us * 100,
        "resample_16k_to_48k_p50_us": float(np.percentile(rt, 50) / 1000),
    }
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="audio rendered per block size (default 20)")
    ap.add_argument("--hop", type=int, default=960, help="samples per control frame at 48 kHz (default 960)")
    ap.add_argument("--json", default=str(RESULTS / "synth_cost.json"))
    args = ap.parse_args(argv)
    results = []
    print(f"{'block':>5} {'p50 us':>8} {'p99 us':>8} {'max us':>8} {'p50 %core':>9} {'p99 %core':>9} "
          f"{'numba-loop us':>13} {'rs16->48 us':>11}")
    for block in (64, 128, 256):
        r = measure(block, args.seconds, args.hop)
        results.append(r)
        print(f"{block:>5} {r['p50_us']:>8.1f} {r['p99_us']:>8.1f} {r['max_us']:>8.1f} {r['p50_pct_core']:>9.2f} "
              f"{r['p99_pct_core']:>9.2f} {r['numba_loop_mean_us']:>13.1f} {r['resample_16k_to_48k_p50_us']:>11.1f}")
    r128 = next(r for r in results if r["block"] == 128)
    ok = r128["p99_pct_core"] < 5.0
    print(f"target < 5% of one core at 128 frames (p99): {'met' if ok else 'NOT met'} "
          f"({r128['p99_pct_core']:.2f}%)")
    out = save_json(Path(args.json), {"sample_rate": SR, "machine": platform.platform(),
                                      "processor": platform.processor(), "results": results, "target_met_128": ok})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
