"""Training of Onsets and Frames (magenta.js's uni-directional model family) in PyTorch, saved as a tfjs checkpoint.

Training only: this module imports torch; nothing at runtime imports it. The trained model is written as a real
tfjs layers checkpoint (``weights_manifest.json`` + shards, optionally q2) with the exact variable names of
``onsets_frames_uni`` (:func:`tonehost.exports.convert.onsets_frames.weight_shapes`), so it runs through the same reader, ONNX
export and streaming runner as the hosted checkpoints.

Conventions kept so the checkpoint is a genuine tfjs O&F checkpoint:

- conv kernels HWIO (time, mel, in, out); BatchNorm without scale (epsilon 1e-3): ``beta``, ``moving_mean``,
  ``moving_variance``; ``fc_end`` flattens the pooled [57, C] map mel-major, channel-minor (NHWC);
- LSTM ``kernel`` [inputs + units, 4 units] (input rows then recurrent rows) with gates stored in the cudnn
  order ``[i, c, f, o]`` and a ``bias`` whose forget part is 1.0 *below* the keras bias, because magenta.js
  reorders ``[i, c, f, o] -> [i, f, c, o]`` and adds 1.0 to the forget bias on load. :func:`torch_to_checkpoint`
  writes that inverse; :func:`checkpoint_to_torch` reads it back.
- the frame LSTM's input is the onset probabilities (gradient stopped, as in O&F) followed by the frame stack's
  ``activation_probs``.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch import nn

from tonehost.exports.convert.onsets_frames import BN_EPSILON, LSTM_PREFIX, N_MELS, N_PITCHES, N_POOLED, RF_PAD, STACKS, weight_shapes

SMALL_WIDTHS = {"conv": (16, 16, 32), "fc": 256, "lstm": 128}


class ConvStack(nn.Module):
    """conv3x3 -> BN(no scale) -> ReLU, x3 with (1, 2) max-pools after the 2nd and 3rd, then dense + ReLU."""

    def __init__(self, conv=(48, 48, 96), fc: int = 768):
        super().__init__()
        chans = [1, *conv]
        self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, bias=False) for i in range(3))
        self.bns = nn.ModuleList(nn.BatchNorm2d(c, eps=BN_EPSILON, affine=False, momentum=0.05) for c in conv)
        self.betas = nn.ParameterList(nn.Parameter(torch.zeros(c)) for c in conv)
        self.fc = nn.Linear(N_POOLED * conv[2], fc)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """[B, T, 229] -> [B, T, fc]."""
        h = mel[:, None]
        for i in range(3):
            h = self.bns[i](self.convs[i](h)) + self.betas[i][None, :, None, None]
            h = torch.relu(h)
            if i > 0:
                h = nn.functional.max_pool2d(h, (1, 2))
        b, c, t, f = h.shape
        h = h.permute(0, 2, 3, 1).reshape(b, t, f * c)
        return torch.relu(self.fc(h))


class OnsetsFrames(nn.Module):
    """The uni-directional O&F of magenta.js with configurable widths (see module docstring)."""

    def __init__(self, widths: Mapping = SMALL_WIDTHS):
        super().__init__()
        self.widths = {"conv": tuple(widths["conv"]), "fc": int(widths["fc"]), "lstm": int(widths["lstm"])}
        conv, fc, units = self.widths["conv"], self.widths["fc"], self.widths["lstm"]
        self.stacks = nn.ModuleDict({s: ConvStack(conv, fc) for s in STACKS})
        self.onset_lstm = nn.LSTM(fc, units, batch_first=True)
        self.onset_probs = nn.Linear(units, N_PITCHES)
        self.activation_probs = nn.Linear(fc, N_PITCHES)
        self.frame_lstm = nn.LSTM(2 * N_PITCHES, units, batch_first=True)
        self.frame_probs = nn.Linear(units, N_PITCHES)
        self.onset_velocities = nn.Linear(fc, N_PITCHES)
        for lstm in (self.onset_lstm, self.frame_lstm):  # keras unit_forget_bias; small input weights
            with torch.no_grad():
                lstm.weight_ih_l0.mul_(0.5)
            for name in ("bias_ih_l0", "bias_hh_l0"):
                b = getattr(lstm, name)
                with torch.no_grad():
                    b.zero_()
                    if name == "bias_ih_l0":
                        b[units:2 * units] = 1.0

    def forward(self, mel: torch.Tensor, context: int = 0, extras: dict | None = None):
        """mel [B, T, 229] -> onset logits, frame logits, velocities, each [B, T - 2 context, 88].

        ``context`` frames at each end feed the convolutions only (so crop edges are not zero-padded, as in a
        whole-sequence run) and are dropped before the dense heads and LSTMs. ``extras``, when given, receives
        the ``fc_end`` features per stack and the ``activation_probs`` logits (for the training losses).
        """
        feats = {}
        for s in STACKS:
            h = self.stacks[s](mel)
            feats[s] = h[:, context:h.shape[1] - context] if context else h
        o, _ = self.onset_lstm(feats["onsets"])
        onset_logits = self.onset_probs(o)
        act_logits = self.activation_probs(feats["frame"])
        f, _ = self.frame_lstm(torch.cat([torch.sigmoid(onset_logits).detach(), torch.sigmoid(act_logits)], dim=2))
        frame_logits = self.frame_probs(f)
        if extras is not None:
            extras.update(feats=feats, act_logits=act_logits)
        return onset_logits, frame_logits, self.onset_velocities(feats["velocity"])


# ------------------------------------------------------------------------------------------ checkpoint I/O

def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def lstm_to_checkpoint(lstm: nn.LSTM) -> tuple[np.ndarray, np.ndarray]:
    """torch LSTM -> checkpoint (kernel [in + U, 4U], bias [4U]) in cudnn gate order [i, c, f, o], forget - 1."""
    w = np.concatenate([_np(lstm.weight_ih_l0).T, _np(lstm.weight_hh_l0).T], axis=0)  # gates [i, f, c, o]
    b = _np(lstm.bias_ih_l0) + _np(lstm.bias_hh_l0)
    i, f, c, o = np.split(w, 4, axis=1)
    bi, bf, bc, bo = np.split(b, 4)
    kernel = np.concatenate([i, c, f, o], axis=1)
    bias = np.concatenate([bi, bc, (bf - np.float32(1.0)).astype(np.float32), bo])
    return np.ascontiguousarray(kernel, dtype=np.float32), np.ascontiguousarray(bias, dtype=np.float32)


def lstm_from_checkpoint(lstm: nn.LSTM, kernel: np.ndarray, bias: np.ndarray) -> None:
    """Inverse of :func:`lstm_to_checkpoint` (what magenta.js does on load: reorder, +1 forget bias)."""
    units = lstm.hidden_size
    i, c, f, o = np.split(np.asarray(kernel, np.float32), 4, axis=1)
    k = np.concatenate([i, f, c, o], axis=1)
    bi, bc, bf, bo = np.split(np.asarray(bias, np.float32), 4)
    b = np.concatenate([bi, bf + np.float32(1.0), bc, bo])
    n_in = k.shape[0] - units
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(k[:n_in].T)))
        lstm.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(k[n_in:].T)))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        lstm.bias_hh_l0.zero_()


def torch_to_checkpoint(model: OnsetsFrames) -> dict[str, np.ndarray]:
    """All 54 O&F variables (names and shapes of :func:`tonehost.exports.convert.onsets_frames.weight_shapes`) from the model."""
    out: dict[str, np.ndarray] = {}
    for s in STACKS:
        st = model.stacks[s]
        for i in range(3):
            out[f"{s}/conv{i}/weights"] = _np(st.convs[i].weight).transpose(2, 3, 1, 0)  # OIHW -> HWIO
            out[f"{s}/conv{i}/BatchNorm/beta"] = _np(st.betas[i])
            out[f"{s}/conv{i}/BatchNorm/moving_mean"] = _np(st.bns[i].running_mean)
            out[f"{s}/conv{i}/BatchNorm/moving_variance"] = _np(st.bns[i].running_var)
        out[f"{s}/fc_end/weights"] = _np(st.fc.weight).T
        out[f"{s}/fc_end/biases"] = _np(st.fc.bias)
    for name, layer in (("frame/activation_probs", model.activation_probs),
                        ("velocity/onset_velocities", model.onset_velocities),
                        ("onsets/onset_probs", model.onset_probs), ("frame/frame_probs", model.frame_probs)):
        out[f"{name}/weights"] = _np(layer.weight).T
        out[f"{name}/biases"] = _np(layer.bias)
    for scope, lstm in (("onsets", model.onset_lstm), ("frame", model.frame_lstm)):
        out[f"{scope}/{LSTM_PREFIX}/kernel"], out[f"{scope}/{LSTM_PREFIX}/bias"] = lstm_to_checkpoint(lstm)
    shapes = weight_shapes(model.widths)
    ordered = {}
    for name, shape in shapes.items():  # manifest order = weight_shapes order
        assert out[name].shape == shape, (name, out[name].shape, shape)
        ordered[name] = np.ascontiguousarray(out[name], dtype=np.float32)
    return ordered


def checkpoint_to_torch(weights: Mapping[str, np.ndarray]) -> OnsetsFrames:
    """An :class:`OnsetsFrames` (eval mode) holding a checkpoint's variables (any widths)."""
    from tonehost.exports.convert.onsets_frames import infer_widths

    model = OnsetsFrames(infer_widths(weights))
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    with torch.no_grad():
        for s in STACKS:
            st = model.stacks[s]
            for i in range(3):
                st.convs[i].weight.copy_(t(np.asarray(weights[f"{s}/conv{i}/weights"]).transpose(3, 2, 0, 1)))
                st.betas[i].copy_(t(weights[f"{s}/conv{i}/BatchNorm/beta"]))
                st.bns[i].running_mean.copy_(t(weights[f"{s}/conv{i}/BatchNorm/moving_mean"]))
                st.bns[i].running_var.copy_(t(weights[f"{s}/conv{i}/BatchNorm/moving_variance"]))
            st.fc.weight.copy_(t(np.asarray(weights[f"{s}/fc_end/weights"]).T))
            st.fc.bias.copy_(t(weights[f"{s}/fc_end/biases"]))
        for name, layer in (("frame/activation_probs", model.activation_probs),
                            ("velocity/onset_velocities", model.onset_velocities),
                            ("onsets/onset_probs", model.onset_probs), ("frame/frame_probs", model.frame_probs)):
            layer.weight.copy_(t(np.asarray(weights[f"{name}/weights"]).T))
            layer.bias.copy_(t(weights[f"{name}/biases"]))
    for scope, lstm in (("onsets", model.onset_lstm), ("frame", model.frame_lstm)):
        lstm_from_checkpoint(lstm, weights[f"{scope}/{LSTM_PREFIX}/kernel"], weights[f"{scope}/{LSTM_PREFIX}/bias"])
    return model.eval()


