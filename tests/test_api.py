"""The public API (``import tonehost``): names, lazy loading, docstrings, and each entry point doing its job."""
from __future__ import annotations

import inspect
import json
import subprocess
import sys

import numpy as np
import pytest

import tonehost
from tonehost.exports import errors


def test_import_is_light_and_names_resolve():
    code = ("import sys, tonehost; heavy = [m for m in ('onnxruntime', 'sounddevice', 'numba', 'torch') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
    for name in tonehost.__all__:
        obj = getattr(tonehost, name)
        if name != "__version__":
            assert (inspect.getdoc(obj) or "").strip(), f"tonehost.{name} has no docstring"
    with pytest.raises(AttributeError):
        tonehost.no_such_name  # noqa: B018


def test_version_everywhere():
    from importlib.metadata import version

    assert tonehost.__version__ == version("tonehost")
    out = subprocess.run([sys.executable, "-m", "tonehost", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"tonehost {tonehost.__version__}"


def test_one_error_root():
    for name in errors.__all__:  # one root for errors, one for warnings (repaired input)
        cls = getattr(errors, name)
        assert issubclass(cls, errors.TonehostError) or issubclass(cls, errors.TonehostWarning), name
    assert issubclass(errors.NonFiniteAudioWarning, errors.TonehostWarning)
    e = errors.AudioFileError("x.wav: broken; use wav", "x.wav")
    assert str(e) == e.user_message == "x.wav: broken; use wav" and e.path == "x.wav"
    from tonehost.exports.convert.pitch_model import PitchModelError
    from tonehost.exports.note_sequence import SequenceError
    assert issubclass(PitchModelError, errors.TonehostError) and issubclass(SequenceError, errors.TonehostError)


def test_cli_prints_one_line_for_tonehost_errors(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tonehost", "pitch", str(tmp_path / "missing.wav"), "-o",
                        str(tmp_path / "f0.csv")], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [f"tonehost: error: audio file {tmp_path / 'missing.wav'} not found"]


# ------------------------------------------------------------------------------------------- NoteSequence

def _seq():
    seq = tonehost.NoteSequence(tempos=[tonehost.exports.note_sequence.Tempo(0.0, 120.0)])
    seq.add_note(60, 0.0, 0.5, velocity=80)
    seq.add_note(64, 0.26, 0.3, velocity=90)     # 0.26 s * 8 steps/s = 2.08 -> step 2; end 2.4 -> 2 -> 3
    seq.add_note(67, 0.0625, 1.0)                # 0.5 steps: the cutoff rounds half up -> step 1
    return seq


def test_note_sequence_quantize_follows_magenta_js():
    q = _seq().quantize(steps_per_quarter=4)     # 120 qpm -> 8 steps per second
    steps = [(n.pitch, n.quantized_start_step, n.quantized_end_step) for n in q.notes]
    assert steps == [(60, 0, 4), (64, 2, 3), (67, 1, 8)]
    assert q.total_quantized_steps == 8 and q.is_quantized and q.quantization_info.steps_per_quarter == 4
    assert q.time_signatures[0].numerator == 4 and q.tempos[0].time == 0.0
    back = q.unquantize()
    assert [(n.start_time, n.end_time) for n in back.notes] == [(0.0, 0.5), (0.25, 0.375), (0.125, 1.0)]
    changing = _seq()
    changing.tempos.append(tonehost.exports.note_sequence.Tempo(1.0, 90.0))
    with pytest.raises(errors.TonehostError, match="tempo"):
        changing.quantize()


def test_note_sequence_json_and_midi_round_trips(tmp_path):
    seq = _seq()
    d = seq.to_json()
    assert d["notes"][0] == {"pitch": 60, "velocity": 80, "startTime": 0.0, "endTime": 0.5, "program": 0,
                             "instrument": 0, "isDrum": False}
    assert tonehost.NoteSequence.from_json(json.dumps(d)) == seq
    path = seq.to_midi(tmp_path / "s.mid")
    back = tonehost.NoteSequence.from_midi(path)
    got = sorted((n.pitch, n.start_time, n.end_time, n.velocity) for n in back.notes)
    want = sorted((n.pitch, n.start_time, n.end_time, n.velocity) for n in seq.notes)
    tick = 60.0 / 120.0 / seq.ticks_per_quarter  # MIDI times are whole ticks
    assert [(p, v) for p, _, _, v in got] == [(p, v) for p, _, _, v in want]
    assert np.allclose([g[1:3] for g in got], [w[1:3] for w in want], atol=tick)
    assert back.qpm == pytest.approx(120.0)
    pm = seq.to_pretty_midi()
    assert sum(len(i.notes) for i in pm.instruments) == 3
    assert len(tonehost.NoteSequence.from_pretty_midi(pm).notes) == 3
    with pytest.raises(errors.TonehostError, match="does not exist"):
        seq.to_midi(tmp_path / "missing_dir" / "s.mid")
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    with pytest.raises(errors.TonehostError, match="bad.mid"):
        tonehost.NoteSequence.from_midi(tmp_path / "bad.mid")


# ------------------------------------------------------------------------------------------- models

@pytest.fixture(scope="module")
def piano():
    return tonehost.OnsetsAndFrames()


def test_transcribe_and_stream_agree(piano, data_dir):
    audio, sr = tonehost.read_audio(data_dir / "piano" / "stereo_sample.wav")
    seq = piano.transcribe(audio, sr)
    assert isinstance(seq, tonehost.NoteSequence) and len(seq.notes) >= 6
    assert seq.total_time == pytest.approx(len(audio) / sr)
    assert [n.start_time for n in seq.notes] == sorted(n.start_time for n in seq.notes)
    stream = piano.stream(sr)
    rng = np.random.default_rng(0)
    pos, ons = 0, 0
    while pos < len(audio):
        k = int(rng.integers(1, 3000))
        ons += sum(e.kind == "on" for e in stream.push(audio[pos:pos + k]))
        pos += k
    ons += sum(e.kind == "on" for e in stream.finish())
    assert ons == len(seq.notes)
    assert [(n.pitch, n.velocity, n.start_time, n.end_time) for n in stream.note_sequence.notes] == \
        [(n.pitch, n.velocity, n.start_time, n.end_time) for n in seq.notes]
    with pytest.raises(errors.UsageError):
        stream.push(audio[:10])
    with pytest.raises(errors.UsageError):
        piano.transcribe(audio, 0)


def test_transcriber_errors_name_the_file(tmp_path):
    with pytest.raises(errors.ModelError, match="missing.onnx"):
        tonehost.OnsetsAndFrames(tmp_path / "missing.onnx")
    with pytest.raises(errors.CheckpointError, match="no_such_checkpoint"):
        tonehost.OnsetsAndFrames("no_such_checkpoint", offline=True)


def test_ddsp_synthesize_and_render(data_dir):
    violin = tonehost.DDSP()
    assert violin.frame_rate == 250.0 and violin.info.db_kind == "loudness_db"
    n = 250
    quiet = violin.synthesize(np.full(n, 330.0), np.full(n, -120.0))
    loud = violin.synthesize(np.full(n, 330.0), np.full(n, -25.0))
    assert quiet.shape == loud.shape == (48000,) and quiet.dtype == np.float32
    rms = lambda y: float(np.sqrt(np.mean(y[12000:] ** 2)))  # noqa: E731
    assert rms(loud) > 30 * rms(quiet)
    spec = np.abs(np.fft.rfft(loud[12000:36000] * np.hanning(24000)))
    assert abs(np.argmax(spec) * 2.0 - 330.0) < 4.0 or abs(np.argmax(spec) * 2.0 - 660.0) < 8.0
    with pytest.raises(errors.UsageError):
        violin.synthesize(np.zeros(3), np.zeros(4))
    voice, sr = tonehost.read_audio(data_dir / "voice" / "mdb_stem_synth" / "AClassicEducation_NightOwl_STEM_08.RESYN.wav")
    out = violin.render(voice, sr)
    assert len(out) == pytest.approx(len(voice) * 48000 / sr, abs=2) and np.max(np.abs(out)) > 0.01
    with pytest.raises(errors.UsageError):
        tonehost.DDSP(sample_rate=0)


def test_track_pitch_on_a_tone():
    sr = 22050
    x = 0.3 * np.sin(2 * np.pi * 220.0 * np.arange(sr) / sr)
    times, f0, conf = tonehost.track_pitch(x, sr)
    mid = (times > 0.1) & (times < 0.9)
    assert np.all(np.abs(1200 * np.log2(f0[mid] / 220.0)) < 5) and np.all(conf[mid] > 0.9)


def test_checkpoints_list_info_fetch(tmp_path):
    from tonehost.exports.tfjs import write_layers_checkpoint
    from tonehost.realtime.testing.checkpoint_server import SMALL_SHAPES, CheckpointServer, random_weights

    entries = tonehost.checkpoints.list()
    ids = {c.id for c in entries}
    assert len(entries) >= 35 and {"ddsp_violin", "onsets_frames_uni", "basic_rnn", "mel_2bar_small"} <= ids
    assert tonehost.checkpoints.info("ddsp_violin").model.startswith("DDSP")
    with pytest.raises(errors.CheckpointNotFoundError, match="ddsp_violin"):
        tonehost.checkpoints.info("ddsp_violn")
    write_layers_checkpoint(tmp_path / "srv" / "rnn", random_weights(0, SMALL_SHAPES))
    srv = CheckpointServer(tmp_path / "srv").start()
    try:
        path = tonehost.checkpoints.fetch(f"{srv.url}/rnn", cache_dir=tmp_path / "cache")
    finally:
        srv.stop()
    assert (path / "weights_manifest.json").is_file()
    assert tonehost.checkpoints.fetch(f"{srv.url}/rnn", cache_dir=tmp_path / "cache", offline=True) == path
