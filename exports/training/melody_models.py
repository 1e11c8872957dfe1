"""MusicRNN (basic_rnn format) and MusicVAE (mel_2bar_small format) in PyTorch, to and from layers checkpoints.

Training runs in torch (``nn.LSTM``: fused, gates ``i, f, g, o``, two biases); the shipped checkpoints hold what
magenta.js reads (MUSICGEN.md sections 2 and 3): tfjs ``basicLSTMCell`` kernels ``[n_in + H, 4H]`` with gate
blocks ``i, j, f, o`` and a forget bias of 1.0 that magenta.js adds at run time. :func:`lstm_to_tf` and
:func:`lstm_from_tf` convert one layer both ways::

    kernel = concat([W_ih, W_hh], axis=1).T   with column blocks (i, f, g, o) -> (i, g, f, o)
    bias   = b_ih + b_hh, reordered the same, minus 1.0 on the f block

so the checkpoint computes the torch model's function (to float32 rounding). The tests load a trained model's
checkpoint with :class:`tonehost.MusicRNN` / :class:`tonehost.MusicVAE` and compare probabilities with these
modules.

- :class:`MelodyRNN`: stacked LSTM + ``fully_connected``; input the one-hot event of step t, output the logits
  of step t + 1 (magenta.js ``sampleRnn``). Variables ``rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/{kernel,bias}``,
  ``fully_connected/{weights,biases}``.
- :class:`MelodyVAE`: flat MusicVAE: a one-layer BiLSTM encoder over the one-hot events, ``mu``/``sigma`` (sigma
  = softplus, as Magenta's ``MusicVAE``), ``z_to_initial_state`` (tanh, split ``c0, h0, c1, h1``), an LSTM decoder
  whose input is ``concat(previous output one-hot, z)`` and an ``output_projection``. Variables as
  :mod:`tonehost.exports.convert.music_vae_arch` lists them for ``decoder/``.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from tonehost.exports.convert.music_vae_arch import DECODER_CELL, ENCODER_CELL

__all__ = ["lstm_to_tf", "lstm_from_tf", "init_forget_bias", "MelodyRNN", "MelodyVAE", "RNN_CELL", "FORGET_BIAS", "rnn_config",
           "vae_config"]

#: The forget bias magenta.js adds at run time (tfjs basicLSTMCell).
FORGET_BIAS = 1.0
#: MusicRNN layer ``l``'s variable prefix (no attention).
RNN_CELL = "rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/"
_TO_TF = np.r_[0:1, 2:3, 1:2, 3:4]  # torch blocks (i, f, g, o) -> tf blocks (i, j=g, f, o)


def _blocks(a: np.ndarray, order, axis: int) -> np.ndarray:
    parts = np.split(a, 4, axis=axis)
    return np.concatenate([parts[i] for i in order], axis=axis)


def lstm_to_tf(w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor
               ) -> tuple[np.ndarray, np.ndarray]:
    """One torch LSTM layer as a tfjs basicLSTMCell ``(kernel [n_in + H, 4H], bias [4H])`` (module docstring).

    Parameters
    ----------
    w_ih, w_hh : torch.Tensor
        ``[4H, n_in]``, ``[4H, H]`` (``nn.LSTM.weight_ih_l{k}``, ``weight_hh_l{k}``).
    b_ih, b_hh : torch.Tensor
        ``[4H]`` each.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        float32 kernel and bias (the forget bias of 1.0 taken out of the f block).
    """
    k = torch.cat([w_ih, w_hh], dim=1).detach().double().numpy().T
    b = (b_ih + b_hh).detach().double().numpy()
    k = _blocks(k, _TO_TF, axis=1)
    b = _blocks(b, _TO_TF, axis=0)
    H = b.shape[0] // 4
    b[2 * H:3 * H] -= FORGET_BIAS
    return k.astype(np.float32), b.astype(np.float32)


def lstm_from_tf(kernel: np.ndarray, bias: np.ndarray, n_in: int) -> dict[str, torch.Tensor]:
    """The inverse of :func:`lstm_to_tf`: ``{"w_ih", "w_hh", "b_ih", "b_hh"}`` (all the bias in ``b_ih``)."""
    k = _blocks(np.asarray(kernel, np.float64), _TO_TF, axis=1)  # the permutation is its own inverse
    b = _blocks(np.asarray(bias, np.float64), _TO_TF, axis=0).copy()
    H = b.shape[0] // 4
    b[H:2 * H] += FORGET_BIAS  # torch order: the f block is the second
    kt = torch.from_numpy(k.T.astype(np.float32))
    return {"w_ih": kt[:, :n_in].contiguous(), "w_hh": kt[:, n_in:].contiguous(),
            "b_ih": torch.from_numpy(b.astype(np.float32)), "b_hh": torch.zeros(4 * H)}


def init_forget_bias(lstm: nn.LSTM, value: float = FORGET_BIAS) -> None:
    """Start every forget gate of a torch LSTM at ``value`` (``b_ih`` f block; ``b_hh`` f block 0): the
    tfjs cell's own +1.0 (Jozefowicz et al. 2015, "An empirical exploration of recurrent network
    architectures"), so memories last from the first step; exported, it leaves a stored f bias of 0."""
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("bias_"):
                H = p.shape[0] // 4
                p[H:2 * H].fill_(value if name.startswith("bias_ih") else 0.0)


