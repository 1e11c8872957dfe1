"""Shared fixtures: paths to the shared data, and a real JACK server (dummy backend) for audio tests.

CI (``.ci/run``) starts ``jackd -R -d dummy -r 48000 -p 128`` before the tests. When no server is running
(a developer's machine), the ``jack_server`` fixture starts one for the session and stops it afterwards.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
