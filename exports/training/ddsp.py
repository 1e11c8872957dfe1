"""Train a small DDSP decoder (f0 + loudness -> harmonic + noise controls) and export it to the ONNX contract.

Training only (imports torch). The decoder has the shape :mod:`tonehost.exports.convert.ddsp_onnx` builds from a
:class:`tonehost.exports.convert.ddsp_decoder.DecoderSpec` (the shape of the hosted ddsp ``RnnFcDecoder``): per input an FC stack
(dense -> LayerNorm -> leaky ReLU), a GRU over the concatenated stacks, an output FC stack over
``[f0 stack, loudness stack, GRU]``, one dense layer split into amplitude (1), harmonic distribution (K) and noise
magnitudes (B), each through ddsp's exp-sigmoid. The exported ``.onnx`` therefore runs through exactly the same
builder and the same run-time code as converted hosted checkpoints.

Inputs follow the live pipeline: ``f0_scaled = hz_to_midi(f0) / 127``; ``pw_scaled = loudness_db / 120 + 1``
with ``loudness_db`` the live tracker's ``20*log10(rms) - 20.7`` (``db_kind="loudness_db"``, ``db_range=120``);
the model's ``settings`` (averageMaxLoudness, meanLoudness, meanPitch) make the live normaliser map a voice onto
the training data's loudness and register. Audio is synthesised at 16 kHz through the differentiable twins of the
run-time synths (:mod:`tonehost.exports.training.synth`) and compared with the target by the multi-scale spectral loss.

Training is resumable: ``state.pt`` in the work directory holds weights, optimiser, step and RNG states; it is
written every ``checkpoint_every`` steps and when the wall-clock cap is reached.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tonehost.exports.contracts import ddsp as C
from tonehost.exports.onnx_session import make_session
from tonehost.exports.paths import atomic_output
from tonehost.exports.convert.ddsp_decoder import DecoderSpec, FcLayer, GruWeights
from tonehost.exports.training.synth import (exp_sigmoid, fir_table, harmonic_synth, multiscale_spectral_loss,
                                       noise_synth, oscillator_bank)

SAMPLE_RATE = 16000
FRAME_RATE = 250.0
HOP = 64
DB_RANGE = 120.0
LOWEST_LD = -120.0
NOISE_BIAS = -5.0  # ddsp FilteredNoise initial_bias, folded into the dense bias of the noise magnitudes


@dataclass
class DecoderConfig:
    """Decoder size (defaults: ~0.5 M parameters, trains on one CPU core)."""

    fc_units: int = 128
    fc_layers: int = 2
    gru_units: int = 192
    out_layers: int = 2
    n_harmonics: int = C.N_HARMONICS
    n_noise_bands: int = C.N_NOISE_BANDS
    leaky_alpha: float = 0.2
    ln_eps: float = 1e-5


@dataclass
class TrainConfig:
    """Training run settings."""

    steps: int = 20000
    batch: int = 8
    seconds: float = 2.0  # length of one training example
    lr: float = 1e-3
    lr_final: float = 2e-4
    grad_clip: float = 3.0
    seed: int = 0
    max_minutes: float = 60.0  # wall-clock cap of this run (resume continues)
    checkpoint_every: int = 100
    ld_floor_max: float = -85.0  # augmentation: raise silent input frames to a random floor up to this
    fft_sizes: tuple = (2048, 1024, 512, 256, 128, 64)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)


def _fc_stack(n_in: int, units: int, layers: int, alpha: float, eps: float) -> nn.Sequential:
    mods = []
    for i in range(layers):
        mods += [nn.Linear(n_in if i == 0 else units, units), nn.LayerNorm(units, eps=eps), nn.LeakyReLU(alpha)]
    return nn.Sequential(*mods)


class DDSPDecoder(nn.Module):
    """RnnFcDecoder: (f0_scaled, pw_scaled) frames -> (amplitude, harmonic distribution, noise magnitudes)."""

    def __init__(self, cfg: DecoderConfig | None = None):
        super().__init__()
        self.cfg = c = cfg or DecoderConfig()
        self.f0_stack = _fc_stack(1, c.fc_units, c.fc_layers, c.leaky_alpha, c.ln_eps)
        self.pw_stack = _fc_stack(1, c.fc_units, c.fc_layers, c.leaky_alpha, c.ln_eps)
        self.gru = nn.GRU(2 * c.fc_units, c.gru_units, batch_first=True)
        self.out_stack = _fc_stack(2 * c.fc_units + c.gru_units, c.fc_units, c.out_layers, c.leaky_alpha,
                                   c.ln_eps)
        self.dense = nn.Linear(c.fc_units, 1 + c.n_harmonics + c.n_noise_bands)
        with torch.no_grad():
            self.dense.bias[1 + c.n_harmonics:] += NOISE_BIAS

    def forward(self, f0_scaled: torch.Tensor, pw_scaled: torch.Tensor, h0: torch.Tensor | None = None):
        """``f0_scaled``, ``pw_scaled``: [B, F]. Returns amp [B, F], dist [B, F, K], noise [B, F, nb], h [1, B, R]."""
        a = self.f0_stack(f0_scaled[..., None])
        b = self.pw_stack(pw_scaled[..., None])
        x = torch.cat([a, b], -1)
        r, h = self.gru(x, h0)
        y = self.dense(self.out_stack(torch.cat([a, b, r], -1)))
        K = self.cfg.n_harmonics
        amp = exp_sigmoid(y[..., 0])
        dist = exp_sigmoid(y[..., 1:1 + K])
        noise = exp_sigmoid(y[..., 1 + K:])
        return amp, dist, noise, h


def scale_inputs(f0_hz, ld_db):
    """(f0_scaled, pw_scaled) as float32 numpy arrays, exactly as the contract/pipeline scales them."""
    return C.scale_f0_hz(f0_hz), C.scale_db(np.maximum(LOWEST_LD, ld_db), DB_RANGE)


def synthesize(model: DDSPDecoder, f0_hz: torch.Tensor, ld_db: torch.Tensor, generator=None, osc=None,
               table=None):
    """Decoder + differentiable synths at 16 kHz: audio [B, F*hop] (harmonic + noise)."""
    f0s = torch.from_numpy(C.scale_f0_hz(f0_hz.numpy()))
    pws = torch.from_numpy(C.scale_db(ld_db.numpy(), DB_RANGE))
    amp, dist, noise, _ = model(f0s, pws)
    h = harmonic_synth(f0_hz, amp, dist, SAMPLE_RATE, HOP, osc=osc)
    n = noise_synth(noise, HOP, generator=generator, table=table)
    return h + n


# ---------------------------------------------------------------------------------------------- data

class FrameData:
    """Training material: 16 kHz audio with per-frame ``f0_hz`` and ``ld_db`` (hop 64), concatenated."""

    def __init__(self, audio: np.ndarray, f0_hz: np.ndarray, ld_db: np.ndarray):
        n = min(len(f0_hz), len(ld_db), len(audio) // HOP)
        self.audio = np.asarray(audio[:n * HOP], np.float32)
        self.f0_hz = np.asarray(f0_hz[:n], np.float32)
        self.ld_db = np.asarray(ld_db[:n], np.float32)

    @classmethod
    def from_npz_dir(cls, directory) -> "FrameData":
        parts = [np.load(p) for p in sorted(Path(directory).glob("chunk_*.npz"))]
        if not parts:
            raise FileNotFoundError(f"no chunk_*.npz in {directory}")
        n = [min(len(p["f0_hz"]), len(p["audio"]) // HOP) for p in parts]
        return cls(np.concatenate([p["audio"][:k * HOP] for p, k in zip(parts, n)]),
                   np.concatenate([p["f0_hz"][:k] for p, k in zip(parts, n)]),
                   np.concatenate([p["ld_db"][:k] for p, k in zip(parts, n)]))

    @property
    def n_frames(self) -> int:
        return len(self.f0_hz)

    def batch(self, rng: np.random.Generator, batch: int, frames: int, ld_floor_max: float = LOWEST_LD):
        """Random crops: (f0_hz [B, F], ld_db [B, F], audio [B, F*hop]) tensors (with the loudness-floor
        augmentation: each example's silent frames are raised to a random floor in [-120, ld_floor_max])."""
        starts = rng.integers(0, self.n_frames - frames, batch)
        f0 = np.stack([self.f0_hz[s:s + frames] for s in starts])
        ld = np.stack([self.ld_db[s:s + frames] for s in starts])
        floors = rng.uniform(LOWEST_LD, ld_floor_max, (batch, 1)) if ld_floor_max > LOWEST_LD else None
        if floors is not None:
            ld = np.maximum(ld, floors).astype(np.float32)
        au = np.stack([self.audio[s * HOP:(s + frames) * HOP] for s in starts])
        return torch.from_numpy(f0), torch.from_numpy(ld), torch.from_numpy(au)


def features_from_audio(audio16: np.ndarray):
    """f0 and loudness of a *recording* (no MIDI) with the live tracker, aligned like the training features:
    frame ``i`` = the tracker's frame ``i+1`` (its window centred on the end of hop ``i``); f0 held while
    unvoiced (as live). Returns (f0_hz, ld_db, voiced) per frame."""
    from tonehost.dsp.features import TrackerConfig, VoiceTracker
    tr = VoiceTracker(TrackerConfig(hop=HOP))
    n = len(audio16) // HOP
    x = np.zeros((n + 8) * HOP, np.float64)
    x[:n * HOP] = audio16[:n * HOP]
    fr = tr.process(x)
    # frame i wants values centred on sample (i+1)*hop: loudness (128-sample window) is the tracker's frame i+1,
    # pitch (analysis centred pitch_delay_s behind each frame's end) the frame i + pitch_delay_s/hop
    lag = max(1, int(round(tr.cfg.pitch_delay_s * SAMPLE_RATE / HOP)))
    f0 = np.asarray(fr.f0_hz, np.float64)
    pad = lag + n + 1 - len(f0)
    if pad > 0:
        f0 = np.concatenate([f0, np.full(pad, f0[-1] if len(f0) else 0.0)])
    voiced = np.concatenate([np.asarray(fr.voiced, bool), np.zeros(max(0, pad), bool)])
    f0, voiced = f0[lag:lag + n], voiced[lag:lag + n]
    ld = np.asarray(fr.loudness_db, np.float32)[1:n + 1]
    # before the first voiced frame the tracker's f0 is 0: use the first real f0
    good = np.flatnonzero(f0 > 0)
    if len(good):
        f0[:good[0]] = f0[good[0]]
    else:
        f0[:] = 220.0
    return f0.astype(np.float32), ld, voiced


def settings_from_data(data: FrameData, post_gain: float = 1.0) -> dict:
    """The normaliser settings (magenta.js names) that map a voice onto this training data."""
    active = data.ld_db[data.ld_db > -90.0]
    if len(active) == 0:
        active = data.ld_db
    midi = C.hz_to_midi(data.f0_hz[data.ld_db > -90.0]) if len(active) else C.hz_to_midi(data.f0_hz)
    return {"averageMaxLoudness": round(float(np.percentile(active, 99.9)), 2),
            "meanLoudness": round(float(np.mean(active)), 2),
            "meanPitch": round(float(np.mean(midi)), 2),
            "loudnessThreshold": -100.0, "postGain": post_gain}


# ---------------------------------------------------------------------------------------------- training

def _lr_at(cfg: TrainConfig, step: int) -> float:
    frac = min(1.0, step / max(1, cfg.steps))
    return cfg.lr * (cfg.lr_final / cfg.lr) ** frac


def train(data: FrameData, workdir, cfg: TrainConfig, log=print, eval_data: FrameData | None = None) -> DDSPDecoder:
    """Train (or resume) in ``workdir``; returns the model. Stops at ``cfg.steps`` or the wall-clock cap."""
    torch.set_num_threads(1)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt = workdir / "state.pt"
    torch.manual_seed(cfg.seed)
    model = DDSPDecoder(cfg.decoder)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    step = 0
    history = []
    if ckpt.is_file():
        st = torch.load(ckpt, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        rng.bit_generator.state = st["np_rng"]
        gen.set_state(st["torch_gen"])
        history = st.get("history", [])
        log(f"resumed from {ckpt} at step {step}")
    frames = int(round(cfg.seconds * FRAME_RATE))
    table = fir_table(cfg.decoder.n_noise_bands)
    t_start = time.time()
    last_ck = step
    running = None

    def save():
        with atomic_output(ckpt) as tmp:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "np_rng": rng.bit_generator.state, "torch_gen": gen.get_state(), "history": history,
                        "config": asdict(cfg)}, tmp)

    while step < cfg.steps:
        for g in opt.param_groups:
            g["lr"] = _lr_at(cfg, step)
        f0, ld, target = data.batch(rng, cfg.batch, frames, cfg.ld_floor_max)
        osc = oscillator_bank(f0, cfg.decoder.n_harmonics, SAMPLE_RATE, HOP)
        y = synthesize(model, f0, ld, generator=gen, osc=osc, table=table)
        loss = multiscale_spectral_loss(y, target, cfg.fft_sizes)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        lv = float(loss.detach())
        running = lv if running is None else 0.98 * running + 0.02 * lv
        if step % 25 == 0:
            el = time.time() - t_start
            log(f"step {step} loss {lv:.4f} (avg {running:.4f}) lr {_lr_at(cfg, step):.2e} {el / 60:.1f} min")
            history.append((step, running))
        if step - last_ck >= cfg.checkpoint_every:
            if eval_data is not None:
                log(f"step {step} eval loss {evaluate(model, eval_data, cfg):.4f}")
            save()
            last_ck = step
        if time.time() - t_start > cfg.max_minutes * 60:
            log(f"wall-clock cap ({cfg.max_minutes} min) reached at step {step}")
            break
    save()
    return model


