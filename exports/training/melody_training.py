"""Training loops of the shipped melody models (MusicRNN ``melody_rnn_folk``, MusicVAE ``mel_2bar_folk``).

Every LSTM starts with its forget gates at +1 (:func:`~tonehost.exports.training.melody_models.init_forget_bias`).
Both loops run on one CPU thread (``torch.set_num_threads(1)``), count their own CPU time (``time.process_time``,
summed over resumed runs) against a budget, keep the model with the best validation score, and save everything
needed to resume (model, optimizer, step, random states, CPU time used, the best model) to ``WORK/train_state.pt``
every ``save_every`` CPU seconds and at the end. A run stopped at any point resumes where its last save was.

Data (:mod:`tonehost.exports.training.melodies`): training tunes only; the validation tunes choose the kept model;
the test tunes are never read here.

- MusicRNN: crops of up to ``crop`` steps (from the tune's start or a bar line) of the events of random tunes
  (drawn in proportion to the steps they give), moved with probability ``p_transpose`` (0 for the shipped
  model) by a random transposition that keeps them in 48..83; loss = cross-entropy of event t + 1 from events
  0..t; Adam, cosine decay to 5 % of the learning rate, gradient-norm clipping.
- MusicVAE: 2-bar windows (32 steps), transposed with probability ``p_transpose`` (in 21..108); loss =
  cross-entropy of the teacher-forced decoder (its previous-event inputs dropped with probability
  ``input_dropout``) + ``beta * max(KL - free_nats, 0)``, beta ramped linearly from 0 to ``max_beta`` over the
  first ``beta_ramp`` of the schedule (Bowman et al. 2016's annealing; free bits as Magenta's MusicVAE,
  Roberts et al. 2018).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from tonehost.exports.paths import atomic_output
from tonehost.exports.sequences.melody import FIRST_PITCH
from tonehost.exports.training.melodies import (RNN_MAX_PITCH, RNN_MIN_PITCH, VAE_MAX_PITCH, VAE_MIN_PITCH, Tune,
                                                rnn_events, vae_windows)
from tonehost.exports.training.melody_models import MelodyRNN, MelodyVAE

__all__ = ["RnnData", "VaeData", "rnn_data", "vae_data", "rnn_evaluate", "vae_evaluate", "TrainConfig", "RnnConfig",
           "VaeConfig", "train_rnn", "train_vae", "load_state", "transpose_events", "split_data", "recipe_parser",
           "load_trained", "clear_shards", "run_card"]

FIRST = FIRST_PITCH


def transpose_events(events: np.ndarray, shift: int) -> np.ndarray:
    """Events moved by ``shift`` semitones (note-on codes only; NO_EVENT and NOTE_OFF stay)."""
    return np.where(events >= FIRST, events + shift, events)


def _shift_range(events: np.ndarray, n_classes: int, max_shift: int) -> tuple[int, int]:
    notes = events[events >= FIRST]
    if len(notes) == 0:
        return 0, 0
    lo = max(-max_shift, FIRST - int(notes.min()))
    hi = min(max_shift, n_classes - 1 - int(notes.max()))
    return lo, hi


# ------------------------------------------------------------------------------------------------ data

@dataclass
class RnnData:
    """Event sequences for the MusicRNN (each tune moved by octaves into 48..83) and their bar lines (steps)."""

    events: list[np.ndarray]
    ids: list[str]
    bars: list[np.ndarray] = field(default_factory=list)
    n_classes: int = RNN_MAX_PITCH - RNN_MIN_PITCH + 3

    @property
    def steps(self) -> int:
        """Events in all."""
        return int(sum(len(e) for e in self.events))


def rnn_data(tunes: Sequence[Tune], min_steps: int = 8) -> RnnData:
    """The tunes that fit basic_rnn's range (after an octave shift) as events (:func:`rnn_events`)."""
    ev, ids, bars = [], [], []
    for t in tunes:
        e = rnn_events(t)
        if e is not None and len(e) >= min_steps:
            ev.append(e.astype(np.int64))
            ids.append(t.piece_id)
            bars.append(np.asarray(t.bars, np.int64))
    return RnnData(ev, ids, bars)


