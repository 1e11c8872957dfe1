"""Onsets and Frames (magenta.js ``OnsetsAndFrames``, uni-directional) as an ONNX graph built from its weights.

The architecture is that of ``music/src/transcription/model.ts`` in ``@magenta/music`` 1.23.1: three acoustic
stacks (onsets, frame, velocity), each ``conv3x3(48, no bias) -> BN -> ReLU -> conv(48) -> BN -> ReLU ->
maxpool(1,2) -> conv(96) -> BN -> ReLU -> maxpool(1,2) -> dense 768 ReLU`` ('same' padding, BatchNorm without
scale, epsilon 1e-3), then: onsets: LSTM 384 -> dense 88 sigmoid; frame: dense 88 sigmoid (``activation_probs``),
concatenated *after* the onset probabilities -> LSTM 384 -> dense 88 sigmoid; velocity: dense 88 linear.
Widths are read from the weights' shapes (:func:`infer_widths`): the hosted checkpoints are 48/48/96 conv, fc 768,
LSTM 384; tonehost's own shipped model (``exports/shipped/onsets_frames_small``) is the same family with smaller
widths, the same variable names and the same on-disk LSTM layout.
The LSTM weights are converted as magenta.js loads them: the checkpoint gates ``[i, c, f, o]`` become keras
``[i, f, c, o]`` with +1.0 on the forget bias; here they go straight to ONNX's ``[i, o, f, c]``.

Two forms share one builder (:func:`build_model`):

``stream`` (the default export)
    inputs ``mel`` float32 ``[1, N, 229]``, ``start``/``stop`` int64 ``[1]``, and the LSTM states
    ``onset_h, onset_c, frame_h, frame_c`` float32 ``[1, U]`` (U = LSTM units, 384 hosted). The conv stacks run
    over all N mel frames ('same' zero padding at the window's edges, as on a whole sequence), and only conv frames
    ``start:stop`` go on to the dense heads and LSTMs, starting from the given states. Outputs
    ``onset_probs, frame_probs, velocities`` ``[1, stop - start, 88]`` and the new states
    ``onset_h_out, onset_c_out, frame_h_out, frame_c_out``. With the receptive field of 7 frames, conv frame j is
    exact when the window holds mel frames ``j - 3 .. j + 3`` (or reaches the sequence's start / end), so the
    streaming runner feeds ``[j0 - 3, j1 + 3)`` and asks for ``start=3, stop=3 + (j1 - j0)``. The whole sequence
    with zero states and ``start=0, stop=N`` is the offline result.
``whole``
    input ``mel`` only, outputs the three ``[1, N, 88]`` maps of a whole sequence from zero state.

``velocities`` is the raw linear output; magenta.js's MIDI velocity is ``int(clip(v, 0, 1) * 80 + 10)``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tonehost.exports.errors import CheckpointFormatError
from tonehost.exports.convert.export_cache import cached_export, layers_checkpoint_dir

N_MELS = 229
N_PITCHES = 88
LSTM_UNITS = 384
BN_EPSILON = 1e-3
RF_PAD = 3
STACKS = ("onsets", "frame", "velocity")
LSTM_PREFIX = "cudnn_lstm/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell"
HEADS = {"onsets": "onset_probs", "frame": "frame_probs"}
DENSE_HEADS = {"frame": "activation_probs", "velocity": "onset_velocities"}
STATE_NAMES = ("onset_h", "onset_c", "frame_h", "frame_c")
FULL_WIDTHS = {"conv": (48, 48, 96), "fc": 768, "lstm": LSTM_UNITS}
N_POOLED = N_MELS // 2 // 2  # 229 -> 114 -> 57 mel bins after the two (1, 2) max-pools
EXPORT_VERSION = 1  # bump when the graph changes, so cached exports are rebuilt
CACHE_NAME = f"tonehost-onsets-frames-v{EXPORT_VERSION}.onnx"


def weight_shapes(widths: Mapping | None = None) -> dict[str, tuple[int, ...]]:
    """The 54 variables magenta.js loads for Onsets and Frames, name -> shape (REFERENCE.md section 4).

    Parameters
    ----------
    widths : mapping, optional
        ``{"conv": (c0, c1, c2), "fc": F, "lstm": U}``; default :data:`FULL_WIDTHS` (the hosted checkpoints).

    Returns
    -------
    dict of str to tuple of int
        In the order the exporter and the shipped checkpoint store them.
    """
    w = dict(FULL_WIDTHS if widths is None else widths)
    c0, c1, c2 = (int(c) for c in w["conv"])
    fc, units = int(w["fc"]), int(w["lstm"])
    shapes: dict[str, tuple[int, ...]] = {}
    for s in STACKS:
        for i, (cin, cout) in enumerate([(1, c0), (c0, c1), (c1, c2)]):
            shapes[f"{s}/conv{i}/weights"] = (3, 3, cin, cout)
            for v in ("beta", "moving_mean", "moving_variance"):
                shapes[f"{s}/conv{i}/BatchNorm/{v}"] = (cout,)
        shapes[f"{s}/fc_end/weights"] = (N_POOLED * c2, fc)
        shapes[f"{s}/fc_end/biases"] = (fc,)
    shapes["frame/activation_probs/weights"] = (fc, N_PITCHES)
    shapes["frame/activation_probs/biases"] = (N_PITCHES,)
    shapes["velocity/onset_velocities/weights"] = (fc, N_PITCHES)
    shapes["velocity/onset_velocities/biases"] = (N_PITCHES,)
    shapes["onsets/onset_probs/weights"] = (units, N_PITCHES)
    shapes["onsets/onset_probs/biases"] = (N_PITCHES,)
    shapes["frame/frame_probs/weights"] = (units, N_PITCHES)
    shapes["frame/frame_probs/biases"] = (N_PITCHES,)
    shapes[f"onsets/{LSTM_PREFIX}/kernel"] = (fc + units, 4 * units)
    shapes[f"onsets/{LSTM_PREFIX}/bias"] = (4 * units,)
    shapes[f"frame/{LSTM_PREFIX}/kernel"] = (2 * N_PITCHES + units, 4 * units)
    shapes[f"frame/{LSTM_PREFIX}/bias"] = (4 * units,)
    return shapes


def infer_widths(weights: Mapping[str, np.ndarray], source: str = "checkpoint") -> dict:
    """Conv channels, fc size and LSTM units of an O&F checkpoint, read from its onset stack's shapes.

    Conv widths come from the BatchNorm vectors (else the kernels), so one misshapen kernel is reported as such
    by :func:`check_weights` rather than changing the expected widths.

    Parameters
    ----------
    weights : mapping of str to numpy.ndarray
        Checkpoint variables.
    source : str
        Named in the error.

    Returns
    -------
    dict
        ``{"conv": (c0, c1, c2), "fc": F, "lstm": U}``.

    Raises
    ------
    CheckpointFormatError
        When the variables that carry the widths are missing or malformed.
    """
    try:
        conv = tuple(int(np.shape(weights[f"onsets/conv{i}/BatchNorm/beta"])[0])
                     if f"onsets/conv{i}/BatchNorm/beta" in weights
                     else int(np.shape(weights[f"onsets/conv{i}/weights"])[3]) for i in range(3))
        fc = int(np.shape(weights["onsets/fc_end/biases"])[0])
        units = int(np.shape(weights[f"onsets/{LSTM_PREFIX}/bias"])[0]) // 4
    except (KeyError, IndexError, TypeError):
        raise CheckpointFormatError(
            f"{source} is not an Onsets and Frames checkpoint: its onset stack (onsets/conv0..2, "
            "onsets/fc_end/biases, the onset LSTM bias) is missing. Use onsets_frames_uni or onsets_frames_uni_q2 "
            "(tonehost export onsets-frames ID).", source) from None
    return {"conv": conv, "fc": fc, "lstm": units}


def check_weights(weights: Mapping[str, np.ndarray], source: str = "checkpoint") -> None:
    """Raise :class:`CheckpointFormatError` unless every O&F variable is present with its shape."""
    problems = []
    for name, shape in weight_shapes(infer_widths(weights, source)).items():
        if name not in weights:
            problems.append(f"missing {name}")
        elif tuple(np.shape(weights[name])) != shape:
            problems.append(f"{name} has shape {list(np.shape(weights[name]))}, expected {list(shape)}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointFormatError(
            f"{source} is not an Onsets and Frames checkpoint: {'; '.join(problems[:3])}{more}. "
            "Use onsets_frames_uni or onsets_frames_uni_q2 (tonehost export onsets-frames ID).", source)


def random_weights(seed: int = 0, decisive: bool = True, widths: Mapping | None = None) -> dict[str, np.ndarray]:
    """Deterministic random O&F weights (float32), for tests and benchmarks.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``.
    decisive : bool
        Scale the heads so that most probabilities sit far from 0.5 but still change with the input (then
        thresholded notes are a meaningful comparison); otherwise plain small weights.
    widths : mapping, optional
        See :func:`weight_shapes` (default: the hosted checkpoints' widths).

    Returns
    -------
    dict of str to numpy.ndarray
        All 54 variables, in the order of :func:`weight_shapes`.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in weight_shapes(widths).items():
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        if name.endswith("/weights") and "conv" in name:
            v = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        elif name.endswith("moving_mean"):
            v = rng.standard_normal(shape) * 0.5
        elif name.endswith("moving_variance"):
            v = rng.uniform(0.5, 2.0, shape)
        elif name.endswith("beta"):
            v = rng.standard_normal(shape) * 0.2
        elif name.endswith("kernel"):
            v = rng.standard_normal(shape) * (3.0 / np.sqrt(shape[0]))
        elif name.endswith("/bias"):
            v = rng.standard_normal(shape) * 0.1
        elif name.endswith("weights"):
            v = rng.standard_normal(shape) * np.sqrt(1.0 / fan_in)
        else:  # biases
            v = rng.standard_normal(shape) * 0.1
        out[name] = np.asarray(v, dtype=np.float32)
    # the mel input is in dB (about -100..+20): normalise the first conv so activations stay O(1)
    for s in STACKS:
        out[f"{s}/conv0/weights"] *= np.float32(0.05)
        out[f"{s}/conv0/BatchNorm/moving_mean"] = out[f"{s}/conv0/BatchNorm/moving_mean"] * 0 - 0.6
    if decisive:
        for head, gain, bias in (("onsets/onset_probs", 6.0, -5.0), ("frame/frame_probs", 6.0, -3.0),
                                 ("frame/activation_probs", 4.0, -1.0)):
            out[f"{head}/weights"] *= np.float32(gain)
            out[f"{head}/biases"] = (out[f"{head}/biases"] + np.float32(bias)).astype(np.float32)
        out["velocity/onset_velocities/biases"] = (out["velocity/onset_velocities/biases"] * 0 + 0.5).astype(
            np.float32)
        out["velocity/onset_velocities/weights"] *= np.float32(0.3)
    return out


# ------------------------------------------------------------------------------------------ graph building

class _Graph:
    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, name: str | None = None, **attrs) -> list[str]:
        self._n += 1
        base = name or f"{op_type.lower()}_{self._n}"
        outs = [base] if n_out == 1 else [f"{base}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=f"n{self._n}_{op_type}", **attrs))
        return outs

    def op1(self, op_type: str, inputs: list[str], name: str | None = None, **attrs) -> str:
        return self.op(op_type, inputs, 1, name, **attrs)[0]


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _acoustic_stack(g: _Graph, w: Mapping[str, np.ndarray], scope: str, x4: str) -> str:
    """conv stack + fc_end on ``x4`` [1, 1, N, 229] -> [1, N, fc]."""
    h = x4
    for i in range(3):
        k = _f32(w[f"{scope}/conv{i}/weights"]).transpose(3, 2, 0, 1)  # HWIO -> OIHW
        h = g.op1("Conv", [h, g.const(f"{scope}/conv{i}/W", k)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        c = k.shape[0]
        bn = [g.const(f"{scope}/conv{i}/bn_scale", np.ones(c, np.float32)),
              g.const(f"{scope}/conv{i}/bn_beta", _f32(w[f"{scope}/conv{i}/BatchNorm/beta"])),
              g.const(f"{scope}/conv{i}/bn_mean", _f32(w[f"{scope}/conv{i}/BatchNorm/moving_mean"])),
              g.const(f"{scope}/conv{i}/bn_var", _f32(w[f"{scope}/conv{i}/BatchNorm/moving_variance"]))]
        h = g.op1("BatchNormalization", [h] + bn, epsilon=BN_EPSILON)
        h = g.op1("Relu", [h])
        if i > 0:
            h = g.op1("MaxPool", [h], kernel_shape=[1, 2], strides=[1, 2])
    h = g.op1("Transpose", [h], perm=[0, 2, 3, 1])                       # [1, N, 57, c2] (NHWC order)
    h = g.op1("Reshape", [h, g.const(f"{scope}/flat_shape", np.array([0, 0, N_POOLED * c], np.int64))])
    h = g.op1("MatMul", [h, g.const(f"{scope}/fc_end/W", _f32(w[f"{scope}/fc_end/weights"]))])
    h = g.op1("Add", [h, g.const(f"{scope}/fc_end/b", _f32(w[f"{scope}/fc_end/biases"]))])
    return g.op1("Relu", [h], name=f"{scope}_fc_end")


def _dense(g: _Graph, w, name: str, x: str, activation: str | None, out_name: str | None = None) -> str:
    h = g.op1("MatMul", [x, g.const(f"{name}/W", _f32(w[f"{name}/weights"]))])
    h = g.op1("Add", [h, g.const(f"{name}/b", _f32(w[f"{name}/biases"]))], name=None if activation else out_name)
    return g.op1(activation, [h], name=out_name) if activation else h


def lstm_to_onnx(kernel: np.ndarray, bias: np.ndarray, units: int | None = None):
    """Checkpoint LSTM (gates [i, c, f, o], input rows then recurrent rows) -> ONNX W, R, B (gates [i, o, f, c]).

    The forget bias gets +1.0 as magenta.js adds on load. ``units`` defaults to ``len(bias) // 4``.
    """
    kernel = _f32(kernel)
    units = int(np.shape(bias)[0]) // 4 if units is None else units
    i, c, f, o = np.split(kernel, 4, axis=1)
    k = np.concatenate([i, o, f, c], axis=1)
    n_in = kernel.shape[0] - units
    W = k[:n_in].T[None]
    R = k[n_in:].T[None]
    bi, bc, bf, bo = np.split(_f32(bias), 4)
    b = np.concatenate([bi, bo, (bf + np.float32(1.0)).astype(np.float32), bc])
    B = np.concatenate([b, np.zeros_like(b)])[None]
    return np.ascontiguousarray(W), np.ascontiguousarray(R), np.ascontiguousarray(B)


def _lstm(g: _Graph, w, scope: str, x: str, h0: str | None, c0: str | None, state_names: tuple[str, str] | None):
    """[1, K, F] -> [1, K, U] and final (h, c) [1, U]."""
    W, R, B = lstm_to_onnx(w[f"{scope}/{LSTM_PREFIX}/kernel"], w[f"{scope}/{LSTM_PREFIX}/bias"])
    units = R.shape[2]
    xt = g.op1("Transpose", [x], perm=[1, 0, 2])                          # [K, 1, F]
    ins = [xt, g.const(f"{scope}/lstm_W", W), g.const(f"{scope}/lstm_R", R), g.const(f"{scope}/lstm_B", B)]
    if h0 is not None:
        ax = g.const(f"{scope}/axes0", np.array([0], np.int64))
        ins += ["", g.op1("Unsqueeze", [h0, ax]), g.op1("Unsqueeze", [c0, ax])]
    y, yh, yc = g.op("LSTM", ins, 3, hidden_size=units)
    ax1 = g.const(f"{scope}/axes1", np.array([1], np.int64))
    seq = g.op1("Transpose", [g.op1("Squeeze", [y, ax1])], perm=[1, 0, 2])  # [1, K, U]
    if state_names is None:
        return seq, None, None
    ax0 = g.const(f"{scope}/axes0o", np.array([0], np.int64))
    h = g.op1("Squeeze", [yh, ax0], name=state_names[0])
    c = g.op1("Squeeze", [yc, ax0], name=state_names[1])
    return seq, h, c


def build_model(weights: Mapping[str, np.ndarray], form: str = "stream", source: str = "checkpoint"
                ) -> onnx.ModelProto:
    """Build the O&F ONNX model from a name -> array checkpoint dict.

    Parameters
    ----------
    weights : mapping of str to numpy.ndarray
        The checkpoint variables (see :func:`weight_shapes`), e.g. from ``tonehost.exports.tfjs.read_layers_checkpoint``.
    form : {"stream", "whole"}
        See the module docstring.
    source : str
        The checkpoint's name or folder, named in errors (they said "checkpoint is not an Onsets and Frames
        checkpoint" for a MusicVAE folder given to ``export onsets-frames``).

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker``.

    Raises
    ------
    CheckpointFormatError
        The weights are not an Onsets and Frames checkpoint's.
    """
    if form not in ("stream", "whole"):
        raise ValueError(f"form must be 'stream' or 'whole', not {form!r}")
    check_weights(weights, source)
    units = infer_widths(weights)["lstm"]
    stream = form == "stream"
    g = _Graph()
    T = "N"
    inputs = [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [1, T, N_MELS])]
    if stream:
        inputs += [helper.make_tensor_value_info(n, TensorProto.INT64, [1]) for n in ("start", "stop")]
        inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, units]) for n in STATE_NAMES]
    x4 = g.op1("Unsqueeze", ["mel", g.const("axes_ch", np.array([1], np.int64))])   # [1, 1, N, 229]
    feats = {}
    for s in STACKS:
        h = _acoustic_stack(g, weights, s, x4)
        if stream:
            h = g.op1("Slice", [h, "start", "stop", g.const(f"{s}/slice_axis", np.array([1], np.int64))])
        feats[s] = h
    onset_seq, oh, oc = _lstm(g, weights, "onsets", feats["onsets"], "onset_h" if stream else None,
                              "onset_c" if stream else None, ("onset_h_out", "onset_c_out") if stream else None)
    onset_probs = _dense(g, weights, "onsets/onset_probs", onset_seq, "Sigmoid", "onset_probs")
    act = _dense(g, weights, "frame/activation_probs", feats["frame"], "Sigmoid")
    frame_in = g.op1("Concat", [onset_probs, act], axis=2)
    frame_seq, fh, fc = _lstm(g, weights, "frame", frame_in, "frame_h" if stream else None,
                              "frame_c" if stream else None, ("frame_h_out", "frame_c_out") if stream else None)
    _dense(g, weights, "frame/frame_probs", frame_seq, "Sigmoid", "frame_probs")
    _dense(g, weights, "velocity/onset_velocities", feats["velocity"], None, "velocities")
    K = "K" if stream else T
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, K, N_PITCHES])
               for n in ("onset_probs", "frame_probs", "velocities")]
    if stream:
        outputs += [helper.make_tensor_value_info(f"{n}_out", TensorProto.FLOAT, [1, units])
                    for n in STATE_NAMES]
    graph = helper.make_graph(g.nodes, f"onsets_frames_{form}", inputs, outputs, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tonehost",
                              doc_string="Onsets and Frames (magenta.js, uni-directional) exported by tonehost")
    model.ir_version = 8
    helper.set_model_props(model, {"tonehost.form": form, "tonehost.export_version": str(EXPORT_VERSION),
                                   "tonehost.rf_pad": str(RF_PAD), "tonehost.lstm_units": str(units)})
    onnx.checker.check_model(model, full_check=True)
    return model