def evaluate(model: DDSPDecoder, data: FrameData, cfg: TrainConfig, seconds: float = 4.0) -> float:
    """Mean multi-scale spectral loss over consecutive ``seconds`` pieces of ``data`` (fixed noise seed)."""
    frames = int(round(seconds * FRAME_RATE))
    losses = []
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for s in range(0, data.n_frames - frames + 1, frames):
            f0 = torch.from_numpy(data.f0_hz[None, s:s + frames])
            ld = torch.from_numpy(data.ld_db[None, s:s + frames])
            tgt = torch.from_numpy(data.audio[None, s * HOP:(s + frames) * HOP])
            y = synthesize(model, f0, ld, generator=gen)
            losses.append(float(multiscale_spectral_loss(y, tgt, cfg.fft_sizes)))
    return float(np.mean(losses)) if losses else float("nan")


def load_checkpoint(workdir) -> DDSPDecoder:
    """The model stored in ``workdir/state.pt``."""
    st = torch.load(Path(workdir) / "state.pt", weights_only=False)
    model = DDSPDecoder(DecoderConfig(**st["config"]["decoder"]))
    model.load_state_dict(st["model"])
    return model


# ---------------------------------------------------------------------------------------------- export

def _layers(seq: nn.Sequential, cfg: DecoderConfig) -> list:
    mods = list(seq)
    out = []
    for i in range(0, len(mods), 3):
        lin, ln = mods[i], mods[i + 1]
        out.append(FcLayer(kernel=lin.weight.detach().numpy().T.copy(), bias=lin.bias.detach().numpy().copy(),
                           gamma=ln.weight.detach().numpy().copy(), beta=ln.bias.detach().numpy().copy(),
                           epsilon=cfg.ln_eps, alpha=cfg.leaky_alpha))
    return out


