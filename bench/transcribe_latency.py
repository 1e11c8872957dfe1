"""Note latency of live transcription through JACK: from a note's onset in the input audio to its note-on event
leaving the transcriber, p50/p95, beside the architectural floor.

A JACK "player" client plays a piano recording (resampled to the server rate) in real time into a "capture"
client's input port; the capture callback pushes blocks into a queue that the live runner
(:class:`realtime.transcriber.LiveTranscriber`, worker thread) reads like the engine's input ring. Every played
block's first sample index and ``perf_counter`` time are logged, so the wall time at which any input sample was
played is known. For each note-on event two latencies are computed:

* ``pipeline``: emitted time minus the play time of the event's own frame (``frame * 32 ms`` of input) - valid
  for any weights, including the random ones used when no --checkpoint is given;
* ``true onset``: emitted time minus the play time of the matching reference onset (same pitch, within 50 ms) -
  meaningful with real weights only.

Floor: 3 frames of receptive field + half a window (1024 samples) at 16 kHz = 160 ms, + the resampler's group delay
+ one JACK period. Needs a running JACK server (``jackd -d dummy -r 48000 -p 128``).

    .venv/bin/python bench/transcribe_latency.py [--checkpoint onsets_frames_uni] [--audio FILE] [--seconds 25]
"""
from __future__ import annotations

import argparse
import threading
import time

import numpy as np
import soundfile as sf

from transcribe_common import DATA, model_path, reference_notes, save, tmpdir


def main() -> None:
    import jack
    from realtime.transcriber import LiveTranscriber, latency_floor_s, make_session, to_mono

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="checkpoint id or directory (default: random weights)")
    ap.add_argument("--audio", default=str(DATA / "FMP_C1_F12_Bach_BWV846_Sibelius-Tracks.wav"))
    ap.add_argument("--seconds", type=float, default=25.0, help="play at most this much of the file")
    args = ap.parse_args()
    tmp = tmpdir()
    model, what = model_path(args.checkpoint, tmp)
    sess = make_session(model)

    from realtime import jack as jackutil
    from realtime.engine import Engine, EngineConfig

    player = jack.Client("tonehost_bench_player", no_start_server=True)
    sr, period = player.samplerate, player.blocksize
    audio, fsr = sf.read(args.audio, dtype="float32", always_2d=True)
    mono = to_mono(audio)[:int(args.seconds * fsr)]
    if fsr != sr:
        from dsp.resample import resample
        mono = resample(mono, fsr, sr, compensate_delay=True).astype(np.float32)
    out_port = player.outports.register("out")
    # capture through tonehost's own engine (GIL-free callback -> input ring), as `transcribe --live` does
    src = Engine(EngineConfig(samplerate=sr, blocksize=period, in_channels=1, out_channels=0,
                              input_ring_seconds=4.0))
    log = []  # (first sample index of the block, perf_counter at the callback)
    pos = [0]
    finished = threading.Event()
    go = threading.Event()  # the player stays silent until wiring is done, so sample 0 is the same for both

    @player.set_process_callback
    def play(frames):
        t = time.perf_counter()
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

    events = []
    live = LiveTranscriber(sess, src, sr, on_event=events.append, poll_s=0.002)
    with player, src:
        in_name = jackutil.engine_ports()[0][0]
        jackutil.isolate_input(in_name)
        player.connect(out_port, in_name)
        time.sleep(0.1)
        src.read_input(np.zeros(1 << 18, np.float32))  # drop the silence queued before the start
        go.set()
        live.start()
        finished.wait(timeout=args.seconds + 30)
        time.sleep(0.3)
        live.stop()
        engine_stats = src.stats()
    tr = live.transcriber
    print(f"model calls {tr.model_calls}, {tr.model_seconds / max(1, tr.model_calls) * 1000:.1f} ms each, frames {tr.frames_done}")
    log_i = np.array([a for a, _ in log], float)
    log_t = np.array([b for _, b in log])

    def played_at(seconds_in):
        s = seconds_in * sr
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
    floor_ms = (latency_floor_s() + rs_delay + period / sr) * 1000
    res = {"engine": engine_stats, "model": what, "jack_samplerate": sr, "jack_period": period, "note_ons": len(ons),
           "pipeline_latency_ms": {"p50": round(float(np.percentile(pipe, 50)), 1),
                                   "p95": round(float(np.percentile(pipe, 95)), 1),
                                   "max": round(float(pipe.max()), 1)} if len(pipe) else None,
           "true_onset_latency_ms": {"n": len(true), "p50": round(float(np.percentile(true, 50)), 1),
                                     "p95": round(float(np.percentile(true, 95)), 1)} if true else {"n": 0},
           "floor_ms": round(floor_ms, 1),
           "floor_parts_ms": {"receptive_field_3_frames": 96.0, "half_window_1024": 64.0,
                              "resampler": rs_delay * 1000, "jack_period": round(period / sr * 1000, 2)}}
    print(f"model: {what}; JACK {sr} Hz / {period}; {len(ons)} note-ons")
    if len(pipe):
        print(f"pipeline latency (event frame -> note-on out): p50 {res['pipeline_latency_ms']['p50']} ms, "
              f"p95 {res['pipeline_latency_ms']['p95']} ms, max {res['pipeline_latency_ms']['max']} ms")
    if true:
        print(f"true-onset latency ({len(true)} matched): p50 {res['true_onset_latency_ms']['p50']} ms, "
              f"p95 {res['true_onset_latency_ms']['p95']} ms")
    print(f"architectural floor: {floor_ms:.1f} ms (3 frames RF 96 + half window 64 + resampler "
          f"{rs_delay * 1000:.0f} + period {period / sr * 1000:.1f})")
    print("->", save("transcribe_latency", res))


if __name__ == "__main__":
    main()
