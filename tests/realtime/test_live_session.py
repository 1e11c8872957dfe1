"""One exit behaviour for the live commands, and what they tell the player (private JACK dummy servers).

Ctrl-C (SIGINT) and SIGTERM are a normal stop: the summary, exit 0. Piped output gets one line per update.
``--block-size`` other than the server's period is said. Typing an index id or an unknown instrument while playing
gets a useful answer.
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys

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


def test_typing_while_playing(private_jack, model, tmp_path):
    """Unknown names list the instruments; an index id is not prefixed again; q stops with a summary (exit 0)."""
    env = {**private_jack.env, "TONEHOST_CACHE": str(tmp_path / "cache")}
    proc, err = _play(model, env, stdin=subprocess.PIPE)
    try:
        assert err.wait_for(r"^playing ", proc=proc), err.text()
        for cmd in ("cello", "ddsp_violin", "violin"):
            proc.stdin.write(cmd + "\n")
            proc.stdin.flush()
            assert err.wait_for(rf"(switched to|cannot switch to) {cmd}\b", proc=proc, timeout=60), err.text()
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


def test_transcribe_live_stops_normally_on_sigterm(private_jack, tmp_path):
    take = tmp_path / "take.mid"
    proc = subprocess.Popen([sys.executable, "-m", "tonehost", "transcribe", "--live", "-o", str(take)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=private_jack.env)
    err = Lines(proc.stderr)
    try:
        assert err.wait_for(r"^transcribing the microphone", proc=proc), err.text()
        proc.send_signal(signal.SIGTERM)
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