def _set_lstm(lstm: nn.LSTM, suffix: str, kernel, bias, n_in: int) -> None:
    p = lstm_from_tf(kernel, bias, n_in)
    with torch.no_grad():
        getattr(lstm, f"weight_ih_{suffix}").copy_(p["w_ih"])
        getattr(lstm, f"weight_hh_{suffix}").copy_(p["w_hh"])
        getattr(lstm, f"bias_ih_{suffix}").copy_(p["b_ih"])
        getattr(lstm, f"bias_hh_{suffix}").copy_(p["b_hh"])


def _get_lstm(lstm: nn.LSTM, suffix: str) -> tuple[np.ndarray, np.ndarray]:
    return lstm_to_tf(getattr(lstm, f"weight_ih_{suffix}"), getattr(lstm, f"weight_hh_{suffix}"),
                      getattr(lstm, f"bias_ih_{suffix}"), getattr(lstm, f"bias_hh_{suffix}"))


def rnn_config(min_pitch: int = 48, max_pitch: int = 83) -> dict:
    """The MusicRNN config.json of a melody model (basic_rnn's: ``MelodyConverter {minPitch, maxPitch}``)."""
    return {"type": "MusicRNN", "dataConverter": {"type": "MelodyConverter",
                                                  "args": {"minPitch": int(min_pitch), "maxPitch": int(max_pitch)}}}


def vae_config(num_steps: int = 32, min_pitch: int = 21, max_pitch: int = 108) -> dict:
    """The MusicVAE config.json of mel_2bar_small (``MelodyConverter {numSteps 32, minPitch 21, maxPitch 108}``)."""
    return {"type": "MusicVAE", "dataConverter": {"type": "MelodyConverter", "args": {
        "numSteps": int(num_steps), "minPitch": int(min_pitch), "maxPitch": int(max_pitch)}}}


