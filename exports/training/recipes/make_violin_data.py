"""Recipe: render expressive monophonic violin performances with FluidSynth, plus their exact control features.

Re-run to reproduce the training data of the shipped violin (``exports/shipped/violin.onnx``)::

    .venv/bin/python -m tonehost.exports.training.recipes.make_violin_data --out ~/.cache/tonehost/violin_data --minutes 30 --seed 0

What it renders (all from ``--seed``):

- phrases of a random melody in the violin range (MIDI 55..88, G3..E6): mostly scale steps, some leaps, note
  lengths 0.12..1.6 s, legato (the next note starts where the previous one stops) or detached, rests between
  phrases;
- vibrato as pitch bend (4.5..7 Hz, depth up to half a semitone, fading in after the onset), occasional scoops
  into a note (bend from below);
- dynamics as note velocity and CC11 expression curves (swells, crescendi, diminuendi);
- General MIDI violin (program 40) through the ``fluidsynth`` command line (reverb and chorus off) at 48 kHz,
  resampled to 16 kHz for training.

Features per control frame (250 frames/s, hop 64 at 16 kHz), aligned with the synthesizers' timing (frame ``i``'s
controls are reached at the end of hop ``i``, sample ``(i+1)*64``):

- ``f0_hz``: exact, from the MIDI (note + pitch bend in force at that sample); held at the last note in rests,
  like the live tracker holds its last f0;
- ``ld_db``: the live tracker's loudness (:class:`tonehost.dsp.features.VoiceTracker`, ``20*log10(rms) - 20.7``
  over 128 samples, floored at -120) for the window centred on that sample, i.e. the tracker's frame ``i+1``.

Output: one ``.npz`` per chunk (``audio`` float32 16 kHz, ``f0_hz``, ``ld_db`` float32 per frame) and
``stats.json`` (loudness and pitch statistics the shipped model's ``settings`` use). Nothing here imports torch.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
RENDER_RATE = 48000
HOP = 64
FRAME_RATE = SAMPLE_RATE / HOP  # 250
TICKS_PER_BEAT = 480
TEMPO_US = 500000  # 120 bpm: 960 ticks per second
TICKS_PER_S = TICKS_PER_BEAT * 1e6 / TEMPO_US
BEND_RANGE = 2.0  # semitones (GM default, set explicitly by RPN 0)
VIOLIN_PROGRAM = 40
LOW, HIGH = 55, 88

SOUNDFONTS = {
    "fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "timgm6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "musescore": "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
}


# ---------------------------------------------------------------------------------------------- performance

def make_performance(seconds: float, rng: np.random.Generator, low: int = LOW, high: int = HIGH):
    """A random expressive monophonic performance in the MIDI range ``low..high`` (default: the violin's).

    Returns
    -------
    notes : list of (start_s, end_s, midi, velocity)
    bends : list of (time_s, semitones) pitch-bend events (vibrato, scoops)
    expr : list of (time_s, value 0..127) CC11 events
    """
    notes, bends, expr = [], [], []
    t = 0.3
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    while t < seconds - 1.0:
        # a phrase
        key = int(rng.integers(0, 12))
        centre = int(rng.integers(low + 5, high - 5))
        n_notes = int(rng.integers(2, 12))
        legato = rng.random() < 0.6
        pitch = centre
        phrase_dyn = rng.uniform(0.3, 1.0)
        for _ in range(n_notes):
            dur = float(np.exp(rng.uniform(np.log(0.12), np.log(1.6))))
            if t + dur > seconds - 0.3:
                break
            vel = int(np.clip(rng.normal(30 + 90 * phrase_dyn, 12), 20, 127))
            notes.append((t, t + dur - (0.0 if legato else rng.uniform(0.03, 0.2) * dur), pitch, vel))
            # vibrato: pitch bend every 10 ms
            vib_depth = rng.uniform(0.0, 0.5) if dur > 0.3 else rng.uniform(0.0, 0.15)
            vib_rate = rng.uniform(4.5, 7.0)
            vib_delay = rng.uniform(0.05, 0.4)
            scoop = rng.uniform(-1.0, -0.3) if rng.random() < 0.15 else 0.0
            scoop_len = rng.uniform(0.04, 0.12)
            # expression curve over the note
            shape = rng.integers(0, 4)
            e0 = rng.uniform(40, 127) * (0.5 + 0.5 * phrase_dyn)
            e1 = rng.uniform(40, 127) * (0.5 + 0.5 * phrase_dyn)
            phase0 = rng.uniform(0, 2 * np.pi)
            for tt in np.arange(0.0, dur, 0.01):
                ramp = min(1.0, max(0.0, (tt - vib_delay) / 0.3))
                b = vib_depth * ramp * math.sin(2 * math.pi * vib_rate * tt + phase0)
                if scoop and tt < scoop_len:
                    b += scoop * (1.0 - tt / scoop_len)
                bends.append((t + tt, b))
                x = tt / dur
                if shape == 0:
                    e = e0
                elif shape == 1:
                    e = e0 + (e1 - e0) * x
                elif shape == 2:
                    e = e0 + (e1 - e0) * math.sin(math.pi * x)
                else:
                    e = e0 * (1.0 - 0.4 * x) if x > 0.5 else e0
                expr.append((t + tt, float(np.clip(e, 1, 127))))
            t += dur
            # next pitch: scale-degree steps mostly, some leaps (7 degrees = an octave), stay in range
            step = int(rng.choice([-1, 1, -2, 2, -3, 3, -4, 4, -7, 7],
                                  p=[.22, .22, .14, .14, .07, .07, .05, .05, .02, .02]))
            deg = np.asarray([p for p in range(low, high + 1) if (p - key) % 12 in scale])
            i = int(np.argmin(np.abs(deg - pitch)))
            j = i + step
            if j < 0 or j >= len(deg):
                j = i - step
            pitch = int(deg[int(np.clip(j, 0, len(deg) - 1))])
        t += float(rng.uniform(0.15, 1.2))  # rest between phrases
    return notes, bends, expr


def write_midi(path, notes, bends, expr, program: int = VIOLIN_PROGRAM):
    """Write the performance as a one-track MIDI file (GM ``program``, default violin, on channel 0, bend range
    2 semitones)."""
    import mido
    events = []  # (tick, order, message)

    def tick(s):
        return int(round(s * TICKS_PER_S))

    events.append((0, 0, mido.Message("program_change", program=program, channel=0)))
    for cc, val in ((101, 0), (100, 0), (6, int(BEND_RANGE)), (38, 0), (7, 100), (11, 100)):
        events.append((0, 0, mido.Message("control_change", control=cc, value=val, channel=0)))
    for s, e, p, v in notes:
        events.append((tick(e), 1, mido.Message("note_off", note=p, velocity=0, channel=0)))
        events.append((tick(s), 3, mido.Message("note_on", note=p, velocity=v, channel=0)))
    for s, b in bends:
        val = int(np.clip(round(b / BEND_RANGE * 8192), -8192, 8191))
        events.append((tick(s), 2, mido.Message("pitchwheel", pitch=val, channel=0)))
    for s, e in expr:
        events.append((tick(s), 2, mido.Message("control_change", control=11, value=int(round(e)), channel=0)))
    events.sort(key=lambda x: (x[0], x[1]))
    mid = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=TEMPO_US, time=0))
    last = 0
    for tk, _, msg in events:
        track.append(msg.copy(time=tk - last))
        last = tk
    mid.tracks.append(track)
    mid.save(str(path))


def f0_track(notes, bends, n_frames: int) -> np.ndarray:
    """Exact f0 (Hz) at samples ``(i+1)*HOP`` (16 kHz) for frames ``i``, from the quantised MIDI events."""
    t = (np.arange(n_frames) + 1) * HOP / SAMPLE_RATE
    tick_t = np.round(t * TICKS_PER_S)  # compare in ticks like the MIDI file
    midi = np.full(n_frames, np.nan)
    for s, _e, p, _v in notes:  # a note sounds from its start until the next note starts (held in rests)
        midi[tick_t >= round(s * TICKS_PER_S)] = p
    first = notes[0][2] if notes else 69
    midi = np.where(np.isnan(midi), first, midi)
    bend = np.zeros(n_frames)
    if bends:
        bt = np.array([round(s * TICKS_PER_S) for s, _ in bends])
        bv = np.array([int(np.clip(round(b / BEND_RANGE * 8192), -8192, 8191)) for _, b in bends]) / 8192.0
        order = np.argsort(bt, kind="stable")
        bt, bv = bt[order], bv[order]
        idx = np.searchsorted(bt, tick_t, side="right") - 1
        bend = np.where(idx >= 0, bv[np.maximum(idx, 0)] * BEND_RANGE, 0.0)
    return (440.0 * 2.0 ** ((midi + bend - 69.0) / 12.0)).astype(np.float32)


def render(midi_path, wav_path, soundfont: str, sample_rate: int = RENDER_RATE) -> np.ndarray:
    """Render a MIDI file with the fluidsynth command line (gain 0.5, no reverb/chorus); returns mono float32."""
    from tonehost.exports.training.fluidsynth import render_midi
    return render_midi(midi_path, wav_path, soundfont, sample_rate, gain=0.5, reverb=False, chorus=False)


def to_16k(x48: np.ndarray) -> np.ndarray:
    """48 kHz -> 16 kHz (polyphase, scipy)."""
    from scipy.signal import resample_poly
    return resample_poly(np.asarray(x48, np.float64), 1, 3).astype(np.float32)


def loudness_features(audio16: np.ndarray, n_frames: int) -> np.ndarray:
    """The live tracker's ``loudness_db`` for frames ``i`` = the tracker's frame ``i+1`` (window centred on the
    end of hop ``i``), computed by :class:`tonehost.dsp.features.VoiceTracker` itself."""
    from tonehost.dsp.features import TrackerConfig, VoiceTracker
    tr = VoiceTracker(TrackerConfig(hop=HOP))
    need = (n_frames + 1) * HOP
    x = np.zeros(need, np.float64)
    m = min(need, len(audio16))
    x[:m] = audio16[:m]
    fr = tr.process(x)
    return np.asarray(fr.loudness_db[1:n_frames + 1], np.float32)


def render_performance(seconds: float, seed: int, soundfont: str, keep_48k: bool = False,
                       program: int = VIOLIN_PROGRAM, low: int = LOW, high: int = HIGH):
    """Generate, render and featurise one performance (GM ``program`` in MIDI range ``low..high``; default the
    violin). Returns a dict (audio 16 kHz, f0_hz, ld_db, notes[, audio48])."""
    rng = np.random.default_rng(seed)
    notes, bends, expr = make_performance(seconds, rng, low, high)
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "perf.mid"
        wav = Path(tmp) / "perf.wav"
        write_midi(mid, notes, bends, expr, program)
        x48 = render(mid, wav, soundfont)
    n48 = int(round(seconds * RENDER_RATE))
    x48 = np.pad(x48, (0, max(0, n48 - len(x48))))[:n48]
    audio = to_16k(x48)
    n_frames = len(audio) // HOP
    audio = audio[:n_frames * HOP]
    out = {"audio": audio, "f0_hz": f0_track(notes, bends, n_frames),
           "ld_db": loudness_features(audio, n_frames), "notes": np.asarray(notes, np.float64)}
    if keep_48k:
        out["audio48"] = x48[:n_frames * HOP * 3]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.expanduser("~/.cache/tonehost/violin_data"))
    ap.add_argument("--minutes", type=float, default=30.0, help="total minutes of training audio")
    ap.add_argument("--chunk-seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--soundfonts", default="fluidr3", help="comma-separated: " + ", ".join(SOUNDFONTS))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fonts = [s.strip() for s in args.soundfonts.split(",") if s.strip()]
    n_chunks = max(1, int(math.ceil(args.minutes * 60 / args.chunk_seconds)))
    lds, pitches = [], []
    for c in range(n_chunks):
        font = fonts[c % len(fonts)]
        seed = args.seed * 100003 + c
        d = render_performance(args.chunk_seconds, seed, SOUNDFONTS[font])
        np.savez(out / f"chunk_{c:04d}_{font}.npz", audio=d["audio"], f0_hz=d["f0_hz"], ld_db=d["ld_db"])
        lds.append(d["ld_db"])
        pitches.append(12 * np.log2(d["f0_hz"][d["ld_db"] > -90] / 440.0) + 69)
        print(f"chunk {c + 1}/{n_chunks} ({font}, seed {seed}): peak {np.abs(d['audio']).max():.3f}, "
              f"ld max {d['ld_db'].max():.1f} dB", flush=True)
    ld = np.concatenate(lds)
    active = ld[ld > -90.0]
    stats = {"averageMaxLoudness": round(float(np.percentile(active, 99.9)), 2),
             "meanLoudness": round(float(active.mean()), 2),
             "meanPitch": round(float(np.concatenate(pitches).mean()), 2),
             "loudnessThreshold": -100.0, "seconds": float(len(ld) / FRAME_RATE), "soundfonts": fonts,
             "seed": args.seed}
    (out / "stats.json").write_text(json.dumps(stats, indent=1))
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
