"""The architecture of a MusicVAE layers checkpoint, read from its variable names and shapes as magenta.js does.

Source: ``music/src/music_vae/model.ts`` (``MusicVAE.initialize``) of magenta-js v1.23.1; MUSICGEN.md sections 1
and 3. magenta.js hard-codes no width: the units of an LSTM are its bias length / 4, the number of layers is found
by probing ``cell_0``, ``cell_1``, ... until a kernel is missing, Z is the length of ``encoder/mu/bias`` and the
output depth is the projection's bias length. :func:`architecture` does the same and checks every shape it
reads against the others, so a checkpoint that magenta.js would load into a broken model (or crash on) fails here
with one sentence naming the variable.

Variable names (``{d}`` is ``fw`` or ``bw``)::

    flat encoder          encoder/cell_0/bidirectional_rnn/{d}/multi_rnn_cell/cell_0/lstm_cell/{kernel,bias}
    hierarchical encoder  encoder/hierarchical_level_{0,1}/cell_0/bidirectional_rnn/{d}/multi_rnn_cell/cell_0/lstm_cell/...
    latent                encoder/mu/{kernel,bias}            (encoder/sigma/* is stored but never read)
    control preprocessing control_preprocessing/cell_0/bidirectional_rnn/{d}/multi_rnn_cell/cell_0/lstm_cell/...
    conductor             decoder/hierarchical_level_0/initial_state/{kernel,bias}, .../cell_{l}/lstm_cell/...
    decoder(s) at PREFIX  PREFIX z_to_initial_state/{kernel,bias}, PREFIX multi_rnn_cell/cell_{l}/lstm_cell/...,
                          PREFIX output_projection/{kernel,bias}, PREFIX nade/{w_enc,w_dec_t}
    PREFIX                decoder/ (flat), core_decoder/decoder/ (hierarchical), core_decoder/core_decoder_{i}/decoder/
                          (hierarchical split, e.g. trio), core_decoder_{i}/decoder/ (flat split)

Every LSTM is tfjs ``basicLSTMCell``: kernel ``[n_in + units, 4 * units]`` with gate blocks ``i, j, f, o`` and a
forget bias of 1.0 added at run time (MUSICGEN.md section 2).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from tonehost.exports.errors import CheckpointFormatError

__all__ = ["Lstm", "BiLstm", "DecoderArch", "ConductorArch", "MusicVaeArch", "architecture", "control_depth",
           "ENCODER_CELL", "HIER_ENCODER_CELL", "CONTROL_CELL", "CONDUCTOR_PREFIX", "DECODER_CELL",
           "decoder_prefixes", "DECODER_KINDS"]

ENCODER_CELL = "encoder/cell_0/bidirectional_rnn/{d}/multi_rnn_cell/cell_0/lstm_cell/"
HIER_ENCODER_CELL = "encoder/hierarchical_level_{level}/cell_0/bidirectional_rnn/{d}/multi_rnn_cell/cell_0/lstm_cell/"
CONTROL_CELL = "control_preprocessing/cell_0/bidirectional_rnn/{d}/multi_rnn_cell/cell_0/lstm_cell/"
CONDUCTOR_PREFIX = "decoder/hierarchical_level_0/"
#: Decoder layer ``l`` below a decoder prefix.
DECODER_CELL = "multi_rnn_cell/cell_{l}/lstm_cell/"
#: Conductor layer ``l`` below :data:`CONDUCTOR_PREFIX` (no ``multi_rnn_cell/``).
CONDUCTOR_CELL = "cell_{l}/lstm_cell/"
#: The four decoder kinds of magenta.js, in the order it checks them.
DECODER_KINDS = ("nade", "groove", "boolean", "categorical")

REFIX = ("this is not a MusicVAE checkpoint magenta.js 1.23.1 can run; check that config.json belongs to these "
         "weights, or fetch the checkpoint again (tonehost checkpoints fetch ID)")


def _fail(source: str, what: str) -> CheckpointFormatError:
    return CheckpointFormatError(f"{source}: {what}; {REFIX}", source)


@dataclass(frozen=True)
class Lstm:
    """One tfjs ``basicLSTMCell`` of a checkpoint.

    Attributes
    ----------
    prefix : str
        Variable prefix (ends with ``/``) of ``kernel`` ``[n_in + units, 4 * units]`` and ``bias`` ``[4 * units]``.
    n_in : int
        Width of the input concatenated before the recurrent state.
    units : int
        Width of the state (``c`` and ``h``).
    """

    prefix: str
    n_in: int
    units: int


@dataclass(frozen=True)
class BiLstm:
    """A single-layer bidirectional LSTM (``fw`` and ``bw`` cells with the same input); output ``2 * units``."""

    fw: Lstm
    bw: Lstm

    @property
    def n_in(self) -> int:
        """Input width."""
        return self.fw.n_in

    @property
    def out(self) -> int:
        """Width of ``concat(h_fw, h_bw)``."""
        return self.fw.units + self.bw.units


@dataclass(frozen=True)
class DecoderArch:
    """One (core) decoder: an LSTM stack initialised from its "z", an output projection and a sampler.

    Attributes
    ----------
    prefix : str
        ``decoder/``, ``core_decoder/decoder/``, ``core_decoder/core_decoder_{i}/decoder/`` or
        ``core_decoder_{i}/decoder/``.
    kind : {"categorical", "boolean", "nade", "groove"}
        The sampler (MUSICGEN.md 3.4).
    layers : tuple of Lstm
        All the same width (the initial state is split into equal chunks).
    z_dims : int
        Width of what initialises it: Z (flat) or the conductor's output (hierarchical).
    output_dims : int
        Width of a sample, fed back as the next step's input: the projection width, or the NADE's dimensions.
    projection_dims : int
        Width of the output projection (logits; NADE: hidden + dims biases).
    control_dims : int
        Width of the per-step controls it reads (after control preprocessing when there is one).
    nade_dims, nade_hidden : int
        NADE sizes (0 for other kinds).
    """

    prefix: str
    kind: str
    layers: tuple[Lstm, ...]
    z_dims: int
    output_dims: int
    projection_dims: int
    control_dims: int = 0
    nade_dims: int = 0
    nade_hidden: int = 0

    @property
    def units(self) -> int:
        """Width of every layer."""
        return self.layers[0].units


@dataclass(frozen=True)
class ConductorArch:
    """The hierarchical decoder's conductor: an LSTM stack initialised from z, fed a zero ``[B, 1]`` each step;
    its last layer's ``h`` is the "z" of every core decoder for one segment."""

    layers: tuple[Lstm, ...]
    z_dims: int

    @property
    def units(self) -> int:
        """Width of every layer (= the embedding passed to the core decoders)."""
        return self.layers[0].units


