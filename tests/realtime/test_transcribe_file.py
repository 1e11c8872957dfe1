"""Offline transcription that streams the file: same notes as the whole-file run, flat memory, bad samples."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings

import mido
import numpy as np
import pytest
import soundfile as sf

from tonehost.exports.errors import NonFiniteAudioWarning
from tonehost.realtime.pipelines.transcriber import OnsetsAndFrames, transcribe_array, transcribe_file

SF2 = "/usr/share/sounds/sf2/TimGM6mb.sf2"
needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None or not os.path.exists(SF2),
                                      reason="fluidsynth + timgm6mb-soundfont not installed (scripts/setup.sh)")


@pytest.fixture(scope="module")
def model():
    return OnsetsAndFrames()


def write_midi(path, notes) -> None:
    """``notes``: (onset s, offset s, pitch, velocity); 960 ticks per second."""
    ev = sorted([(round(a * 960), 1, mido.Message("note_on", note=p, velocity=v)) for a, _, p, v in notes]
                + [(round(b * 960), 0, mido.Message("note_off", note=p)) for _, b, p, _ in notes],
                key=lambda e: (e[0], e[1]))
    tr, now = mido.MidiTrack(), 0
    for tick, _, m in ev:
        tr.append(m.copy(time=tick - now))
        now = tick
    mf = mido.MidiFile(ticks_per_beat=480)
    mf.tracks.append(tr)
    mf.save(path)


def random_piece(seconds: float, seed: int):
    rng = np.random.default_rng(seed)
    notes, t = [], 0.5
    while t < seconds - 1:
        for p in set(rng.integers(36, 96, size=int(rng.integers(1, 4))).tolist()):
            notes.append((t, t + float(rng.choice([0.15, 0.3, 0.6])), p, int(rng.integers(30, 120))))
        t += float(rng.choice([0.1, 0.2, 0.35, 0.5]))
    return notes


def render(tmp_path, name, notes, sr=22050, mono=False):
    from tonehost.exports.training.fluidsynth import render_midi

    write_midi(tmp_path / f"{name}.mid", notes)
    return render_midi(tmp_path / f"{name}.mid", tmp_path / f"{name}.wav", SF2, sr, mono=mono)


@needs_fluidsynth
def test_long_file_streamed_gives_the_whole_file_notes(model, tmp_path):
    audio = render(tmp_path, "long", random_piece(150.0, 3))  # 2.5 min, stereo 22.05 kHz
    whole = transcribe_array(model.session, audio, 22050).notes
    streamed, duration = transcribe_file(model.session, tmp_path / "long.wav", block_frames=12345)
    assert duration == pytest.approx(len(audio) / 22050)
    assert len(whole) > 500 and streamed.notes == whole  # same notes, same times, same velocities
    seen = []  # the shipped model's own decoding (loudness velocities, no ghost notes), through the API
    seq = model.transcribe_file(tmp_path / "long.wav", progress=seen.append)
    assert seq.notes == model.transcribe(audio, 22050).notes and len(seq.notes) > 500
    assert sum(seen) == pytest.approx(duration) and len(seen) > 10


PEAK_SCRIPT = """
import sys
from tonehost.realtime.pipelines.transcriber import OnsetsAndFrames
m = OnsetsAndFrames()
seq = m.transcribe_file(sys.argv[1])
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]  # (ru_maxrss counts the parent)
print(int(hwm.split()[1]) / 1024, len(seq.notes), seq.total_time)
"""


def test_peak_memory_is_flat_in_the_file_length(tmp_path):
    """1 min vs 8 min of 44.1 kHz stereo: the whole-file path grew ~2.7 MB per second of audio (1.3 GB more for
    the longer file); streamed, the peak must not grow by more than 30 MB and stay under 300 MB."""
    peaks = {}
    warm = tmp_path / "warm.wav"  # a first run fills the numba cache (a cold JIT compile alone can peak higher)
    sf.write(warm, np.zeros(44100, np.float32), 44100)
    subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(warm)], capture_output=True, timeout=300)
    for minutes in (1, 8):
        path = tmp_path / f"m{minutes}.wav"
        with sf.SoundFile(path, "w", 44100, 2, subtype="PCM_16") as f:
            for k in range(minutes * 6):  # 10 s blocks of decaying tones
                x = np.zeros((441000, 2), np.float32)
                t = np.arange(44100) / 44100
                for j in range(10):
                    f0 = 110 * 2 ** (((k * 10 + j) * 5 % 36) / 12)
                    x[j * 44100:(j + 1) * 44100, 0] = 0.3 * np.sin(2 * np.pi * f0 * t) * np.exp(-3 * t)
                x[:, 1] = x[:, 0]
                f.write(x)
        out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path)], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
        assert out.returncode == 0, out.stderr
        peak, n_notes, total = out.stdout.split()
        assert float(total) == pytest.approx(minutes * 60) and int(n_notes) > 0
        peaks[minutes] = float(peak)
    print(f"peak RSS: {peaks}")
    assert peaks[8] - peaks[1] < 30, peaks
    assert peaks[8] < 300, peaks


@needs_fluidsynth
def test_non_finite_samples_do_not_change_the_notes(model, tmp_path):
    """Issue 14: three NaNs (or one +inf) in a clean 6-note scale added a wrong note and moved an onset by 70 ms,
    silently. Now they are zeros, the notes are those of the clean file, and one warning names file and count."""
    scale = [(0.5 + 0.5 * i, 0.9 + 0.5 * i, p, 90) for i, p in enumerate((60, 62, 64, 65, 67, 69))]
    audio = render(tmp_path, "scale", scale, sr=16000, mono=True).astype(np.float32)
    clean = tmp_path / "clean.wav"
    sf.write(clean, audio, 16000, subtype="FLOAT")
    ref = model.transcribe_file(clean).notes
    assert [n.pitch for n in ref] == [60, 62, 64, 65, 67, 69]
    for name, idx, value in (("nan3", [int(1.01 * 16000), int(1.5 * 16000), int(2.2 * 16000)], np.nan),
                             ("inf1", [int(1.01 * 16000)], np.inf)):
        bad = audio.copy()
        bad[idx] = value
        path = tmp_path / f"{name}.wav"
        sf.write(path, bad, 16000, subtype="FLOAT")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = model.transcribe_file(path).notes
        msgs = [str(w.message) for w in caught if issubclass(w.category, NonFiniteAudioWarning)]
        assert len(msgs) == 1 and f"{name}.wav" in msgs[0] and f"{len(idx)} non-finite" in msgs[0], msgs
        assert [(n.pitch, n.start_time) for n in got] == [(n.pitch, n.start_time) for n in ref]
