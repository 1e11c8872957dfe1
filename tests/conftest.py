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
