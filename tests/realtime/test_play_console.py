"""``tonehost play``'s console and status line: a switch that fails is one line and the session (and ``q``) goes
on; the status line says CLIP over 0 dBFS and its meters keep their columns (issue items 3 and 8)."""
from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tonehost.realtime.cli.live import StatusLine
from tonehost.realtime.cli.play import METER_WIDTH, status_text, switch_instrument


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tonehost.realtime.testing.models import make_random_controls_onnx

    d = tmp_path_factory.mktemp("models")
    good = d / "good.onnx"
    make_random_controls_onnx(good)
    (d / "corrupt.onnx").write_bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (d / "empty.onnx").write_bytes(b"")
    (d / "truncated.onnx").write_bytes(good.read_bytes()[:3000])
    return d


class _Pipe:
    def __init__(self, fail: BaseException | None = None):
        self.fail, self.controls = fail, None

    def set_controls(self, controls):
        if self.fail is not None:
            raise self.fail
        self.controls = controls


def _switch(pipe, text):
    out = io.StringIO()
    ok = switch_instrument(pipe, text, StatusLine(out))
    return ok, out.getvalue()


@pytest.mark.parametrize("name", ["corrupt.onnx", "empty.onnx", "truncated.onnx", "missing.onnx", "no_such_name",
                                  "ddsp_no_such", "."])
def test_a_failed_switch_is_one_line_and_keeps_the_instrument(models, name):
    pipe = _Pipe()
    text = str(models / name) if name.endswith(".onnx") else name
    ok, out = _switch(pipe, text)
    assert not ok and pipe.controls is None
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cannot switch to {text}: "), out


def test_an_unexpected_error_while_switching_is_one_line_too(models):
    """A bug in the switch (not a TonehostError) must not kill the console thread: one line, False."""
    ok, out = _switch(_Pipe(RuntimeError("boom\nsecond line")), str(models / "good.onnx"))
    assert not ok
    assert out.strip().splitlines() == [f"cannot switch to {models / 'good.onnx'}: unexpected RuntimeError: boom "
                                        "(please report it)"], out


def test_a_good_switch_says_so(models):
    pipe = _Pipe()
    ok, out = _switch(pipe, str(models / "good.onnx"))
    assert ok and pipe.controls is not None and out.strip() == f"switched to {models / 'good.onnx'}"


def test_status_line_says_clip_and_keeps_its_columns():
    lines = {g: status_text(0.5, g, {}, 10.0, 5.0) for g in (1e-4, 0.25, 1.0, 1.01, 40.0, 1000.0)}
    assert "CLIP" not in lines[1e-4] + lines[0.25] + lines[1.0]
    assert all("CLIP" in lines[g] for g in (1.01, 40.0, 1000.0))
    # the pitch readout starts in the same column whatever the levels (the bars never overflow)
    cols = {lines[g].index("you ") for g in lines} | {status_text(x, 1.0, {}, 10.0, 5.0).index("you ")
                                                      for x in (0.0, 1.0, 30.0)}
    assert len(cols) == 1, lines
    for text in lines.values():
        assert max(len(b) for b in re.findall(r"#+", text)) <= METER_WIDTH


def _read_until(proc, pattern, seen, timeout=120.0):
    """Lines of the subprocess's merged output into ``seen`` until one matches; True if one did."""
    result = []

    def reader():
        for line in proc.stdout:
            seen.append(line)
            if re.search(pattern, line):
                result.append(True)
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout)
    return bool(result)


def test_play_console_survives_a_corrupt_model_and_q_still_stops(private_jack, models):
    """Issue item 3, run as the user ran it: a corrupt path typed while playing is one line, the instrument plays
    on, and ``q`` stops the session at once (it used to kill the console thread: q never read, ran until
    SIGTERM)."""
    proc = subprocess.Popen([sys.executable, "-m", "tonehost", "play", "--checkpoint", str(models / "good.onnx"),
                             "--duration", "120"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=private_jack.env)
    seen: list[str] = []
    try:
        assert _read_until(proc, r"^playing ", seen), "".join(seen)
        for name in ("corrupt.onnx", "empty.onnx"):
            proc.stdin.write(f"{models / name}\n")
            proc.stdin.flush()
            assert _read_until(proc, r"cannot switch to ", seen, 60), "".join(seen)
        t0 = time.monotonic()
        proc.stdin.write("q\n")
        proc.stdin.flush()
        rest, _ = proc.communicate(timeout=60)
        stop_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(seen) + rest
    assert proc.returncode == 0, out
    assert "Traceback" not in out and "Exception in thread" not in out, out
    assert out.count("cannot switch to ") == 2 and "is not a valid ONNX model" in out, out
    played = float(re.search(r"played ([\d.]+) s \(stopped\)", out).group(1))
    assert played < 100 and stop_s < 30, (played, stop_s, out)
