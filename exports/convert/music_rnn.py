"""MusicRNN (magenta.js ``music_rnn/model.ts`` + ``attention.ts``, v1.23.1) as an ONNX step model.

One call of the exported model is one iteration of magenta.js's ``sampleRnn`` loop after the input is built::

    inputs   x [B, in]  (= concat[chord controls of step t+1, event one-hot of step t, aux inputs of step t])
             c0, h0, c1, h1, ... [B, H_l]           the LSTM state (zeros at the start)
             attention [B, S], attention_state [B, L*S]   only with the attention wrapper (zeros at the start)
    outputs  logits [B, D]  (the distribution of step t+1, before temperature)
             c0_out, h0_out, ..., attention_out, attention_state_out

Variables (MUSICGEN.md section 3.1): cells ``rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/{kernel,bias}`` (or
under ``rnn/attention_cell_wrapper/``), ``fully_connected/{weights,biases}``; every width from the shapes. With
``rnn/attention_cell_wrapper/kernel`` present, the attention wrapper runs around the cells, with magenta.js's two
quirks kept: the output projection reads ``h[2]`` (the third layer, hard-coded, whatever the depth) and the
``attention/bias`` variable is loaded but never added. One step of it::

    x'    = concat([x, attention]) @ K_in + b_in
    cells on x'  ->  c_l, h_l
    feat  = attention_state as [L, S] @ attn_w[0, 0]        (tf.conv2d 1x1)
    y     = concat(c0, h0, c1, h1, ...) @ attention/kernel  (no bias)
    s     = sum_k v_k tanh(feat + y)   over S  -> [L];  a = softmax(s)
    d     = sum_rows a * attention_state                   -> the new attention [S]
    out   = concat([h2, d]) @ P + p_b                       -> fed to fully_connected
    attention_state' = attention_state without its oldest row, then out

config.json (``MusicRNNSpec``): ``{"type": "MusicRNN", "dataConverter": {...}, "attentionLength"?,
"chordEncoder"?, "auxInputs"?}``. :data:`DEFAULT_SPECS` holds the four hosted checkpoints' configs (inferred in
MUSICGEN.md section 1) for a directory that lacks its config.json.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import onnx

from tonehost.exports.convert.export_cache import cached_export
from tonehost.exports.convert.lstm import FORGET_BIAS, LSTMCellWeights, OnnxGraph, find_cells, multi_rnn_cell
from tonehost.exports.errors import CheckpointFormatError
from tonehost.exports.sequences import (BinaryCounter, ChordEncoder, ConverterError, DataConverter,
                                        aux_input_from_spec, chord_encoder_from_type, converter_from_spec)
from tonehost.exports.sequences.chords import ChordError

__all__ = ["MusicRNNSpec", "MusicRNNArchitecture", "read_architecture", "build_step_model", "export_music_rnn",
           "DEFAULT_SPECS", "ARCHITECTURES", "random_weights", "write_random_checkpoint", "EXPORT_VERSION",
           "CACHE_NAME", "CELL_PATTERN", "ATTENTION_PREFIX"]

EXPORT_VERSION = 1
CACHE_NAME = f"tonehost-music-rnn-v{EXPORT_VERSION}.onnx"
CELL_PATTERN = "multi_rnn_cell/cell_%d/basic_lstm_cell/"
ATTENTION_PREFIX = "rnn/attention_cell_wrapper/"
_FIX = "use a MusicRNN checkpoint (basic_rnn, melody_rnn, drum_kit_rnn, chord_pitches_improv) with its config.json"

#: config.json of the four hosted MusicRNN checkpoints (MUSICGEN.md section 1), used when a directory lacks it.
DEFAULT_SPECS: dict[str, dict] = {
    "basic_rnn": {"type": "MusicRNN", "dataConverter": {"type": "MelodyConverter",
                                                        "args": {"minPitch": 48, "maxPitch": 83}}},
    "melody_rnn": {"type": "MusicRNN", "dataConverter": {"type": "MelodyConverter",
                                                         "args": {"minPitch": 0, "maxPitch": 127}}},
    "drum_kit_rnn": {"type": "MusicRNN", "dataConverter": {"type": "DrumsOneHotConverter", "args": {}},
                     "attentionLength": 32, "auxInputs": [{"type": "BinaryCounter", "args": {"numBits": 6}}]},
    "chord_pitches_improv": {"type": "MusicRNN", "dataConverter": {"type": "MelodyConverter",
                                                                   "args": {"minPitch": 48, "maxPitch": 83}},
                             "chordEncoder": "PitchChordEncoder"},
}

#: Layer widths of the four hosted checkpoints (inferred from their sizes; MUSICGEN.md section 1): used by the
#: tests and benches to write random-weight checkpoints of the same shapes.
ARCHITECTURES: dict[str, dict] = {
    "basic_rnn": {"layers": (512, 512), "attention": False},
    "melody_rnn": {"layers": (512, 512), "attention": False},
    "drum_kit_rnn": {"layers": (256, 256, 256), "attention": True},
    "chord_pitches_improv": {"layers": (256, 256, 256), "attention": False},
}


@dataclass
class MusicRNNSpec:
    """A MusicRNN config.json, parsed (magenta.js ``MusicRNNSpec`` / ``instantiateFromSpec``).

    Attributes
    ----------
    data_converter : DataConverter
    chord_encoder : ChordEncoder or None
    aux_inputs : list of BinaryCounter
    attention_length : int or None
    raw : dict
        The JSON as given.
    """

    data_converter: DataConverter
    chord_encoder: ChordEncoder | None = None
    aux_inputs: list[BinaryCounter] = field(default_factory=list)
    attention_length: int | None = None
    raw: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, spec: Mapping, source: str = "config.json") -> "MusicRNNSpec":
        """Parse a spec dict.

        Raises
        ------
        CheckpointFormatError
            Not a MusicRNN spec (wrong ``type``, bad converter, encoder or aux input).
        """
        if not isinstance(spec, Mapping) or spec.get("type") != "MusicRNN":
            kind = spec.get("type") if isinstance(spec, Mapping) else type(spec).__name__
            what = "no model type" if kind is None else f"a {kind!r} model"  # (it said "describes a None model")
            raise CheckpointFormatError(f"{source} describes {what}, not MusicRNN; {_FIX}", source)
        raw = copy.deepcopy(dict(spec))
        try:
            conv = converter_from_spec(copy.deepcopy(raw.get("dataConverter")))
            enc = chord_encoder_from_type(raw["chordEncoder"]) if raw.get("chordEncoder") else None
            aux = [aux_input_from_spec(a) for a in (raw.get("auxInputs") or [])]
        except (ConverterError, ChordError) as exc:
            raise CheckpointFormatError(f"{source}: {exc}", source) from None
        length = raw.get("attentionLength")
        if length is not None and (not isinstance(length, int) or length < 1):
            raise CheckpointFormatError(f"{source}: attentionLength must be a positive integer, got {length!r}",
                                        source)
        return cls(conv, enc, aux, length, raw)

    @property
    def control_depth(self) -> int:
        """C: width of the chord controls (0 without an encoder)."""
        return self.chord_encoder.depth if self.chord_encoder else 0

    @property
    def event_depth(self) -> int:
        """D: the converter's depth (classes of the output)."""
        return int(self.data_converter.depth)

    @property
    def aux_depth(self) -> int:
        """A: width of the aux inputs."""
        return sum(a.depth for a in self.aux_inputs)

    @property
    def input_depth(self) -> int:
        """C + D + A: the width of the model's input ``x``."""
        return self.control_depth + self.event_depth + self.aux_depth


