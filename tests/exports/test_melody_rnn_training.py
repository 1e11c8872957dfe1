"""The MusicRNN training loop (``exports/training/melody_training.py``): one padding of event rows for training and
evaluation (``_padded``), a tiny run that trains, evaluates and saves its state through atomic_output (the
umask's mode, no temporary left). Tiny widths and random tunes: seconds."""
from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tonehost.exports.training.melody_training import (RnnConfig, RnnData, _padded, rnn_evaluate,  # noqa: E402
                                                       train_rnn)


def test_event_rows_are_padded_with_the_mask_of_real_targets():
    x, m = _padded([np.array([3, 4, 5]), np.array([7])])
    assert x.tolist() == [[3, 4, 5], [7, 0, 0]] and x.dtype == np.int64
    assert m.tolist() == [[True, True], [False, False]]


def test_a_tiny_run_trains_evaluates_and_saves_atomically(tmp_path):
    rng = np.random.default_rng(3)
    tunes = [rng.integers(0, 20, int(n)) for n in rng.integers(10, 40, 24)]
    data = RnnData(tunes, [str(i) for i in range(len(tunes))])
    old = os.umask(0o022)
    try:
        model = train_rnn(data, data, tmp_path, RnnConfig(units=(8,), batch=4, steps=4, eval_every=2, crop=16),
                          log=lambda *_: None)
    finally:
        os.umask(old)
    ev = rnn_evaluate(model, tunes, batch=5)
    assert ev["events"] == sum(len(t) - 1 for t in tunes) and 0 < ev["nll"] < 10
    saved = [p for p in tmp_path.iterdir() if p.suffix == ".pt"]
    assert saved and all(p.stat().st_mode & 0o777 == 0o644 for p in saved)
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith((".part", ".tmp"))]
