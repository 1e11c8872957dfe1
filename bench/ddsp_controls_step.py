"""Cost of one DDSP controls step (ONNX Runtime, 1 thread) for the exported fixture instruments.

Usage: ``.venv/bin/python -m bench.ddsp_controls_step [--frames 2000]``; prints per-step median / p99 in
microseconds and the share of one core at the model's frame rate, writes ``bench/results/ddsp_controls_step.json``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from bench._common import ROOT, save_json
from tonehost.exports.contracts import ddsp as C
from tonehost.exports.convert.ddsp_export import convert_ddsp
from tonehost.exports.onnx_session import make_session

SOURCES = {"tfjs-graph (magenta.js style)": ROOT / "tests/fixtures/ddsp_tfjs",
           "tflite (DDSP-VST style)": ROOT / "tests/fixtures/ddsp_tflite/model.tflite"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=2000)
    args = ap.parse_args()
    results = {}
    for label, src in SOURCES.items():
        t0 = time.perf_counter()
        model, spec = convert_ddsp(src)
        export_s = time.perf_counter() - t0
        info = C.ContractInfo.from_metadata({p.key: p.value for p in model.metadata_props})
        sess = make_session(model)
        rng = np.random.default_rng(0)
        feed = {C.INPUT_F0: np.zeros((1, 1), np.float32), C.INPUT_PW: np.zeros((1, 1), np.float32),
                C.INPUT_STATE: C.zero_state(info.state_size)}
        times = []
        for i in range(args.frames + 100):
            feed[C.INPUT_F0][0, 0] = 0.4 + 0.1 * rng.random()
            feed[C.INPUT_PW][0, 0] = 0.5 + 0.3 * rng.random()
            t = time.perf_counter()
            out = sess.run(None, feed)
            dt = time.perf_counter() - t
            feed[C.INPUT_STATE] = out[3]
            if i >= 100:
                times.append(dt * 1e6)
        times = np.array(times)
        r = {"params": spec.n_params, "export_s": round(export_s, 3), "median_us": float(np.median(times)),
             "p99_us": float(np.percentile(times, 99)), "frame_rate": info.frame_rate,
             "core_share_percent": float(np.median(times) * info.frame_rate / 1e4)}
        results[label] = r
        print(f"{label}: {spec.n_params} params, export {export_s:.2f} s, step median {r['median_us']:.0f} us, "
              f"p99 {r['p99_us']:.0f} us, {r['core_share_percent']:.1f} % of a core at {info.frame_rate:g} fps")
    save_json("ddsp_controls_step", results)


if __name__ == "__main__":
    main()
