"""One exit behaviour for the live commands, and what they tell the player (private JACK dummy servers).

Ctrl-C (SIGINT) and SIGTERM are a normal stop: the summary, exit 0. Piped output gets one line per update.
``--block-size`` other than the server's period is said. Typing an index id or an unknown instrument while playing
gets a useful answer.
"""
from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest

from tonehost.exports.errors import CheckpointDownloadError, UsageError
from tonehost.realtime.testing.proc import Lines

STATUS = r"^in\s+-?[\d.]+ dB"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from tonehost.realtime.testing.models import make_random_controls_onnx

    return make_random_controls_onnx(tmp_path_factory.mktemp("inst") / "inst.onnx")


def _play(model, env, *extra, stdin=subprocess.DEVNULL):
    proc = subprocess.Popen([sys.executable, "-m", "tonehost", "play", "--checkpoint", str(model), *extra],
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return proc, Lines(proc.stderr)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_play_stops_normally_on_ctrl_c_and_sigterm_with_a_summary(private_jack, model, sig):
    proc, err = _play(model, private_jack.env, "--blocksize", "17")
    try:
        assert err.wait_for(STATUS, count=2, proc=proc), err.text()
        proc.send_signal(sig)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = err.text()
    assert proc.returncode == 0, text
    assert "interrupted" not in text and "Traceback" not in text and "tonehost: error" not in text, text
    assert re.search(r"played [\d.]+ s \(stopped\); blocks \d+, .*xruns \d+, output underruns \d+ blocks, input "
                     r"dropped \d+ samples", text), text
    # a pipe gets one line per update, never carriage returns
    assert "\r" not in text and len([l for l in text.splitlines() if re.match(STATUS, l)]) >= 2
    # --blocksize 17 on a 128-frame server is said, with the fix
    assert re.search(r"note: the JACK server runs 128-frame periods at 48000 Hz .*--block-size 17 .*"
                     r"use --block-size 128", text), text


def test_play_says_nothing_about_a_block_size_equal_to_the_period(private_jack, model):
    proc, err = _play(model, private_jack.env, "--duration", "1")
    proc.wait(timeout=60)
    text = err.text()
    assert proc.returncode == 0, text
    assert "note: the JACK server runs" not in text, text


def _unreachable_index(tmp_path: Path, checkpoint_id: str = "ddsp_flute") -> Path:
    """A user index (``$TONEHOST_INDEX``) that moves ``checkpoint_id`` to a local port nothing listens on: the
    hosted instrument cannot be downloaded, whatever the machine's network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    idx = tmp_path / "unreachable_index.json"
    idx.write_text(json.dumps([{"id": checkpoint_id, "model": "DDSPFlute", "sizeMb": 3.9, "description": "test",
                                "url": f"http://127.0.0.1:{port}/{checkpoint_id}"}]))
    return idx


def test_typing_while_playing(private_jack, model, tmp_path):
    """Unknown names list the instruments; an index id is not prefixed again; a hosted instrument that cannot be
    downloaded says the fetch command at once, with no progress bar over the meters; q stops with a summary."""
    env = {**private_jack.env, "TONEHOST_CACHE": str(tmp_path / "cache"),
           "TONEHOST_INDEX": str(_unreachable_index(tmp_path))}
    proc, err = _play(model, env, stdin=subprocess.PIPE)
    answered = {}
    try:
        assert err.wait_for(r"^playing ", proc=proc), err.text()
        for cmd in ("cello", "ddsp_violin", "flute", "violin"):
            t0 = time.monotonic()
            proc.stdin.write(cmd + "\n")
            proc.stdin.flush()
            assert err.wait_for(rf"(switched to|cannot switch to) {cmd}\b", proc=proc, timeout=60), err.text()
            answered[cmd] = time.monotonic() - t0
        proc.stdin.write("q\n")
        proc.stdin.flush()
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = err.text()
    assert proc.returncode == 0, text
    assert re.search(r"cannot switch to cello: unknown instrument 'cello'; instruments: violin, flute, trumpet, "
                     r"tenor_saxophone", text), text
    assert "ddsp_ddsp" not in text and "run the same fetch again" not in text, text
    assert re.search(r"switched to ddsp_violin|cannot switch to ddsp_violin: ddsp_violin is not in the cache and "
                     r"could not be downloaded \(.*\); fetch it once with `tonehost checkpoints fetch ddsp_violin`, "
                     r"or play a local one with --checkpoint DIR", text), text
    assert "switched to violin" in text
    assert re.search(r"played [\d.]+ s \(stopped\)", text), text
    # the download that cannot happen: one retry, no progress bar (tqdm's "%|" and "\r") over the meter lines
    assert re.search(r"cannot switch to flute: ddsp_flute is not in the cache and could not be downloaded \(.*\); "
                     r"fetch it once with `tonehost checkpoints fetch ddsp_flute`, or play a local one with "
                     r"--checkpoint DIR", text), text
    assert "%|" not in text and "\r" not in text, text
    assert answered["flute"] < 5.0, answered   # was ~7 s of retries


def test_typed_model_resolves_ids_names_and_paths(monkeypatch, tmp_path, model):
    from tonehost.exports import checkpoints
    from tonehost.exports import resolve
    from tonehost.realtime.cli.play import typed_model

    fetched = []
    monkeypatch.setattr(checkpoints, "cached", lambda source, extra_index=None: None)

    def fetch(source, **kw):
        fetched.append((source, kw))
        raise CheckpointDownloadError(f"could not download model.json of checkpoint {source}: URLError (after 1 "
                                      "retries). Check the network and run the same fetch again: finished files "
                                      "and partial ones are kept and resumed")

    monkeypatch.setattr(checkpoints, "fetch", fetch)
    for typed in ("ddsp_flute", "flute"):
        with pytest.raises(CheckpointDownloadError) as exc:
            typed_model(typed)
        msg = exc.value.user_message
        assert "tonehost checkpoints fetch ddsp_flute" in msg and "--checkpoint DIR" in msg, msg
        assert "run the same fetch again" not in msg
    assert [f[0] for f in fetched] == ["ddsp_flute", "ddsp_flute"]
    assert all(f[1]["progress"] is False and f[1]["retries"] <= 1 for f in fetched)   # no bar over the meters
    with pytest.raises(UsageError, match=r"unknown instrument 'cello'; instruments: violin, flute, trumpet, "
                                         r"tenor_saxophone"):
        typed_model("cello")
    assert typed_model("violin") == resolve.instrument_model("violin")   # the shipped one, no download
    assert typed_model(str(model)) == model


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_transcribe_live_stops_normally_on_ctrl_c_and_sigterm(private_jack, tmp_path, sig):
    take = tmp_path / "take.mid"
    proc = subprocess.Popen([sys.executable, "-m", "tonehost", "transcribe", "--live", "-o", str(take)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=private_jack.env)
    err = Lines(proc.stderr)
    try:
        assert err.wait_for(r"^transcribing the microphone", proc=proc), err.text()
        proc.send_signal(sig)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = err.text()
    assert proc.returncode == 0, text
    assert re.search(rf"0 notes -> {re.escape(str(take))} \([\d.]+ s\)$", text, re.M), text
    assert "(the take starts at the first note)" in text
    mido.MidiFile(take)
    assert not (tmp_path / "take.mid.journal").exists()


def test_per_block_timings_are_bounded_for_long_sessions(model):
    """The soak found play's RSS growing 3.3 MB per 10 minutes: one float per 128-frame block, forever."""
    from tonehost.realtime.audio.worker import BlockTimes
    from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline

    times = BlockTimes(keep=100)
    for i in range(1000):
        times.append(i * 1e-6)
    assert len(times) == 100 and times.count == 1000 and list(times)[0] == pytest.approx(900e-6)
    pipe = InstrumentPipeline(ControlsModel(model))
    assert isinstance(pipe.block_times, BlockTimes) and pipe.block_times.maxlen == 1 << 16
    from tonehost.realtime.pipelines.poly import PolyInstrument

    poly = PolyInstrument(pipe.controls, 2, pipe.cfg)   # one active-voice count per block: bounded too
    assert isinstance(poly.active_counts, BlockTimes) and isinstance(poly.block_times, BlockTimes)


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_the_block_timing_ring_is_resident_from_the_start():
    """np.zeros pages arrive as they are first written: a ring that fills for minutes reads as growth in the soak."""
    import gc

    from tonehost.realtime.audio.worker import BlockTimes

    gc.collect()  # (a collection inside the measured span returned earlier tests' arrays: 26 MB grown once, not 32)
    before = _rss_kb()
    times = BlockTimes(keep=1 << 22)   # 32 MB
    grown = _rss_kb() - before
    for i in range(1000):
        times.append(1e-5)
    assert grown >= 30 * 1024, grown
    assert times[-1] == pytest.approx(1e-5) and len(times) == 1000


def test_a_hosted_instrument_that_cannot_be_downloaded_is_one_quiet_quick_answer(monkeypatch, tmp_path, capfd):
    """Typed while playing: no progress bar on the terminal (the meters own it), one retry, and the message names
    the fetch command and --checkpoint DIR (not "run the same fetch again", which means nothing inside play)."""
    import io

    from tonehost.exports.errors import CheckpointError
    from tonehost.realtime.cli.live import StatusLine
    from tonehost.realtime.cli.play import typed_model

    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TONEHOST_INDEX", str(_unreachable_index(tmp_path)))
    said = io.StringIO()
    t0 = time.monotonic()
    with pytest.raises(CheckpointError) as exc:
        typed_model("flute", StatusLine(said))
    elapsed = time.monotonic() - t0
    out, err = capfd.readouterr()
    msg = exc.value.user_message
    assert "tonehost checkpoints fetch ddsp_flute" in msg and "--checkpoint DIR" in msg, msg
    assert "run the same fetch again" not in msg, msg
    assert out == "" and err == "", (out, err)            # nothing drawn over the meter line
    assert said.getvalue().startswith("fetching ddsp_flute"), said.getvalue()
    assert elapsed < 3.0, elapsed


@pytest.mark.parametrize("argv", [["play"], ["transcribe", "--live"]], ids=["play", "transcribe-live"])
def test_midi_out_number_that_does_not_exist_is_one_line(private_jack, model, tmp_path, argv):
    """``--midi-out 99`` (no output 99): one line naming the list command, exit 1, and no port called "99"."""
    from tonehost.realtime.testing import jack

    extra = ["--checkpoint", str(model)] if argv == ["play"] else ["-o", str(tmp_path / "take.mid")]
    r = subprocess.run([sys.executable, "-m", "tonehost", *argv, *extra, "--midi-out", "99", "--duration" if
                        argv == ["play"] else "--seconds", "3"], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=120, env=private_jack.env)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(r"tonehost: error: no MIDI output number 99; available: .*devices --midi",
                                        lines[0]), r.stderr
    assert not [p for p in jack.ports().split() if p.endswith(":99")]
