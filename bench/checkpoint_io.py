"""Benchmark the checkpoint code on an Onsets-and-Frames-sized checkpoint (54 variables, 62,540,992 bytes).

Writes the float32 and q2 (uint16) checkpoints in the tfjs layout, reads them, serves them from a local HTTP
server and fetches them (cold, resumed after a dropped connection, cache hit with hash verification). Prints
the numbers and writes ``bench/results/checkpoint_io.json``.

    .venv/bin/python -m bench.checkpoint_io
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._common import save_json
from tonehost.exports.checkpoints.download import fetch_checkpoint
from tonehost.exports.tfjs import read_layers_checkpoint, write_layers_checkpoint
from tonehost.realtime.testing.checkpoint_server import CheckpointServer

L = "cudnn_lstm/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell"


def oaf_shapes() -> dict[str, tuple]:
    """The 54 variables of Magenta.js's Onsets and Frames (REFERENCE.md section 4)."""
    shapes = {}
    for s in ("onsets", "frame", "velocity"):
        for i, (cin, cout) in enumerate([(1, 48), (48, 48), (48, 96)]):
            shapes[f"{s}/conv{i}/weights"] = (3, 3, cin, cout)
            for b in ("beta", "moving_mean", "moving_variance"):
                shapes[f"{s}/conv{i}/BatchNorm/{b}"] = (cout,)
        shapes[f"{s}/fc_end/weights"] = (5472, 768)
        shapes[f"{s}/fc_end/biases"] = (768,)
    for head, n_in in (("frame/activation_probs", 768), ("velocity/onset_velocities", 768),
                       ("onsets/onset_probs", 384), ("frame/frame_probs", 384)):
        shapes[f"{head}/weights"] = (n_in, 88)
        shapes[f"{head}/biases"] = (88,)
    shapes[f"onsets/{L}/kernel"] = (1152, 1536)
    shapes[f"onsets/{L}/bias"] = (1536,)
    shapes[f"frame/{L}/kernel"] = (560, 1536)
    shapes[f"frame/{L}/bias"] = (1536,)
    return shapes


def timed(fn, repeat=3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None) -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    shapes = oaf_shapes()
    rng = np.random.default_rng(0)
    weights = {k: (rng.standard_normal(v) * 0.05).astype(np.float32) for k, v in shapes.items()}
    n_params = sum(w.size for w in weights.values())
    results = {"variables": len(weights), "parameters": int(n_params)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, q in (("onsets_frames_uni", None), ("onsets_frames_uni_q2", "uint16")):
            t_write, manifest = timed(lambda: write_layers_checkpoint(tmp / "srv" / name, weights, quantize=q), 1)
            files = manifest[0]["paths"]
            nbytes = sum((tmp / "srv" / name / f).stat().st_size for f in files)
            t_read, got = timed(lambda: read_layers_checkpoint(tmp / "srv" / name))
            err = max(float(np.abs(got[k] - weights[k]).max()) for k in weights)
            results[name] = {"shards": len(files), "bytes": nbytes, "write_s": t_write, "read_s": t_read,
                             "read_MB_per_s": nbytes / t_read / 1e6, "max_abs_error": err}
        srv = CheckpointServer(tmp / "srv").start()
        try:
            url = f"{srv.url}/onsets_frames_uni"
            cache = tmp / "cache"
            t0 = time.perf_counter()
            fetch_checkpoint(url, cache_dir=cache, progress=False)
            t_cold = time.perf_counter() - t0
            t_hit, _ = timed(lambda: fetch_checkpoint(url, cache_dir=cache, progress=False))
            srv.add_fault("/onsets_frames_uni/group1-shard7of15", "drop", 2_000_000)
            t0 = time.perf_counter()
            fetch_checkpoint(url, cache_dir=tmp / "cache2", progress=False, backoff=0.01)
            t_drop = time.perf_counter() - t0
            results["fetch_localhost"] = {
                "cold_s": t_cold, "cold_MB_per_s": results["onsets_frames_uni"]["bytes"] / t_cold / 1e6,
                "cache_hit_with_sha256_s": t_hit, "with_dropped_connection_s": t_drop,
                "resume_ranges": srv.requests("/onsets_frames_uni/group1-shard7of15")}
        finally:
            srv.stop()
    print(json.dumps(results, indent=2))
    save_json("checkpoint_io", results)


if __name__ == "__main__":
    main()
