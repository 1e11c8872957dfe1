"""Hum -> MIDI (HumToMidi, ``tonehost pitch --midi``), streamed ``render``/``pitch`` (flat memory, same output as the
in-memory path), and the empty-file cases."""
from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from tonehost.dsp.features import track_pitch, track_pitch_blocks, voice_like
from tonehost.realtime.midi.hum import HumToMidi, velocity_from_db, write_midi_file

SR = 16000
TONEHOST = str(__import__("pathlib").Path(sys.executable).parent / "tonehost")  # the installed console script


def hz(m):
    return 440.0 * 2.0 ** ((np.asarray(m, float) - 69.0) / 12.0)


def run_frames(f0, voiced, fps=500.0, db=-40.0):
    conv = HumToMidi()
    msgs = []
    for i, (f, v) in enumerate(zip(f0, voiced)):
        msgs += conv.frame(i / fps, float(f), bool(v), db)
    msgs += conv.finish(len(f0) / fps)
    return msgs


def notes_of(msgs):
    on = [(m.time, m.note) for m in msgs if m.type == "note_on"]
    off = [(m.time, m.note) for m in msgs if m.type == "note_off"]
    return on, off


def test_melody_becomes_notes():
    seq = [60, 64, 67, 72]
    f0 = np.repeat(hz(seq), 150)  # 0.3 s each at 500 frames/s
    on, off = notes_of(run_frames(f0, np.ones(len(f0), bool)))
    assert [n for _, n in on] == seq
    assert len(off) == len(on)
    # leaps beyond the bend range change the note at once
    starts = np.array([t for t, _ in on])
    assert np.all(np.abs(starts[1:] - np.arange(1, len(seq)) * 0.3) <= 0.004)
    # a step of one semitone (inside the bend range) changes it once the voice settled there (40 ms)
    f0 = np.repeat(hz([60, 61]), 150)
    on, _ = notes_of(run_frames(f0, np.ones(len(f0), bool)))
    assert [n for _, n in on] == [60, 61] and abs(on[1][0] - (0.3 + 0.04)) <= 0.004


def test_glide_and_vibrato_stay_one_note_with_pitch_bend():
    n = 500
    t = np.arange(n) / 500.0
    glide = 220.0 * 2 ** (np.linspace(0, 1.0, n) / 12)  # one semitone up over 1 s
    vib = 220.0 * 2 ** (0.3 * np.sin(2 * np.pi * 5.5 * t) / 12)
    for f0 in (vib,):
        msgs = run_frames(f0, np.ones(n, bool))
        on, _ = notes_of(msgs)
        assert len(on) == 1 and on[0][1] == 57
        bends = [m.pitch for m in msgs if m.type == "pitchwheel"]
        assert len(bends) > 20 and max(bends) > 0 > min(bends)
    msgs = run_frames(glide, np.ones(n, bool))
    on, _ = notes_of(msgs)
    # a glide ends on the next semitone: one re-trigger at most, and the bend follows the glide before it
    assert on[0][1] == 57 and len(on) <= 2
    bends = [m.pitch for m in msgs if m.type == "pitchwheel"]
    assert max(bends) >= 8192 * 0.4 / 2.0


def test_gap_ends_the_note_and_velocity_follows_loudness():
    f0 = np.full(600, 220.0)
    voiced = np.ones(600, bool)
    voiced[250:300] = False  # 100 ms of breath
    on, off = notes_of(run_frames(f0, voiced))
    assert len(on) == 2 and len(off) == 2
    assert off[0][0] == pytest.approx(0.5 + 0.03, abs=0.003)  # released after 30 ms unvoiced
    assert velocity_from_db(-25.0) == 127 and velocity_from_db(-70.0) == 1 and velocity_from_db(-47.5) == 64