@dataclass(frozen=True)
class MusicVaeArch:
    """Everything needed to run a MusicVAE checkpoint, with every width read from the weights.

    Attributes
    ----------
    spec : dict
        The config.json (``MusicVAESpec``).
    input_depth : int
        Width of the data converter's tensor (the encoder reads it, then the controls).
    control_depth : int
        Width of the raw controls (chords, key, extra controls) the encoder reads.
    num_steps : int
        Steps of a sequence.
    num_segments : int
        Conductor steps (0: flat).
    encoder : tuple of BiLstm
        One (flat) or two (hierarchical: segments, then the sequence of segment embeddings) levels.
    z_dims : int
        Latent size Z.
    decoders : tuple of DecoderArch
        One, or one per split (trio: melody, bass, drums).
    conductor : ConductorArch or None
        Hierarchical models only.
    control_pre : BiLstm or None
        Control preprocessing (run over the controls; the decoders read its output).
    segmented_by_track : bool
        Multitrack: each encoder segment is cut at its end token.
    """

    spec: dict
    input_depth: int
    control_depth: int
    num_steps: int
    num_segments: int
    encoder: tuple[BiLstm, ...]
    z_dims: int
    decoders: tuple[DecoderArch, ...]
    conductor: ConductorArch | None = None
    control_pre: BiLstm | None = None
    segmented_by_track: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def hierarchical(self) -> bool:
        """Whether a conductor drives the core decoders (``numSegments`` set)."""
        return self.conductor is not None

    @property
    def output_depth(self) -> int:
        """Width of a decoded step: the samples of all decoders side by side."""
        return sum(d.output_dims for d in self.decoders)

    @property
    def segment_steps(self) -> int:
        """Steps each core decoder runs per conductor step (``num_steps`` when flat)."""
        return self.num_steps // self.num_segments if self.num_segments else self.num_steps

    @property
    def family(self) -> str:
        """A short name of the decoder family: ``nade``, ``groove``, ``boolean``, ``categorical``, prefixed by
        ``hierarchical-`` and/or suffixed by ``-split`` as they apply."""
        kinds = sorted({d.kind for d in self.decoders})
        name = "+".join(kinds)
        if len(self.decoders) > 1:
            name += "-split"
        return ("hierarchical-" if self.hierarchical else "") + name