@dataclass
class VaeData:
    """2-bar windows ``[N, 32]`` of events in mel_2bar_small's range, and the tune each came from."""

    windows: np.ndarray
    tune_index: np.ndarray
    n_classes: int = VAE_MAX_PITCH - VAE_MIN_PITCH + 3


def vae_data(tunes: Sequence[Tune]) -> VaeData:
    """Every 2-bar window of the tunes (:func:`vae_windows`)."""
    ws, idx = [], []
    for i, t in enumerate(tunes):
        w = vae_windows(t)
        ws.append(w)
        idx.extend([i] * len(w))
    return VaeData(np.concatenate(ws) if ws else np.zeros((0, 32), np.int64), np.asarray(idx, np.int64))


# ------------------------------------------------------------------------------------------ evaluation

@torch.no_grad()
def _padded(rows: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Event rows of different lengths as one batch: int64 ``[n, T]`` zero-padded (``T`` the longest row) and the
    bool mask ``[n, T - 1]`` of the positions whose next event is real (the targets of teacher forcing)."""
    T = max(len(e) for e in rows)
    x = np.zeros((len(rows), T), np.int64)
    m = np.zeros((len(rows), T - 1), bool)
    for r, e in enumerate(rows):
        x[r, :len(e)] = e
        m[r, :len(e) - 1] = True
    return x, m


def rnn_evaluate(model: MelodyRNN, events: Sequence[np.ndarray], batch: int = 64) -> dict:
    """Next-event NLL and accuracy of whole tunes from zero state (positions 1..T-1 of each tune).

    Returns
    -------
    dict
        ``nll`` (nats per event), ``accuracy``, ``events`` (how many were predicted).
    """
    model.eval()
    order = np.argsort([len(e) for e in events])
    nll = correct = n = 0.0
    for i in range(0, len(order), batch):
        x, m = _padded([events[j] for j in order[i:i + batch]])
        xt = torch.from_numpy(x)
        logits, _ = model(xt[:, :-1])
        logp = torch.log_softmax(logits, -1)
        tgt = xt[:, 1:]
        mt = torch.from_numpy(m)
        nll -= logp.gather(2, tgt[..., None])[..., 0][mt].sum().item()
        correct += (logits.argmax(-1) == tgt)[mt].sum().item()
        n += mt.sum().item()
    return {"nll": nll / max(n, 1), "accuracy": correct / max(n, 1), "events": int(n)}


@torch.no_grad()
def vae_evaluate(model: MelodyVAE, windows: np.ndarray, batch: int = 512) -> dict:
    """Reconstruction of 2-bar windows: argmax decode of mu (magenta.js ``decode(encode(x))``), per step and
    per window, and the teacher-forced NLL and KL.

    Returns
    -------
    dict
        ``recon_accuracy`` (steps equal), ``recon_exact`` (windows equal), ``tf_accuracy`` (argmax of the
        teacher-forced decoder from mu equal to the step: the gap to ``recon_accuracy`` is what free-running
        decoding loses), ``nll`` (nats per step, teacher forced from mu), ``kl`` (nats per window), ``windows``.
    """
    model.eval()
    eq = exact = nll = kl = tf_eq = 0.0
    N = len(windows)
    for i in range(0, N, batch):
        x = torch.from_numpy(np.asarray(windows[i:i + batch], np.int64))
        mu, sigma = model.encode(x)
        out = model.greedy_decode(mu, x.shape[1])
        same = (out == x)
        eq += same.float().sum().item()
        exact += same.all(1).float().sum().item()
        logits = model.decode_logits(mu, x)
        nll += nn.functional.cross_entropy(logits.reshape(-1, model.n_classes), x.reshape(-1), reduction="sum").item()
        tf_eq += (logits.argmax(-1) == x).float().sum().item()
        kl += _kl(mu, sigma).sum().item()
    steps = N * windows.shape[1] if N else 1
    return {"recon_accuracy": eq / steps, "recon_exact": exact / max(N, 1), "tf_accuracy": tf_eq / steps,
            "nll": nll / steps, "kl": kl / max(N, 1), "windows": int(N)}


def _kl(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per row, in nats."""
    return 0.5 * (mu ** 2 + sigma ** 2 - 1.0 - 2.0 * torch.log(sigma + 1e-8)).sum(dim=1)


# ------------------------------------------------------------------------------------------- configs

@dataclass
class TrainConfig:
    """The settings both loops share: batch, Adam's learning rate with its cosine schedule over ``steps``, gradient
    clipping, random transpositions (probability ``p_transpose``, up to ``max_shift`` semitones), the seed and how
    often the validation set chooses the kept model (``eval_every`` steps). :class:`RnnConfig` and
    :class:`VaeConfig` set their own defaults."""

    batch: int = 32
    lr: float = 3e-3
    steps: int = 1400
    clip: float = 1.0
    p_transpose: float = 0.0
    max_shift: int = 6
    seed: int = 1
    eval_every: int = 50


@dataclass
class RnnConfig(TrainConfig):
    """MusicRNN training settings (the recipe's defaults are the shipped model's)."""

    units: tuple = (128, 128)
    dropout: float = 0.0
    crop: int = 128
    val_tunes: int = 300


@dataclass
class VaeConfig(TrainConfig):
    """MusicVAE training settings (the recipe's defaults are the shipped model's)."""

    enc_units: int = 160
    z_dims: int = 128
    dec_units: tuple = (160, 160)
    input_dropout: float = 0.4
    free_nats: float = 96.0
    max_beta: float = 0.2
    beta_ramp: float = 0.3
    val_windows: int = 1000
    ss_max: float = 0.0
    ss_ramp: float = 0.5
    init_from: str = ""
    # the shared settings' defaults for the shipped MusicVAE
    batch: int = 64
    steps: int = 8500
    p_transpose: float = 0.5
    eval_every: int = 250


# ------------------------------------------------------------------------------------------ the loop

class _Run:
    """Resume / save / CPU budget shared by both loops."""

    def __init__(self, work: Path, model: nn.Module, opt, cfg, cpu_minutes: float, save_every: float,
                 log: Callable[[str], None]):
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.path = self.work / "train_state.pt"
        self.model, self.opt, self.cfg = model, opt, cfg
        self.budget = cpu_minutes * 60.0
        self.save_every = save_every
        self.log = log
        self.step = 0
        self.cpu_before = 0.0
        self.best = None  # (score, step, state_dict)
        self.history: list[dict] = []
        self.rng = np.random.default_rng(cfg.seed)
        torch.manual_seed(cfg.seed)
        if self.path.is_file():
            st = torch.load(self.path, weights_only=False)
            same = {k: v for k, v in st["config"].items() if k != "steps"}
            # settings added to the config later than the state count as their defaults
            defaults = asdict(type(cfg)())
            now = {k: v for k, v in asdict(cfg).items() if k != "steps" and (k in same or v != defaults[k])}
            if same != now:
                raise ValueError(f"{self.path} was made with other settings ({st['config']}); use another --work "
                                 "or the same settings (only --steps may change: a longer schedule resumes with the "
                                 "learning rate of its own cosine at the current step)")
            model.load_state_dict(st["model"])
            opt.load_state_dict(st["optimizer"])
            self.step, self.cpu_before = st["step"], st["cpu_seconds"]
            self.best, self.history = st["best"], st["history"]
            self.rng.bit_generator.state = st["numpy_rng"]
            torch.set_rng_state(st["torch_rng"])
            log(f"resumed at step {self.step} ({self.cpu_before / 60:.1f} CPU min used)")
        self.t0 = time.process_time()
        self.last_save = self.t0

    @property
    def cpu(self) -> float:
        return self.cpu_before + time.process_time() - self.t0

    def out_of_budget(self) -> bool:
        return self.cpu >= self.budget

    def save(self) -> None:
        st = {"config": asdict(self.cfg), "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
              "step": self.step, "cpu_seconds": self.cpu, "best": self.best, "history": self.history,
              "numpy_rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state()}
        with atomic_output(self.path) as tmp:
            torch.save(st, tmp)
        with atomic_output(self.work / "history.json") as tmp:
            tmp.write_text(json.dumps(self.history, indent=1))
        self.last_save = time.process_time()

    def maybe_save(self) -> None:
        if time.process_time() - self.last_save >= self.save_every:
            self.save()

    def lr_scale(self, total: int) -> float:
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(self.step, total) / total))

    def set_lr(self) -> None:
        """The learning rate of this step: ``cfg.lr`` on the cosine schedule over ``cfg.steps``."""
        for g in self.opt.param_groups:
            g["lr"] = self.cfg.lr * self.lr_scale(self.cfg.steps)

    def optimise(self, loss: torch.Tensor) -> bool:
        """One step of the optimiser on ``loss`` (gradient norm clipped to ``cfg.clip``); True when the validation
        set is due (every ``cfg.eval_every`` steps and at the last one)."""
        self.opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.opt.step()
        self.step += 1
        return self.step % self.cfg.eval_every == 0 or self.step == self.cfg.steps

    def record(self, entry: dict, score: float) -> None:
        entry = {"step": self.step, "cpu_minutes": round(self.cpu / 60, 2), **entry}
        self.history.append(entry)
        if self.best is None or score < self.best[0]:
            self.best = (score, self.step, {k: v.clone() for k, v in self.model.state_dict().items()})
            entry["best"] = True
        self.log(json.dumps(entry))


