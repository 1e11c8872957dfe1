"""Random-weight stand-ins of the 25 hosted MusicVAE checkpoints, in the exact on-disk format.

The hosted files cannot be downloaded on the development machines, so every code path is exercised with
stand-ins: a ``config.json`` as magenta.js reads it and a TensorFlow.js weights manifest with shards, float32 or
quantized to uint8 (``_q1``) / uint16 (``_q2``) like the hosted file, holding deterministic random weights with the
hosted checkpoint's variable names and structure (MUSICGEN.md sections 1 and 3).

:data:`STANDINS` gives, per index id, the config.json and the widths. The configs follow magenta.js's
``checkpoints.json``, its demos and the Python configs they were converted from (MUSICGEN.md section 1); the
widths are inferred: they reproduce each checkpoint's listed size (``sizeMb`` of the index, decimal MB, counting
``encoder/sigma``) to within a few percent, see :func:`hosted_size_mb` and the tests. The port reads every width
from the weight shapes, so nothing depends on these guesses being exact; tests use :func:`scaled` copies with
small widths (same structure, same data depths) to keep runs short.

Write one with :func:`write_standin` (``tonehost.exports.convert.music_vae_standins.write_standin(dir,
"mel_2bar_small", scale=0.125)``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tonehost.exports.note_sequence import Note, NoteSequence, QuantizationInfo, Tempo
from tonehost.exports.sequences.drums import DEFAULT_DRUM_PITCH_CLASSES
from tonehost.exports.convert.music_vae_arch import (CONDUCTOR_CELL, CONDUCTOR_PREFIX, CONTROL_CELL, DECODER_CELL,
                                                     ENCODER_CELL, HIER_ENCODER_CELL, control_depth,
                                                     decoder_prefixes)

__all__ = ["StandIn", "STANDINS", "FAMILIES", "weight_shapes", "random_weights", "write_standin", "scaled",
           "hosted_size_mb", "converter_depths", "random_sequences"]

_MEL = {"minPitch": 21, "maxPitch": 108}
_MULTI = {"numSteps": 512, "numSegments": 8, "stepsPerQuarter": 24, "totalSteps": 96, "numVelocityBins": 8}


def _vae(converter: str, args: dict, **extra) -> dict:
    return {"type": "MusicVAE", "dataConverter": {"type": converter, "args": dict(args)}, **extra}


def _trio(num_steps: int, num_segments: int) -> dict:
    return _vae("TrioConverter", {"numSteps": num_steps, "numSegments": num_segments, "melArgs": dict(_MEL),
                                  "bassArgs": dict(_MEL), "drumsArgs": {}})


@dataclass(frozen=True)
class StandIn:
    """A hosted MusicVAE checkpoint's config.json and (inferred) widths.

    Attributes
    ----------
    id : str
        Index id.
    config : dict
        config.json as magenta.js reads it.
    enc : tuple of int
        Units of the encoder BiLSTM (one per level: 1 flat, 2 hierarchical).
    z : int
        Latent size.
    dec : tuple of int
        Units of each (core) decoder layer.
    conductor : tuple of int
        Units of each conductor layer (hierarchical only).
    nade_hidden : int
        Hidden units of a NADE decoder (0: none).
    control_pre : int
        Units of the control preprocessing BiLSTM (0: none).
    quantize : {None, "uint8", "uint16"}
        Storage of the hosted file.
    """

    id: str
    config: dict
    enc: tuple[int, ...]
    z: int
    dec: tuple[int, ...]
    conductor: tuple[int, ...] = ()
    nade_hidden: int = 0
    control_pre: int = 0
    quantize: str | None = None


def _s(id_, config, enc, z, dec, conductor=(), nade_hidden=0, control_pre=0, quantize=None) -> StandIn:
    return StandIn(id_, config, tuple(enc), z, tuple(dec), tuple(conductor), nade_hidden, control_pre, quantize)


#: The 25 MusicVAE checkpoints of the index (config.json and inferred widths).
STANDINS: dict[str, StandIn] = {s.id: s for s in [
    _s("mel_2bar_small", _vae("MelodyConverter", {"numSteps": 32, **_MEL}), [512], 256, [256, 256]),
    _s("mel_4bar_small_q2", _vae("MelodyConverter", {"numSteps": 64, **_MEL}), [1024], 512, [256, 256],
       quantize="uint16"),
    _s("mel_4bar_med_q2", _vae("MelodyConverter", {"numSteps": 64, **_MEL}), [1024], 128, [1024, 1024, 1024],
       quantize="uint16"),
    _s("mel_4bar_med_lokl_q2", _vae("MelodyConverter", {"numSteps": 64, **_MEL}), [1024], 128,
       [1024, 1024, 1024], quantize="uint16"),
    _s("mel_chords", _vae("MelodyConverter", {"numSteps": 32, **_MEL}, chordEncoder="TriadChordEncoder"),
       [128], 512, [512, 512, 512], quantize="uint16"),
    _s("mel_16bar_small_q2", _vae("MelodyConverter", {"numSteps": 256, "numSegments": 16, **_MEL}),
       [512, 512], 256, [256, 256], conductor=[256, 256], quantize="uint16"),
    _s("drums_2bar_lokl_small", _vae("DrumsConverter", {"numSteps": 32}), [512], 256, [256, 256]),
    _s("drums_2bar_hikl_small", _vae("DrumsConverter", {"numSteps": 32}), [512], 256, [256, 256]),
    _s("drums_2bar_nade_9_q2", _vae("DrumRollConverter", {"numSteps": 32}), [1024], 256, [512, 512],
       nade_hidden=128, quantize="uint16"),
    _s("drums_4bar_med_q2", _vae("DrumsConverter", {"numSteps": 64}), [1024], 128, [1024, 1024, 1024],
       quantize="uint16"),
    _s("drums_4bar_med_lokl_q2", _vae("DrumsConverter", {"numSteps": 64}), [1024], 128, [1024, 1024, 1024],
       quantize="uint16"),
    _s("trio_4bar_lokl_small_q1", _trio(64, 4), [512, 512], 256, [256, 256], conductor=[256, 256],
       quantize="uint8"),
    _s("trio_16bar_xl", _trio(256, 16), [2048, 2048], 512, [2048, 2048], conductor=[2048]),
    _s("multitrack", _vae("MultitrackConverter", _MULTI), [512, 512], 256, [512] * 3, conductor=[512] * 3,
       quantize="uint8"),
    _s("multitrack_med", _vae("MultitrackConverter", _MULTI), [1024, 1024], 256, [1024] * 3,
       conductor=[1024] * 3, quantize="uint8"),
    _s("multitrack_med_fb256", _vae("MultitrackConverter", _MULTI), [1024, 1024], 256, [1024] * 3,
       conductor=[1024] * 3, quantize="uint8"),
    _s("multitrack_chords", _vae("MultitrackConverter", _MULTI, chordEncoder="TriadChordEncoder"), [512, 512],
       256, [512] * 3, conductor=[512] * 3, control_pre=128, quantize="uint8"),
    _s("multitrack_med_chords", _vae("MultitrackConverter", _MULTI, chordEncoder="TriadChordEncoder"),
       [1024, 1024], 256, [1024] * 3, conductor=[1024] * 3, control_pre=128, quantize="uint8"),
    _s("multitrack_med_chords_fb256", _vae("MultitrackConverter", _MULTI, chordEncoder="TriadChordEncoder"),
       [1024, 1024], 256, [1024] * 3, conductor=[1024] * 3, control_pre=128, quantize="uint8"),
    _s("groovae_2bar_humanize", _vae("GrooveConverter", {"numSteps": 32, "humanize": True}), [512], 256,
       [256, 256]),
    _s("groovae_4bar", _vae("GrooveConverter", {"numSteps": 64}), [512], 256, [256, 256]),
    _s("tap2drum_1bar", _vae("GrooveConverter", {"numSteps": 16, "tapify": True}), [512], 256, [256, 256]),
    _s("tap2drum_2bar", _vae("GrooveConverter", {"numSteps": 32, "tapify": True}), [512], 256, [256, 256]),
    _s("tap2drum_3bar", _vae("GrooveConverter", {"numSteps": 48, "tapify": True}), [512], 256, [256, 256]),
    _s("tap2drum_4bar", _vae("GrooveConverter", {"numSteps": 64, "tapify": True}), [512], 256, [256, 256]),
]}

#: One stand-in per decoder family (the parity tests' set): family -> index id.
FAMILIES = {
    "flat_melody": "mel_2bar_small", "flat_drums": "drums_2bar_lokl_small", "nade_drums": "drums_2bar_nade_9_q2",
    "chords": "mel_chords", "hierarchical_melody": "mel_16bar_small_q2", "trio": "trio_4bar_lokl_small_q1",
    "multitrack": "multitrack_chords", "groove": "groovae_2bar_humanize",
}


def converter_depths(config: dict) -> tuple[int, list[int]]:
    """The encoder's input depth and each decoder's output depth for a config.json.

    Returns
    -------
    (int, list of int)
        Converter tensor width; decoder sample widths (melody 90, one-hot drums ``2**classes``, NADE drums
        ``classes``, trio ``[90, 90, 512]``, multitrack 490, groove ``3 * classes``).
    """
    from tonehost.exports.sequences import converter_from_spec

    conv = converter_from_spec(json.loads(json.dumps(config["dataConverter"])))
    kind = config["dataConverter"]["type"]
    if kind in ("DrumsConverter",):
        return conv.depth, [2 ** len(conv.pitch_classes)]
    if kind == "DrumRollConverter":
        return conv.depth, [len(conv.pitch_classes)]
    if kind in ("TrioConverter", "TrioRhythmConverter"):
        t = conv if kind == "TrioConverter" else conv.trio_converter
        return t.depth, [t.mel_converter.depth, t.bass_converter.depth, t.drums_converter.depth]
    if kind == "GrooveConverter":
        return 3 * len(conv.pitch_classes), [3 * len(conv.pitch_classes)]
    return conv.depth, [conv.depth]


def weight_shapes(s: StandIn) -> dict[str, tuple[int, ...]]:
    """Variable name -> shape of a stand-in, in the order written (sorted by name, as TensorFlow lists them).

    Includes ``encoder/sigma/*`` (stored in the hosted files, never read).
    """
    shapes: dict[str, tuple[int, ...]] = {}
    cfg = s.config
    d_in, d_outs = converter_depths(cfg)
    c = control_depth(cfg)
    conv = cfg["dataConverter"]["args"]
    num_segments = int(conv.get("numSegments") or 0)
    num_splits = 3 if cfg["dataConverter"]["type"].startswith("Trio") else 0

    def lstm(prefix, n_in, units):
        shapes[prefix + "kernel"] = (n_in + units, 4 * units)
        shapes[prefix + "bias"] = (4 * units,)

    def dense(prefix, n_in, n_out):
        shapes[prefix + "kernel"] = (n_in, n_out)
        shapes[prefix + "bias"] = (n_out,)

    if num_segments:
        e0, e1 = s.enc
        for d in ("fw", "bw"):
            lstm(HIER_ENCODER_CELL.format(level=0, d=d), d_in + c, e0)
            lstm(HIER_ENCODER_CELL.format(level=1, d=d), 2 * e0, e1)
        top = 2 * e1
    else:
        for d in ("fw", "bw"):
            lstm(ENCODER_CELL.format(d=d), d_in + c, s.enc[0])
        top = 2 * s.enc[0]
    dense("encoder/mu/", top, s.z)
    dense("encoder/sigma/", top, s.z)
    dec_c = c
    if s.control_pre:
        for d in ("fw", "bw"):
            lstm(CONTROL_CELL.format(d=d), c, s.control_pre)
        dec_c = 2 * s.control_pre
    core_z = s.z
    if num_segments:
        dense(CONDUCTOR_PREFIX + "initial_state/", s.z, 2 * sum(s.conductor))
        n_in = 1
        for l, units in enumerate(s.conductor):
            lstm(CONDUCTOR_PREFIX + CONDUCTOR_CELL.format(l=l), n_in, units)
            n_in = units
        core_z = s.conductor[-1]
    for prefix, d_out in zip(decoder_prefixes(num_segments, num_splits), d_outs):
        dense(prefix + "z_to_initial_state/", core_z, 2 * sum(s.dec))
        n_in = d_out + core_z + dec_c
        for l, units in enumerate(s.dec):
            lstm(prefix + DECODER_CELL.format(l=l), n_in, units)
            n_in = units
        if s.nade_hidden:
            dense(prefix + "output_projection/", s.dec[-1], s.nade_hidden + d_out)
            shapes[prefix + "nade/w_enc"] = (d_out, 1, s.nade_hidden)
            shapes[prefix + "nade/w_dec_t"] = (d_out, s.nade_hidden, 1)
        else:
            dense(prefix + "output_projection/", s.dec[-1], d_out)
    return dict(sorted(shapes.items()))


def hosted_size_mb(s: StandIn) -> float:
    """Size in decimal MB of the stand-in at its full widths and storage type (compare with the index's
    ``sizeMb``)."""
    per = {None: 4, "uint16": 2, "uint8": 1}[s.quantize]
    return sum(int(np.prod(v)) for v in weight_shapes(s).values()) * per / 1e6


def scaled(s: StandIn, width: int = 32, z: int = 16) -> StandIn:
    """The same structure and data depths with every LSTM ``width`` units (NADE hidden ``width``) and latent
    ``z``: a stand-in that writes, loads and runs in milliseconds."""
    return replace(s, enc=tuple(width for _ in s.enc), z=z, dec=tuple(width for _ in s.dec),
                   conductor=tuple(width for _ in s.conductor), nade_hidden=width if s.nade_hidden else 0,
                   control_pre=width if s.control_pre else 0)


def random_weights(s: StandIn, seed: int = 0, gain: float = 1.0) -> dict[str, np.ndarray]:
    """Deterministic random weights of a stand-in's shapes.

    Kernels are normal with standard deviation ``gain / sqrt(rows)`` (unit-variance activations, so LSTM gates
    and logits are spread out and argmax decodes are decisive), biases normal with standard deviation 0.1;
    output projections get ``3 * gain / sqrt(rows)``.

    Returns
    -------
    dict of str to numpy.ndarray
        float32, in :func:`weight_shapes` order.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in weight_shapes(s).items():
        if name.endswith("bias") or len(shape) == 1:
            w = rng.standard_normal(shape) * 0.1
        else:
            rows = shape[0] if len(shape) == 2 else shape[-2] if name.endswith("w_dec_t") else shape[0]
            std = gain / np.sqrt(max(1, rows))
            if "output_projection" in name or "nade/" in name:
                std *= 3.0
            w = rng.standard_normal(shape) * std
        out[name] = w.astype(np.float32)
    return out


def write_standin(directory: str | os.PathLike, checkpoint_id: str | StandIn, *, scale: bool | int = 32,
                  z: int = 16, seed: int = 0, quantize: str | None | bool = True, gain: float = 1.0) -> Path:
    """Write a random-weight stand-in of a hosted MusicVAE checkpoint: ``config.json``, ``weights_manifest.json``
    and ``group1-shard{i}of{N}`` (4 MiB shards), quantized as the hosted file is.

    Parameters
    ----------
    directory : path
        Created if missing.
    checkpoint_id : str or StandIn
        An id of :data:`STANDINS` (or a stand-in).
    scale : int or False
        LSTM width of a :func:`scaled` copy (default 32); False keeps the hosted widths (large files).
    z : int
        Latent size of the scaled copy.
    seed : int
        Weight seed.
    quantize : True, None, "uint8" or "uint16"
        True: the hosted storage type; None: float32; or the given type.
    gain : float
        See :func:`random_weights`.

    Returns
    -------
    pathlib.Path
        The directory.

    Raises
    ------
    KeyError
        Unknown id.
    """
    from tonehost.exports.tfjs import write_layers_checkpoint

    s = STANDINS[checkpoint_id] if isinstance(checkpoint_id, str) else checkpoint_id
    if scale:
        s = scaled(s, int(scale), z)
    q = s.quantize if quantize is True else quantize
    write_layers_checkpoint(directory, random_weights(s, seed, gain), quantize=q, config=s.config)
    return Path(directory)


# ------------------------------------------------------------------------------------------ example inputs

def _quantized(notes, total, spq=4, qpm=120.0) -> NoteSequence:
    step = 60.0 / qpm / spq
    for n in notes:
        n.start_time = n.quantized_start_step * step
        n.end_time = n.quantized_end_step * step
    return NoteSequence(notes=notes, tempos=[Tempo(0.0, qpm)], quantization_info=QuantizationInfo(spq),
                        total_quantized_steps=total, total_time=total * step)


def _melody(rng, steps, lo=48, hi=84, program=0, instrument=0) -> list[Note]:
    """A monophonic line: notes of 1-4 steps with occasional rests."""
    notes, t = [], int(rng.integers(0, 3))
    while t < steps:
        d = int(rng.integers(1, 5))
        notes.append(Note(int(rng.integers(lo, hi)), 100, quantized_start_step=t,
                          quantized_end_step=min(t + d, steps), program=program, instrument=instrument))
        t += d + int(rng.integers(0, 3) == 0)
    return notes


def _drums(rng, steps, instrument=9) -> list[Note]:
    """Kick on beats, hats on eighths, random snares/toms/cymbals, one step each."""
    notes = []
    for t in range(steps):
        for cls in range(9):
            p = 0.5 if (cls == 0 and t % 4 == 0) or (cls == 2 and t % 2 == 0) else 0.08
            if rng.random() < p:
                notes.append(Note(DEFAULT_DRUM_PITCH_CLASSES[cls][int(rng.integers(0, 2)) %
                                                                 len(DEFAULT_DRUM_PITCH_CLASSES[cls])],
                                  int(rng.integers(40, 127)), quantized_start_step=t, quantized_end_step=t + 1,
                                  is_drum=True, instrument=instrument))
    return notes


def random_sequences(checkpoint_id: str, rng, n: int = 2) -> list[NoteSequence]:
    """``n`` random inputs that a stand-in's converter accepts (for tests and benches).

    Melodies (monophonic, 1-4 step notes), drum patterns (kick on beats, hats on eighths, random hits), trios
    (melody, bass program 33, drums), multitrack bars (2-4 instruments and drums at 24 steps per quarter) and,
    for groove models, unquantized drums with timing jitter and velocities.

    Parameters
    ----------
    checkpoint_id : str
        An id of :data:`STANDINS`.
    rng : numpy.random.Generator
    n : int

    Returns
    -------
    list of NoteSequence
        Quantized at the model's grid (groove: unquantized, 120 qpm).
    """
    cid = checkpoint_id
    conv = STANDINS[cid].config["dataConverter"]
    kind, steps = conv["type"], conv["args"]["numSteps"]
    out = []
    for _ in range(n):
        if kind == "MelodyConverter":
            out.append(_quantized(_melody(rng, steps), steps))
        elif kind in ("DrumsConverter", "DrumRollConverter"):
            out.append(_quantized(_drums(rng, steps), steps))
        elif kind == "TrioConverter":
            notes = _melody(rng, steps, 60, 84) + _melody(rng, steps, 33, 55, program=33, instrument=1) + \
                _drums(rng, steps)
            out.append(_quantized(notes, steps))
        elif kind == "MultitrackConverter":
            notes = []
            for inst in range(int(rng.integers(2, 5))):
                prog = int(rng.integers(0, 100))
                for t in range(0, 96, int(rng.integers(6, 25))):
                    notes.append(Note(int(rng.integers(40, 90)), int(rng.integers(20, 127)),
                                      quantized_start_step=t, quantized_end_step=min(96, t + 12),
                                      program=prog, instrument=inst))
            notes += [Note(36, 90, quantized_start_step=t, quantized_end_step=t + 6, is_drum=True,
                           instrument=9) for t in range(0, 96, 24)]
            out.append(_quantized(notes, 96, spq=24))
        elif kind == "GrooveConverter":  # unquantized: the converter quantizes it (times off the grid)
            seq = _quantized(_drums(rng, steps), steps)
            seq.quantization_info, seq.total_quantized_steps = None, None
            for note in seq.notes:
                jitter = float(rng.uniform(-0.04, 0.04))
                note.start_time = max(0.0, note.start_time + jitter)
                note.end_time = note.start_time + 0.1
                note.quantized_start_step = note.quantized_end_step = None
            out.append(seq)
    return out