def test_pitch_cli_writes_midi(tmp_path):
    x = voice_like(np.concatenate([np.full(int(0.4 * SR), hz(m)) for m in (57, 60, 64)]), SR, 0.3)
    wav = tmp_path / "hum.wav"
    sf.write(wav, np.r_[np.zeros(SR // 5), x, np.zeros(SR // 5)], SR)
    r = subprocess.run([TONEHOST, "pitch", str(wav), "-o",
                        str(tmp_path / "f0.csv"), "--midi", str(tmp_path / "hum.mid")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    import pretty_midi
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "hum.mid"))
    notes = pm.instruments[0].notes
    assert [n.pitch for n in notes] == [57, 60, 64]
    assert abs(notes[0].start - 0.2) < 0.03
    rows = np.loadtxt(tmp_path / "f0.csv", delimiter=",", skiprows=1)
    assert abs(rows[1, 0] - rows[0, 0] - 0.002) < 1e-6  # the live tracker's 2 ms frames


def test_empty_wav(tmp_path):
    """An empty (0-sample) WAV: render prints one clear line (it used to end in an IndexError traceback from its
    timing summary); pitch writes the header and no frames."""
    wav = tmp_path / "empty.wav"
    sf.write(wav, np.zeros(0, np.float32), SR)
    r = subprocess.run([TONEHOST, "render", str(wav), "-o",
                        str(tmp_path / "out.wav")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(wav) in lines[0] and "Traceback" not in r.stderr
    r = subprocess.run([TONEHOST, "pitch", str(wav), "-o",
                        str(tmp_path / "f0.csv")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f0.csv").read_text().strip() == "time,f0_hz,confidence"


def test_streamed_pitch_equals_whole_file():
    x = voice_like(np.r_[np.full(SR, 200.0), np.full(SR, 300.0)], SR, 0.3)
    t, f, c = track_pitch(x, 44100)
    parts = list(track_pitch_blocks((x[i:i + 777] for i in range(0, len(x), 777)), 44100))
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), f)
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), t)


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_render_and_pitch_memory_flat_in_length():
    """Streaming: peak Python/numpy memory for a 16 s input is no bigger than for a 4 s one (today's whole-array
    render used 308 MB for 3 s and 812 MB for 10 minutes)."""
    from tonehost.exports.checkpoints.shipped import default_instrument_path
    from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig
    controls = ControlsModel(default_instrument_path("violin"))
    rng = np.random.default_rng(0)

    def blocks(seconds):
        for _ in range(int(seconds * 4)):
            yield (0.2 * np.sin(2 * np.pi * 220 * np.arange(SR // 4) / SR) + 0.01 * rng.standard_normal(SR // 4))

    def render(seconds):
        pipe = InstrumentPipeline(controls, PipelineConfig())
        for _ in pipe.render_blocks(blocks(seconds), SR):
            pass

    def pitch(seconds):
        for _ in track_pitch_blocks(blocks(seconds), SR):
            pass

    render(1)  # JIT and session warm-up outside the measurement
    short, long_ = _peak_bytes(lambda: render(4)), _peak_bytes(lambda: render(16))
    assert long_ < 1.3 * short + 2 ** 20, (short, long_)
    short, long_ = _peak_bytes(lambda: pitch(4)), _peak_bytes(lambda: pitch(16))
    assert long_ < 1.3 * short + 2 ** 20, (short, long_)


def test_write_midi_file_roundtrip(tmp_path):
    msgs = run_frames(np.repeat(hz([60, 62]), 100), np.ones(200, bool))
    n = write_midi_file(tmp_path / "x.mid", msgs)
    assert n == 2
    import mido
    f = mido.MidiFile(str(tmp_path / "x.mid"))
    assert sum(m.type == "note_on" for m in f.tracks[0]) == 2


def test_live_pipeline_feeds_hum_to_midi():
    """``play --midi-out``: the pipeline's feature listener drives HumToMidi frame by frame; the note-on comes
    within 15 ms of the sung onset (the tracker's voicing delay)."""
    from tonehost.exports.checkpoints.shipped import default_instrument_path
    from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig
    pipe = InstrumentPipeline(ControlsModel(default_instrument_path("violin")), PipelineConfig(sample_rate=48000))
    conv, msgs = HumToMidi(), []
    pipe.feature_listener = lambda t, f, v, db: msgs.extend(conv.frame(t, f, v, db))
    f = np.r_[np.zeros(int(0.3 * 48000)), np.full(int(0.5 * 48000), hz(57)), np.full(int(0.5 * 48000), hz(64)),
              np.zeros(int(0.3 * 48000))]
    pipe.render(voice_like(f, 48000, 0.3), 48000, block_size=128, whole_file=False)
    on = [(m.time, m.note) for m in msgs if m.type == "note_on"]
    assert [n for _, n in on] == [57, 64]
    assert 0.3 < on[0][0] <= 0.3 + 0.015
    assert 0.8 < on[1][0] <= 0.8 + 0.015
    assert any(m.type == "note_off" for m in msgs)
