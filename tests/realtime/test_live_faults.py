"""Live sessions that survive faults: the audio server killed under ``play`` and ``transcribe --live``.

Each test starts its own JACK dummy server (the ``private_jack`` fixture: ``jackd -n NAME``, reached through
``JACK_DEFAULT_SERVER``) so that killing it disturbs no one else's. The CLI runs as a user runs it (a subprocess). When the server is SIGKILLed the
command must exit within 2 s, with one ``tonehost: error:`` line naming the JACK server and no traceback, and a
live take's MIDI file must be valid and hold every note printed so far.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time

import mido
import pytest

from tonehost.realtime.testing.proc import Lines

pytestmark = pytest.mark.skipif(shutil.which("jackd") is None, reason="jackd is not installed (apt-get install jackd2)")

BACH = "piano/FMP_C1_F12_Bach_BWV846_Sibelius-Tracks.wav"
ON_LINE = re.compile(r"^\s*([\d.]+) s\s+on\s+\S+\s+\(\s*(\d+)\)\s+vel\s+(\d+)")


def _kill_and_time(server, proc) -> float:
    t_kill = time.monotonic()
    server.kill()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return float("inf")
    return time.monotonic() - t_kill


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    errors = [l for l in err.splitlines() if l.startswith("tonehost: error:")]
    assert len(errors) == 1, err
    assert err.rstrip().splitlines()[-1] == errors[0], err   # the last thing said
    return errors[0]


def test_play_exits_within_2s_when_the_jack_server_is_killed(private_jack, tmp_path):
    from tonehost.realtime.testing.models import make_random_controls_onnx

    model = make_random_controls_onnx(tmp_path / "inst.onnx")
    # with a JACK MIDI input port too: closing a port of a dead server blocks ~1 s in libjack, so it is left
    proc = subprocess.Popen([sys.executable, "-m", "tonehost", "play", "--checkpoint", str(model), "--duration",
                             "120", "--midi-in", "keys"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=private_jack.env)
    err = Lines(proc.stderr)
    try:
        # piped stderr: the status comes one line per update (not one endless \r line)
        assert err.wait_for(r"^in\s+-?[\d.]+ dB", count=2, proc=proc), err.text()
        took = _kill_and_time(private_jack, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = err.text()
    assert took < 2.0, f"exited {took:.2f} s after the server was killed:\n{text}"
    assert proc.returncode == 1, text
    line = _one_error_line(text)
    assert "the JACK server went away" in line, line
    assert re.search(r"played [\d.]+ s \(stopped: the audio stream was lost\); .*xruns \d+", text), text


def test_transcribe_live_finalises_the_take_when_the_jack_server_is_killed(private_jack, tmp_path, data_dir):
    from tonehost.realtime.testing.player import LoopPlayer

    take = tmp_path / "take.mid"
    proc = subprocess.Popen([sys.executable, "-m", "tonehost", "transcribe", "--live", "-o", str(take),
                             "--midi-out", "pianoroll"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=private_jack.env)
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        with LoopPlayer(data_dir / BACH, "tonehost:in_0", env=private_jack.env):
            assert out.wait_for(ON_LINE.pattern, count=8, proc=proc), out.text() + err.text()
            took = _kill_and_time(private_jack, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = err.text()
    assert took < 2.0, f"exited {took:.2f} s after the server was killed:\n{text}"
    assert proc.returncode == 1, text
    assert "the JACK server went away" in _one_error_line(text)
    printed = [(float(m.group(1)), int(m.group(2)), int(m.group(3)))
               for m in (ON_LINE.match(l) for l in out.text().splitlines()) if m]
    assert len(printed) >= 8
    assert not (tmp_path / "take.mid.journal").exists(), "a finalised take leaves no journal"
    notes = _midi_notes(take)
    assert len(notes) == len(printed), (notes, printed)   # every note played so far, the sounding ones closed
    first = printed[0][0]
    assert notes[0][0] == pytest.approx(0.0, abs=2e-3)      # the take starts at its first note
    for (onset, pitch, vel), (t, p, v) in zip(sorted(notes), sorted((t - first, p, v) for t, p, v in printed)):
        assert (pitch, vel) == (p, v) and onset == pytest.approx(t, abs=2e-3)
    assert re.search(rf"{len(printed)} notes -> {re.escape(str(take))} \([\d.]+ s; the file starts at the "
                     r"first note, [\d.]+ s into the session\); stopped: the audio stream was lost", text), text


def _midi_notes(path) -> list[tuple[float, int, int]]:
    """(onset s, pitch, velocity) of every note-on in a MIDI file."""
    t, out = 0.0, []
    for m in mido.MidiFile(path):
        t += m.time
        if m.type == "note_on" and m.velocity > 0:
            out.append((round(t, 6), m.note, m.velocity))
    return out


def test_jam_with_midi_out_exits_when_the_jack_server_hangs(private_jack):
    """`jam --listen hum --midi-out ans` under a JACK server that hangs (SIGSTOP) never exited, Ctrl-C included:
    closing its JACK MIDI port blocked inside libjack. The port is now left to the OS, as play and transcribe
    --live leave theirs: the watchdog's one line, exit 1, within seconds."""
    proc = subprocess.Popen([sys.executable, "-m", "tonehost", "jam", "--listen", "hum", "--midi-out", "ans",
                             "--duration", "120"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=private_jack.env)
    err = Lines(proc.stderr)
    try:
        assert err.wait_for(r"count-in at", count=1, proc=proc), err.text()
        time.sleep(0.5)
        t0 = time.monotonic()
        private_jack.kill(19)  # SIGSTOP: the server hangs
        try:
            proc.wait(timeout=20)
            took = time.monotonic() - t0
        except subprocess.TimeoutExpired:
            took = float("inf")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.text()
    assert took < 6.0, f"exited {took:.2f} s after the server hung:\n{text}"
    assert proc.returncode == 1, text
    assert "JACK" in _one_error_line(text), text


def test_a_live_take_that_never_started_leaves_no_file(tmp_path):
    """`transcribe --live -o take.mid` with no audio server said so (exit 1) but left a 36-byte MIDI file of no
    notes and its journal (the next take then "recovered 0 notes" from it); an earlier take of that name is
    kept as it was."""
    import os

    env = {**os.environ, "JACK_DEFAULT_SERVER": "tonehost-no-such-server", "JACK_NO_START_SERVER": "1"}
    take = tmp_path / "take.mid"
    r = subprocess.run([sys.executable, "-m", "tonehost", "transcribe", "--live", "-o", str(take)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.iterdir())
    take.write_bytes(b"MThd-earlier")
    r = subprocess.run([sys.executable, "-m", "tonehost", "transcribe", "--live", "-o", str(take)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 1 and take.read_bytes() == b"MThd-earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.mid"], list(tmp_path.iterdir())