class MelodyRNN(nn.Module):
    """A basic_rnn-format melody model: stacked LSTMs and a dense layer over the event classes.

    Parameters
    ----------
    n_classes : int
        D: the converter's depth (38 for pitches 48..83).
    units : sequence of int
        H of each LSTM layer (basic_rnn: 512, 512).
    dropout : float
        Dropout on each layer's output during training (none in the checkpoint).
    """

    def __init__(self, n_classes: int = 38, units: Sequence[int] = (256, 256), dropout: float = 0.0):
        super().__init__()
        self.n_classes = int(n_classes)
        self.units = [int(u) for u in units]
        ins = [self.n_classes] + self.units[:-1]
        self.layers = nn.ModuleList(nn.LSTM(i, u, batch_first=True) for i, u in zip(ins, self.units))
        for lstm in self.layers:
            init_forget_bias(lstm)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(self.units[-1], self.n_classes)

    def forward(self, events: torch.Tensor, state=None) -> tuple[torch.Tensor, list]:
        """Logits of the next event at every step.

        Parameters
        ----------
        events : torch.Tensor
            int64 ``[B, T]`` event codes (the input one-hot is built here).
        state : list of (h, c), optional
            Per layer ``[1, B, H]`` (zeros when None).

        Returns
        -------
        (torch.Tensor, list)
            logits ``[B, T, D]`` (row t predicts event t + 1) and the final state.
        """
        x = nn.functional.one_hot(events, self.n_classes).float()
        new = []
        for l, lstm in enumerate(self.layers):
            x, s = lstm(x, None if state is None else state[l])
            x = self.drop(x)
            new.append(s)
        return self.fc(x), new

    def layers_weights(self) -> dict[str, np.ndarray]:
        """The variables of a basic_rnn layers checkpoint (names and shapes of MUSICGEN.md section 3.1)."""
        out = {}
        for l, lstm in enumerate(self.layers):
            k, b = _get_lstm(lstm, "l0")
            out[RNN_CELL.format(l=l) + "kernel"] = k
            out[RNN_CELL.format(l=l) + "bias"] = b
        out["fully_connected/weights"] = self.fc.weight.detach().numpy().T.astype(np.float32).copy()
        out["fully_connected/biases"] = self.fc.bias.detach().numpy().astype(np.float32).copy()
        return out

    @classmethod
    def from_layers_weights(cls, weights: Mapping[str, np.ndarray]) -> "MelodyRNN":
        """A model holding a checkpoint's variables (what :func:`tonehost.exports.tfjs.read_layers_checkpoint`
        returns; dequantized when quantized)."""
        fc_w = np.asarray(weights["fully_connected/weights"], np.float32)
        units = []
        while RNN_CELL.format(l=len(units)) + "bias" in weights:
            units.append(int(np.asarray(weights[RNN_CELL.format(l=len(units)) + "bias"]).shape[0] // 4))
        model = cls(fc_w.shape[1], units)
        n_in = fc_w.shape[1]
        for l, lstm in enumerate(model.layers):
            _set_lstm(lstm, "l0", weights[RNN_CELL.format(l=l) + "kernel"], weights[RNN_CELL.format(l=l) + "bias"],
                      n_in)
            n_in = units[l]
        with torch.no_grad():
            model.fc.weight.copy_(torch.from_numpy(fc_w.T.copy()))
            model.fc.bias.copy_(torch.from_numpy(np.asarray(weights["fully_connected/biases"], np.float32)))
        return model.eval()


class MelodyVAE(nn.Module):
    """A flat melody MusicVAE in the mel_2bar_small layout (see the module docstring).

    Parameters
    ----------
    n_classes : int
        D: 90 for pitches 21..108.
    enc_units : int
        E: units of each direction of the encoder BiLSTM (mel_2bar_small: 512).
    z_dims : int
        Z (mel_2bar_small: 256).
    dec_units : sequence of int
        Decoder layers, all the same width (magenta.js splits the initial state in equal chunks).
    """

    def __init__(self, n_classes: int = 90, enc_units: int = 256, z_dims: int = 128,
                 dec_units: Sequence[int] = (256, 256)):
        super().__init__()
        if len(set(dec_units)) != 1:
            raise ValueError("all decoder layers must have the same width (magenta.js splits the initial state "
                             "into equal chunks)")
        self.n_classes, self.enc_units, self.z_dims = int(n_classes), int(enc_units), int(z_dims)
        self.dec_units = [int(u) for u in dec_units]
        self.encoder = nn.LSTM(self.n_classes, self.enc_units, batch_first=True, bidirectional=True)
        self.mu = nn.Linear(2 * self.enc_units, self.z_dims)
        self.sigma = nn.Linear(2 * self.enc_units, self.z_dims)
        self.z_to_initial_state = nn.Linear(self.z_dims, 2 * sum(self.dec_units))
        self.decoder = nn.LSTM(self.n_classes + self.z_dims, self.dec_units[0], num_layers=len(self.dec_units),
                               batch_first=True)
        self.output_projection = nn.Linear(self.dec_units[-1], self.n_classes)
        init_forget_bias(self.encoder)
        init_forget_bias(self.decoder)

    def encode(self, events: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, sigma)`` ``[B, Z]`` of int64 events ``[B, T]``; sigma = softplus(dense) as in Magenta."""
        x = nn.functional.one_hot(events, self.n_classes).float()
        _, (h, _) = self.encoder(x)
        top = torch.cat([h[0], h[1]], dim=1)  # fw after the last step, bw after the first
        return self.mu(top), nn.functional.softplus(self.sigma(top))

    def initial_state(self, z: torch.Tensor):
        """``tanh(z_to_initial_state(z))`` split into ``c0, h0, c1, h1, ...`` as (h, c) ``[L, B, H]``."""
        s = torch.tanh(self.z_to_initial_state(z))
        chunks = torch.chunk(s, 2 * len(self.dec_units), dim=1)
        c = torch.stack(chunks[0::2], 0)
        h = torch.stack(chunks[1::2], 0)
        return h.contiguous(), c.contiguous()

    def decode_logits(self, z: torch.Tensor, events: torch.Tensor, input_dropout: float = 0.0) -> torch.Tensor:
        """Teacher-forced logits ``[B, T, D]``: step t reads the one-hot of event t - 1 (zeros at t = 0) and z.

        ``input_dropout`` (training only) zeroes each previous-event input with that probability, so the
        decoder leans on z (Bowman et al. 2016's word dropout). ``events`` are the events fed back (scheduled
        sampling passes a mix of the targets and the model's own samples)."""
        B, T = events.shape
        prev = nn.functional.one_hot(events, self.n_classes).float()
        prev = torch.cat([torch.zeros(B, 1, self.n_classes), prev[:, :-1]], dim=1)
        if input_dropout > 0:
            prev = prev * (torch.rand(B, T, 1) >= input_dropout).float()
        x = torch.cat([prev, z[:, None, :].expand(B, T, self.z_dims)], dim=2)
        out, _ = self.decoder(x, self.initial_state(z))
        return self.output_projection(out)

    @torch.no_grad()
    def greedy_decode(self, z: torch.Tensor, steps: int = 32) -> torch.Tensor:
        """Argmax decode (magenta.js ``decode`` without temperature): int64 ``[B, steps]``."""
        B = z.shape[0]
        state = self.initial_state(z)
        prev = torch.zeros(B, 1, self.n_classes)
        out = []
        for _ in range(steps):
            y, state = self.decoder(torch.cat([prev, z[:, None, :]], dim=2), state)
            e = self.output_projection(y[:, 0]).argmax(dim=1)
            out.append(e)
            prev = nn.functional.one_hot(e, self.n_classes).float()[:, None, :]
        return torch.stack(out, 1)

    def layers_weights(self) -> dict[str, np.ndarray]:
        """The variables of a mel_2bar_small layers checkpoint (``encoder/sigma`` included, as the hosted files)."""
        out = {}
        for d, suffix in (("fw", "l0"), ("bw", "l0_reverse")):
            k, b = _get_lstm(self.encoder, suffix)
            out[ENCODER_CELL.format(d=d) + "kernel"] = k
            out[ENCODER_CELL.format(d=d) + "bias"] = b

        def dense(name, layer):
            out[name + "/kernel"] = layer.weight.detach().numpy().T.astype(np.float32).copy()
            out[name + "/bias"] = layer.bias.detach().numpy().astype(np.float32).copy()

        dense("encoder/mu", self.mu)
        dense("encoder/sigma", self.sigma)
        dense("decoder/z_to_initial_state", self.z_to_initial_state)
        for l in range(len(self.dec_units)):
            k, b = _get_lstm(self.decoder, f"l{l}")
            out["decoder/" + DECODER_CELL.format(l=l) + "kernel"] = k
            out["decoder/" + DECODER_CELL.format(l=l) + "bias"] = b
        dense("decoder/output_projection", self.output_projection)
        return dict(sorted(out.items()))

    @classmethod
    def from_layers_weights(cls, weights: Mapping[str, np.ndarray]) -> "MelodyVAE":
        """A model holding a mel_2bar-format checkpoint's variables (dequantized when quantized)."""
        w = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        enc_b = w[ENCODER_CELL.format(d="fw") + "bias"]
        E = enc_b.shape[0] // 4
        D = w["decoder/output_projection/bias"].shape[0]
        Z = w["encoder/mu/bias"].shape[0]
        dec = []
        while "decoder/" + DECODER_CELL.format(l=len(dec)) + "bias" in w:
            dec.append(w["decoder/" + DECODER_CELL.format(l=len(dec)) + "bias"].shape[0] // 4)
        model = cls(D, E, Z, dec)
        for d, suffix in (("fw", "l0"), ("bw", "l0_reverse")):
            _set_lstm(model.encoder, suffix, w[ENCODER_CELL.format(d=d) + "kernel"],
                      w[ENCODER_CELL.format(d=d) + "bias"], D)
        n_in = D + Z
        for l, u in enumerate(dec):
            _set_lstm(model.decoder, f"l{l}", w["decoder/" + DECODER_CELL.format(l=l) + "kernel"],
                      w["decoder/" + DECODER_CELL.format(l=l) + "bias"], n_in)
            n_in = u
        with torch.no_grad():
            for name, layer in (("encoder/mu", model.mu), ("decoder/z_to_initial_state", model.z_to_initial_state),
                                ("decoder/output_projection", model.output_projection)):
                layer.weight.copy_(torch.from_numpy(w[name + "/kernel"].T.copy()))
                layer.bias.copy_(torch.from_numpy(w[name + "/bias"]))
            if "encoder/sigma/kernel" in w:
                model.sigma.weight.copy_(torch.from_numpy(w["encoder/sigma/kernel"].T.copy()))
                model.sigma.bias.copy_(torch.from_numpy(w["encoder/sigma/bias"]))
        return model.eval()
