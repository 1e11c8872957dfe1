"""MusicVAE (magenta.js ``music_vae/model.ts``, v1.23.1) layers checkpoints as ONNX models.

A checkpoint becomes a set of small ONNX models (one file each, cached next to the checkpoint by
:func:`~tonehost.exports.convert.export_cache.cached_export`), run by
:class:`tonehost.realtime.pipelines.music_vae.MusicVAE`::

    encoder         x [B, T, D_in] (the converter's tensor), controls [B, T, C]?, mask [B, T]? (multitrack)
                    -> z [B, Z]                                    (= mu; encode never samples)
    decoder{i}_init z [B, Zc] -> c0, h0, c1, h1, ... [B, H]       tanh(z @ K + b) split in 2 * layers
                    zk [B, 4H]                                     z times layer 0's z rows (constant per decode)
    decoder{i}_step x [B, D_out] (the previous sample), zk [B, 4H], control [B, C']?, c0, h0, ...
                    -> logits [B, P], c0_out, h0_out, ... (+ sample [B, Nd] for a NADE decoder)
    conductor_init  z [B, Z] -> c0, h0, ...                        (hierarchical models)
    conductor_step  x [B, 1] (zeros), c0, h0, ... -> y [B, Hc] (the core decoders' "z"), c0_out, ...
    controls        controls [N, S, C] -> controls_out [N, S, 2P]  (control preprocessing BiLSTM)

Zc is Z for a flat model and the conductor's width for a hierarchical one; ``i`` counts split decoders (trio: 0
melody, 1 bass, 2 drums). The samplers (argmax, multinomial, Bernoulli, groove) run on the logits in NumPy,
except the NADE's, which is deterministic (MAP) and runs inside its step model.

Encoders (MUSICGEN.md 3.2, 3.3): a bidirectional tfjs ``basicLSTMCell`` from zero states, the final state
``concat(h_fw after t = T-1, h_bw after t = 0)``, then ``encoder/mu``. The hierarchical encoder splits the
sequence into ``numSegments`` chunks, encodes each (level 0), and encodes the chunk embeddings (level 1). For
multitrack, magenta.js cuts each chunk at its end token (batch 1 only); here a ``mask`` input does the same for
any batch: a masked step leaves the state unchanged, so the forward pass ends at the chunk's last step and the
backward pass starts there. Each direction is an ONNX ``Scan`` whose body is the shared tfjs cell of
:mod:`tonehost.exports.convert.lstm`, so the arithmetic is tfjs's, op for op.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from tonehost.exports.convert.export_cache import cached_export, layers_checkpoint_dir
from tonehost.exports.convert.lstm import (LSTMCellWeights, OnnxGraph, basic_lstm_cell, lstm_step_model,
                                           multi_rnn_cell, state_names)
from tonehost.exports.convert.music_vae_arch import (BiLstm, DecoderArch, Lstm, MusicVaeArch, architecture)
from tonehost.exports.errors import CheckpointFormatError

__all__ = ["EXPORT_VERSION", "PARTS", "read_spec", "read_architecture", "build_encoder", "build_init",
           "build_decoder_step", "build_conductor_step", "build_controls", "build_encoder_fw_step",
           "build_encoder_bw", "build_part", "part_names", "live_part_names", "export_music_vae"]

EXPORT_VERSION = 3


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def _cell(weights: Mapping[str, np.ndarray], lstm: Lstm) -> LSTMCellWeights:
    return LSTMCellWeights(_f32(weights[lstm.prefix + "kernel"]), _f32(weights[lstm.prefix + "bias"]))


def _dense(g: OnnxGraph, weights, prefix: str, x: str, name: str | None = None) -> str:
    """tfjs ``dense``: ``x.matMul(kernel).add(bias)``."""
    k = g.const(prefix + "kernel", _f32(weights[prefix + "kernel"]))
    b = g.const(prefix + "bias", _f32(weights[prefix + "bias"]))
    return g.op1("Add", [g.op1("MatMul", [x, k]), b], name=name)


# ------------------------------------------------------------------------------------------------ spec / arch

def read_spec(checkpoint: str | os.PathLike) -> dict:
    """config.json of a MusicVAE checkpoint directory.

    A directory without config.json whose name is a hosted id (``mel_2bar_small``) gets that checkpoint's
    config (:data:`~tonehost.exports.convert.music_vae_standins.STANDINS`), as a checkpoint fetched by an older
    downloader may lack it.

    Raises
    ------
    CheckpointError
        No config.json and an unknown name, or config.json unreadable.
    """
    from tonehost.exports.convert.music_vae_standins import STANDINS
    from tonehost.exports.tfjs import read_checkpoint_config

    d = Path(checkpoint)
    spec = read_checkpoint_config(d)
    if spec is None:
        if d.name in STANDINS:
            return json.loads(json.dumps(STANDINS[d.name].config))
        raise CheckpointFormatError(f"{d} has no config.json; MusicVAE needs it to know the data converter (copy "
                                    "the config.json of the hosted checkpoint next to its weights)", d)
    return spec


def read_architecture(checkpoint: str | os.PathLike) -> MusicVaeArch:
    """The :class:`~tonehost.exports.convert.music_vae_arch.MusicVaeArch` of a checkpoint directory, from
    config.json and the manifest's shapes (the shards are not read).

    Raises
    ------
    CheckpointError
    """
    from tonehost.exports.tfjs.manifest import MANIFEST_NAME, parse_manifest, read_json_file

    d = Path(checkpoint)
    spec = read_spec(d)
    groups = parse_manifest(read_json_file(d / MANIFEST_NAME, "weights manifest"), str(d / MANIFEST_NAME))
    shapes = {w.name: tuple(w.shape) for _, specs in groups for w in specs}
    return architecture(shapes, spec, str(d))


# --------------------------------------------------------------------------------------------- graph pieces

def _zeros_like_batch(g: OnnxGraph, x: str, batch_axis: int, units: int, tag: str) -> str:
    """Zeros ``[B, units]`` where B is dimension ``batch_axis`` of ``x``."""
    shape = g.op1("Shape", [x])
    b = g.op1("Gather", [shape, g.const(f"{tag}/axis", np.array([batch_axis], np.int64))], axis=0)
    full = g.op1("Concat", [b, g.const(f"{tag}/units", np.array([units], np.int64))], axis=0)
    return g.op1("ConstantOfShape", [full], value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))


def _subgraph(body: OnnxGraph, tag: str) -> onnx.GraphProto:
    """``body`` as a ``GraphProto`` whose internal values and constants carry ``tag`` (names must not collide
    with the outer graph's or a sibling body's)."""
    keep = {v.name for v in body.inputs} | {v.name for v in body.outputs}
    rename = {}
    for t in body.inits:
        rename[t.name] = f"{tag}/{t.name}"
        t.name = rename[t.name]
    for n in body.nodes:
        n.name = f"{tag}/{n.name}"
        for k, o in enumerate(n.output):
            if o not in keep:
                rename[o] = f"{tag}/{o}"
                n.output[k] = rename[o]
    for n in body.nodes:
        for k, i in enumerate(n.input):
            if i in rename:
                n.input[k] = rename[i]
    return helper.make_graph(body.nodes, body.name, body.inputs, body.outputs, initializer=body.inits)


def _scan_lstm(g: OnnxGraph, weights, lstm: Lstm, x_tbf: str, reverse: bool, tag: str,
               mask_tb1: str | None = None, all_outputs: bool = False) -> tuple[str, str | None]:
    """One direction of a tfjs LSTM over time as an ONNX ``Scan``.

    ``x_tbf`` is ``[T, B, F]``; the state starts at zeros. Returns the final h ``[B, H]`` and, with
    ``all_outputs``, every step's h ``[T, B, H]`` in time order (also for ``reverse``).
    """
    cell = _cell(weights, lstm)
    H = cell.units
    body = OnnxGraph(f"{tag}_body")
    n = f"{tag}_batch"  # its own dimension name: a hierarchical level's batch is B * segments
    c_in = body.input("c_in", [n, H])
    h_in = body.input("h_in", [n, H])
    x_t = body.input("x_t", [n, cell.input_size])
    if mask_tb1 is not None:
        m_t = body.input("m_t", [n, 1], TensorProto.BOOL)
        nc, nh = basic_lstm_cell(body, x_t, c_in, h_in, cell, "cell")
        body.op1("Where", [m_t, nc, c_in], name="c_out")
        body.op1("Where", [m_t, nh, h_in], name="h_out")
    else:
        basic_lstm_cell(body, x_t, c_in, h_in, cell, "cell", c_out="c_out", h_out="h_out")
    body.output("c_out", [n, H])
    body.output("h_out", [n, H])
    if all_outputs:
        body.op1("Identity", ["h_out"], name="y_t")
        body.output("y_t", [n, H])
    graph = _subgraph(body, tag)
    zeros = _zeros_like_batch(g, x_tbf, 1, H, f"{tag}/zeros")
    scan_in = [x_tbf] + ([mask_tb1] if mask_tb1 is not None else [])
    n_out = 3 if all_outputs else 2
    attrs = {"num_scan_inputs": len(scan_in)}
    if reverse:
        attrs["scan_input_directions"] = [1] * len(scan_in)
        if all_outputs:
            attrs["scan_output_directions"] = [1]
    outs = g.op("Scan", [zeros, zeros] + scan_in, n_out, name=f"{tag}_scan", body=graph, **attrs)
    return outs[1], (outs[2] if all_outputs else None)


def _bilstm_final(g: OnnxGraph, weights, bl: BiLstm, x_tbf: str, tag: str, mask_tb1: str | None = None) -> str:
    """``concat(h_fw after the last step, h_bw after the first)`` ``[B, 2H]`` (magenta.js
    ``BidirectionalLstmEncoder`` without mu)."""
    fw, _ = _scan_lstm(g, weights, bl.fw, x_tbf, False, f"{tag}_fw", mask_tb1)
    bw, _ = _scan_lstm(g, weights, bl.bw, x_tbf, True, f"{tag}_bw", mask_tb1)
    return g.op1("Concat", [fw, bw], axis=1)


def _props(arch: MusicVaeArch, part: str) -> dict:
    return {"tonehost.model": "MusicVAE", "tonehost.part": part, "tonehost.export_version": str(EXPORT_VERSION),
            "tonehost.config": json.dumps(arch.spec)}


# -------------------------------------------------------------------------------------------------- models

def build_encoder(weights: Mapping[str, np.ndarray], arch: MusicVaeArch) -> onnx.ModelProto:
    """The encoder: ``x`` ``[B, T, D_in]`` (+ ``controls`` ``[B, T, C]`` when the spec has controls, + ``mask``
    ``[B, T]`` bool for multitrack) -> ``z`` ``[B, Z]``.

    Parameters
    ----------
    weights : mapping of str to numpy.ndarray
        The checkpoint's variables.
    arch : MusicVaeArch
        From :func:`~tonehost.exports.convert.music_vae_arch.architecture`.

    Returns
    -------
    onnx.ModelProto
    """
    g = OnnxGraph("music_vae_encoder")
    T = arch.num_steps
    x = g.input("x", ["B", T, arch.input_depth])
    if arch.control_depth:
        x = g.op1("Concat", [x, g.input("controls", ["B", T, arch.control_depth])], axis=2)
    mask = g.input("mask", ["B", T], TensorProto.BOOL) if arch.segmented_by_track else None
    F = arch.input_depth + arch.control_depth
    if arch.num_segments:
        nseg, seg = arch.num_segments, T // arch.num_segments
        xs = g.op1("Reshape", [x, g.const("seg_shape", np.array([-1, seg, F], np.int64))])      # [B*n, S, F]
        xt = g.op1("Transpose", [xs], perm=[1, 0, 2])                                            # [S, B*n, F]
        m = None
        if mask is not None:
            ms = g.op1("Reshape", [mask, g.const("mask_shape", np.array([-1, seg], np.int64))])  # [B*n, S]
            m = g.op1("Unsqueeze", [g.op1("Transpose", [ms], perm=[1, 0]), g.const("ax2", np.array([2], np.int64))])
        e0 = _bilstm_final(g, weights, arch.encoder[0], xt, "level0", m)                         # [B*n, 2E0]
        e0 = g.op1("Reshape", [e0, g.const("emb_shape", np.array([-1, nseg, arch.encoder[0].out], np.int64))])
        top = _bilstm_final(g, weights, arch.encoder[1], g.op1("Transpose", [e0], perm=[1, 0, 2]), "level1")
    else:
        top = _bilstm_final(g, weights, arch.encoder[0], g.op1("Transpose", [x], perm=[1, 0, 2]), "enc")
    _dense(g, weights, "encoder/mu/", top, name="z")
    g.output("z", ["B", arch.z_dims])
    return g.model("MusicVAE encoder (magenta.js 1.23.1) exported by tonehost", _props(arch, "encoder"))


def _flat_encoder(arch: MusicVaeArch) -> BiLstm:
    if arch.num_segments or arch.control_depth or arch.segmented_by_track:
        raise ValueError("the encoder split for live use (encoder_fw_step + encoder_bw) is for flat encoders "
                         "without controls")
    return arch.encoder[0]


def build_encoder_fw_step(weights: Mapping[str, np.ndarray], arch: MusicVaeArch) -> onnx.ModelProto:
    """The flat encoder's forward direction, one step: ``x_t`` ``[B, D_in]``, ``c``, ``h`` ``[B, E]`` ->
    ``c_out``, ``h_out``. The same cell (op for op) as the body of the encoder's forward ``Scan``, so feeding a
    sequence's rows one by one from zero states gives the forward state the encoder reaches (the live groove
    runs it while the window is being played)."""
    bl = _flat_encoder(arch)
    cell = _cell(weights, bl.fw)
    H = cell.units
    g = OnnxGraph("music_vae_encoder_fw_step")
    x = g.input("x_t", ["B", arch.input_depth])
    c = g.input("c", ["B", H])
    h = g.input("h", ["B", H])
    basic_lstm_cell(g, x, c, h, cell, "cell", c_out="c_out", h_out="h_out")
    g.output("c_out", ["B", H])
    g.output("h_out", ["B", H])
    return g.model("MusicVAE encoder forward step (magenta.js 1.23.1) exported by tonehost",
                   _props(arch, "encoder_fw_step"))


def build_encoder_bw(weights: Mapping[str, np.ndarray], arch: MusicVaeArch) -> onnx.ModelProto:
    """The rest of the flat encoder once the forward state is known: ``x`` ``[B, T, D_in]`` and ``h_fw``
    ``[B, E]`` (the forward h after the last step) -> ``z`` ``[B, Z]``: the backward ``Scan``, the concat and
    ``encoder/mu``, built as :func:`build_encoder` builds them."""
    bl = _flat_encoder(arch)
    g = OnnxGraph("music_vae_encoder_bw")
    x = g.input("x", ["B", arch.num_steps, arch.input_depth])
    fw = g.input("h_fw", ["B", bl.fw.units])
    bw, _ = _scan_lstm(g, weights, bl.bw, g.op1("Transpose", [x], perm=[1, 0, 2]), True, "enc_bw")
    top = g.op1("Concat", [fw, bw], axis=1)
    _dense(g, weights, "encoder/mu/", top, name="z")
    g.output("z", ["B", arch.z_dims])
    return g.model("MusicVAE encoder backward pass + mu (magenta.js 1.23.1) exported by tonehost",
                   _props(arch, "encoder_bw"))


def _split_z_rows(weights, dec: DecoderArch) -> tuple[np.ndarray, LSTMCellWeights]:
    """Layer 0's kernel rows ``[x | z | control | h]`` -> (the z rows, a cell of the other rows)."""
    cell = _cell(weights, dec.layers[0])
    lo, hi = dec.output_dims, dec.output_dims + dec.z_dims
    rest = np.ascontiguousarray(np.concatenate([cell.kernel[:lo], cell.kernel[hi:]], axis=0))
    return np.ascontiguousarray(cell.kernel[lo:hi]), LSTMCellWeights(rest, cell.bias)