# ------------------------------------------------------------------------------------------ data + loss

def rolls(notes: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Onset, frame (uint8) and velocity-target (float32, ``(v - 10) / 80`` clipped) rolls ``[T, 88]``."""
    on = np.zeros((n_frames, N_PITCHES), np.uint8)
    fr = np.zeros((n_frames, N_PITCHES), np.uint8)
    ve = np.zeros((n_frames, N_PITCHES), np.float32)
    for pitch, f0, f1, vel in np.asarray(notes).reshape(-1, 4):
        p = int(pitch) - 21
        if 0 <= p < N_PITCHES and 0 <= f0 < n_frames:
            on[f0, p] = 1
            fr[f0:f1, p] = 1
            ve[f0, p] = np.clip((vel - 10) / 80.0, 0, 1)
    return on, fr, ve


def losses(model: OnsetsFrames, mel: torch.Tensor, on: torch.Tensor, fr: torch.Tensor, ve: torch.Tensor,
           context: int = RF_PAD, aux: float = 1.0, fc_l2: float = 1e-3) -> dict[str, torch.Tensor]:
    """O&F losses: BCE on onsets and frames, velocity MSE masked by the onsets.

    Two training aids that leave the architecture unchanged: ``aux`` weighs a BCE of ``activation_probs``
    against the frame labels (a direct signal for the frame stack), and ``fc_l2`` a penalty on the mean square
    of the onset and frame ``fc_end`` features, which keeps the LSTMs' gates out of saturation (without it the
    small model's fc features grow until the LSTM outputs stop depending on the input).
    """
    ex: dict = {}
    ol, fl, v = model(mel, context, ex)
    bce = nn.functional.binary_cross_entropy_with_logits
    onset = bce(ol, on)
    frame = bce(fl, fr)
    vel = (on * (v - ve) ** 2).sum() / on.sum().clamp(min=1.0)
    act = bce(ex["act_logits"], fr)
    reg = ex["feats"]["onsets"].pow(2).mean() + ex["feats"]["frame"].pow(2).mean()
    total = onset + frame + vel + aux * act + fc_l2 * reg
    return {"onset": onset, "frame": frame, "velocity": vel, "act": act, "fc_sq": reg, "total": total}


__all__ = ["OnsetsFrames", "SMALL_WIDTHS", "torch_to_checkpoint", "checkpoint_to_torch", "lstm_to_checkpoint",
           "lstm_from_checkpoint", "rolls", "losses", "N_MELS"]