@dataclass
class MusicRNNArchitecture:
    """What a MusicRNN checkpoint holds, read from its variables (every width from the shapes).

    Attributes
    ----------
    cells : list of LSTMCellWeights
    fc_weights, fc_biases : numpy.ndarray
        ``fully_connected`` ``[H_out, D]``, ``[D]``.
    attention : dict or None
        The attention wrapper's arrays (``input_kernel``, ``input_bias``, ``attn_w`` ``[S, S]``, ``attn_v``,
        ``attn_kernel``, ``attn_bias`` (unused), ``output_kernel``, ``output_bias``).
    attention_length : int or None
        L (from the spec).
    """

    cells: list[LSTMCellWeights]
    fc_weights: np.ndarray
    fc_biases: np.ndarray
    attention: dict | None = None
    attention_length: int | None = None

    @property
    def units(self) -> list[int]:
        """H of each layer."""
        return [c.units for c in self.cells]

    @property
    def input_size(self) -> int:
        """Width of ``x`` (before the attention projection when there is one)."""
        if self.attention is not None:
            return int(self.attention["input_kernel"].shape[0]) - self.attention_size
        return self.cells[0].input_size

    @property
    def output_depth(self) -> int:
        """D."""
        return int(self.fc_biases.shape[0])

    @property
    def attention_size(self) -> int:
        """S = H_0 (magenta.js: ``biasShapes[0] / 4``); 0 without attention."""
        return self.cells[0].units if self.attention is not None else 0


