"""Shared fixtures: paths to the shared data, and a real JACK server (dummy backend) for audio tests.

CI (``.ci/run``) starts ``jackd -R -d dummy -r 48000 -p 128`` before the tests. When no server is running
(a developer's machine), the ``jack_server`` fixture starts one for the session and stops it afterwards.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tonehost.exports.paths import shared_dir

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
FIXTURES = TESTS / "fixtures"
NODE_DIR = TESTS / "node"
SHARED = shared_dir()
DATA = SHARED / "data"
MODELS = SHARED / "models"


@pytest.fixture(scope="session")
def jack_server():
    """A running JACK server (dummy backend, 48 kHz, 128 frames), its log in ``$TONEHOST_JACKD_LOG``.

    Reuses the server ``.ci/run`` started; otherwise starts one for the session. Skips only if jackd is missing.
    """
    from tonehost.realtime.testing.jack import JackServer

    if shutil.which("jackd") is None and shutil.which("jack_lsp") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2); .ci/run installs it")
    with JackServer(48000, 128) as server:
        yield server


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA


@pytest.fixture
def private_jack(tmp_path, monkeypatch):
    """A JACK dummy server of this test's own (48 kHz, 128 frames; ``jackd -n tonehost-private-<uid>-<k>``), which
    the test may kill (``private_jack.kill()``) without disturbing anyone else's. ``JACK_DEFAULT_SERVER`` points this
    process's JACK clients and the ``jack_*`` tools at it; pass ``private_jack.env`` to child processes. Skips only
    if jackd is missing."""
    from tonehost.realtime.testing import jack

    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2)")
    with jack.private_server(48000, 128, log_path=str(tmp_path / "jackd.log")) as server:
        monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
        monkeypatch.setenv("JACK_NO_START_SERVER", "1")
        yield server


# -- a short take and a short melody, written per test (the command-line fault tests: test_cli_user_faults,
# test_cli_outputs_and_caps)

@pytest.fixture
def wav(tmp_path) -> Path:
    p = tmp_path / "take.wav"
    sf.write(p, (0.1 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)).astype(np.float32), 16000)
    return p


@pytest.fixture
def mid(tmp_path) -> Path:
    from tonehost.exports.note_sequence import Note, NoteSequence

    seq = NoteSequence(notes=[Note(pitch=60 + k, velocity=80, start_time=0.25 * k, end_time=0.25 * k + 0.2)
                              for k in range(8)])
    return seq.to_midi(tmp_path / "melody.mid")


# -- the command line in this process, and its one-line errors (the voice path's fault tests)

def run_main(*argv):
    """tonehost's main in this process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from tonehost.realtime import cli
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def default_sigint() -> None:
    """``preexec_fn`` for a child a test stops with Ctrl-C: SIGINT back to its default action.

    A test run started in the background by a script (``cmd &`` in a non-interactive shell) ignores SIGINT, every
    child inherits that, and a child Python then never raises KeyboardInterrupt (it honours the ignore, as it should).
    """
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def one_error_line(err: str, *words) -> str:
    """The one ``tonehost: error: ...`` line of ``err`` (asserted: one line, no traceback, holding ``words``)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("tonehost: error: ") and "Traceback" not in err, err
    for w in words:
        assert str(w) in lines[0], (w, err)
    return lines[0]