def build_init(weights: Mapping[str, np.ndarray], prefix: str, n_layers: int, units: int, z_dims: int,
               arch: MusicVaeArch, part: str, dec: DecoderArch | None = None) -> onnx.ModelProto:
    """Initial state of an LSTM stack from its "z": ``tanh(z @ K + b)`` split into ``2 * n_layers`` equal parts,
    ordered ``c0, h0, c1, h1, ...`` (magenta.js ``initLstmCells``).

    Parameters
    ----------
    prefix : str
        Of ``kernel``/``bias`` (``decoder/z_to_initial_state/``, ``decoder/hierarchical_level_0/initial_state/``).
    dec : DecoderArch, optional
        For a decoder: also output ``zk`` ``[B, 4H]`` = z times the z rows of its layer-0 kernel, the part of
        every step's gates that only depends on z (the step model adds it instead of multiplying z again).
    """
    g = OnnxGraph(f"music_vae_{part}")
    z = g.input("z", ["B", z_dims])
    init = g.op1("Tanh", [_dense(g, weights, prefix, z)])
    names = state_names(n_layers)
    g.op("Split", [init, g.const("split", np.full(2 * n_layers, units, np.int64))], 2 * n_layers, name="s",
         axis=1)
    for k, n in enumerate(names):
        g.op1("Identity", [f"s_{k}"], name=n)
        g.output(n, ["B", units])
    if dec is not None:
        kz, _ = _split_z_rows(weights, dec)
        g.op1("MatMul", [z, g.const("layer0_z_rows", kz)], name="zk")
        g.output("zk", ["B", 4 * dec.units])
    return g.model(f"MusicVAE {part} (magenta.js 1.23.1) exported by tonehost", _props(arch, part))