def read_architecture(weights: Mapping[str, np.ndarray], spec: MusicRNNSpec,
                      source: str = "checkpoint") -> MusicRNNArchitecture:
    """Find and check a MusicRNN's variables against its spec.

    Parameters
    ----------
    weights : mapping of str to numpy.ndarray
        From :func:`tonehost.exports.tfjs.read_layers_checkpoint` (float32 or dequantized).
    spec : MusicRNNSpec
    source : str
        Named in errors.

    Returns
    -------
    MusicRNNArchitecture

    Raises
    ------
    CheckpointFormatError
        No LSTM cells, no ``fully_connected`` layer, widths that do not fit the spec (input C + D + A, output
        D), attention without ``attentionLength`` or with fewer than 3 layers (magenta.js reads ``h[2]``).
    """
    attn = (ATTENTION_PREFIX + "kernel") in weights
    prefix = ATTENTION_PREFIX if attn else "rnn/"
    cells = find_cells(weights, prefix + CELL_PATTERN, source)
    if not cells:
        raise CheckpointFormatError(f"{source} has no {prefix}{CELL_PATTERN % 0}kernel: not a MusicRNN "
                                    f"checkpoint; {_FIX}", source)
    try:
        fc_w = np.asarray(weights["fully_connected/weights"], np.float32)
        fc_b = np.asarray(weights["fully_connected/biases"], np.float32)
    except KeyError:
        raise CheckpointFormatError(f"{source} has no fully_connected/weights and /biases: not a MusicRNN "
                                    f"checkpoint; {_FIX}", source) from None
    attention = None
    if attn:
        if spec.attention_length is None:
            raise CheckpointFormatError(f"{source} has an attention wrapper but its config has no "
                                        "attentionLength; add it to config.json (drum_kit_rnn: 32)", source)
        if len(cells) < 3:
            raise CheckpointFormatError(f"{source}: the attention wrapper needs at least 3 LSTM layers "
                                        f"(magenta.js reads layer 2's output), this has {len(cells)}", source)
        names = {"input_kernel": "kernel", "input_bias": "bias", "attn_w": "attention/attn_w",
                 "attn_v": "attention/attn_v", "attn_kernel": "attention/kernel", "attn_bias": "attention/bias",
                 "output_kernel": "attention_output_projection/kernel",
                 "output_bias": "attention_output_projection/bias"}
        missing = [ATTENTION_PREFIX + n for k, n in names.items() if ATTENTION_PREFIX + n not in weights
                   and k != "attn_bias"]
        if missing:
            raise CheckpointFormatError(f"{source}: the attention wrapper lacks {', '.join(missing)}; the "
                                        "checkpoint is corrupt", source)
        attention = {k: np.asarray(weights[ATTENTION_PREFIX + n], np.float32) for k, n in names.items()
                     if ATTENTION_PREFIX + n in weights}
        S = cells[0].units
        H2 = cells[2].units
        q = 2 * sum(c.units for c in cells)
        want = {"input_kernel": (attention["input_kernel"].shape[0], cells[0].input_size),
                "input_bias": (cells[0].input_size,), "attn_w": (1, 1, S, S), "attn_v": (S,),
                "attn_kernel": (q, S), "output_kernel": (H2 + S, S), "output_bias": (S,)}
        for k, shape in want.items():
            if tuple(attention[k].shape) != tuple(shape):
                raise CheckpointFormatError(f"{source}: {ATTENTION_PREFIX}{names[k]} has shape "
                                            f"{list(attention[k].shape)}, expected {list(shape)}", source)
        attention["attn_w"] = attention["attn_w"].reshape(S, S)
    arch = MusicRNNArchitecture(cells, fc_w, fc_b, attention, spec.attention_length if attn else None)
    out_in = arch.attention_size if attn else cells[-1].units
    if fc_w.ndim != 2 or fc_w.shape != (out_in, fc_b.shape[0]):
        raise CheckpointFormatError(f"{source}: fully_connected/weights has shape {list(fc_w.shape)}, expected "
                                    f"[{out_in}, {fc_b.shape[0]}]", source)
    if arch.output_depth != spec.event_depth:
        raise CheckpointFormatError(
            f"{source}: the model predicts {arch.output_depth} classes but its config's "
            f"{type(spec.data_converter).__name__} has {spec.event_depth}; config.json does not belong to these "
            "weights", source)
    if arch.input_size != spec.input_depth:
        raise CheckpointFormatError(
            f"{source}: the model reads {arch.input_size} inputs but its config gives {spec.input_depth} "
            f"(chords {spec.control_depth} + events {spec.event_depth} + aux {spec.aux_depth}); config.json "
            "does not belong to these weights", source)
    return arch


