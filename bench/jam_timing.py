"""How much time the live partner has, and how much it needs: ``tonehost jam`` and ``tonehost tap2drum``.

Costs are *process CPU time* (what one free core would take; every model runs on one ONNX Runtime thread): the
machines these benches run on are shared, and wall time there measures the neighbours as much as the code. Wall
time is printed next to it, with the load average.

1. **Model calls vs the time the music gives them.** For each melody model (the shipped ``basic_rnn_folk`` and
   random-weight stand-ins at the hosted widths of basic_rnn, melody_rnn and chord_pitches_improv; the cost does
   not depend on the weights): a whole 1- and 2-bar answer after a 2-bar phrase (what a non-speculative answer
   costs after the pause), and what the answer costs at the phrase's last note-off as ``jam`` computes it now
   (:class:`~tonehost.realtime.pipelines.jam.CallAndResponse`: the primer through the prefix cache, so only the
   steps the last note added, then the first answer step). Also a drum_kit_rnn bar (budget: the bar before
   it), tap2drum windows (the whole encode + decode; and streamed as ``tap2drum`` runs it: the close to the first
   decoded step, budget half a sixteenth step, then each further step, budget a step) and a mel_2bar_small
   window (budget: the window before it).
2. **Answer margins.** The jam pipeline (:class:`~tonehost.realtime.pipelines.jam.LiveSession` with the shipped
   DDSP violin, as ``jam`` plays) answering a one-bar phrase whose last note ends at ``--positions`` evenly
   spread places of the bar (1-beat pause, 1-bar answers, 120 qpm), per model. The audio worker is paced in
   real time whenever a generator has work (so the generator races the music as in the engine) and skips ahead
   while none has (nothing can be late then). Per answer: the margin (the bar line it is due on, minus when its
   first step was drawn, from the moment the plan was handed to the generator), the same with the generator's
   CPU time instead of wall time, and whether it was late (first step not drawn by its bar line: moved a bar) or
   had late steps. drum_kit_rnn: the margin of each generated bar in a ``--drums`` groove. Printed as min / p5 /
   p50 per model.
3. **tap2drum live** (streamed: the encoder's forward pass fed while the window is played, the decoder one step at
   a time, each step's hits scheduled at once): 1-, 2- and 4-bar stand-ins at the hosted widths, taps every other
   window with one on the window's last step, paced in real time while the generator works: close -> first step
   (wall, generator CPU) against its half-step budget, the smallest margin of any step, late (dropped) hits.
4. **The piano listener** (``jam --listen piano``): CPU seconds per second of audio for the streaming
   transcriber fed 128-sample blocks at 48 kHz (a piano recording of the shared data), one model frame per call
   (what pushing every audio block ran) vs the listener's 4-frame calls.

    .venv/bin/python -m bench.jam_timing            # about 6 minutes
    .venv/bin/python -m bench.jam_timing --quick    # 3 repeats, 4 pause positions, no tap2drum/vae rows

Writes ``bench/results/jam_timing.json``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from bench._common import SHARED_DATA, save_json, tmpdir

SR = 48000
BLOCK = 128
MELODY_MODELS = ("basic_rnn_folk", "basic_rnn", "melody_rnn", "chord_pitches_improv")


def _load() -> str:
    try:
        a, b, c = os.getloadavg()
        return f"load average {a:.1f} {b:.1f} {c:.1f} on {os.cpu_count()} cores"
    except OSError:
        return "load average unknown"


def _timed(fn, repeat: int) -> tuple[float, float]:
    """Median (CPU ms, wall ms) of ``fn()`` over ``repeat`` runs after one untimed run."""
    fn()
    cpu, wall = [], []
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return 1000.0 * statistics.median(cpu), 1000.0 * statistics.median(wall)


def _model(work, name: str):
    from tonehost.exports.convert.music_rnn import write_random_checkpoint
    from tonehost.realtime.pipelines.music_rnn import MusicRNN

    if name == "basic_rnn_folk":
        return MusicRNN(offline=True)
    return MusicRNN(write_random_checkpoint(work / name, name, seed=1))


def _phrase_notes(model, bars: int = 2):
    """``(start_s, end_s, pitch, velocity)``: eighth notes over ``bars`` bars at 120 qpm, in the model's range."""
    conv = model.data_converter
    rng = np.random.default_rng(0)
    return [(k * 0.25, k * 0.25 + 0.2, int(rng.integers(max(conv.min_pitch, 55), min(conv.max_pitch, 79))), 90)
            for k in range(8 * bars)]


