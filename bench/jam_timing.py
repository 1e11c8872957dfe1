"""How much time the live partner has, and how much it needs: ``tonehost jam`` and ``tonehost tap2drum``.

Two parts, on random-weight checkpoints in the hosted formats at the hosted widths (the generation cost does not
depend on the weights):

1. **Cost vs budget.** Median wall time of each model call the live parts make, next to the time the music gives
   it (the reference, from the same run's tempo): a 1- and 2-bar MusicRNN answer (basic_rnn, melody_rnn,
   chord_pitches_improv) after a 2-bar phrase, a drum_kit_rnn bar (budget: the bar it is generated during), a
   tap2drum window decode for 1-4 bars (budget: half a sixteenth step, the time from the window's close to the
   first hit; and the window), a mel_2bar_small window decode (budget: the window before it). For an answer the
   budget is the time from the pause's detection to the next bar line, anywhere from 0 to a bar: the share of
   pause positions that would make it late is ``cost / bar``.
2. **Live margins.** The jam pipeline (:class:`~tonehost.realtime.pipelines.jam.LiveSession` with the shipped
   violin and a hosted-width basic_rnn) paced in real time like the audio worker, a player stopping at evenly
   spread positions of the bar: for each answer the measured margin (bar line minus detection minus generation),
   whether it was late, and the worker's own cost per block.

    .venv/bin/python -m bench.jam_timing            # about 2 minutes
    .venv/bin/python -m bench.jam_timing --quick    # fewer repeats and 3 live answers

Writes ``bench/results/jam_timing.json``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bench._common import save_json, tmpdir

SR = 48000
BLOCK = 128


def _median_ms(fn, repeat: int) -> float:
    fn()  # first run: ONNX Runtime's set-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000.0 * statistics.median(times)


def _phrase(model, bars: int = 2):
    from tonehost.exports.note_sequence import NoteSequence, Tempo

    conv = model.data_converter
    seq = NoteSequence(tempos=[Tempo(0.0, 120.0)])
    rng = np.random.default_rng(0)
    for k in range(8 * bars):
        seq.add_note(int(rng.integers(max(conv.min_pitch, 55), min(conv.max_pitch, 79))), k * 0.25, k * 0.25 + 0.2)
    q = seq.quantize(4)
    q.total_quantized_steps = 16 * bars
    return q


def costs(work, qpm: float, repeat: int) -> list[dict]:
    from tonehost.exports.convert.music_rnn import write_random_checkpoint
    from tonehost.exports.convert.music_vae_standins import random_sequences, write_standin
    from tonehost.exports.note_sequence import NoteSequence, Tempo
    from tonehost.realtime.pipelines.jam import CallAndResponse, DrumGroove
    from tonehost.realtime.pipelines.music_rnn import MusicRNN
    from tonehost.realtime.pipelines.music_vae import MusicVAE

    beat = 60.0 / qpm * 1000.0
    bar, step = 4 * beat, beat / 4
    rows = []
    for name in ("basic_rnn", "melody_rnn", "chord_pitches_improv"):
        model = MusicRNN(write_random_checkpoint(work / name, name, seed=1))
        primer = _phrase(model)
        chords = ["C", "G", "Am", "F"] if model.chord_encoder is not None else None
        rng = np.random.default_rng(0)
        for bars in (1, 2):
            ms = _median_ms(lambda: CallAndResponse.generate(model, primer, 16 * bars, 1.0, chords, rng), repeat)
            rows.append({"what": f"{name} answer, {bars} bar{'s' if bars > 1 else ''} after a 2-bar phrase",
                         "ms": ms, "budget": "pause detection -> next bar line (0 .. 1 bar)", "budget_ms": bar,
                         "late_share": ms / bar})
    drums = DrumGroove(MusicRNN(write_random_checkpoint(work / "drum_kit_rnn", "drum_kit_rnn", seed=2)), seed=0)
    drums.stream.feed_sequence(drums.primer)
    ms = _median_ms(lambda: drums._draw(16), repeat)
    rows.append({"what": "drum_kit_rnn bar (16 steps, stream state kept)", "ms": ms,
                 "budget": "the bar before it", "budget_ms": bar, "late_share": ms / bar})
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 4):
        name = f"tap2drum_{n}bar"
        vae = MusicVAE(write_standin(work / name, name, scale=False, seed=n), seed=0)
        seq = NoteSequence(tempos=[Tempo(0.0, qpm)])
        for k in rng.choice(16 * n, size=5 * n, replace=False):
            seq.add_note(38, k * step / 1000, k * step / 1000 + 0.05, 100)
        seq.total_time = 16 * n * step / 1000
        ms = _median_ms(lambda: vae.groove(seq), repeat)
        rows.append({"what": f"{name} window decode ({n} bar{'s' if n > 1 else ''})", "ms": ms,
                     "budget": "half a sixteenth step (window close -> first hit)", "budget_ms": step / 2,
                     "window_ms": n * bar, "late_share": None})
    vae = MusicVAE(write_standin(work / "mel_2bar_small", "mel_2bar_small", scale=False, seed=7), seed=0)
    z = vae.encode(random_sequences("mel_2bar_small", np.random.default_rng(1), n=1))
    ms = _median_ms(lambda: vae.decode(z), repeat)
    rows.append({"what": "mel_2bar_small window decode (jam --vae)", "ms": ms, "budget": "the window before it",
                 "budget_ms": 2 * bar, "late_share": ms / (2 * bar)})
    return rows


def live(work, qpm: float, answers: int) -> dict:
    """The jam pipeline in real time (paced like the audio worker), the player stopping at spread positions."""
    from tonehost.exports.convert.music_rnn import write_random_checkpoint
    from tonehost.realtime.pipelines.instrument import DDSP
    from tonehost.realtime.pipelines.jam import CallAndResponse, InstrumentVoice, LiveSession
    from tonehost.realtime.pipelines.listen import PlayedEvent
    from tonehost.realtime.pipelines.music_rnn import MusicRNN

    model = MusicRNN(write_random_checkpoint(work / "basic_rnn_live", "basic_rnn", seed=3))
    s = LiveSession(SR, qpm, count_in_bars=1, click="off")
    s.instrument = InstrumentVoice(DDSP(sample_rate=SR).pipeline())
    part = CallAndResponse(model, pause_beats=1.0, answer_bars=1, seed=0)
    s.add_part(part)
    s.warm_up(BLOCK)
    g = s.grid
    events = []
    bar = 0
    for k in range(answers):
        # a one-bar phrase of quarter notes whose last note ends at an offset spread over a bar
        end_shift = (k / max(1, answers)) * g.bar_samples
        for i, p in enumerate((60, 64, 67, 72)):
            a = g.bar_start(bar) + int(i * g.beat_samples + end_shift)
            events += [PlayedEvent("on", p, 90, a), PlayedEvent("off", p, 0, a + int(0.3 * g.beat_samples))]
        bar += 5  # phrase bar, pause, answer bar, room to listen again
    pending = sorted(events, key=lambda e: e.sample)

    class Recorder:
        def events(self, end):
            nonlocal pending
            out = [e for e in pending if e.sample < end]
            pending = pending[len(out):]
            return out

    s.recorder = Recorder()
    total = g.bar_start(bar) + int(g.bar_samples)
    t0 = time.perf_counter()
    x = np.zeros(BLOCK, np.float32)
    for k in range(total // BLOCK):
        wait = t0 + k * BLOCK / SR - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        s.process(x)
    st = s.stats()
    s.stop()
    rows = [{"answer": a["index"], "pause_to_bar_line_ms": 1000.0 * (a["downbeat"] - a["detect"]) / SR,
             "gen_ms": a["gen_ms"], "margin_ms": a["margin_ms"], "late": a["late"]} for a in part.answers]
    return {"answers": rows, "late": st["answers_late"], "worker_us_p50": st["worker_us_p50"],
            "worker_us_p99": st["worker_us_p99"], "block_ms": 1000.0 * BLOCK / SR}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 repeats, 3 live answers")
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per model call (default 7)")
    ap.add_argument("--answers", type=int, default=8, help="live answers (default 8)")
    ap.add_argument("--qpm", type=float, default=120.0, help="tempo (default 120)")
    ap.add_argument("--json", default="jam_timing", help="results file (default bench/results/jam_timing.json)")
    args = ap.parse_args(argv)
    repeat, answers = (3, 3) if args.quick else (args.repeat, args.answers)
    work = tmpdir()
    print(f"== model calls vs the time the music gives them ({args.qpm:g} qpm, hosted widths, 1 thread)")
    rows = costs(work, args.qpm, repeat)
    for r in rows:
        share = f"; late for {100 * r['late_share']:.1f}% of pause positions" if r["late_share"] is not None and \
            "answer" in r["what"] else ""
        window = f" (window {r['window_ms']:.0f} ms)" if "window_ms" in r else ""
        print(f"  {r['what']:<58} {r['ms']:7.1f} ms  budget {r['budget_ms']:7.1f} ms{window}: "
              f"{r['budget']}{share}")
    print(f"== live: the jam pipeline in real time, {answers} answers, the pause ending anywhere in the bar")
    lv = live(work, args.qpm, answers)
    for a in lv["answers"]:
        print(f"  answer {a['answer']}: pause -> bar line {a['pause_to_bar_line_ms']:6.0f} ms, generated in "
              f"{a['gen_ms']:5.1f} ms, margin {a['margin_ms']:6.0f} ms{'  LATE' if a['late'] else ''}")
    print(f"  late {lv['late']} of {len(lv['answers'])}; worker per block p50 {lv['worker_us_p50']:.0f} us, p99 "
          f"{lv['worker_us_p99']:.0f} us (block {lv['block_ms']:.2f} ms)")
    path = save_json(args.json, {"qpm": args.qpm, "costs": rows, "live": lv})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