def _attention_step(g: OnnxGraph, arch: MusicRNNArchitecture, x: str, states, out_names) -> tuple[str, list]:
    a = arch.attention
    S, L = arch.attention_size, int(arch.attention_length)
    attn_in = g.input("attention", ["B", S])
    attn_state = g.input("attention_state", ["B", L * S])
    xa = g.op1("Concat", [x, attn_in], axis=1)
    x2 = g.op1("Add", [g.op1("MatMul", [xa, g.const("attn/input_kernel", a["input_kernel"])]),
                       g.const("attn/input_bias", a["input_bias"])])
    new = multi_rnn_cell(g, x2, states, arch.cells, forget_bias=FORGET_BIAS, out_names=out_names)
    hidden = g.op1("Reshape", [attn_state, g.const("attn/hidden_shape", np.array([0, L, 1, S], np.int64))])
    feat = g.op1("MatMul", [hidden, g.const("attn/attn_w", a["attn_w"])])               # [B, L, 1, S]
    query = g.op1("Concat", [v for pair in new for v in pair], axis=1)                   # c0, h0, c1, h1, ...
    y = g.op1("MatMul", [query, g.const("attn/attn_kernel", a["attn_kernel"])])          # no attention/bias
    y4 = g.op1("Reshape", [y, g.const("attn/y_shape", np.array([0, 1, 1, S], np.int64))])
    t = g.op1("Tanh", [g.op1("Add", [feat, y4])])
    s = g.op1("ReduceSum", [g.op1("Mul", [g.const("attn/attn_v", a["attn_v"]), t]),
                            g.const("attn/axes23", np.array([2, 3], np.int64))], keepdims=0)  # [B, L]
    alpha = g.op1("Softmax", [s], axis=-1)
    alpha4 = g.op1("Reshape", [alpha, g.const("attn/alpha_shape", np.array([0, L, 1, 1], np.int64))])
    d = g.op1("ReduceSum", [g.op1("Mul", [alpha4, hidden]), g.const("attn/axes12", np.array([1, 2], np.int64))],
              keepdims=0)                                                                 # [B, S]
    g.op1("Identity", [d], name="attention_out")
    out = g.op1("Add", [g.op1("MatMul", [g.op1("Concat", [new[2][1], d], axis=1),
                                         g.const("attn/output_kernel", a["output_kernel"])]),
                        g.const("attn/output_bias", a["output_bias"])])
    old = g.op1("Reshape", [attn_state, g.const("attn/state3", np.array([0, L, S], np.int64))])
    kept = g.op1("Slice", [old, g.const("attn/s_start", np.array([1], np.int64)),
                           g.const("attn/s_end", np.array([L], np.int64)), g.const("attn/s_axis",
                                                                                   np.array([1], np.int64))])
    out3 = g.op1("Unsqueeze", [out, g.const("attn/axis1", np.array([1], np.int64))])
    g.op1("Reshape", [g.op1("Concat", [kept, out3], axis=1),
                      g.const("attn/state_flat", np.array([0, L * S], np.int64))], name="attention_state_out")
    return out, new