def _chords(model):
    return ["C", "G", "Am", "F"] if model.chord_encoder is not None else None


def costs(work, qpm: float, repeat: int, quick: bool) -> list[dict]:
    from tonehost.exports.convert.music_rnn import write_random_checkpoint
    from tonehost.exports.convert.music_vae_standins import random_sequences, write_standin
    from tonehost.exports.note_sequence import NoteSequence, Tempo
    from tonehost.realtime.pipelines.jam import AnswerPlan, CallAndResponse, DrumGroove, prepare_melody
    from tonehost.realtime.pipelines.music_rnn import MusicRNN
    from tonehost.realtime.pipelines.music_vae import MusicVAE

    beat = 60.0 / qpm * 1000.0
    bar, step = 4 * beat, beat / 4
    rows = []
    for name in MELODY_MODELS:
        model = _model(work, name)
        notes = _phrase_notes(model)
        conv = model.data_converter
        primer, _ = prepare_melody(notes, qpm, conv.min_pitch, conv.max_pitch)
        chords = _chords(model)
        rng = np.random.default_rng(0)
        for bars in (1, 2):
            cpu, wall = _timed(lambda: CallAndResponse.generate(model, primer, 16 * bars, 1.0, chords, rng), repeat)
            rows.append({"model": name, "what": f"{name}: whole answer, {bars} bar{'s' if bars > 1 else ''} "
                         "after a 2-bar phrase", "cpu_ms": cpu, "wall_ms": wall,
                         "budget": "pause confirmed -> next bar line (0 .. 1 bar)", "budget_ms": bar})
        # jam's plan at the last note-off: the phrase without its last note was planned at the note-off before
        part = CallAndResponse(model, pause_beats=1, answer_bars=1, seed=0, chords=chords)
        samples = []
        for _ in range(repeat + 1):
            part.cache = type(part.cache)(model)
            part.plan(AnswerPlan(part._version, 1, 0), notes[:-1], qpm, 4, 16)
            plan = part.plan(AnswerPlan(part._version, 1, 0), notes, qpm, 4, 16)
            samples.append((plan.cpu_first, plan.t_first - plan.t_start, plan.fed_steps))
        samples = samples[1:]
        rows.append({"model": name, "what": f"{name}: jam's plan at the last note-off, to the first answer step",
                     "cpu_ms": 1000.0 * statistics.median(s[0] for s in samples),
                     "wall_ms": 1000.0 * statistics.median(s[1] for s in samples),
                     "fed_steps": samples[0][2], "primer_steps": plan.primer_steps,
                     "budget": "last note-off -> next bar line after the pause (>= the pause)",
                     "budget_ms": beat})
        part.close()
    drums = DrumGroove(MusicRNN(write_random_checkpoint(work / "drum_kit_rnn", "drum_kit_rnn", seed=2)), seed=0)
    drums.stream.feed_sequence(drums.primer)
    cpu, wall = _timed(lambda: drums._draw(16), repeat)
    rows.append({"model": "drum_kit_rnn", "what": "drum_kit_rnn: a bar (16 steps, stream state kept)",
                 "cpu_ms": cpu, "wall_ms": wall, "budget": "the bar before it", "budget_ms": bar})
    drums.close()
    if quick:
        return rows
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 4):
        name = f"tap2drum_{n}bar"
        vae = MusicVAE(write_standin(work / name, name, scale=False, seed=n), seed=0)
        seq = NoteSequence(tempos=[Tempo(0.0, qpm)])
        for k in rng.choice(16 * n, size=5 * n, replace=False):
            seq.add_note(38, k * step / 1000, k * step / 1000 + 0.05, 100)
        seq.total_time = 16 * n * step / 1000
        cpu, wall = _timed(lambda: vae.groove(seq), repeat)
        rows.append({"model": name, "what": f"{name}: whole window, encode + decode ({n} bar{'s' if n > 1 else ''})",
                     "cpu_ms": cpu, "wall_ms": wall, "budget": "what the close waited for before tap2drum streamed",
                     "budget_ms": step / 2, "window_ms": n * bar})
        rows += _tap2drum_stream_costs(vae, seq, n, step, bar, repeat)
    vae = MusicVAE(write_standin(work / "mel_2bar_small", "mel_2bar_small", scale=False, seed=7), seed=0)
    z = vae.encode(random_sequences("mel_2bar_small", np.random.default_rng(1), n=1))
    cpu, wall = _timed(lambda: vae.decode(z), repeat)
    rows.append({"model": "mel_2bar_small", "what": "mel_2bar_small: window decode (jam --vae)", "cpu_ms": cpu,
                 "wall_ms": wall, "budget": "the window before it", "budget_ms": 2 * bar})
    return rows