def _nade_sample(g: OnnxGraph, weights, dec: DecoderArch, logits: str) -> str:
    """magenta.js ``Nade.sample`` (MAP): ``[B, Nd]`` bits from the projection's encoder and decoder biases."""
    nh, nd = dec.nade_hidden, dec.nade_dims
    enc_b, dec_b = g.op("Split", [logits, g.const("nade/split", np.array([nh, nd], np.int64))], 2, axis=1)
    w_enc = _f32(weights[dec.prefix + "nade/w_enc"]).reshape(nd, nh)
    w_dec = _f32(weights[dec.prefix + "nade/w_dec_t"]).reshape(nd, nh)
    half = g.const("nade/half", np.array(0.5, np.float32))
    a = enc_b
    bits = []
    for i in range(nd):
        h = g.op1("Sigmoid", [a])
        dot = g.op1("MatMul", [h, g.const(f"nade/w_dec_{i}", np.ascontiguousarray(w_dec[i][:, None]))])   # [B,1]
        bias_i = g.op1("Slice", [dec_b, g.const(f"nade/s{i}", np.array([i], np.int64)),
                                 g.const(f"nade/e{i}", np.array([i + 1], np.int64)),
                                 g.const(f"nade/ax{i}", np.array([1], np.int64))])
        p = g.op1("Sigmoid", [g.op1("Add", [bias_i, dot])])
        bit = g.op1("Cast", [g.op1("GreaterOrEqual", [p, half])], to=TensorProto.FLOAT)
        bits.append(bit)
        if i < nd - 1:
            a = g.op1("Add", [a, g.op1("Mul", [bit, g.const(f"nade/w_enc_{i}", w_enc[i][None, :])])])
    return g.op1("Concat", bits, axis=1, name="sample")


