"""``tonehost render`` / ``tonehost pitch`` with bad input or bad output names (the new-user trial's faults): one
clear error line naming the file and the fix, the input never lost, no half-written output under the final name."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from conftest import default_sigint, one_error_line
from conftest import run_main as main
from tonehost.dsp.features import voice_like
from tonehost.realtime.midi.hum import HumToMidi

MIN_NOTE_S = 0.04  # tonehost.realtime.midi.hum.MIN_NOTE_S (imported in the tests that use the new helpers)

SR = 16000
TONEHOST = str(Path(sys.executable).parent / "tonehost")


@pytest.fixture
def hum(tmp_path):
    x = voice_like(np.full(SR, 220.0), SR, 0.3)
    p = tmp_path / "hum.wav"
    sf.write(p, x, SR)
    return p


# ------------------------------------------------------------------ fault 1: an output that is the input

@pytest.mark.parametrize("argv", [
    ["render", "{in}", "-o", "{in}"],
    ["render", "{in}", "-o", "{rel}"],
    ["render", "{in}", "-o", "{link}"],
    ["pitch", "{in}", "-o", "{in}"],
    ["pitch", "{in}", "-o", "{link}"],
    ["pitch", "{in}", "-o", "f0.csv", "--midi", "{rel}"],
    ["pitch", "{in}", "-o", "f0.csv", "--midi", "f0.csv"],
])
def test_an_output_naming_the_input_is_refused_and_the_input_kept(tmp_path, hum, monkeypatch, argv):
    (tmp_path / "sub").mkdir()
    os.symlink(hum, tmp_path / "link.wav")
    monkeypatch.chdir(tmp_path / "sub")
    before = hum.read_bytes()
    names = {"in": hum, "rel": "../" + hum.name, "link": tmp_path / "link.wav"}
    rc, out, err = main(*[a.format(**names) for a in argv])
    assert rc == 1
    one_error_line(err, "another" if "f0.csv" not in argv[-1] else "different")
    assert hum.read_bytes() == before
    assert not (tmp_path / "sub" / "f0.csv").exists()  # refused before anything was opened or created


def test_atomic_output_leaves_the_old_file_when_the_writer_fails(tmp_path):
    from tonehost.realtime.cli.outputs import atomic_output
    target = tmp_path / "out.wav"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target) as part:
            part.write_bytes(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    with atomic_output(target) as part:
        part.write_bytes(b"new")
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()  # the umask's mode, as open() gives


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_an_interrupted_render_leaves_no_partial_file(tmp_path):
    """Ctrl-C during a render (fault 20): exit 130, nothing under the final name, no temporary file left."""
    x = voice_like(np.full(60 * SR, 220.0), SR, 0.3)
    src = tmp_path / "long.wav"
    sf.write(src, x, SR)
    out = tmp_path / "o" / "violin.wav"
    proc = subprocess.Popen([TONEHOST, "render", str(src), "-o", str(out), "--live"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            parts = list(out.parent.glob(".violin.wav.*.part")) if out.parent.is_dir() else []
            if parts and parts[0].stat().st_size > 100_000:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


# ------------------------------------------------------------------ faults 5, 6, 7: outputs and numbers, parsed

@pytest.mark.parametrize("argv,option,words", [
    (["render", "{in}", "-o", "x.mp4"], "-o", [".wav", ".flac"]),
    (["render", "{in}", "-o", "noext"], "-o", ["no extension", ".wav"]),
    (["render", "{in}", "-o", "-"], "-o", ["standard output"]),
    (["render", "{in}", "-o", "x.wav", "--tail", "1e9"], "--tail", ["60"]),
    (["pitch", "{in}", "-o", "f0.csv", "--hop-ms", "300"], "--hop-ms", ["100"]),
    (["pitch", "{in}", "-o", "f0.csv", "--hop-ms", "1e9"], "--hop-ms", ["100"]),
    (["pitch", "{in}", "-o", "f0.csv", "--midi", "/proc/x.mid"], "--midi", ["/proc/x.mid"]),
    (["pitch", "{in}", "-o", "f0.csv", "--midi", "/proc/no/such/x.mid"], "--midi", ["/proc/no/such"]),
])
def test_bad_output_names_and_numbers_are_one_line_before_any_work(tmp_path, hum, monkeypatch, argv, option,
                                                                   words):
    monkeypatch.chdir(tmp_path)
    rc, out, err = main(*[a.format(**{"in": hum}) for a in argv])
    assert rc == 2
    line = one_error_line(err, f"argument {option}", *words)
    assert "--help" in line
    assert not (tmp_path / "f0.csv").exists() and not (tmp_path / "x.wav").exists()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from tonehost.realtime.testing.models import VIOLIN_SETTINGS, make_random_controls_onnx
    return make_random_controls_onnx(tmp_path_factory.mktemp("m") / "violin.onnx", settings=VIOLIN_SETTINGS)


@pytest.mark.parametrize("name", ["violin.flac", "violin.ogg", "violin.aiff", "violin.WAV"])
def test_render_writes_the_format_its_extension_names(tmp_path, hum, model, name):
    out = tmp_path / name
    rc, _, err = main("render", hum, "--checkpoint", model, "-o", out)
    assert rc == 0, err
    info = sf.info(str(out))
    assert info.samplerate == 48000 and abs(info.frames - 48000) <= 2
    assert info.format == {".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".WAV": "WAV"}[out.suffix]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["hum.wav", name])  # no temporary left


def test_pitch_csv_to_standard_output(hum):
    r = subprocess.run([TONEHOST, "pitch", str(hum), "-o", "-"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0] == "time,f0_hz,confidence" and len(rows) > 400
    assert "standard output" in r.stderr and not Path("-").exists()
    r = subprocess.run(f"'{TONEHOST}' pitch '{hum}' -o - | head -1", shell=True, capture_output=True, text=True,
                       timeout=300)
    assert r.stdout.strip() == "time,f0_hz,confidence" and "Traceback" not in r.stderr, r.stderr


# ------------------------------------------------------------------ fault 15: the input file's messages

def test_a_folder_an_empty_file_and_a_header_only_wav_say_what_they_are(tmp_path):
    (tmp_path / "dir.wav").mkdir()
    (tmp_path / "empty.wav").write_bytes(b"")
    sf.write(tmp_path / "header.wav", np.zeros(0, np.float32), SR)
    rc, _, err = main("render", tmp_path / "dir.wav", "-o", tmp_path / "o.wav")
    assert rc == 1 and "is a folder" in one_error_line(err, "dir.wav")
    rc, _, err = main("render", tmp_path / "empty.wav", "-o", tmp_path / "o.wav")
    assert rc == 1 and "empty (0 bytes)" in one_error_line(err, "empty.wav")
    rc, _, err = main("render", tmp_path / "header.wav", "-o", tmp_path / "o.wav")
    assert rc == 1 and "no audio samples" in one_error_line(err, "header.wav", "again")
    rc, _, err = main("pitch", tmp_path / "empty.wav", "-o", tmp_path / "f0.csv")
    assert rc == 1 and "empty (0 bytes)" in one_error_line(err, "empty.wav")
    assert not (tmp_path / "o.wav").exists() and not (tmp_path / "f0.csv").exists()


# ------------------------------------------------------------------ faults 11, 12, 18: progress, summary, help

def test_progress_counts_whole_samples_and_never_overshoots():
    from tonehost.realtime.cli.outputs import bar_add, seconds_bar
    buf = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm's TqdmWarning on an overshoot would fail here
        with seconds_bar("rendering", 92.6 * 48000, 48000, file=buf, disable=False, mininterval=0) as bar:
            for _ in range(1000):
                bar_add(bar, 4447)
            assert bar.n == bar.total == round(92.6 * 48000) and isinstance(bar.n, int)
    shown = buf.getvalue().replace("\r", "\n").splitlines()
    assert any("92.6/92.6 s" in s for s in shown), shown[-3:]
    assert not any("0000" in s.split("|")[-1] for s in shown)  # no 90.62400000000007


def test_pitch_summary_of_a_short_file_is_not_0x_real_time(tmp_path):
    p = tmp_path / "short.wav"
    sf.write(p, voice_like(np.full(SR // 20, 220.0), SR, 0.3), SR)
    rc, out, err = main("pitch", p, "-o", tmp_path / "f0.csv")
    assert rc == 0, err
    assert "(0x real time)" not in out and "x real time)" in out
    speed = out.rsplit("(", 1)[1].split("x")[0]
    assert "." in speed, out  # one decimal, as render prints it


@pytest.mark.parametrize("command", ["pitch", "render"])
def test_help_lines_fit_a_terminal(command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    r = subprocess.run([TONEHOST, command, "--help"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": "100"})
    assert r.returncode == 0
    long = [ln for ln in r.stdout.splitlines() if len(ln) > 100]
    assert long == [], long


# ------------------------------------------------------------------ fault 10: hum -> MIDI note lengths

def hz(m):
    return 440.0 * 2.0 ** ((np.asarray(m, float) - 69.0) / 12.0)


def _frames(conv, f0, fps=500.0):
    msgs = []
    for i, f in enumerate(f0):
        msgs += conv.frame(i / fps, float(f), f > 0, -40.0)
    return msgs + conv.finish(len(f0) / fps)


def _notes(msgs):
    on = {}
    notes = []
    for m in msgs:
        if m.type == "note_on" and m.velocity > 0:
            on[m.note] = m.time
        elif m.type in ("note_off", "note_on"):
            notes.append((on.pop(m.note), m.time, m.note))
    return sorted(notes)


def test_an_onset_blip_merges_into_its_note_in_files():
    from tonehost.realtime.midi.hum import merge_short_notes
    """A 90 Hz hum whose first 4 ms track an octave up (the trial's blip): one note, from the onset, at 90 Hz."""
    f0 = np.r_[np.zeros(50), np.full(2, 180.0), np.full(500, 90.0), np.zeros(50)]
    raw = _notes(_frames(HumToMidi(min_note_s=0.0), f0))
    assert len(raw) == 2 and raw[0][1] - raw[0][0] < 0.01  # the blip, as before
    notes = _notes(merge_short_notes(_frames(HumToMidi(min_note_s=0.0), f0)))
    assert len(notes) == 1
    start, end, pitch = notes[0]
    assert start == pytest.approx(0.1) and pitch == round(69 + 12 * np.log2(90 / 440))


def test_live_notes_last_at_least_the_minimum_and_note_ons_after_silence_do_not_wait():
    rng = np.random.default_rng(1)
    jumpy = hz(rng.integers(48, 80, 1500))  # a chord-like track: another semitone every 2 ms frame
    f0 = np.r_[np.zeros(10), jumpy, np.zeros(100), np.full(3, hz(60)), np.zeros(100)]
    msgs = _frames(HumToMidi(), f0)
    notes = _notes(msgs)
    assert all(e - s >= MIN_NOTE_S - 1e-6 for s, e, _ in notes), notes[:5]
    assert len(notes) <= 3.0 / MIN_NOTE_S + 2
    first_on = [m.time for m in msgs if m.type == "note_on"]
    assert first_on[0] == pytest.approx(10 / 500)  # at the first voiced frame
    assert first_on[-1] == pytest.approx((10 + 1500 + 100) / 500)  # the short note after silence: at once
    for s, e, _ in notes:
        assert e > s


def test_file_notes_are_never_shorter_than_the_minimum():
    from tonehost.realtime.midi.hum import merge_short_notes
    rng = np.random.default_rng(2)
    f0 = np.where(rng.random(1500) < 0.2, 0.0, hz(rng.integers(48, 80, 1500)))
    notes = _notes(merge_short_notes(_frames(HumToMidi(min_note_s=0.0), f0)))
    assert notes and all(e - s >= MIN_NOTE_S - 1e-6 for s, e, _ in notes)
    assert all(notes[i][1] <= notes[i + 1][0] + 1e-9 for i in range(len(notes) - 1))  # still one voice


def test_polyphony_warning():
    from tonehost.realtime.midi.hum import check_polyphony
    with pytest.warns(UserWarning, match="polyphonic"):
        assert check_polyphony(552, 3.0, "chord.wav")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_polyphony(12, 3.0, "melody.wav")
        assert not check_polyphony(3, 0.2, "short.wav")


def test_pitch_midi_of_a_chord_warns_and_keeps_notes_long(tmp_path):
    t = np.arange(3 * SR) / SR
    x = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    wav = tmp_path / "chord.wav"
    sf.write(wav, x.astype(np.float32), SR)
    r = subprocess.run([TONEHOST, "pitch", str(wav), "-o", str(tmp_path / "c.csv"), "--midi",
                        str(tmp_path / "c.mid")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    notes = _notes(list(_abs(mido.MidiFile(tmp_path / "c.mid"))))
    assert all(e - s >= MIN_NOTE_S - 0.002 for s, e, _ in notes)
    if len(notes) > 30:  # the trial's 552 notes: now merged, and the user is told why
        assert "polyphonic" in r.stderr


def _abs(mf):
    t = 0.0
    for m in mf:  # mido's playback iteration: .time in seconds between messages
        t += m.time
        if not m.is_meta:
            yield m.copy(time=t)


def test_a_render_louder_than_its_format_holds_says_so(tmp_path, data_dir):
    """``render -o x.flac --gain 16`` printed ``peak 3.2 dBFS`` and exited 0 while the 16-bit FLAC held the loud
    parts clipped at full scale; now one warning names the file, the peak and the gain that fits. A float WAV
    keeps every level: no warning."""
    voice = data_dir / "voice" / "fda" / "sb001.wav"  # (FDA 001-010: development files)
    rc, out, err = main("render", voice, "-o", tmp_path / "loud.flac", "--gain", 16)
    assert rc == 0, err
    import re
    assert float(re.search(r"peak (-?[\d.]+) dBFS", out).group(1)) > 0.0, out  # over full scale
    warn = [ln for ln in err.splitlines() if ln.startswith("tonehost: warning:")]
    assert len(warn) == 1 and "loud.flac" in warn[0] and "clipped" in warn[0] and "lower --gain to" in warn[0], err
    peak = float(np.max(np.abs(sf.read(tmp_path / "loud.flac")[0])))
    assert peak == pytest.approx(1.0, abs=1e-3)  # the clipping the warning speaks of
    rc, out, err = main("render", voice, "-o", tmp_path / "loud.wav", "--gain", 16)
    assert rc == 0 and "warning" not in err, err
    assert float(np.max(np.abs(sf.read(tmp_path / "loud.wav")[0]))) > 1.0
    rc, out, err = main("render", voice, "-o", tmp_path / "quiet.flac")
    assert rc == 0 and "warning" not in err, err


def test_a_render_at_gain_zero_is_refused(tmp_path, hum):
    """``render --gain 0`` wrote a silent file and warned that the voice had no steady pitch."""
    rc, out, err = main("render", hum, "-o", tmp_path / "x.wav", "--gain", 0)
    assert rc == 1 and not (tmp_path / "x.wav").exists()
    one_error_line(err, "--gain 0 renders silence")