def _tap2drum_stream_costs(vae, seq, n: int, step: float, bar: float, repeat: int) -> list[dict]:
    """tap2drum as ``TapToDrums`` runs it: the forward encoder fed while the window is played, so at the close
    only the last forward step, the backward pass, mu, the decoder's initial state and its first step remain
    (then one decoder step per grid step). Median CPU and wall ms."""
    T = vae.num_steps
    x = vae._groove_windows(seq).x
    first, rest = [], []
    for k in range(repeat + 1):
        enc = vae.streamed_encoder()
        enc.feed(x[:, :T - 1])
        c, t = time.process_time(), time.perf_counter()
        stream = vae.groove_stream(seq, encoder=enc)
        stream.next()
        c1, t1 = time.process_time(), time.perf_counter()
        while not stream.done:
            stream.next()
        c2, t2 = time.process_time(), time.perf_counter()
        if k:  # the first run sets ONNX Runtime up
            first.append((c1 - c, t1 - t))
            rest.append(((c2 - c1) / (T - 1), (t2 - t1) / (T - 1)))
    name = f"tap2drum_{n}bar"
    return [{"model": name, "what": f"{name}: streamed, close -> first step ready",
             "cpu_ms": 1000.0 * statistics.median(f[0] for f in first),
             "wall_ms": 1000.0 * statistics.median(f[1] for f in first),
             "budget": "half a sixteenth step (window close -> earliest first hit)", "budget_ms": step / 2,
             "window_ms": n * bar},
            {"model": name, "what": f"{name}: streamed, each further step",
             "cpu_ms": 1000.0 * statistics.median(r[0] for r in rest),
             "wall_ms": 1000.0 * statistics.median(r[1] for r in rest),
             "budget": "a sixteenth step (step s sounds from s - 0.5 steps on)", "budget_ms": step,
             "window_ms": n * bar}]


def tap2drum_margins(work, qpm: float, bars: int, windows: int, seed: int = 0) -> dict:
    """``tonehost tap2drum``'s pipeline (:class:`~tonehost.realtime.pipelines.jam.TapToDrums`, hosted-width
    stand-in): ``windows`` windows of taps, every other window (one tap on the window's last step, where the close
    leaves the least time), each followed by its groove. The worker is paced in real time while the generator has
    work (feeding the encoder, decoding) and skips ahead while it has none. Per groove: the time from the close to
    the first decoded step (wall and the generator thread's CPU), its budget, the smallest lead of any step over
    its earliest hit (margin), and the hits dropped as late. Every other groove's last tap comes late in the last
    step, after the speculative z (the close then runs the last forward step and the backward pass)."""
    from tonehost.exports.convert.music_vae_standins import write_standin
    from tonehost.realtime.pipelines.jam import LiveSession, TapToDrums
    from tonehost.realtime.pipelines.listen import PlayedEvent, ReplayRecorder
    from tonehost.realtime.pipelines.music_vae import MusicVAE

    name = f"tap2drum_{bars}bar"
    vae = MusicVAE(write_standin(work / f"{name}_live", name, scale=False, seed=bars), seed=0)
    s = LiveSession(SR, qpm, count_in_bars=1, click="off")
    part = TapToDrums(vae, seed=seed)
    s.add_part(part)
    s.warm_up(BLOCK)
    g = s.grid
    T = vae.num_steps
    rng = np.random.default_rng(seed)
    events = []
    for w in range(0, 2 * windows, 2):
        steps = sorted(set(rng.choice(T - 1, size=4 * bars, replace=False).tolist()) | {T - 1})
        for k in steps:
            # the last tap of every other groove comes late on the last step, after the close's speculative z
            # (then the close runs the backward pass itself)
            jitter = rng.uniform(-0.3, 0.3) if k < T - 1 else (0.3 if w % 4 == 2 else rng.uniform(-0.3, -0.05))
            a = part.window_line(g, w) + int(round((k + jitter) * g.step_samples))
            events += [PlayedEvent("on", 38, 100, a), PlayedEvent("off", 38, 0, a + 2000)]
    s.recorder = ReplayRecorder(events)
    load_before = _load()
    paced = _paced(s, lambda: part.gen.pending, int(part.window_line(g, 2 * windows + 1) // BLOCK))["paced_blocks"]
    st = s.stats()
    s.stop()
    done = [i for i in part.windows if "gen_ms" in i and not i.get("held")]
    return {"model": name, "bars": bars, "grooves": len(done), "hits": sum(i["hits"] for i in done),
            "late_hits": st["groove_hits_dropped"], "late_grooves": st["groove_windows_late"],
            "first_step_ms": [i.get("first_ms") for i in done],
            "first_step_cpu_ms": [i.get("first_cpu_ms") for i in done],
            "first_budget_ms": [i.get("first_budget_ms") for i in done],
            "margin_ms": [i.get("margin_ms") for i in done], "groove_ms": [i["gen_ms"] for i in done],
            "speculated": st["groove_speculated"], "encoder_refeeds": sum(i.get("refeeds", 0) for i in done),
            "paced_blocks": paced,
            "late_events": st["late_events"], "load_before": load_before, "load_after": _load()}


# ------------------------------------------------------------------------------------------------ margins

def _paced(session, busy, blocks: int) -> dict:
    """Run ``blocks`` blocks: at the sound card's pace while ``busy()`` (a generator has work), as fast as possible
    otherwise. Returns how many blocks were paced, of how many."""
    x = np.zeros(BLOCK, np.float32)
    t_ref, k_ref = time.perf_counter(), 0
    paced = 0
    for k in range(blocks):
        if busy():
            wait = t_ref + (k - k_ref) * BLOCK / SR - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            paced += 1
        else:
            t_ref, k_ref = time.perf_counter(), k
        session.process(x)
    return {"paced_blocks": paced, "blocks": blocks}


def _summary(values) -> dict:
    v = np.asarray([x for x in values if x is not None], float)
    if not len(v):
        return {"min": None, "p5": None, "p50": None}
    return {"min": float(v.min()), "p5": float(np.percentile(v, 5)), "p50": float(np.percentile(v, 50))}


def answer_margins(work, name: str, qpm: float, positions: int, instrument: bool) -> dict:
    from tonehost.realtime.pipelines.instrument import DDSP
    from tonehost.realtime.pipelines.jam import CallAndResponse, InstrumentVoice, LiveSession
    from tonehost.realtime.pipelines.listen import PlayedEvent, ReplayRecorder

    model = _model(work, name)
    s = LiveSession(SR, qpm, count_in_bars=1, click="off")
    if instrument:
        s.instrument = InstrumentVoice(DDSP(sample_rate=SR).pipeline())
    part = CallAndResponse(model, pause_beats=1.0, answer_bars=1, seed=0, chords=_chords(model))
    s.add_part(part)
    s.warm_up(BLOCK)
    g = s.grid
    events = []
    bar = 0
    pitches = (60, 64, 67, 72) if model.data_converter.max_pitch >= 72 else (55, 60, 64, 67)
    for k in range(positions):
        # a one-bar phrase of quarter notes whose last note ends at a place spread over a bar
        shift = int((k / positions) * g.bar_samples)
        for i, p in enumerate(pitches):
            a = g.bar_start(bar) + int(i * g.beat_samples) + shift
            events += [PlayedEvent("on", p, 90, a), PlayedEvent("off", p, 0, a + int(0.3 * g.beat_samples))]
        bar += 5  # the phrase's bar(s), the pause, the answer bar, room to listen again
    s.recorder = ReplayRecorder(events)
    load_before = _load()
    t0 = time.perf_counter()
    pace = _paced(s, lambda: part.gen.busy, int((g.bar_start(bar) + g.bar_samples) // BLOCK))
    st = s.stats()
    s.stop()
    rows = [{"answer": a["index"], "pause_to_bar_line_ms": a.get("pause_to_bar_line_ms"),
             "budget_ms": a.get("budget_ms"), "first_step_ms": a.get("first_step_ms"),
             "first_step_cpu_ms": a.get("first_step_cpu_ms"), "margin_ms": a.get("margin_ms"),
             "margin_cpu_ms": a.get("margin_cpu_ms"), "fed_steps": a.get("fed_steps"),
             "primer_steps": a.get("primer_steps"), "late": a["late"], "late_steps": a["late_steps"]}
            for a in part.answers]
    return {"model": name, "answers": rows, "late": st["answers_late"], "late_steps": st["answer_late_steps"],
            "margin_ms": _summary(r["margin_ms"] for r in rows),
            "margin_cpu_ms": _summary(r["margin_cpu_ms"] for r in rows),
            "first_step_cpu_ms_max": max((r["first_step_cpu_ms"] or 0.0) for r in rows) if rows else None,
            "plans_cancelled": st["plans_cancelled"], "worker_us_p50": st["worker_us_p50"],
            "seconds": time.perf_counter() - t0, **pace, "load_before": load_before, "load_after": _load()}


def drum_margins(work, qpm: float, bars: int) -> dict:
    from tonehost.exports.convert.music_rnn import write_random_checkpoint
    from tonehost.realtime.pipelines.jam import DrumGroove, LiveSession
    from tonehost.realtime.pipelines.music_rnn import MusicRNN

    s = LiveSession(SR, qpm, count_in_bars=1, click="off")
    part = DrumGroove(MusicRNN(write_random_checkpoint(work / "drum_kit_rnn_live", "drum_kit_rnn", seed=2)),
                      seed=0)
    s.add_part(part)
    s.warm_up(BLOCK)
    load_before = _load()
    pace = _paced(s, lambda: part.gen.busy, int((s.grid.bar_start(bars) + s.grid.bar_samples) // BLOCK))
    st = s.stats()
    s.stop()
    return {"model": "drum_kit_rnn", "bars": st["drum_bars"], "late": st["drum_bars_late"],
            "margin_ms": _summary(st["drum_margin_ms"]), "gen_ms_p50": float(np.median(st["drum_gen_ms"])),
            **pace, "load_before": load_before, "load_after": _load()}


# ------------------------------------------------------------------------------------------ piano listener

def piano_listener(seconds: float) -> dict | None:
    from tonehost.dsp.resample import Resampler
    from tonehost.realtime.io import read_audio
    from tonehost.realtime.pipelines.listen import PianoListener
    from tonehost.realtime.pipelines.transcriber import OnsetsAndFrames

    path = SHARED_DATA / "piano" / "FMP_C1_F12_Bach_BWV846_Sibelius-Tracks.wav"
    if not path.is_file():
        return None
    x, sr = read_audio(path)
    x = Resampler(sr, SR).process(np.asarray(x, np.float64)).astype(np.float32)[:int(seconds * SR)]
    model = OnsetsAndFrames(offline=True)
    n = len(x) // BLOCK
    out = {"audio_s": n * BLOCK / SR, "file": path.name, "load": _load()}
    for frames in (1, 4):
        lis = PianoListener(model, SR, chunk_frames=frames)
        lis.push(np.zeros(BLOCK * 200, np.float32))
        c, t = time.process_time(), time.perf_counter()
        notes = 0
        for k in range(n):
            notes += sum(e.kind == "on" for e in lis.push(x[k * BLOCK:(k + 1) * BLOCK]))
        cpu, wall = time.process_time() - c, time.perf_counter() - t
        tr = lis.stream._transcriber
        out[f"frames_{frames}"] = {"cpu_s_per_audio_s": cpu / out["audio_s"], "wall_s_per_audio_s": wall / out["audio_s"],
                                   "model_calls": tr.model_calls, "cpu_ms_per_call": 1000.0 * cpu / max(1, tr.model_calls),
                                   "notes": notes}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 repeats, 4 pause positions, 8 drum bars")
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per model call (default 7)")
    ap.add_argument("--positions", type=int, default=24, help="pause positions per model (default 24)")
    ap.add_argument("--no-instrument", action="store_true", help="margins without the DDSP violin in the worker")
    ap.add_argument("--qpm", type=float, default=120.0, help="tempo (default 120)")
    ap.add_argument("--json", default="jam_timing", help="results file (default bench/results/jam_timing.json)")
    args = ap.parse_args(argv)
    repeat, positions, drum_bars = (3, 4, 8) if args.quick else (args.repeat, args.positions, 24)
    work = tmpdir()
    print(f"== model calls vs the time the music gives them ({args.qpm:g} qpm, 1 thread; {_load()})")
    rows = costs(work, args.qpm, repeat, args.quick)
    for r in rows:
        fed = f"; {r['fed_steps']} of {r['primer_steps']} primer steps run" if "fed_steps" in r else ""
        window = f" (window {r['window_ms']:.0f} ms)" if "window_ms" in r else ""
        print(f"  {r['what']:<74} CPU {r['cpu_ms']:7.1f} ms (wall {r['wall_ms']:7.1f})  budget "
              f"{r['budget_ms']:6.0f} ms{window}: {r['budget']}{fed}")
    print(f"== answer margins: the jam pipeline, {positions} pause positions over the bar, 1-beat pause, "
          f"1-bar answers{'' if args.no_instrument else ', DDSP violin'} (ms; wall / generator CPU)")
    margins = []
    for name in MELODY_MODELS:
        m = answer_margins(work, name, args.qpm, positions, not args.no_instrument)
        margins.append(m)
        w, c = m["margin_ms"], m["margin_cpu_ms"]
        print(f"  {name:<22} answers {len(m['answers']):2d}, late {m['late']}, late steps {m['late_steps']}: "
              f"margin min {w['min']:6.0f} p5 {w['p5']:6.0f} p50 {w['p50']:6.0f} | CPU min {c['min']:6.0f} p5 "
              f"{c['p5']:6.0f} p50 {c['p50']:6.0f}; first step CPU max {m['first_step_cpu_ms_max']:.1f} ms "
              f"({m['load_after']})")
    d = drum_margins(work, args.qpm, drum_bars)
    margins.append(d)
    print(f"  {'drum_kit_rnn bars':<22} bars {d['bars']:2d}, late {d['late']}: margin min {d['margin_ms']['min']:6.0f} "
          f"p5 {d['margin_ms']['p5']:6.0f} p50 {d['margin_ms']['p50']:6.0f}; bar generated in "
          f"{d['gen_ms_p50']:.0f} ms wall p50 ({d['load_after']})")
    taps = []
    if not args.quick:
        print("== tap2drum, streamed: taps every other window (one on its last step), paced in real time while the "
              "generator works")
        for n in (1, 2, 4):
            t = tap2drum_margins(work, args.qpm, n, 3)
            taps.append(t)
            print(f"  {t['model']}: {t['grooves']} grooves, {t['hits']} hits, late hits {t['late_hits']}; close -> "
                  f"first step {max(t['first_step_ms']):.1f} ms wall at most ({max(t['first_step_cpu_ms']):.1f} ms "
                  f"CPU), budget {min(t['first_budget_ms']):.1f} ms; smallest margin {min(t['margin_ms']):.1f} ms; "
                  f"whole groove {max(t['groove_ms']):.0f} ms wall at most; {t['speculated']} of {t['grooves']} "
                  f"closes used the speculative z ({t['load_after']})")
    print("== the piano listener (jam --listen piano): CPU per second of audio, 128-sample blocks at 48 kHz")
    piano = piano_listener(10.0 if args.quick else 25.0)
    if piano is None:
        print("  skipped: the shared piano recording is not here")
    else:
        for frames in (1, 4):
            p = piano[f"frames_{frames}"]
            print(f"  {frames} frame{'s' if frames > 1 else ''} per model call: {p['cpu_s_per_audio_s']:.3f} CPU s per "
                  f"audio s ({p['model_calls']} calls, {p['cpu_ms_per_call']:.1f} ms CPU each; wall "
                  f"{p['wall_s_per_audio_s']:.3f} s per audio s; {p['notes']} notes)")
        print(f"  ({piano['audio_s']:.1f} s of {piano['file']}; {piano['load']})")
    path = save_json(args.json, {"qpm": args.qpm, "load": _load(), "costs": rows, "margins": margins,
                                 "tap2drum": taps, "piano_listener": piano})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