def load_state(work: str | os.PathLike, best: bool = True) -> tuple[dict, dict]:
    """``(config, state_dict)`` of a training run: the best-on-validation model (or the last one)."""
    st = torch.load(Path(work) / "train_state.pt", weights_only=False)
    return st["config"], (st["best"][2] if best and st["best"] is not None else st["model"])


# -------------------------------------------------------------------------- the recipes' plumbing

def split_data(part: str, make: Callable):
    """``make(tunes)`` of one part of the melody split (``recipes/melody_split.json``).

    Parameters
    ----------
    part : str
        ``"train"``, ``"validation"`` or ``"test"``.
    make : callable
        :func:`rnn_data` or :func:`vae_data`.

    Returns
    -------
    RnnData or VaeData
        What ``make`` returns.
    """
    from tonehost.exports.training import melodies as M

    tunes = M.split_tunes(M.cached_tunes(), M.load_split())
    return make(tunes[part])


def recipe_parser(module: str, doc: str, name: str, fixture: Path, fixture_help: str, cpu_minutes: float,
                  steps: int):
    """The command line both melody recipes share: ``train`` and ``export`` with their common options.

    Parameters
    ----------
    module : str
        The recipe's module (``python -m MODULE``).
    doc : str
        Its docstring (the help's description).
    name : str
        The shipped model's folder under ``exports/shipped`` (``export --out``'s default).
    fixture : pathlib.Path
        The tests' held-out fixture (``export --fixture``'s default in a source checkout).
    fixture_help : str
        What ``export`` writes into the fixture.
    cpu_minutes, steps : float, int
        Defaults of ``train --cpu-minutes`` and ``train --steps``.

    Returns
    -------
    tuple of argparse.ArgumentParser
        ``(parser, train, export)``: the recipe adds its own options and ``set_defaults(func=...)`` to the two
        sub-commands, then ``parser.parse_args``.
    """
    import argparse

    from tonehost.exports.paths import SHIPPED_DIR

    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train or resume")
    t.add_argument("--work", required=True, help="folder of train_state.pt")
    t.add_argument("--cpu-minutes", type=float, default=cpu_minutes,
                   help=f"CPU budget of all runs of WORK (default {cpu_minutes:g})")
    t.add_argument("--steps", type=int, default=steps, help=f"length of the learning-rate schedule (default {steps})")
    e = sub.add_parser("export", help="write the layers checkpoint")
    e.add_argument("--work", required=True)
    e.add_argument("--out", default=str(SHIPPED_DIR / name), help=f"default exports/shipped/{name}")
    e.add_argument("--fixture", default=str(fixture) if fixture.parent.parent.is_dir() else None,
                   help=f"also write {fixture_help} here (default tests/fixtures/shipped_melody/{fixture.name} in a "
                   "source checkout)")
    return ap, t, e