def _keras_gates(w: np.ndarray, R: int) -> np.ndarray:
    """torch GRU gate blocks (r, z, n) along axis 0 -> Keras/ONNX order (z, r, h)."""
    r, z, n = w[:R], w[R:2 * R], w[2 * R:]
    return np.concatenate([z, r, n], axis=0)


def to_decoder_spec(model: DDSPDecoder) -> DecoderSpec:
    """The trained decoder as the format-neutral :class:`DecoderSpec` that :mod:`tonehost.exports.convert.ddsp_onnx` builds from."""
    c = model.cfg
    R = c.gru_units
    g = model.gru
    gru = GruWeights(kernel=_keras_gates(g.weight_ih_l0.detach().numpy(), R).T.copy(),
                     recurrent=_keras_gates(g.weight_hh_l0.detach().numpy(), R).T.copy(),
                     bias_input=_keras_gates(g.bias_ih_l0.detach().numpy(), R).copy(),
                     bias_recurrent=_keras_gates(g.bias_hh_l0.detach().numpy(), R).copy())
    return DecoderSpec(stacks={"f0": _layers(model.f0_stack, c), "pw": _layers(model.pw_stack, c)},
                       rnn_order=["f0", "pw"], out_order=["f0", "pw", "rnn"], gru=gru,
                       out_stack=_layers(model.out_stack, c),
                       dense_kernel=model.dense.weight.detach().numpy().T.copy(),
                       dense_bias=model.dense.bias.detach().numpy().copy(),
                       splits=(1, c.n_harmonics, c.n_noise_bands))