def build_decoder_step(weights: Mapping[str, np.ndarray], dec: DecoderArch, arch: MusicVaeArch,
                       part: str = "decoder0_step") -> onnx.ModelProto:
    """One step of a (core) decoder: ``x`` (previous sample) ``[B, D_out]``, ``zk`` ``[B, 4H]`` (from its init
    model), ``control`` ``[B, C']`` (when the decoder reads controls), the state -> ``logits`` ``[B, P]`` and the
    new state (and ``sample`` ``[B, Nd]`` for a NADE decoder).

    The layer-0 input is ``concat([x, z, control])`` (magenta.js ``BaseDecoder.decode``), computed as
    ``concat([x, control, h]) @ K_rest + z @ K_z`` with ``z @ K_z`` = ``zk`` done once per decode (or segment);
    the logits are ``output_projection`` of the last layer's h.
    """
    g = OnnxGraph(f"music_vae_{part}")
    x = g.input("x", ["B", dec.output_dims])
    zk = g.input("zk", ["B", 4 * dec.units])
    parts = [x]
    if dec.control_dims:
        parts.append(g.input("control", ["B", dec.control_dims]))
    states = []
    for l, layer in enumerate(dec.layers):
        states.append((g.input(f"c{l}", ["B", layer.units]), g.input(f"h{l}", ["B", layer.units])))
    inp = g.op1("Concat", parts, axis=1) if len(parts) > 1 else x
    cells = [_split_z_rows(weights, dec)[1]] + [_cell(weights, layer) for layer in dec.layers[1:]]
    new = multi_rnn_cell(g, inp, states, cells, "cell",
                         out_names=[(f"c{l}_out", f"h{l}_out") for l in range(len(cells))], pre=zk)
    logits = _dense(g, weights, dec.prefix + "output_projection/", new[-1][1], name="logits")
    g.output("logits", ["B", dec.projection_dims])
    for l, layer in enumerate(dec.layers):
        g.output(f"c{l}_out", ["B", layer.units])
        g.output(f"h{l}_out", ["B", layer.units])
    if dec.kind == "nade":
        _nade_sample(g, weights, dec, logits)
        g.output("sample", ["B", dec.nade_dims])
    return g.model(f"MusicVAE {dec.kind} decoder step (magenta.js 1.23.1) exported by tonehost",
                   {**_props(arch, part), "tonehost.decoder_kind": dec.kind})