def control_depth(spec: Mapping) -> int:
    """Width of the control tensor of a MusicVAE spec: chord encoder depth + 12 with ``conditionOnKey`` + the
    depths of ``extraControls`` (magenta.js ``controlArgsToTensor``).

    Raises
    ------
    CheckpointFormatError
        An unknown chord encoder or a malformed ``extraControls`` entry.
    """
    from tonehost.exports.sequences import CHORD_ENCODERS

    depth = 0
    enc = spec.get("chordEncoder")
    if enc:
        if enc not in CHORD_ENCODERS:
            raise CheckpointFormatError(f"config.json: unknown chordEncoder {enc!r} (magenta.js knows "
                                        f"{', '.join(CHORD_ENCODERS)}); fix config.json", "config.json")
        depth += CHORD_ENCODERS[enc].depth
    if spec.get("conditionOnKey"):
        depth += 12
    for c in spec.get("extraControls") or []:
        if not isinstance(c, Mapping) or not isinstance(c.get("name"), str) or not isinstance(c.get("depth"), int):
            raise CheckpointFormatError(f"config.json: extraControls entry {c!r:.60} is not "
                                        "{\"name\": str, \"depth\": int}; fix config.json", "config.json")
        depth += int(c["depth"])
    return depth


def decoder_prefixes(num_segments: int, num_splits: int) -> list[str]:
    """The variable prefixes of the (core) decoders, as magenta.js builds them."""
    outer = "core_decoder/" if num_segments else ""
    if num_splits:
        return [f"{outer}core_decoder_{i}/decoder/" for i in range(num_splits)]
    return [f"{outer}decoder/"]


class _Shapes:
    def __init__(self, weights: Mapping, source: str):
        self.shapes = {k: tuple(int(d) for d in (v if isinstance(v, tuple) else np.shape(v)))
                       for k, v in weights.items()}
        self.source = source

    def __contains__(self, name: str) -> bool:
        return name in self.shapes

    def get(self, name: str, rank: int | None = None) -> tuple[int, ...]:
        if name not in self.shapes:
            raise _fail(self.source, f"variable {name!r} is missing")
        shape = self.shapes[name]
        if rank is not None and len(shape) != rank:
            raise _fail(self.source, f"variable {name!r} has shape {list(shape)}, not rank {rank}")
        return shape

    def dense(self, prefix: str, n_in: int | None = None) -> tuple[int, int]:
        k = self.get(prefix + "kernel", 2)
        b = self.get(prefix + "bias", 1)
        if b[0] != k[1]:
            raise _fail(self.source, f"{prefix}bias has {b[0]} values for a kernel of {k[1]} columns")
        if n_in is not None and k[0] != n_in:
            raise _fail(self.source, f"{prefix}kernel has {k[0]} rows where {n_in} are expected")
        return k

    def lstm(self, prefix: str, n_in: int | None = None) -> Lstm:
        k = self.get(prefix + "kernel", 2)
        b = self.get(prefix + "bias", 1)
        if b[0] % 4 or k[1] != b[0]:
            raise _fail(self.source, f"LSTM {prefix}: kernel {list(k)} and bias {list(b)} are not "
                        "[n_in + units, 4 * units] and [4 * units]")
        units = b[0] // 4
        if k[0] <= units:
            raise _fail(self.source, f"LSTM {prefix}: kernel {list(k)} has no input rows for {units} units")
        if n_in is not None and k[0] - units != n_in:
            raise _fail(self.source, f"LSTM {prefix}kernel has {k[0] - units} input rows where {n_in} are "
                        f"expected")
        return Lstm(prefix, k[0] - units, units)

    def layers(self, fmt: str) -> list[str]:
        out = []
        while fmt.format(l=len(out)) + "kernel" in self.shapes:
            out.append(fmt.format(l=len(out)))
        return out

    def bilstm(self, fmt: str, n_in: int | None = None) -> BiLstm:
        fw = self.lstm(fmt.format(d="fw"), n_in)
        bw = self.lstm(fmt.format(d="bw"), fw.n_in)
        return BiLstm(fw, bw)


