"""The MusicVAE training loop of the shipped ``mel_2bar_folk`` (``exports/training/melody_training.py``): a run
stopped and resumed continues exactly, a later stage starts from an earlier run's best model, and the evaluation
reports the teacher-forced accuracy beside the free-running one. Tiny widths and random windows: seconds."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tonehost.exports.training.melody_training import (VaeConfig, VaeData, load_state, train_vae,  # noqa: E402
                                                       vae_evaluate)


def _data(seed: int, n: int = 96) -> VaeData:
    rng = np.random.default_rng(seed)
    w = np.where(rng.random((n, 32)) < 0.6, 0, rng.integers(50, 80, (n, 32)))
    return VaeData(w.astype(np.int64), np.arange(n))


CFG = dict(enc_units=8, z_dims=4, dec_units=(8, 8), batch=8, steps=6, eval_every=3, val_windows=16)


def test_a_stopped_run_resumes_exactly(tmp_path):
    train, val = _data(1), _data(2)
    quiet = lambda *_: None  # noqa: E731
    train_vae(train, val, tmp_path / "whole", VaeConfig(**CFG), log=quiet)
    train_vae(train, val, tmp_path / "parts", VaeConfig(**CFG), log=quiet, stop_step=4)
    assert torch.load(tmp_path / "parts" / "train_state.pt", weights_only=False)["step"] == 4
    train_vae(train, val, tmp_path / "parts", VaeConfig(**CFG), log=quiet)
    a = torch.load(tmp_path / "whole" / "train_state.pt", weights_only=False)
    b = torch.load(tmp_path / "parts" / "train_state.pt", weights_only=False)
    assert a["step"] == b["step"] == 6
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    with pytest.raises(ValueError, match="other settings"):
        train_vae(train, val, tmp_path / "parts", VaeConfig(**{**CFG, "free_nats": 1.0}), log=quiet)


def test_a_later_stage_starts_from_the_best_model_of_an_earlier_run(tmp_path):
    train, val = _data(1), _data(2)
    said = []
    train_vae(train, val, tmp_path / "one", VaeConfig(**CFG), log=lambda *_: None)
    _, best = load_state(tmp_path / "one")
    model = train_vae(train, val, tmp_path / "two", VaeConfig(**{**CFG, "steps": 1, "lr": 1e-12,
                                                                   "init_from": str(tmp_path / "one")}),
                      log=said.append)
    assert any("initialised from" in s for s in said)
    for k, v in model.state_dict().items():
        assert torch.allclose(v, best[k], atol=1e-6), k  # one step at a vanishing learning rate
    with pytest.raises(ValueError, match="other widths"):
        train_vae(train, val, tmp_path / "three", VaeConfig(**{**CFG, "enc_units": 6,
                                                                "init_from": str(tmp_path / "one")}),
                  log=lambda *_: None)


def test_evaluation_reports_free_running_and_teacher_forced_accuracy(tmp_path):
    train, val = _data(1), _data(2)
    model = train_vae(train, val, tmp_path / "w", VaeConfig(**CFG), log=lambda *_: None)
    ev = vae_evaluate(model, val.windows)
    assert set(ev) >= {"recon_accuracy", "tf_accuracy", "recon_exact", "nll", "kl", "windows"}
    assert 0.0 <= ev["recon_accuracy"] <= 1.0 and 0.0 <= ev["tf_accuracy"] <= 1.0