def build_conductor_step(weights: Mapping[str, np.ndarray], arch: MusicVaeArch) -> onnx.ModelProto:
    """One conductor step: ``x`` ``[B, 1]`` (zeros), ``c0, h0, ...`` -> ``y`` ``[B, Hc]`` and the new state
    (the shared :func:`~tonehost.exports.convert.lstm.lstm_step_model`)."""
    model = lstm_step_model([_cell(weights, layer) for layer in arch.conductor.layers], name="music_vae_conductor")
    helper.set_model_props(model, _props(arch, "conductor_step"))
    return model


def build_controls(weights: Mapping[str, np.ndarray], arch: MusicVaeArch) -> onnx.ModelProto:
    """Control preprocessing: ``controls`` ``[N, S, C]`` -> ``controls_out`` ``[N, S, 2P]`` =
    ``concat(h_fw_t, h_bw_t)`` per step (magenta.js ``BaseDecoder.decode`` with ``controlBidirectionalLstm``)."""
    g = OnnxGraph("music_vae_controls")
    c = g.input("controls", ["N", "S", arch.control_depth])
    ct = g.op1("Transpose", [c], perm=[1, 0, 2])
    _, fw = _scan_lstm(g, weights, arch.control_pre.fw, ct, False, "ctl_fw", all_outputs=True)
    _, bw = _scan_lstm(g, weights, arch.control_pre.bw, ct, True, "ctl_bw", all_outputs=True)
    both = g.op1("Concat", [fw, bw], axis=2)
    g.op1("Transpose", [both], perm=[1, 0, 2], name="controls_out")
    g.output("controls_out", ["N", "S", arch.control_pre.out])
    return g.model("MusicVAE control preprocessing (magenta.js 1.23.1) exported by tonehost",
                   _props(arch, "controls"))