def load_trained(work: str | os.PathLike, build: Callable[[dict], nn.Module]) -> tuple[dict, nn.Module]:
    """The best-on-validation model of a training run, built, loaded and in eval mode.

    Parameters
    ----------
    work : str or os.PathLike
        The run's folder (``train_state.pt``).
    build : callable
        ``config -> model`` (an untrained module of the run's widths).

    Returns
    -------
    tuple
        ``(config, model)``.
    """
    cfg, state = load_state(work)
    model = build(cfg)
    model.load_state_dict(state)
    model.eval()
    return cfg, model


def clear_shards(out: str | os.PathLike) -> Path:
    """``out`` as a Path, without the weight shards (``group1-shard*``) of an earlier export (their number may
    differ)."""
    out = Path(out)
    for old in out.glob("group1-shard*"):
        old.unlink()
    return out


def run_card(work: str | os.PathLike, cfg: dict, validation: dict) -> dict:
    """The model card's record of a training run: the split's SHA-256, settings, best and last step, CPU minutes,
    validation scores.

    Parameters
    ----------
    work : str or os.PathLike
        The run's folder (``train_state.pt``).
    cfg : dict
        The run's settings (:func:`load_state`).
    validation : dict
        The kept model's validation scores.

    Returns
    -------
    dict
    """
    import hashlib

    from tonehost.exports.training.melodies import SPLIT_PATH

    st = torch.load(Path(work) / "train_state.pt", weights_only=False)
    return {"split_sha256": hashlib.sha256(SPLIT_PATH.read_bytes()).hexdigest(), "config": cfg,
            "best_step": st["best"][1], "steps_run": st["step"], "cpu_minutes": round(st["cpu_seconds"] / 60, 2),
            "validation": validation}


