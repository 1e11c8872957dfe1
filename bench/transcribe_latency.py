"""Note latency of live transcription through JACK: from a note's onset in the input audio to its note-on event
leaving the transcriber, p50/p95, beside the architectural floor.

A JACK "player" client in a separate harness process (so it never contends for the transcriber's GIL) plays a
piano recording (resampled to the server rate) in real time into tonehost's engine input (the GIL-free callback
and input ring that ``transcribe --live`` uses); the live runner
(:class:`tonehost.realtime.pipelines.transcriber.LiveTranscriber`, worker thread) reads it. The harness logs every
played block's first sample index with ``CLOCK_MONOTONIC`` (the clock behind this process's ``perf_counter``), so
the wall time at which any input sample was played is known; the few blocks of silence the transcriber reads
before the first played block are found by correlation. For each note-on event two latencies are computed:

* ``pipeline``: emitted time minus the play time of the event's own frame (``frame * 32 ms`` of input) - valid
  for any weights, including the random ones used when no --checkpoint is given;
* ``true onset``: emitted time minus the play time of the matching reference onset (same pitch, within 50 ms) -
  meaningful with real weights only.

Floor: 3 frames of receptive field + half a window (1024 samples) at 16 kHz = 160 ms, + the resampler's group delay
(the player runs in the same JACK cycle as tonehost's capture, so no period is added; a sound card adds its own
input buffer). Needs a running JACK server (``jackd -d dummy -r 48000 -p 128``).

    .venv/bin/python -m bench.transcribe_latency [--checkpoint onsets_frames_uni] [--audio FILE] [--seconds 25]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time

import numpy as np
import soundfile as sf

from bench._common import ROOT, module_command, tmpdir
from bench.transcribe_common import DATA, model_path, reference_notes, save


def harness(signal_path: str, out_path: str) -> None:
    """Child process: a JACK client that plays the signal into tonehost's input once told "go" on stdin, and logs
    each played block's first sample index with ``CLOCK_MONOTONIC`` (the clock of the parent's ``perf_counter``).
    Being a separate process, it never contends with the transcriber for the GIL."""
    import jack
    from tonehost.realtime.testing import jack as jackutil

    mono = np.load(signal_path).astype(np.float32)
    player = jack.Client("tonehost_bench_player", no_start_server=True)
    out_port = player.outports.register("out")
    log = []
    pos = [0]
    go = threading.Event()
    finished = threading.Event()

    @player.set_process_callback
    def play(frames):
        t = time.clock_gettime(time.CLOCK_MONOTONIC)
        buf = out_port.get_array()
        if not go.is_set():
            buf[:] = 0
            return
        i = pos[0]
        chunk = mono[i:i + frames]
        buf[:len(chunk)] = chunk
        buf[len(chunk):] = 0
        if i < len(mono):
            log.append((i, t))
        else:
            finished.set()
        pos[0] = i + frames

    with player:
        player.connect(out_port, jackutil.engine_ports()[0][0])
        print("ready", flush=True)
        sys.stdin.readline()
        go.set()
        finished.wait(timeout=len(mono) / player.samplerate + 30)
    np.savez(out_path, index=np.array([a for a, _ in log], np.int64), t=np.array([b for _, b in log]))


class _Tee:
    """The engine as the transcriber's source, keeping a copy of what it read (to align the two time bases)."""

    def __init__(self, engine, keep: int):
        self.engine, self.copy, self.n = engine, np.zeros(keep, np.float32), 0

    def read_input(self, buf):
        n = self.engine.read_input(buf)
        m = min(n, len(self.copy) - self.n)
        if m > 0:
            self.copy[self.n:self.n + m] = buf[:m]
            self.n += m
        return n

    def wait_block(self, timeout):
        return self.engine.wait_block(timeout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="checkpoint id or directory (default: random weights)")
    ap.add_argument("--audio", default=str(DATA / "FMP_C1_F12_Bach_BWV846_Sibelius-Tracks.wav"))
    ap.add_argument("--seconds", type=float, default=25.0, help="play at most this much of the file")
    ap.add_argument("--harness", nargs=2, metavar=("SIGNAL", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.harness:
        harness(*args.harness)
        return
    import jack
    from tonehost.exports.onnx_session import make_session
    from tonehost.realtime.pipelines.transcriber import LiveTranscriber, latency_floor_s, to_mono

    if abs(time.perf_counter() - time.clock_gettime(time.CLOCK_MONOTONIC)) > 1e-3:
        raise SystemExit("perf_counter is not CLOCK_MONOTONIC here: the harness timestamps cannot be compared")
    tmp = tmpdir()
    model, what = model_path(args.checkpoint, tmp)
    sess = make_session(model)

    from tonehost.realtime.testing import jack as jackutil
    from tonehost.realtime.audio.engine import Engine, EngineConfig

    probe = jack.Client("tonehost_bench_probe", no_start_server=True)
    sr, period = probe.samplerate, probe.blocksize
    probe.close()
    audio, fsr = sf.read(args.audio, dtype="float32", always_2d=True)
    mono = to_mono(audio)[:int(args.seconds * fsr)]
    if fsr != sr:
        from tonehost.dsp.resample import resample
        mono = resample(mono, fsr, sr, compensate_delay=True).astype(np.float32)
    np.save(f"{tmp}/signal.npy", mono)
    # capture through tonehost's own engine (GIL-free callback -> input ring), as `transcribe --live` does
    src = Engine(EngineConfig(sample_rate=sr, block_size=period, in_channels=1, out_channels=0,
                              input_ring_seconds=4.0))
    tee = _Tee(src, keep=3 * sr)
    events = []
    live = LiveTranscriber(sess, tee, sr, on_event=events.append, poll_s=0.002)
    with src:
        jackutil.isolate_input(jackutil.engine_ports()[0][0])
        child = subprocess.Popen(module_command("bench.transcribe_latency", "--harness", f"{tmp}/signal.npy",
                                                f"{tmp}/log.npz"),
                                 cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if child.stdout.readline().strip() != "ready":
            raise SystemExit("the JACK player harness did not start")
        time.sleep(0.1)
        src.read_input(np.zeros(1 << 18, np.float32))  # drop the silence queued before the start
        live.start()
        child.stdin.write("go\n")
        child.stdin.flush()
        child.wait(timeout=args.seconds + 60)
        time.sleep(0.3)
        live.stop()
        engine_stats = src.stats()
    tr = live.transcriber
    print(f"model calls {tr.model_calls}, {tr.model_seconds / max(1, tr.model_calls) * 1000:.1f} ms each, frames {tr.frames_done}")
    hl = np.load(f"{tmp}/log.npz")
    log_i, log_t = hl["index"].astype(float), hl["t"]
    # silence that reached the transcriber between the drain and "go": align its input with the played signal
    p = int(np.argmax(np.abs(mono) > 1e-3))  # the first sound in the file
    w = mono[p:p + sr // 4]
    lags = np.arange(0, max(0, min(sr, tee.n - p - len(w))))
    score = np.array([float(np.dot(tee.copy[p + k:p + k + len(w)], w)) for k in lags])
    offset = int(lags[int(np.argmax(score))]) if len(score) and score.max() > 0 else 0
    print(f"transcriber input leads the played signal by {offset} samples of silence")

    def played_at(seconds_in):
        s = seconds_in * sr - offset
        k = max(0, np.searchsorted(log_i, s, side="right") - 1)
        return log_t[k] + (s - log_i[k]) / sr

    ons = [e for e in events if e.kind == "on"]
    pipe = np.array([e.emitted - played_at(e.time) for e in ons]) * 1000
    ref_iv, ref_p = reference_notes("FMP_C1_F12_Bach_BWV846_Sibelius-Tracks") if "FMP" in args.audio \
        else (np.zeros((0, 2)), np.zeros(0))
    true = []
    for e in ons:
        cand = [on for (on, _), p in zip(ref_iv, ref_p) if p == e.pitch and abs(on - e.time) < 0.05]
        if cand:
            true.append((e.emitted - played_at(min(cand, key=lambda c: abs(c - e.time)))) * 1000)
    rs_delay = 32 / 16000 if sr != 16000 else 0.0
    floor_ms = (latency_floor_s() + rs_delay) * 1000
    res = {"engine": engine_stats, "model": what, "jack_samplerate": sr, "jack_period": period, "note_ons": len(ons),
           "pipeline_latency_ms": {"p50": round(float(np.percentile(pipe, 50)), 1),
                                   "p95": round(float(np.percentile(pipe, 95)), 1),
                                   "max": round(float(pipe.max()), 1)} if len(pipe) else None,
           "true_onset_latency_ms": {"n": len(true), "p50": round(float(np.percentile(true, 50)), 1),
                                     "p95": round(float(np.percentile(true, 95)), 1)} if true else {"n": 0},
           "floor_ms": round(floor_ms, 1),
           "floor_parts_ms": {"receptive_field_3_frames": 96.0, "half_window_1024": 64.0,
                              "resampler": rs_delay * 1000},
           "jack_period_ms_not_in_floor": round(period / sr * 1000, 2)}
    print(f"model: {what}; JACK {sr} Hz / {period}; {len(ons)} note-ons")
    if len(pipe):
        print(f"pipeline latency (event frame -> note-on out): p50 {res['pipeline_latency_ms']['p50']} ms, "
              f"p95 {res['pipeline_latency_ms']['p95']} ms, max {res['pipeline_latency_ms']['max']} ms")
    if true:
        print(f"true-onset latency ({len(true)} matched): p50 {res['true_onset_latency_ms']['p50']} ms, "
              f"p95 {res['true_onset_latency_ms']['p95']} ms")
    print(f"architectural floor: {floor_ms:.1f} ms (3 frames RF 96 + half window 64 + resampler "
          f"{rs_delay * 1000:.0f}); the harness plays in the same JACK cycle as tonehost reads, so no period "
          f"is added here (a sound card adds its own input buffer, {period / sr * 1000:.1f} ms per period)")
    print("->", save("transcribe_latency", res))


if __name__ == "__main__":
    main()