def export_onnx(model: DDSPDecoder, path, settings: dict, source_format: str = "tonehost-trained",
                post_gain: float = 1.0, check: bool = True) -> Path:
    """Write the controls model in the contract (via :func:`tonehost.exports.convert.ddsp_onnx.build_controls_model`).

    With ``check``, the ONNX model is stepped frame by frame over a test sequence and compared with the torch
    decoder (amplitude, masked+normalised harmonic distribution, noise magnitudes); raises on mismatch.
    """
    import onnx
    from tonehost.exports.convert.ddsp_onnx import build_controls_model
    c = model.cfg
    info = C.ContractInfo(source_format=source_format, sample_rate=SAMPLE_RATE, frame_rate=FRAME_RATE,
                          n_harmonics=c.n_harmonics, n_noise_bands=c.n_noise_bands, state_size=c.gru_units,
                          db_range=DB_RANGE, db_kind="loudness_db", post_gain=post_gain, settings=settings)
    proto = build_controls_model(to_decoder_spec(model), info)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    if check:
        err = check_onnx_matches(model, path)
        if err > 1e-3:
            raise RuntimeError(f"exported ONNX differs from the torch decoder (max abs {err:.2e})")
    return path


def check_onnx_matches(model: DDSPDecoder, path, n_frames: int = 200) -> float:
    """Max abs difference between the torch decoder and the exported ONNX stepped one frame per call."""
    import onnxruntime as ort
    t = np.arange(n_frames) / FRAME_RATE
    f0 = (300 * 2 ** np.sin(2 * np.pi * 0.7 * t)).astype(np.float32)
    ld = (-70 + 25 * np.sin(2 * np.pi * 1.3 * t)).astype(np.float32)
    f0s, pws = scale_inputs(f0, ld)
    with torch.no_grad():
        amp, dist, noise, _ = model(torch.from_numpy(f0s[None]), torch.from_numpy(pws[None]))
        K = dist.shape[-1]
        below = (torch.from_numpy(f0[None, :, None]) * torch.arange(1, K + 1) < SAMPLE_RATE / 2).float()
        d = dist * below
        d = d / d.sum(-1, keepdim=True)
    sess = make_session(path)
    state = np.zeros((1, model.cfg.gru_units), np.float32)
    err = 0.0
    for i in range(n_frames):
        a, h, nz, state = sess.run(None, {C.INPUT_F0: f0s[i:i + 1, None], C.INPUT_PW: pws[i:i + 1, None],
                                          C.INPUT_STATE: state})
        err = max(err, abs(float(a[0, 0]) - float(amp[0, i])), float(np.max(np.abs(h[0] - d[0, i].numpy()))),
                  float(np.max(np.abs(nz[0] - noise[0, i].numpy()))))
    return err


def save_json(path, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=1, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))


def n_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))