def train_rnn(train: RnnData, val: RnnData, work: str | os.PathLike, cfg: RnnConfig = RnnConfig(),
              cpu_minutes: float = 20.0, save_every: float = 60.0, log: Callable[[str], None] = print) -> MelodyRNN:
    """Train (or resume) a MelodyRNN; returns the best model on the validation subset.

    Parameters
    ----------
    train, val : RnnData
    work : path
        Holds ``train_state.pt`` and ``history.json``.
    cfg : RnnConfig
    cpu_minutes : float
        Stop when this run and the runs it resumed have used this much CPU time (or at ``cfg.steps``).
    save_every : float
        CPU seconds between saves.
    log : callable
    """
    torch.set_num_threads(1)
    model = MelodyRNN(train.n_classes, cfg.units, cfg.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    run = _Run(work, model, opt, cfg, cpu_minutes, save_every, log)
    rng = run.rng
    lengths = np.array([len(e) for e in train.events])
    weights = np.minimum(lengths, cfg.crop + 1).astype(np.float64)
    weights /= weights.sum()
    ranges = [_shift_range(e, train.n_classes, cfg.max_shift) for e in train.events]
    vr = np.random.default_rng(12345)
    val_events = [val.events[i] for i in vr.permutation(len(val.events))[:cfg.val_tunes]]
    while run.step < cfg.steps and not run.out_of_budget():
        # tunes drawn at random (weighted by the steps they give), padded to the longest crop
        picks = rng.choice(len(lengths), size=cfg.batch, p=weights)
        rows = []
        for j in picks:
            e = train.events[j]
            if len(e) > cfg.crop + 1:
                # half the crops start the tune, the others on a bar line (a phrase as a player starts one)
                starts = train.bars[j][train.bars[j] < len(e) - cfg.crop] if train.bars else np.zeros(0, np.int64)
                s = 0 if rng.random() < 0.5 or len(starts) == 0 else int(rng.choice(starts))
                e = e[s:s + cfg.crop + 1]
            a, b = ranges[j]
            if rng.random() < cfg.p_transpose and b > a:
                e = transpose_events(e, int(rng.integers(a, b + 1)))
            rows.append(e)
        x, m = _padded(rows)
        model.train()
        run.set_lr()
        xt = torch.from_numpy(x)
        logits, _ = model(xt[:, :-1])
        mt = torch.from_numpy(m)
        loss = nn.functional.cross_entropy(logits[mt], xt[:, 1:][mt])
        if run.optimise(loss):
            ev = rnn_evaluate(model, val_events)
            run.record({"train_loss": round(loss.item(), 4), "val_nll": round(ev["nll"], 4),
                        "val_accuracy": round(ev["accuracy"], 4)}, ev["nll"])
        run.maybe_save()
    run.save()
    if run.best is not None:
        model.load_state_dict(run.best[2])
    return model.eval()


def train_vae(train: VaeData, val: VaeData, work: str | os.PathLike, cfg: VaeConfig = VaeConfig(),
              cpu_minutes: float = 25.0, save_every: float = 60.0, log: Callable[[str], None] = print,
              stop_step: int | None = None) -> MelodyVAE:
    """Train (or resume) a MelodyVAE; returns the model with the best validation reconstruction accuracy.

    See :func:`train_rnn` for the parameters; ``stop_step`` ends the run at that step of its schedule (a stage
    of a longer plan), whatever CPU time is left. ``cfg.init_from`` starts a new run from the best model of an
    earlier one (same widths; new optimizer, schedule and budget).
    """
    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)  # the initial weights too (torch seeds itself at random when a process starts)
    model = MelodyVAE(train.n_classes, cfg.enc_units, cfg.z_dims, cfg.dec_units)
    if cfg.init_from and not (Path(work) / "train_state.pt").is_file():
        # a later stage: start from the best model of an earlier run (same widths), fresh optimizer and schedule
        prev_cfg, prev_state = load_state(cfg.init_from)
        if [prev_cfg[k] for k in ("enc_units", "z_dims")] != [cfg.enc_units, cfg.z_dims] or \
                tuple(prev_cfg["dec_units"]) != tuple(cfg.dec_units):
            raise ValueError(f"{cfg.init_from} has other widths ({prev_cfg})")
        model.load_state_dict(prev_state)
        log(f"initialised from the best model of {cfg.init_from}")
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    run = _Run(work, model, opt, cfg, cpu_minutes, save_every, log)
    rng = run.rng
    W = train.windows
    notes = np.where(W >= FIRST, W, -1)
    has = (W >= FIRST).any(1)
    lo_ok = np.where(has, FIRST - np.where(W >= FIRST, W, 10 ** 6).min(1), 0)
    hi_ok = np.where(has, train.n_classes - 1 - notes.max(1), 0)
    lo_ok = np.maximum(lo_ok, -cfg.max_shift)
    hi_ok = np.minimum(hi_ok, cfg.max_shift)
    vr = np.random.default_rng(12345)
    val_w = val.windows[vr.permutation(len(val.windows))[:cfg.val_windows]]
    ramp = max(1, int(cfg.beta_ramp * cfg.steps))
    last = cfg.steps if stop_step is None else min(cfg.steps, int(stop_step))
    while run.step < last and not run.out_of_budget():
        idx = rng.integers(0, len(W), cfg.batch)
        x = W[idx].copy()
        shift = np.where(rng.random(cfg.batch) < cfg.p_transpose,
                         rng.integers(lo_ok[idx], hi_ok[idx] + 1), 0)
        x = np.where(x >= FIRST, x + shift[:, None], x)
        xt = torch.from_numpy(x)
        model.train()
        run.set_lr()
        mu, sigma = model.encode(xt)
        z = mu + sigma * torch.randn_like(sigma)
        fed = xt
        ss = cfg.ss_max * min(1.0, run.step / max(1, int(cfg.ss_ramp * cfg.steps)))
        if ss > 0:
            # scheduled sampling, parallel form (Duckworth et al. 2019): a teacher-forced pass without
            # gradients samples the model's own events; each fed-back input is replaced by its sample with
            # probability ss, and the trained pass reads the mix
            with torch.no_grad():
                own = torch.distributions.Categorical(logits=model.decode_logits(z, xt)).sample()
            fed = torch.where(torch.rand(own.shape) < ss, own, xt)
        logits = model.decode_logits(z, fed, cfg.input_dropout)
        rec = nn.functional.cross_entropy(logits.reshape(-1, model.n_classes), xt.reshape(-1),
                                          reduction="sum") / cfg.batch
        kl = _kl(mu, sigma).mean()
        beta = cfg.max_beta * min(1.0, run.step / ramp)
        loss = rec + beta * torch.clamp(kl - cfg.free_nats, min=0.0)
        if run.optimise(loss):
            ev = vae_evaluate(model, val_w)
            run.record({"train_rec": round(rec.item() / W.shape[1], 4), "train_kl": round(kl.item(), 2),
                        "beta": round(beta, 3), "ss": round(ss, 3),
                        "val_recon_accuracy": round(ev["recon_accuracy"], 4),
                        "val_tf_accuracy": round(ev["tf_accuracy"], 4),
                        "val_nll": round(ev["nll"], 4), "val_kl": round(ev["kl"], 2)}, -ev["recon_accuracy"])
        run.maybe_save()
    run.save()
    if run.best is not None:
        model.load_state_dict(run.best[2])
    return model.eval()