def build_step_model(weights: Mapping[str, np.ndarray], spec: MusicRNNSpec,
                     source: str = "checkpoint") -> onnx.ModelProto:
    """The MusicRNN step model (module docstring) from a checkpoint's variables and its spec.

    Returns
    -------
    onnx.ModelProto
        Checked; metadata ``tonehost.kind = music_rnn_step``, ``tonehost.units``, ``tonehost.input_depth``,
        ``tonehost.output_depth``, ``tonehost.attention_length``, ``tonehost.attention_size``.

    Raises
    ------
    CheckpointFormatError
        See :func:`read_architecture`.
    """
    arch = read_architecture(weights, spec, source)
    g = OnnxGraph("music_rnn_step")
    x = g.input("x", ["B", arch.input_size])
    states = []
    for l, cell in enumerate(arch.cells):
        states.append((g.input(f"c{l}", ["B", cell.units]), g.input(f"h{l}", ["B", cell.units])))
    out_names = [(f"c{l}_out", f"h{l}_out") for l in range(len(arch.cells))]
    if arch.attention is not None:
        out, _ = _attention_step(g, arch, x, states, out_names)
    else:
        out = multi_rnn_cell(g, x, states, arch.cells, forget_bias=FORGET_BIAS, out_names=out_names)[-1][1]
    g.op1("Add", [g.op1("MatMul", [out, g.const("fully_connected/weights", arch.fc_weights)]),
                  g.const("fully_connected/biases", arch.fc_biases)], name="logits")
    g.output("logits", ["B", arch.output_depth])
    for l, cell in enumerate(arch.cells):
        g.output(f"c{l}_out", ["B", cell.units])
        g.output(f"h{l}_out", ["B", cell.units])
    if arch.attention is not None:
        g.output("attention_out", ["B", arch.attention_size])
        g.output("attention_state_out", ["B", arch.attention_size * arch.attention_length])
    props = {"tonehost.kind": "music_rnn_step", "tonehost.export_version": EXPORT_VERSION,
             "tonehost.units": ",".join(map(str, arch.units)), "tonehost.input_depth": arch.input_size,
             "tonehost.output_depth": arch.output_depth, "tonehost.attention_length": arch.attention_length or 0,
             "tonehost.attention_size": arch.attention_size}
    return g.model("magenta.js 1.23.1 MusicRNN, one step (tonehost)", props)


def export_music_rnn(checkpoint: str | os.PathLike, spec: MusicRNNSpec | Mapping | None = None,
                     output: str | os.PathLike | None = None, force: bool = False) -> tuple[Path, bool]:
    """Export a MusicRNN checkpoint directory's step model to ONNX, cached (:mod:`.export_cache`).

    Parameters
    ----------
    checkpoint : path
        ``weights_manifest.json`` + shards (float32 or quantized) + ``config.json``.
    spec : MusicRNNSpec or dict, optional
        Overrides config.json (then the cache is keyed on the spec too).
    output : path, optional
        Also copy the model there.
    force : bool
        Rebuild even when cached.

    Returns
    -------
    (Path, bool)
        The model's path and whether the cache was reused.

    Raises
    ------
    CheckpointError
        Missing or corrupt files, a config that does not fit the weights.
    """
    import hashlib
    import json

    from tonehost.exports.tfjs import read_checkpoint_config, read_layers_checkpoint

    ckpt = Path(checkpoint)
    if spec is None:
        raw = read_checkpoint_config(ckpt)
        if raw is None:
            raw = DEFAULT_SPECS.get(ckpt.name)
        if raw is None:
            raise CheckpointFormatError(f"{ckpt} has no config.json; add the MusicRNN config (see MUSICGEN.md "
                                        "section 1) or pass spec=", ckpt)
        spec = MusicRNNSpec.from_json(raw, str(ckpt / "config.json"))
    elif not isinstance(spec, MusicRNNSpec):
        spec = MusicRNNSpec.from_json(spec, "spec")
    name = CACHE_NAME
    if spec.raw and read_checkpoint_config(ckpt) != spec.raw:
        digest = hashlib.sha256(json.dumps(spec.raw, sort_keys=True).encode()).hexdigest()[:10]
        name = CACHE_NAME.replace(".onnx", f".{digest}.onnx")

    def build(d: Path) -> bytes:
        return build_step_model(read_layers_checkpoint(d), spec, str(d)).SerializeToString()

    return cached_export(ckpt, name, build, EXPORT_VERSION, output, force)


