"""A small sampler for the Salamander Grand Piano (Yamaha C5, CC-BY 3.0 samples by Alexander Holm), a third
training piano for the shipped transcriber next to FluidSynth's two soundfonts.

The samples come from the npm registry (``@audio-samples/piano-velocityN``: one OGG per minor third A0..C8, per
velocity layer N of 16), downloaded once into ``~/.cache/tonehost/salamander`` (``$TONEHOST_CACHE`` honoured).
Rendering: each note plays the nearest sample of the nearest layer for its velocity, re-pitched by at most one
semitone (linear-interpolation resampling), with a small gain for the velocity within the layer, until its
pedal-extended release, then fades with a damper time constant (strings above the dampers, MIDI > 88, are not
faded; every note is cut 6 time constants after its release).

Training data only: nothing at run time imports this module.
"""
from __future__ import annotations

import io
import os
import tarfile
import urllib.request
from pathlib import Path

import numpy as np

VERSION = "1.0.5"
LAYERS = (4, 8, 12, 16)  # of Salamander's 16 velocity layers: pp, mp, f, ff
NOTE_NAMES = {"C": 0, "D#": 3, "F#": 6, "A": 9}
URL = "https://registry.npmjs.org/@audio-samples/piano-velocity{v}/-/piano-velocity{v}-{version}.tgz"


def cache_dir() -> Path:
    """Where the samples are kept: :func:`tonehost.exports.paths.cache_dir` ``("salamander")``."""
    from tonehost.exports.paths import cache_dir as _cache_dir
    return _cache_dir("salamander")


def fetch(layers=LAYERS, dest: Path | None = None) -> Path:
    """Download and unpack the velocity layers (once); returns the folder holding ``v{N}/*.ogg``."""
    dest = Path(dest) if dest else cache_dir()
    for v in layers:
        d = dest / f"v{v}"
        if d.is_dir() and len(list(d.glob("*.ogg"))) >= 30:
            continue
        url = URL.format(v=v, version=VERSION)
        print(f"downloading {url}", flush=True)
        try:
            data = urllib.request.urlopen(url, timeout=60).read()
        except OSError as exc:
            raise SystemExit(f"cannot download the Salamander piano samples ({url}): {exc}; the npm registry must "
                             f"be reachable, or unpack the package's audio/*.ogg into {d}") from exc
        tmp = dest / f"v{v}.partial"
        tmp.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for m in tar.getmembers():
                if m.isfile() and m.name.endswith(".ogg"):
                    (tmp / Path(m.name).name).write_bytes(tar.extractfile(m).read())
        tmp.rename(d)
    return dest


def _midi_of(stem: str) -> int:
    """'D#4v10' -> 63."""
    name = stem[:stem.rindex("v")]
    letter = name[:-1]
    return 12 * (int(name[-1]) + 1) + NOTE_NAMES[letter]


class Sampler:
    """Salamander samples at ``sample_rate`` (mono float32, onsets trimmed), by layer and MIDI pitch."""

    def __init__(self, sample_rate: int = 16000, layers=LAYERS, root: Path | None = None):
        import soundfile as sf
        from scipy.signal import resample_poly

        root = fetch(layers, root)
        self.sample_rate = sample_rate
        self.layers = tuple(layers)
        self.samples: dict[int, dict[int, np.ndarray]] = {}
        for v in self.layers:
            bank = {}
            for p in sorted((root / f"v{v}").glob("*.ogg")):
                x, sr = sf.read(str(p), dtype="float32", always_2d=True)
                x = x.mean(axis=1)
                g = np.gcd(int(sr), sample_rate)
                x = resample_poly(x, sample_rate // g, int(sr) // g).astype(np.float32)
                peak = float(np.max(np.abs(x))) + 1e-9
                start = max(0, int(np.argmax(np.abs(x) > 0.02 * peak)) - int(0.002 * sample_rate))
                bank[_midi_of(p.stem)] = x[start:]
            self.samples[v] = bank
        self.pitches = np.array(sorted(self.samples[self.layers[0]]))

    def note(self, pitch: int, velocity: int, duration: float, release: float) -> np.ndarray:
        """One note: ``duration`` seconds at full level, then an exponential fade of time constant ``release``."""
        sr = self.sample_rate
        layer_pos = np.clip(velocity / 127 * 16, 1, 16)
        v = min(self.layers, key=lambda lv: abs(lv - layer_pos))
        gain = 10 ** (np.clip(layer_pos - v, -2, 2) * 1.5 / 20)  # ~1.5 dB per layer step inside the layer
        src = int(self.pitches[np.argmin(np.abs(self.pitches - pitch))])
        x = self.samples[v][src]
        ratio = 2.0 ** ((pitch - src) / 12.0)
        n_out = int(min(len(x) / ratio, (duration + 6 * release) * sr))
        if n_out <= 0:
            return np.zeros(0, np.float32)
        y = np.interp(np.arange(n_out) * ratio, np.arange(len(x)), x) if ratio != 1.0 else x[:n_out].copy()
        k = int(duration * sr)
        if pitch <= 88 and k < n_out:
            y[k:] *= np.exp(-np.arange(n_out - k) / (release * sr))
        return (gain * y).astype(np.float32)

    def render(self, notes, seconds: float, rng) -> np.ndarray:
        """Mix ``notes`` = [(onset s, release s (pedal-extended), pitch, velocity)] into ``seconds`` of audio."""
        sr = self.sample_rate
        out = np.zeros(int(seconds * sr) + sr, np.float64)
        damper = float(rng.uniform(0.04, 0.15))
        for on, off, pitch, vel in notes:
            y = self.note(int(pitch), int(vel), max(0.03, off - on), damper)
            i = int(round(on * sr))
            if i >= len(out):
                continue
            m = min(len(y), len(out) - i)
            out[i:i + m] += y[:m]
        return out[:int(seconds * sr)].astype(np.float32)
