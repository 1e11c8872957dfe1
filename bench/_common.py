"""What the bench scripts share: where the repository, the shared data and the results are, and how they write.

Run every bench from the repository root as a module (``.venv/bin/python -m bench.NAME``); nothing here edits
``sys.path``.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tonehost.exports.paths import shared_data_dir

#: The repository root (the folder holding ``bench/``).
ROOT = Path(__file__).resolve().parent.parent
#: Where the benches write their JSON, WAVs and PNGs (``bench/results``; created on write, ignored by git).
RESULTS = ROOT / "bench" / "results"
#: Recordings with ground truth (``$TONEHOST_SHARED/data`` or ``shared/data`` beside the checkout).
SHARED_DATA = shared_data_dir()


def save_json(name_or_path: str | Path, obj, indent: int = 2) -> Path:
    """Write ``obj`` as JSON (numpy scalars through ``float``) and return the path written.

    A plain name (``"latency"``: no folder, no suffix) is written as ``RESULTS/latency.json``; anything else (a
    ``--json``/``--output`` value such as ``out.json`` or ``/tmp/x.json``) is used as given, relative to the
    working directory. The folder is created when missing.
    """
    if isinstance(name_or_path, str) and not Path(name_or_path).suffix and "/" not in name_or_path:
        p = RESULTS / f"{name_or_path}.json"
    else:
        p = Path(name_or_path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(obj, indent=indent, default=float))
    return p


def tmpdir() -> Path:
    """A fresh scratch folder (``tonehost_bench_*`` in the system temp folder; left for inspection)."""
    return Path(tempfile.mkdtemp(prefix="tonehost_bench_"))


def module_command(module: str, *args) -> list[str]:
    """``[python, "-m", module, *args]``: a bench re-running itself in a child process (run it with
    ``cwd=ROOT`` so ``bench`` is importable)."""
    return [sys.executable, "-m", module, *map(str, args)]


def no_jack_server(how: str = "run through scripts/with_jack.sh") -> bool:
    """True, after saying so, when no JACK server is running (the JACK benches then exit 2)."""
    from tonehost.realtime.testing import jack

    if jack.server_running():
        return False
    print(f"no JACK server: {how}")
    return True