# --------------------------------------------------------------------------------------------- test weights

def random_weights(spec: MusicRNNSpec | Mapping, layers: Sequence[int], attention: bool = False,
                   seed: int = 0, attention_bias: bool = True) -> dict[str, np.ndarray]:
    """Deterministic random MusicRNN variables of the exact names and shapes, for tests and benchmarks.

    The scales keep the LSTM out of saturation (so states carry information over many steps) and spread the
    logits (top classes a few nats apart), so argmax paths are stable under float32 rounding.

    Parameters
    ----------
    spec : MusicRNNSpec or dict
        Gives the input (C + D + A) and output (D) widths.
    layers : sequence of int
        H of each layer (the hosted shapes: :data:`ARCHITECTURES`).
    attention : bool
        Add the attention wrapper (needs ``attentionLength`` in the spec and 3+ layers).
    seed : int
    attention_bias : bool
        Include ``attention/bias`` (present in TF checkpoints, unused by magenta.js).

    Returns
    -------
    dict of str to numpy.ndarray
        float32, in the order a converter would list them.
    """
    if not isinstance(spec, MusicRNNSpec):
        spec = MusicRNNSpec.from_json(spec, "spec")
    rng = np.random.default_rng(seed)

    def normal(shape, scale):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    out: dict[str, np.ndarray] = {}
    prefix = ATTENTION_PREFIX if attention else "rnn/"
    n_in = spec.input_depth
    S = layers[0]
    if attention:
        out[ATTENTION_PREFIX + "kernel"] = normal((n_in + S, n_in), 1.0 / np.sqrt(n_in + S))
        out[ATTENTION_PREFIX + "bias"] = normal((n_in,), 0.1)
    prev = n_in
    for l, units in enumerate(layers):
        out[prefix + CELL_PATTERN % l + "kernel"] = normal((prev + units, 4 * units), 1.6 / np.sqrt(prev + units))
        out[prefix + CELL_PATTERN % l + "bias"] = normal((4 * units,), 0.2)
        prev = units
    if attention:
        q = 2 * sum(layers)
        out[ATTENTION_PREFIX + "attention/attn_w"] = normal((1, 1, S, S), 1.0 / np.sqrt(S))
        out[ATTENTION_PREFIX + "attention/attn_v"] = normal((S,), 1.0 / np.sqrt(S))
        out[ATTENTION_PREFIX + "attention/kernel"] = normal((q, S), 1.0 / np.sqrt(q))
        if attention_bias:
            out[ATTENTION_PREFIX + "attention/bias"] = normal((S,), 0.5)
        out[ATTENTION_PREFIX + "attention_output_projection/kernel"] = normal((layers[2] + S, S),
                                                                             1.0 / np.sqrt(layers[2] + S))
        out[ATTENTION_PREFIX + "attention_output_projection/bias"] = normal((S,), 0.1)
        prev = S
    out["fully_connected/weights"] = normal((prev, spec.event_depth), 6.0 / np.sqrt(prev))
    out["fully_connected/biases"] = normal((spec.event_depth,), 0.5)
    return out


def write_random_checkpoint(directory: str | os.PathLike, name: str = "basic_rnn", seed: int = 0,
                            quantize: str | None = None, layers: Sequence[int] | None = None) -> Path:
    """Write a random-weight checkpoint of one of the four hosted MusicRNN shapes (:data:`ARCHITECTURES`,
    :data:`DEFAULT_SPECS`) in the exact on-disk format, config.json included.

    Parameters
    ----------
    directory : path
    name : str
        ``basic_rnn``, ``melody_rnn``, ``drum_kit_rnn`` or ``chord_pitches_improv``.
    seed : int
    quantize : {None, "uint8", "uint16"}
    layers : sequence of int, optional
        Other widths (default: the hosted ones).

    Returns
    -------
    Path
    """
    from tonehost.exports.tfjs import write_layers_checkpoint

    arch = ARCHITECTURES[name]
    spec = DEFAULT_SPECS[name]
    w = random_weights(spec, tuple(layers or arch["layers"]), arch["attention"], seed)
    write_layers_checkpoint(directory, w, quantize=quantize, config=spec)
    return Path(directory)