def _decoder_kind(spec: Mapping, s: _Shapes, prefix: str) -> str:
    if prefix + "nade/w_enc" in s:
        return "nade"
    if spec["dataConverter"]["type"] == "GrooveConverter":
        return "groove"
    if spec.get("useBooleanDecoder"):
        return "boolean"
    return "categorical"


def _decoder(spec, s: _Shapes, prefix: str, z_dims: int, control_dims: int) -> DecoderArch:
    kind = _decoder_kind(spec, s, prefix)
    names = s.layers(prefix + DECODER_CELL)
    if not names:
        raise _fail(s.source, f"decoder {prefix!r} has no LSTM layer ({prefix}{DECODER_CELL.format(l=0)}kernel)")
    proj = s.dense(prefix + "output_projection/")
    nade_dims = nade_hidden = 0
    if kind == "nade":
        enc = s.get(prefix + "nade/w_enc", 3)
        dec = s.get(prefix + "nade/w_dec_t", 3)
        nade_dims, nade_hidden = enc[0], enc[2]
        if enc[1] != 1 or dec != (nade_dims, nade_hidden, 1):
            raise _fail(s.source, f"{prefix}nade/w_enc {list(enc)} and w_dec_t {list(dec)} are not [Nd, 1, Nh] and "
                        "[Nd, Nh, 1]")
        if proj[1] != nade_hidden + nade_dims:
            raise _fail(s.source, f"{prefix}output_projection gives {proj[1]} values; a NADE of {nade_dims} dims "
                        f"and {nade_hidden} hidden units needs {nade_hidden + nade_dims}")
        output_dims = nade_dims
    else:
        output_dims = proj[1]
        if kind == "groove" and output_dims % 3:
            raise _fail(s.source, f"{prefix}output_projection gives {output_dims} values; a groove decoder needs "
                        "hits, velocities and offsets (a multiple of 3)")
    units = s.lstm(prefix + DECODER_CELL.format(l=0)).units
    layers = [s.lstm(names[0], output_dims + z_dims + control_dims)]
    for name in names[1:]:
        layers.append(s.lstm(name, layers[-1].units))
    if any(l.units != units for l in layers):
        raise _fail(s.source, f"decoder {prefix!r} layers have widths {[l.units for l in layers]}; magenta.js "
                    "splits the initial state into equal parts, so they must all be the same")
    s.dense(prefix + "z_to_initial_state/", z_dims)
    if s.get(prefix + "z_to_initial_state/kernel")[1] != 2 * units * len(layers):
        raise _fail(s.source, f"{prefix}z_to_initial_state/kernel gives {s.get(prefix + 'z_to_initial_state/kernel')[1]} "
                    f"values for {len(layers)} layers of {units} units (c and h: {2 * units * len(layers)})")
    if proj[0] != units:
        raise _fail(s.source, f"{prefix}output_projection/kernel has {proj[0]} rows for {units} decoder units")
    return DecoderArch(prefix, kind, tuple(layers), z_dims, output_dims, proj[1], control_dims, nade_dims,
                       nade_hidden)


