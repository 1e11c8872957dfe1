"""Shared fixtures: paths to the shared data, and a real JACK server (dummy backend) for audio tests.

CI (``.ci/run``) starts ``jackd -R -d dummy -r 48000 -p 128`` before the tests. When no server is running
(a developer's machine), the ``jack_server`` fixture starts one for the session and stops it afterwards.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TONEHOST_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
MODELS = SHARED / "models"


def _jack_running() -> bool:
    if shutil.which("jack_lsp") is None:
        return False
    try:
        out = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=5,
                             env={**os.environ, "JACK_NO_START_SERVER": "1"})
    except subprocess.TimeoutExpired:
        return False
    return out.returncode == 0 and "system:playback_1" in out.stdout


@pytest.fixture(scope="session")
def jack_server():
    """A running JACK server (dummy backend, 48 kHz, 128 frames). Skips only if jackd is not installed."""
    if _jack_running():
        yield
        return
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2); .ci/run installs it")
    proc = subprocess.Popen(["jackd", "-R", "-d", "dummy", "-r", "48000", "-p", "128"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if _jack_running():
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("could not start jackd -d dummy")
    yield
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA
