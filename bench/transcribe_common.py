"""Shared helpers of the ``bench.transcribe_*`` modules: model, reference notes, FluidSynth rendering.

The model is ``--checkpoint ID|DIR`` when given, else deterministic random weights (``random_weights(0)``): then
accuracy measures plumbing only, and latency is measured against the frames the events belong to.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench._common import SHARED_DATA, save_json
from tonehost.exports.training.fluidsynth import render_midi

DATA = SHARED_DATA / "piano"
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


def model_path(checkpoint: str | None, tmp: Path) -> tuple[Path, str]:
    """(ONNX stream model, description): the checkpoint's cached export, or one of random weights."""
    from tonehost.exports.convert.onsets_frames import export_checkpoint, random_weights
    from tonehost.exports.tfjs import write_layers_checkpoint

    if checkpoint:
        from tonehost.exports.resolve import checkpoint_dir

        return export_checkpoint(checkpoint_dir(checkpoint))[0], checkpoint
    ckpt = tmp / "random_ckpt"
    write_layers_checkpoint(ckpt, random_weights(0))
    return export_checkpoint(ckpt)[0], "random weights (seed 0): plumbing only"


def reference_notes(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(intervals [n, 2] s, MIDI pitches [n]) of a recording in the shared data's ``piano/``."""
    if name.startswith("FMP"):
        rows = [r.split(";") for r in (DATA / f"{name}.csv").read_text().splitlines()[1:] if r.strip()]
        iv = np.array([[float(r[0]), float(r[0]) + float(r[1])] for r in rows])
        return iv, np.array([int(float(r[2])) for r in rows])
    rows = [r.split() for r in (DATA / f"{name}.notes").read_text().splitlines() if r and not r.startswith("#")]
    iv = np.array([[float(r[0]), float(r[0]) + float(r[2])] for r in rows])
    return iv, np.array([int(r[1]) for r in rows])


def random_piano_midi(path: Path, seconds: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Write a seeded random piano piece (chords and runs) as MIDI; return its notes (intervals, pitches)."""
    import mido

    rng = np.random.default_rng(seed)
    notes, t = [], 0.5
    while t < seconds - 1.0:
        chord = rng.integers(36, 96, size=int(rng.integers(1, 4)))
        dur = float(rng.choice([0.15, 0.25, 0.4, 0.8]))
        for p in set(int(p) for p in chord):
            notes.append((t, min(t + dur, seconds - 0.3), p, int(rng.integers(40, 110))))
        t += float(rng.choice([0.1, 0.2, 0.3, 0.5]))
    tpb, tempo = 480, 500000
    ev = []
    for on, off, p, v in notes:
        ev += [(round(on * 960), 1, mido.Message("note_on", note=p, velocity=v)),
               (round(off * 960), 0, mido.Message("note_off", note=p, velocity=0))]
    ev.sort(key=lambda e: (e[0], e[1]))
    tr = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo)])
    now = 0
    for tick, _, m in ev:
        tr.append(m.copy(time=tick - now))
        now = tick
    mf = mido.MidiFile(ticks_per_beat=tpb)
    mf.tracks.append(tr)
    mf.save(path)
    return np.array([[n[0], n[1]] for n in notes]), np.array([n[2] for n in notes])


def midi_notes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import mido

    t, open_, out = 0.0, {}, []
    for m in mido.MidiFile(path):
        t += m.time
        if m.type == "note_on" and m.velocity > 0:
            open_[m.note] = t
        elif m.type in ("note_off", "note_on") and m.note in open_:
            out.append((open_.pop(m.note), t, m.note))
    out.sort()
    return np.array([[a, b] for a, b, _ in out]), np.array([p for _, _, p in out])


def render(midi: Path, wav: Path, sr: int = 44100, soundfont: str = SOUNDFONT) -> None:
    """Render MIDI to ``wav`` with FluidSynth (gain 0.8, its default reverb and chorus; FluidR3 GM piano)."""
    render_midi(midi, wav, soundfont, sr, gain=0.8)


def save(name: str, result: dict) -> Path:
    """``result`` stamped with the time (``"when"``) as ``bench/results/NAME.json``."""
    result["when"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return save_json(name, result, indent=1)
