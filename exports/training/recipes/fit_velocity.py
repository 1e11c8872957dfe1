"""Fit the loudness -> MIDI velocity calibration of the shipped piano transcriber (``LOUDNESS_VELOCITY`` in
``tonehost.realtime.pipelines.transcriber``).

Renders single notes of every second key (21..107) at velocities 16, 32, ..., 112, 127 in shuffled order, 0.6 s
apart, with FluidSynth through each training soundfont (FluidR3_GM, TimGM6mb), measures each key's onset level
(:func:`tonehost.dsp.mel.onset_levels`: the peak over the onset frame and the next two of the key's partials 1-3
in the log-mel spectrogram the model sees), and fits ``log10(velocity) = c0 + c1 * level + c2 * pitch +
c3 * pitch**2`` by least squares. Prints the coefficients and, for each soundfont including the held-out
MuseScore_General_Lite, the mean absolute velocity error and the mean per-key rank correlation.

    .venv/bin/python -m tonehost.exports.training.recipes.fit_velocity [--out DIR]

Needs Debian ``fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small``; no torch.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from tonehost.dsp.mel import log_mel, onset_levels, pitch_band_weights
from tonehost.exports.training.fluidsynth import render_midi

TRAIN = {"FluidR3_GM": "/usr/share/sounds/sf2/FluidR3_GM.sf2", "TimGM6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2"}
HELD_OUT = {"MuseScore_General_Lite": "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"}
FRAME_SECONDS = 512 / 16000


def grid_notes(seed: int = 1) -> list[tuple[float, float, int, int]]:
    """(onset s, offset s, pitch, velocity) of the calibration grid, shuffled with ``seed``."""
    grid = [(p, v) for p in range(21, 109, 2) for v in (16, 32, 48, 64, 80, 96, 112, 127)]
    order = np.random.default_rng(seed).permutation(len(grid))
    return [(0.5 + 0.6 * i, 0.9 + 0.6 * i, grid[j][0], grid[j][1]) for i, j in enumerate(order)]


def write_midi(path: Path, notes) -> None:
    """A type-1 MIDI file of ``notes`` at 960 ticks per second."""
    import mido

    ev = sorted([(round(a * 960), 1, mido.Message("note_on", note=p, velocity=v)) for a, _, p, v in notes]
                + [(round(b * 960), 0, mido.Message("note_off", note=p)) for _, b, p, _ in notes],
                key=lambda e: (e[0], e[1]))
    track, now = mido.MidiTrack(), 0
    for tick, _, m in ev:
        track.append(m.copy(time=tick - now))
        now = tick
    mf = mido.MidiFile(ticks_per_beat=480)
    mf.tracks.append(track)
    mf.save(path)


def measure(soundfont: str, notes, tmp: Path) -> np.ndarray:
    """Rows ``(pitch, velocity, onset level dB)`` for ``notes`` rendered at 16 kHz with ``soundfont``."""
    mid = tmp / "grid.mid"
    write_midi(mid, notes)
    audio = render_midi(mid, tmp / f"{Path(soundfont).stem}.wav", soundfont, 16000, mono=True)
    mel = log_mel(np.asarray(audio, np.float32))
    weights = pitch_band_weights()
    rows = []
    for on, _, p, v in notes:
        f = int(round(on / FRAME_SECONDS))
        peak, _ = onset_levels(mel[max(0, f - 3):f + 3], min(3, f), 1, weights)
        rows.append((p, v, float(peak[0, p - 21])))
    return np.array(rows)


def design(rows: np.ndarray) -> np.ndarray:
    p = rows[:, 0]
    return np.stack([np.ones(len(rows)), rows[:, 2], p, p * p], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="folder for the renders (default: a temporary one)")
    args = ap.parse_args()
    from scipy.stats import spearmanr

    tmp = args.out or Path(tempfile.mkdtemp(prefix="tonehost_velocity_"))
    tmp.mkdir(parents=True, exist_ok=True)
    notes = grid_notes()
    data = {name: measure(path, notes, tmp) for name, path in {**TRAIN, **HELD_OUT}.items()}
    train = np.concatenate([data[n] for n in TRAIN])
    coef, *_ = np.linalg.lstsq(design(train), np.log10(train[:, 1]), rcond=None)
    print("LOUDNESS_VELOCITY = (" + ", ".join(f"{c:.6g}" for c in coef) + ")")
    for name, rows in data.items():
        pred = np.clip(np.round(10 ** (design(rows) @ coef)), 1, 127)
        rho = np.nanmean([spearmanr(rows[rows[:, 0] == p, 1], rows[rows[:, 0] == p, 2]).correlation
                          for p in np.unique(rows[:, 0])])
        kind = "train" if name in TRAIN else "held out"
        print(f"{name:24s} ({kind:8s}) velocity MAE {np.mean(np.abs(pred - rows[:, 1])):5.1f}   "
              f"per-key rank correlation {rho:.3f}")


if __name__ == "__main__":
    main()