def part_names(arch: MusicVaeArch) -> list[str]:
    """The ONNX models a checkpoint exports to: ``encoder``, ``decoder{i}_init``, ``decoder{i}_step``,
    ``conductor_init``/``conductor_step`` (hierarchical), ``controls`` (control preprocessing)."""
    names = ["encoder"]
    for i in range(len(arch.decoders)):
        names += [f"decoder{i}_init", f"decoder{i}_step"]
    if arch.conductor:
        names += ["conductor_init", "conductor_step"]
    if arch.control_pre:
        names.append("controls")
    return names


def live_part_names(arch: MusicVaeArch) -> list[str]:
    """The extra parts of the live (streamed) encoder, exported on request (``export_music_vae(..., live=True)``):
    ``encoder_fw_step`` and ``encoder_bw`` for a flat encoder without controls; none for the others."""
    try:
        _flat_encoder(arch)
    except ValueError:
        return []
    return ["encoder_fw_step", "encoder_bw"]


#: Every part name :func:`part_names` and :func:`live_part_names` can return.
PARTS = ("encoder", "decoder{i}_init", "decoder{i}_step", "conductor_init", "conductor_step", "controls",
         "encoder_fw_step", "encoder_bw")


def build_part(weights: Mapping[str, np.ndarray], arch: MusicVaeArch, part: str) -> onnx.ModelProto:
    """Build one part of :func:`part_names`.

    Raises
    ------
    ValueError
        A part the architecture does not have.
    """
    if part not in part_names(arch) + live_part_names(arch):
        raise ValueError(f"{part!r} is not a part of this model (parts: "
                         f"{', '.join(part_names(arch) + live_part_names(arch))})")
    if part == "encoder":
        return build_encoder(weights, arch)
    if part == "encoder_fw_step":
        return build_encoder_fw_step(weights, arch)
    if part == "encoder_bw":
        return build_encoder_bw(weights, arch)
    if part == "conductor_init":
        c = arch.conductor
        return build_init(weights, "decoder/hierarchical_level_0/initial_state/", len(c.layers), c.units,
                          c.z_dims, arch, part)
    if part == "conductor_step":
        return build_conductor_step(weights, arch)
    if part == "controls":
        return build_controls(weights, arch)
    i = int(part[len("decoder"):part.index("_")])
    dec = arch.decoders[i]
    if part.endswith("_init"):
        return build_init(weights, dec.prefix + "z_to_initial_state/", len(dec.layers), dec.units, dec.z_dims,
                          arch, part, dec)
    return build_decoder_step(weights, dec, arch, part)