def architecture(weights: Mapping, spec: Mapping, source: str = "checkpoint", converter=None) -> MusicVaeArch:
    """Read the architecture of a MusicVAE checkpoint from its variables and config.json, as magenta.js does.

    Parameters
    ----------
    weights : mapping of str to array or tuple
        The checkpoint's variables (arrays, or their shapes as tuples).
    spec : mapping
        config.json: ``{"type": "MusicVAE", "dataConverter": {...}, "chordEncoder"?, "conditionOnKey"?,
        "extraControls"?, "useBooleanDecoder"?}``.
    source : str
        The checkpoint's name or path, for error messages.
    converter : DataConverter, optional
        The data converter of ``spec`` (built when not given).

    Returns
    -------
    MusicVaeArch

    Raises
    ------
    CheckpointFormatError
        A missing variable, shapes that do not fit together, a config.json that does not match the weights
        (one sentence naming the variable and the fix).
    """
    from tonehost.exports.sequences import converter_from_spec

    if not isinstance(spec, Mapping) or spec.get("type") != "MusicVAE":
        got = spec.get("type") if isinstance(spec, Mapping) else type(spec).__name__
        raise CheckpointFormatError(f"{source}: config.json has type {got!r}, not 'MusicVAE'; pass a MusicVAE "
                                    "checkpoint (tonehost checkpoints list shows them)", source)
    if not isinstance(spec.get("dataConverter"), Mapping):
        raise CheckpointFormatError(f"{source}: config.json has no dataConverter; fetch the checkpoint again "
                                    "(tonehost checkpoints fetch ID)", source)
    if converter is None:
        converter = converter_from_spec(dict(spec["dataConverter"]))
    s = _Shapes(weights, source)
    num_segments = int(converter.num_segments or 0)
    num_steps = int(converter.num_steps or 0)
    if not num_steps:
        raise _fail(source, "the dataConverter of config.json sets no numSteps")
    if num_segments and num_steps % num_segments:
        raise _fail(source, f"numSteps {num_steps} is not a multiple of numSegments {num_segments}")
    c_depth = control_depth(spec)

    # encoder
    if num_segments:
        levels = []
        for level in (0, 1):
            fmt = HIER_ENCODER_CELL.replace("{level}", str(level))
            if fmt.format(d="fw") + "kernel" not in s or fmt.format(d="bw") + "kernel" not in s:
                raise _fail(source, "only 2 hierarchical encoder levels are supported (magenta.js); "
                            f"{fmt.format(d='fw')}kernel is missing")
            levels.append(s.bilstm(fmt, None if level == 0 else levels[0].out))
        if HIER_ENCODER_CELL.format(level=2, d="fw") + "kernel" in s:
            raise _fail(source, "only 2 hierarchical encoder levels are supported (magenta.js); the checkpoint has 3")
        encoder = tuple(levels)
    else:
        if ENCODER_CELL.format(d="fw") + "kernel" not in s:
            raise _fail(source, f"the encoder {ENCODER_CELL.format(d='fw')}kernel is missing")
        if ENCODER_CELL.replace("cell_0/bi", "cell_1/bi").format(d="fw") + "kernel" in s:
            raise _fail(source, "only single-layer bidirectional encoders are supported (magenta.js)")
        encoder = (s.bilstm(ENCODER_CELL),)
    input_depth = encoder[0].n_in - c_depth
    if input_depth <= 0:
        raise _fail(source, f"the encoder reads {encoder[0].n_in} values per step, fewer than the "
                    f"{c_depth} control values config.json asks for")
    mu = s.dense("encoder/mu/", encoder[-1].out)
    z_dims = mu[1]

    # control preprocessing
    control_pre = None
    if CONTROL_CELL.format(d="fw") + "kernel" in s:
        if not c_depth:
            raise _fail(source, "the checkpoint preprocesses controls but config.json declares none (chordEncoder, "
                        "conditionOnKey, extraControls)")
        control_pre = s.bilstm(CONTROL_CELL, c_depth)
    dec_controls = control_pre.out if control_pre else c_depth

    # conductor and decoders
    conductor = None
    if num_segments:
        names = s.layers(CONDUCTOR_PREFIX + CONDUCTOR_CELL)
        if not names:
            raise _fail(source, f"the conductor {CONDUCTOR_PREFIX}{CONDUCTOR_CELL.format(l=0)}kernel is missing")
        layers = [s.lstm(names[0], 1)]
        for name in names[1:]:
            layers.append(s.lstm(name, layers[-1].units))
        if any(l.units != layers[0].units for l in layers):
            raise _fail(source, f"conductor layers have widths {[l.units for l in layers]}; they must be equal")
        k = s.dense(CONDUCTOR_PREFIX + "initial_state/", z_dims)
        if k[1] != 2 * layers[0].units * len(layers):
            raise _fail(source, f"{CONDUCTOR_PREFIX}initial_state gives {k[1]} values for {len(layers)} layers of "
                        f"{layers[0].units} units")
        conductor = ConductorArch(tuple(layers), z_dims)
    core_z = conductor.units if conductor else z_dims
    decoders = tuple(_decoder(spec, s, p, core_z, dec_controls)
                     for p in decoder_prefixes(num_segments, int(getattr(converter, "num_splits", 0) or 0)))
    return MusicVaeArch(dict(spec), input_depth, c_depth, num_steps, num_segments, encoder, z_dims, decoders,
                        conductor, control_pre, bool(getattr(converter, "segmented_by_track", False)))