# ------------------------------------------------------------------------------------------ export + cache

def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike | None = None,
                      form: str = "stream", force: bool = False) -> tuple[Path, bool]:
    """Export a layers checkpoint directory to ONNX, cached next to the checkpoint and reused.

    Through :func:`tonehost.exports.convert.export_cache.cached_export` (the one export cache: fingerprint,
    candidates, atomic writes).

    Parameters
    ----------
    checkpoint : path
        The checkpoint directory (``weights_manifest.json`` + shards), float32 or quantized.
    output : path, optional
        Also copy the model here.
    form : {"stream", "whole"}
        Graph form (see module docstring).
    force : bool
        Rebuild even when a cached export matches.

    Returns
    -------
    (Path, bool)
        The model's path (``output`` if given, else the cache file) and whether the cache was reused.

    Raises
    ------
    CheckpointError
        No ``weights_manifest.json``, or nowhere writable for the export.
    """
    from tonehost.exports.tfjs import read_layers_checkpoint

    ckpt = layers_checkpoint_dir(checkpoint, "pass an Onsets and Frames checkpoint directory (or an id such as "
                                             "onsets_frames_uni)")
    name = CACHE_NAME if form == "stream" else CACHE_NAME.replace(".onnx", f".{form}.onnx")

    def build(d: Path) -> bytes:
        return build_model(read_layers_checkpoint(d), form, str(d)).SerializeToString()

    return cached_export(ckpt, name, build, EXPORT_VERSION, output, force)