def export_music_vae(checkpoint: str | os.PathLike, force: bool = False, live: bool = False) -> dict[str, Path]:
    """Export a MusicVAE checkpoint directory to its ONNX parts (cached; rebuilt when the checkpoint changes).

    Parameters
    ----------
    checkpoint : path
        ``config.json`` + ``weights_manifest.json`` + shards (float32, uint8 or uint16 quantized).
    force : bool
        Rebuild even when cached exports match.
    live : bool
        Only the parts of :func:`live_part_names` (the streamed encoder of the live groove).

    Returns
    -------
    dict of str to pathlib.Path
        Part name (:func:`part_names`) -> ``.onnx`` file.

    Raises
    ------
    CheckpointError
        A missing or malformed file, weights that do not fit the config (one sentence naming the variable).
    """
    from tonehost.exports.tfjs import read_layers_checkpoint

    d = layers_checkpoint_dir(checkpoint, "pass a MusicVAE checkpoint directory or an id from `tonehost "
                                          "checkpoints list`")
    arch = read_architecture(d)
    loaded: dict = {}

    def weights() -> Mapping[str, np.ndarray]:
        if not loaded:
            loaded.update(read_layers_checkpoint(d))
            architecture(loaded, arch.spec, str(d))  # the decoded shapes agree with the manifest's
        return loaded

    out = {}
    for part in (live_part_names(arch) if live else part_names(arch)):
        out[part], _ = cached_export(d, f"tonehost-music-vae-v{EXPORT_VERSION}-{part}.onnx",
                                     lambda _d, p=part: build_part(weights(), arch, p).SerializeToString(),
                                     EXPORT_VERSION, force=force)
    return out
