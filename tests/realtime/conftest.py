"""Fixtures of the live tests: a private JACK server a test may kill."""
from __future__ import annotations

import shutil

import pytest


@pytest.fixture
def private_jack(tmp_path, monkeypatch):
    """A JACK dummy server of this test's own (48 kHz, 128 frames; ``jackd -n NAME``), which the test may kill
    (``private_jack.kill()``) without disturbing anyone else's. ``JACK_DEFAULT_SERVER`` points this process's
    JACK clients and the ``jack_*`` tools at it; pass ``private_jack.env`` to child processes."""
    from tonehost.realtime.testing import jack

    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2)")
    with jack.private_server(48000, 128, log_path=str(tmp_path / "jackd.log")) as server:
        monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
        monkeypatch.setenv("JACK_NO_START_SERVER", "1")
        yield server
