"""Recipe: the piano training set of the shipped ``onsets_frames_small`` model (rendered MIDI, seeded).

Every piece is a list of notes (onset s, offset s, MIDI pitch, velocity) plus sustain-pedal changes, from two
sources that need nothing but PyPI and Debian:

- music21's corpus (Bach chorales and other keyboard-friendly scores): read with music21, played by a humanised
  "pianist" (tempo drift, per-note timing jitter, voice/beat-shaped velocities, spread chords, pedal changes per
  beat or bar, random transposition, optional octave-doubled bass);
- generated performances: scales and arpeggios (hands in octaves or thirds), block chords with pedal, melody
  over broken-chord accompaniment, and random polyphony over the whole keyboard (21..108) with pedal.

Each piece is rendered at 16 kHz through one of several training pianos: FluidSynth with FluidR3_GM programs
0/1/2 or TimGM6mb programs 0/1 (its own reverb/chorus on or off), or, with ``--pianos fluidsynth,salamander``, the
Salamander Grand Piano samples (:mod:`tonehost.exports.training.recipes.salamander`; the MuseScore General soundfont is held out for
evaluation), then augmented: gain, spectral tilt (first-order EQ), a synthetic room (exponentially
decaying noise impulse response, RT60 0.1-1.2 s, random wet mix), low-pass "microphone", additive noise
(white or pink, 25-60 dB SNR). The magenta.js log-mel front end (:func:`tonehost.dsp.mel.log_mel`) is computed here, so
training sees exactly the features the runtime computes.

Labels follow O&F training: onset frame ``round(t / 0.032)`` (the decoder reports frame ``f`` at ``f * 0.032``
s), frames from onset to the pedal-extended offset (a re-struck pitch cuts the previous note), velocity target
``(v - 10) / 80`` (the inverse of magenta.js's ``clip(v, 0, 1) * 80 + 10``).

Output: ``OUT/piece_NNNNN.npz`` (``mel`` float16 [T, 229], ``notes`` int32 [n, 4] = pitch, onset frame, offset
frame, velocity) and ``OUT/manifest.json``. Deterministic for a given ``--seed`` and package versions.

    .venv/bin/python -m tonehost.exports.training.recipes.make_piano_data --out ~/.cache/tonehost/piano_data --hours 2.0

Needs ``fluidsynth``, ``fluid-soundfont-gm`` and ``timgm6mb-soundfont`` (Debian) and music21 (the ``train``
extra).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


from tonehost.dsp.mel import HOP, SAMPLE_RATE, log_mel

FRAME_S = HOP / SAMPLE_RATE
MIN_PITCH, MAX_PITCH = 21, 108
TRAIN_PIANOS = [("/usr/share/sounds/sf2/FluidR3_GM.sf2", 0), ("/usr/share/sounds/sf2/FluidR3_GM.sf2", 1),
                ("/usr/share/sounds/sf2/FluidR3_GM.sf2", 2), ("/usr/share/sounds/sf2/TimGM6mb.sf2", 0),
                ("/usr/share/sounds/sf2/TimGM6mb.sf2", 1)]
CORPUS_COMPOSERS = ("bach", "mozart", "haydn", "beethoven", "schumann", "joplin", "handel", "chopin")


# ------------------------------------------------------------------------------------------ performances

class Piece:
    """Notes ``[(onset, offset, pitch, velocity)]`` and pedal changes ``[(time, down)]`` of one performance."""

    def __init__(self, kind: str):
        self.kind = kind
        self.notes: list[tuple[float, float, int, int]] = []
        self.pedal: list[tuple[float, bool]] = []

    def add(self, on: float, off: float, pitch: int, vel: float) -> None:
        pitch = int(pitch)
        if MIN_PITCH <= pitch <= MAX_PITCH and off > on + 0.02:
            self.notes.append((float(on), float(off), pitch, int(np.clip(round(vel), 8, 127))))

    @property
    def end(self) -> float:
        return max([n[1] for n in self.notes] + [0.0])


def _pedal_every(piece: Piece, rng, period: float, start: float, end: float) -> None:
    """Pedal down just after each period boundary, up just before the next one (legato pedalling)."""
    t = start
    while t < end:
        piece.pedal.append((t + rng.uniform(0.03, 0.12), True))
        piece.pedal.append((t + period - rng.uniform(0.01, 0.06), False))
        t += period


def gen_scales(rng, seconds: float) -> Piece:
    p = Piece("scales")
    t = 0.3
    majors = [0, 2, 4, 5, 7, 9, 11]
    minors = [0, 2, 3, 5, 7, 8, 11]
    while t < seconds:
        root = int(rng.integers(24, 72))
        steps = [0, 4, 7] if rng.random() < 0.35 else (majors if rng.random() < 0.6 else minors)
        octaves = int(rng.integers(1, 4))
        seq = [root + 12 * o + s for o in range(octaves) for s in steps] + [root + 12 * octaves]
        if rng.random() < 0.5:
            seq = seq + seq[-2::-1]
        dt = 1.0 / rng.uniform(3, 12)
        base_v = rng.uniform(35, 110)
        hands = [0] if rng.random() < 0.5 else [0, int(rng.choice([12, -12, 4, 3, 24]))]
        legato = rng.uniform(0.6, 1.3)
        for i, n in enumerate(seq):
            on = t + i * dt + rng.normal(0, 0.008)
            v = base_v + 15 * np.sin(i / len(seq) * np.pi) + rng.normal(0, 6)
            for h in hands:
                p.add(on + rng.normal(0, 0.005), on + dt * legato, n + h, v)
        t += len(seq) * dt + rng.uniform(0.2, 1.0)
    return p


def gen_chords(rng, seconds: float) -> Piece:
    p = Piece("chords")
    t = 0.3
    while t < seconds:
        dur = rng.uniform(0.25, 2.0)
        bass = int(rng.integers(28, 60))
        n = int(rng.integers(3, 7))
        pitches = {bass} | {int(bass + rng.integers(3, 36)) for _ in range(n - 1)}
        v = rng.uniform(25, 120)
        spread = rng.uniform(0, 0.03) if rng.random() < 0.7 else rng.uniform(0.03, 0.12)
        for k, q in enumerate(sorted(pitches)):
            on = t + k * spread + rng.normal(0, 0.006)
            p.add(on, t + dur * rng.uniform(0.7, 1.0), q, v + rng.normal(0, 8))
        if rng.random() < 0.5:
            p.pedal += [(t + 0.05, True), (t + dur - 0.02, False)]
        t += dur + rng.uniform(0.0, 0.4)
    return p


def gen_melody_accompaniment(rng, seconds: float) -> Piece:
    p = Piece("melody")
    beat = 60.0 / rng.uniform(60, 150)
    key = int(rng.integers(0, 12))
    scale = [0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.6 else [0, 2, 3, 5, 7, 8, 10]
    degrees = [key + 12 * o + s for o in range(-3, 5) for s in scale]
    mel = int(rng.integers(len(degrees) // 2, len(degrees) - 8))
    t = 0.3
    pattern = [0, 2, 1, 2] if rng.random() < 0.5 else [0, 1, 2, 1]
    lh_oct = int(rng.choice([36, 48]))
    pedal = rng.random() < 0.6
    while t < seconds:
        root = int(rng.choice([0, 3, 4, 5, 7, 9])) + key
        triad = [lh_oct + (root + x) % 12 + (12 if (root + x) % 12 < key % 12 else 0) for x in (0, 4, 7)]
        bar_start = t
        for k in range(4):
            on = t + rng.normal(0, 0.01)
            p.add(on, on + beat * rng.uniform(0.8, 2.0), triad[pattern[k]], rng.uniform(30, 70))
            nmel = int(rng.choice([1, 1, 2, 2, 3]))
            for j in range(nmel):
                mel = int(np.clip(mel + rng.integers(-3, 4), 4, len(degrees) - 1))
                mon = t + j * beat / nmel + rng.normal(0, 0.01)
                p.add(mon, mon + beat / nmel * rng.uniform(0.7, 1.1), degrees[mel], rng.uniform(50, 115))
            t += beat
        if pedal:
            p.pedal += [(bar_start + 0.06, True), (t - 0.03, False)]
    return p


def gen_random_poly(rng, seconds: float) -> Piece:
    p = Piece("random")
    rate = rng.uniform(2, 14)
    t = 0.2
    centre, width = rng.uniform(40, 85), rng.uniform(8, 30)
    while t < seconds:
        pitch = int(np.clip(round(rng.normal(centre, width)), MIN_PITCH, MAX_PITCH))
        if rng.random() < 0.1:
            pitch = int(rng.integers(MIN_PITCH, MAX_PITCH + 1))
        dur = float(np.clip(rng.exponential(0.5), 0.05, 4.0))
        p.add(t, t + dur, pitch, rng.uniform(15, 127))
        if rng.random() < 0.3:  # a simultaneous note (chords)
            p.add(t + rng.normal(0, 0.004), t + dur, pitch + int(rng.integers(-24, 25)), rng.uniform(15, 127))
        t += rng.exponential(1.0 / rate)
        if rng.random() < 0.01:
            centre = rng.uniform(40, 85)
    if rng.random() < 0.6:
        _pedal_every(p, rng, rng.uniform(0.8, 3.0), 0.0, seconds)
    return p


def corpus_paths(rng, max_scores: int) -> list:
    """Paths of music21 corpus scores for the composers in :data:`CORPUS_COMPOSERS`, seeded subset."""
    from music21 import corpus

    paths = []
    for c in CORPUS_COMPOSERS:
        try:
            paths += [str(x) for x in corpus.getComposer(c)]
        except Exception:
            continue
    paths = sorted(set(paths))
    rng.shuffle(paths)
    return paths[:max_scores]


def score_notes(path: str, max_quarters: float = 400.0) -> list[tuple[float, float, int, int]]:
    """(onset quarter, duration quarters, pitch, part index) of every note of a score."""
    from music21 import converter

    s = converter.parse(path)
    out = []
    parts = list(s.parts) or [s]
    for pi, part in enumerate(parts[:6]):
        for n in part.flatten().notes:
            off = float(n.getOffsetInHierarchy(part)) if hasattr(n, "getOffsetInHierarchy") else float(n.offset)
            if off > max_quarters:
                break
            dur = float(n.duration.quarterLength)
            if dur <= 0:
                continue
            for pt in n.pitches:
                out.append((off, dur, int(pt.midi), pi))
    return out


def perform_score(rng, notes, kind: str) -> Piece:
    """A humanised performance of score notes: tempo drift, jitter, dynamics, spread chords, pedal."""
    p = Piece(kind)
    bpm0 = rng.uniform(50, 140)
    shift = int(rng.integers(-7, 8))
    double_bass = rng.random() < 0.35
    base_v = rng.uniform(45, 100)
    end_q = max(o + d for o, d, _, _ in notes)
    # tempo curve: quarter -> seconds via piecewise tempo with slow drift
    qs = np.arange(0, end_q + 2, 1.0)
    drift = np.cumsum(rng.normal(0, 0.02, len(qs)))
    spb = 60.0 / (bpm0 * np.exp(np.clip(drift, -0.3, 0.3)))
    tq = np.concatenate([[0.0], np.cumsum(spb)]) + 0.3

    def at(q: float) -> float:
        i = int(min(max(q, 0), len(spb) - 1))
        return float(tq[i] + (q - i) * spb[i])

    legato = rng.uniform(0.75, 1.05)
    for o, d, pitch, part in notes:
        on = at(o) + rng.normal(0, 0.012)
        off = at(o + d * legato)
        beat_acc = 8 if abs(o - round(o)) < 1e-6 else 0
        v = base_v + beat_acc - 6 * part + 12 * np.sin(o / 8.0) + rng.normal(0, 7)
        p.add(on, off, pitch + shift, v)
        if double_bass and part == max(n[3] for n in notes[:50]):
            p.add(on + rng.normal(0, 0.004), off, pitch + shift - 12, v - 5)
    r = rng.random()
    if r < 0.3:
        _pedal_every(p, rng, spb.mean(), 0.3, p.end)
    elif r < 0.55:
        _pedal_every(p, rng, 4 * spb.mean(), 0.3, p.end)
    return p


# ------------------------------------------------------------------------------------------ rendering

def write_midi(piece: Piece, path: Path, program: int) -> None:
    """The performance as a type-0 MIDI file (tempo 120, 960 ticks per beat -> 1 tick = 1/1920 s)."""
    import mido

    ev = [(0, 0, mido.Message("program_change", program=program))]
    for on, off, pitch, vel in piece.notes:
        ev.append((round(on * 1920), 2, mido.Message("note_on", note=pitch, velocity=vel)))
        ev.append((round(off * 1920), 1, mido.Message("note_off", note=pitch, velocity=0)))
    for t, down in piece.pedal:
        ev.append((round(max(t, 0) * 1920), 1, mido.Message("control_change", control=64, value=127 if down else 0)))
    ev.sort(key=lambda e: (e[0], e[1]))
    tr = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)])
    now = 0
    for tick, _, m in ev:
        tr.append(m.copy(time=tick - now))
        now = tick
    mf = mido.MidiFile(ticks_per_beat=960)
    mf.tracks.append(tr)
    mf.save(path)


def render(midi: Path, wav: Path, soundfont: str, reverb: bool, chorus: bool, gain: float = 0.6) -> np.ndarray:
    """FluidSynth at 16 kHz (gain to 3 decimals, 512 voices), mixed to mono float32."""
    from tonehost.exports.training.fluidsynth import render_midi

    return render_midi(midi, wav, soundfont, SAMPLE_RATE, gain=round(gain, 3), reverb=reverb, chorus=chorus,
                       settings={"synth.polyphony": 512})


def augment(rng, x: np.ndarray) -> np.ndarray:
    """Room, microphone and level variation (see module docstring)."""
    from scipy.signal import fftconvolve, lfilter

    x = x.astype(np.float64)
    if rng.random() < 0.6:  # synthetic room
        rt60 = rng.uniform(0.1, 1.2)
        n = int(rt60 * SAMPLE_RATE)
        t = np.arange(n) / SAMPLE_RATE
        ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
        ir = lfilter([1 - 0.6], [1, -0.6], ir) if rng.random() < 0.5 else ir  # darker tail
        ir[: int(rng.uniform(0.002, 0.02) * SAMPLE_RATE)] = 0.0
        ir /= np.sqrt(np.sum(ir ** 2)) + 1e-12
        wet = fftconvolve(x, ir)[: len(x)]
        mix = rng.uniform(0.1, 0.6)
        x = (1 - mix) * x + mix * wet * np.sqrt(np.mean(x ** 2) / (np.mean(wet ** 2) + 1e-12))
    if rng.random() < 0.7:  # spectral tilt: blend with a first-order low- or high-passed copy
        a = rng.uniform(0.3, 0.95)
        lp = lfilter([1 - a], [1, -a], x)
        k = rng.uniform(-0.7, 0.7)
        x = x + k * (x - lp) if k > 0 else (1 + k) * x - k * lp
    if rng.random() < 0.3:  # band-limited microphone
        from scipy.signal import butter, sosfilt
        x = sosfilt(butter(2, rng.uniform(3000, 7500), fs=SAMPLE_RATE, output="sos"), x)
    if rng.random() < 0.2:  # rumble-free mic
        from scipy.signal import butter, sosfilt
        x = sosfilt(butter(1, rng.uniform(40, 200), "highpass", fs=SAMPLE_RATE, output="sos"), x)
    peak = np.max(np.abs(x)) + 1e-9
    x = x / peak * 10 ** (rng.uniform(-30, -1) / 20)  # level
    if rng.random() < 0.7:  # noise
        noise = rng.standard_normal(len(x))
        if rng.random() < 0.5:
            noise = lfilter([1.0], [1, -0.98], noise)  # reddish ("pink-ish")
        snr = rng.uniform(25, 60)
        noise *= np.sqrt(np.mean(x ** 2) / (np.mean(noise ** 2) + 1e-12) / 10 ** (snr / 10))
        x = x + noise
    return np.clip(x, -1, 1).astype(np.float32)


def sounding_notes(piece: Piece) -> list[tuple[float, float, int, int]]:
    """(onset, release, pitch, velocity) in seconds: the release extended by the sustain pedal and cut where the
    same pitch is struck again."""
    downs = sorted(piece.pedal)

    def release_after(t: float) -> float:
        for tt, d in downs:
            if tt > t and not d:
                return tt
        return piece.end

    def pedal_down_at(t: float) -> bool:
        state = False
        for tt, d in downs:
            if tt > t:
                break
            state = d
        return state

    by_pitch: dict[int, list] = {}
    for on, off, pitch, vel in piece.notes:
        if pedal_down_at(off):
            off = max(off, release_after(off))
        by_pitch.setdefault(pitch, []).append([on, off, vel])
    out = []
    for pitch, ns in by_pitch.items():
        ns.sort()
        for i, (on, off, vel) in enumerate(ns):
            if i + 1 < len(ns):
                off = min(off, ns[i + 1][0])
            out.append((on, off, pitch, vel))
    out.sort(key=lambda r: (r[0], r[2]))
    return out


def labels(piece: Piece, n_frames: int) -> np.ndarray:
    """int32 [n, 4]: pitch, onset frame, offset frame (exclusive, pedal-extended, cut by a re-strike), velocity."""
    rows = []
    for on, off, pitch, vel in sounding_notes(piece):
        f0 = int(round(on / FRAME_S))
        f1 = max(int(round(off / FRAME_S)), f0 + 1)
        if f0 < n_frames:
            rows.append((pitch, f0, min(f1, n_frames), vel))
    rows.sort(key=lambda r: (r[1], r[0]))
    return np.array(rows, dtype=np.int32).reshape(-1, 4)


# ------------------------------------------------------------------------------------------ main

GENERATORS = {"scales": gen_scales, "chords": gen_chords, "melody": gen_melody_accompaniment,
              "random": gen_random_poly}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.expanduser("~/.cache/tonehost/piano_data"))
    ap.add_argument("--hours", type=float, default=2.0, help="total audio to render")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--corpus-share", type=float, default=0.45, help="share of the hours from music21's corpus")
    ap.add_argument("--max-scores", type=int, default=400)
    ap.add_argument("--pianos", default="fluidsynth",
                    help="comma-separated: fluidsynth (FluidR3_GM 0/1/2, TimGM6mb 0/1), salamander (Salamander Grand "
                         "sampled piano, downloaded from the npm registry); each piece picks one at random")
    args = ap.parse_args(argv)
    pianos = [p.strip() for p in args.pianos.split(",") if p.strip()]
    if not pianos or set(pianos) - {"fluidsynth", "salamander"}:
        raise SystemExit(f"--pianos: choose from fluidsynth, salamander (got {args.pianos!r})")
    sampler = None
    if "salamander" in pianos:
        from tonehost.exports.training.recipes.salamander import Sampler
        sampler = Sampler(SAMPLE_RATE)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    target = args.hours * 3600
    scores = corpus_paths(np.random.default_rng(args.seed + 1), args.max_scores) if args.corpus_share > 0 else []
    tmp = Path(tempfile.mkdtemp(prefix="piano_data_"))
    total, corpus_total, i, si = 0.0, 0.0, 0, 0
    t0 = time.time()
    items = []
    while total < target:
        want_corpus = si < len(scores) and corpus_total < args.corpus_share * target
        piece = None
        if want_corpus:
            path = scores[si]
            si += 1
            try:
                sn = score_notes(path)
            except Exception as exc:  # a score music21 cannot read: skip it
                print(f"skip {path}: {exc}", flush=True)
                continue
            if len(sn) < 20:
                continue
            piece = perform_score(rng, sn, "corpus:" + Path(path).stem)
            if piece.end > 240:  # keep pieces short: cut at 4 minutes
                piece.notes = [n for n in piece.notes if n[0] < 240]
        else:
            kind = str(rng.choice(list(GENERATORS), p=[0.15, 0.2, 0.25, 0.4]))
            piece = GENERATORS[kind](rng, float(rng.uniform(20, 60)))
        if not piece.notes:
            continue
        # one piano family: no extra draw, so the default (fluidsynth) data stays as it was for a given seed
        which = pianos[int(rng.integers(len(pianos)))] if len(pianos) > 1 else pianos[0]
        if which == "salamander":
            sf2, program = "Salamander Grand Piano V3 (npm @audio-samples)", 0
            audio = sampler.render(sounding_notes(piece), piece.end + 1.5, rng)
        else:
            sf2, program = TRAIN_PIANOS[int(rng.integers(len(TRAIN_PIANOS)))]
            midi, wav = tmp / "p.mid", tmp / "p.wav"
            write_midi(piece, midi, program)
            audio = render(midi, wav, sf2, reverb=bool(rng.random() < 0.4), chorus=bool(rng.random() < 0.2))
        audio = audio[: int((piece.end + 1.5) * SAMPLE_RATE)]
        audio = augment(rng, audio)
        mel = log_mel(audio)
        lab = labels(piece, len(mel))
        name = f"piece_{i:05d}.npz"
        np.savez(out / name, mel=mel.astype(np.float16), notes=lab)
        sec = len(audio) / SAMPLE_RATE
        items.append({"file": name, "kind": piece.kind, "soundfont": Path(sf2).name, "program": program,
                      "seconds": round(sec, 2), "notes": int(len(lab))})
        total += sec
        if piece.kind.startswith("corpus:"):
            corpus_total += sec
        i += 1
        if i % 20 == 0:
            print(f"{i} pieces, {total / 60:.1f} min audio ({corpus_total / 60:.1f} corpus), "
                  f"{time.time() - t0:.0f} s", flush=True)
    (out / "manifest.json").write_text(json.dumps(
        {"seed": args.seed, "hours": total / 3600, "corpus_hours": corpus_total / 3600, "pieces": items}, indent=0))
    print(f"done: {i} pieces, {total / 3600:.2f} h in {time.time() - t0:.0f} s -> {out}")


if __name__ == "__main__":
    main()
