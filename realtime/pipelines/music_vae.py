"""MusicVAE on ONNX Runtime: magenta.js 1.23.1's ``encode``, ``decode``, ``sample``, ``interpolate``, ``similar``.

    from tonehost import MusicVAE, NoteSequence
    vae = MusicVAE(seed=7)                           # the shipped 2-bar melody model; or an id, URL, directory
    a = NoteSequence.from_midi("a.mid").quantize(4)
    z = vae.encode([a])                              # [1, Z] float32 (= mu)
    out = vae.decode(z)                              # argmax: temperature None
    samples = vae.sample(4, temperature=0.5)
    path = vae.interpolate([a, b], 5)                # 5 melodies from a to b (4 corners: a 2-D grid)
    near = vae.similar(a, 3, similarity=0.8)
    drums = MusicVAE("groovae_2bar_humanize").groove(NoteSequence.from_midi("beat.mid"))  # any length
    steps = MusicVAE("tap2drum_2bar").groove_stream(taps)  # groove() one step per steps.next() (tap2drum live)

The checkpoint is exported once to small ONNX models (:mod:`tonehost.exports.convert.music_vae`, cached beside
it): the encoder runs the whole sequence in one call; decoding runs one ONNX Runtime call per step and decoder
(the GIL is released inside), the conductor of a hierarchical model once per segment. What magenta.js does
(MUSICGEN.md sections 3, 5, 6):

* ``encode``: the converter's tensor of each sequence (all must convert to ``numSteps`` rows), then the raw
  controls (chords spread over the steps, the key one-hot, extra controls) side by side; z = mu.
* ``decode``: from z (the conductor's output per segment for a hierarchical model), each decoder's state is
  ``tanh(dense(z))``; its first input is zeros (for later segments: its own last sample); each step's output
  projection is sampled: argmax / ``softmax(logits / T)`` (categorical), ``logits >= 0`` /
  ``sigmoid(logits / T) >= U`` (boolean), hits ``sigmoid > 0.5`` / ``sigmoid(h / T) > U`` with
  ``sigmoid`` velocities and ``tanh`` offsets (groove), MAP (NADE, temperature ignored). A falsy temperature
  (None, 0) is argmax. Decoders read the preprocessed controls (control preprocessing BiLSTM) when the
  checkpoint has one, per segment for a hierarchical model.
* ``sample``: z ~ N(0, 1), temperature 0.5 by default; ``interpolate``: z on a line (2 inputs) or a bilinear
  grid (4 inputs) between the encoded inputs, with tfjs's float32 ``linspace``; ``similar``:
  ``z * s + N(0, 1) * (1 - s)``.

Randomness is NumPy's (``seed=`` here, or ``rng=`` per call: an int or a ``numpy.random.Generator``);
multinomial draws use tfjs's cdf rule (:func:`tonehost.exports.tfjs.random.multinomial_from_probs`), one draw
per batch row (magenta.js shares one draw across the rows of a call; independent rows are what sampling means).

Differences from magenta.js, on purpose: ``decode`` of a multitrack model writes the model's 24 steps per
quarter by default (magenta.js writes 4 unless told); a multitrack batch encodes in one call (magenta.js throws
for more than one sequence); decoded melody and drum notes carry velocity 100 (the sequence layer's rule).
"""
from __future__ import annotations

import copy
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tonehost.exports.errors import UsageError
from tonehost.exports.note_sequence import DEFAULT_QPM, NoteSequence, check_qpm
from tonehost.exports.tfjs.random import check_temperature, multinomial_from_probs, softmax32
from tonehost.realtime.pipelines.limits import check_batch

__all__ = ["MusicVAE", "DecodeResult", "GrooveStream", "StreamedEncoder", "interpolated_zs", "tfjs_linspace",
           "segment_lengths"]


def _generator(rng, what: str = "rng") -> np.random.Generator:
    """``rng`` (a seed, a generator or None) as a generator; anything else is one UsageError naming ``what``
    (:func:`tonehost.exports.rng.as_generator`)."""
    from tonehost.exports.rng import as_generator

    return as_generator(rng, what)


def _steps_per_quarter(value) -> int:
    """``steps_per_quarter`` given to :meth:`MusicVAE.decode` as an int in 1 .. 2**20 (:meth:`NoteSequence.quantize`'s
    range), else one UsageError."""
    from tonehost.dsp._checks import check_int

    try:
        return check_int("steps_per_quarter", value, 1, 1 << 20)
    except ValueError as exc:
        raise UsageError(f"{exc} (the grid written in the decoded sequences; leave it out for the model's)") from None


def tfjs_linspace(start: float, stop: float, num: int) -> np.ndarray:
    """``tf.linspace(start, stop, num)`` as tfjs 2.8.6's CPU kernel computes it: ``step = (stop - start) /
    (num - 1)`` in float64, then a running float32 sum (so the last value may differ from ``stop`` in the last
    bit).

    Returns
    -------
    numpy.ndarray
        float32 ``[num]``.
    """
    num = int(num)
    if num <= 0:
        return np.zeros(0, np.float32)
    out = np.zeros(num, np.float32)
    out[0] = start
    if num > 1:
        step = (float(stop) - float(start)) / (num - 1)
        for i in range(1, num):
            out[i] = np.float32(float(out[i - 1]) + step)
    return out


def interpolated_zs(z: np.ndarray, num_interps) -> np.ndarray:
    """magenta.js ``getInterpolatedZs``: points between 2 latent vectors (a line of ``w``) or 4 (a bilinear
    ``h x w`` grid, rows first, corners ``z[0]`` top-left, ``z[1]`` bottom-left, ``z[2]`` top-right, ``z[3]``
    bottom-right), in float32 as tfjs computes them.

    Parameters
    ----------
    z : array_like
        ``[2, Z]`` or ``[4, Z]``.
    num_interps : int or (int, int)
        ``w``, or ``(w, h)`` for 4 corners (``h`` defaults to ``w``).

    Returns
    -------
    numpy.ndarray
        float32 ``[w, Z]`` or ``[h * w, Z]``.

    Raises
    ------
    UsageError
        Not 2 or 4 inputs, or a bad ``num_interps`` (the line's or grid's points above
        :data:`~tonehost.realtime.pipelines.limits.MAX_BATCH` included).
    """
    z = np.asarray(z, np.float32)
    if z.ndim != 2 or z.shape[0] not in (2, 4):
        raise UsageError(f"interpolation takes 2 or 4 sequences (got {z.shape[0] if z.ndim == 2 else z.shape}); "
                         "pass 2 for a line, 4 for a grid")
    dims = [num_interps] if np.isscalar(num_interps) else list(num_interps)
    if len(dims) not in (1, 2) or any(int(d) != d or d < 1 for d in dims):
        raise UsageError(f"n_interps must be a positive int or (width, height), got {num_interps!r}")
    w = int(dims[0])
    h = int(dims[1]) if len(dims) == 2 else w
    check_batch(w if z.shape[0] == 2 else w * h, "the number of interpolated sequences")
    rx = tfjs_linspace(0.0, 1.0, w)
    z0, z1 = z[0], z[1]
    if z.shape[0] == 2:
        return (np.outer(rx, (z1 - z0).astype(np.float32)).astype(np.float32) + z0).astype(np.float32)
    ry = tfjs_linspace(0.0, 1.0, h)
    z2, z3 = z[2], z[3]
    rrx = (np.float32(1.0) - rx).astype(np.float32)
    rry = (np.float32(1.0) - ry).astype(np.float32)

    def term(zk, a, b):
        return (zk[None, None, :] * np.outer(a, b).astype(np.float32)[:, :, None]).astype(np.float32)

    out = term(z0, rry, rrx)
    out = (out + term(z1, ry, rrx)).astype(np.float32)
    out = (out + term(z2, rry, rx)).astype(np.float32)
    out = (out + term(z3, ry, rx)).astype(np.float32)
    return out.reshape(h * w, z.shape[1])


def segment_lengths(tensor: np.ndarray, end_tensor: np.ndarray, num_segments: int) -> list[int]:
    """magenta.js ``getSegmentLengths`` (multitrack): each segment's length up to and including its first
    end-token row, searching from the segment's start.

    Raises
    ------
    UsageError
        The tensor does not hold ``num_segments`` end tokens at segment boundaries.
    """
    is_end = np.all(np.asarray(tensor) == np.asarray(end_tensor)[None, :], axis=1)
    seg = tensor.shape[0] // num_segments
    lengths, offset = [], 0
    hits = np.flatnonzero(is_end)
    nxt = hits[0] if hits.size else -1
    while nxt != -1:
        lengths.append(int(nxt - offset + 1))
        offset += seg
        later = hits[hits >= offset]
        nxt = later[0] if later.size else -1
    if len(lengths) != num_segments:
        raise UsageError(f"the multitrack tensor has {len(lengths)} track segments, not {num_segments}")
    return lengths


class DecodeResult:
    """What :meth:`MusicVAE.decode_tensors` returns with ``return_logits=True``.

    Attributes
    ----------
    samples : numpy.ndarray
        float32 ``[n, num_steps, D_out]``: the decoders' samples side by side (one-hots, bits, or groove
        hits | velocities | offsets).
    logits : list of numpy.ndarray
        Per decoder, float32 ``[n, num_steps, P]``: the output projection each step's sampler read.
    """

    def __init__(self, samples: np.ndarray, logits: list[np.ndarray]):
        self.samples = samples
        self.logits = logits

    def __iter__(self):
        return iter((self.samples, self.logits))


class MusicVAE:
    """A magenta.js MusicVAE checkpoint: any of the 25 hosted ones (flat, hierarchical, split; categorical,
    boolean, NADE and groove decoders; chord, key and extra controls; control preprocessing).

    Parameters
    ----------
    checkpoint : str or os.PathLike, optional
        None (the default): the 2-bar melody model shipped with tonehost (``mel_2bar_folk``: mel_2bar_small's
        format, trained by the project on 2-bar windows of music21's folk tunes and chorale melodies; works
        offline). Otherwise an index id (``mel_2bar_small``, ... fetched and verified once), an http(s) URL or a
        checkpoint directory (``config.json`` + ``weights_manifest.json`` + shards; float32, ``_q1`` or ``_q2``).
    seed : int or numpy.random.Generator, optional
        Seed of the generator ``sample``, ``similar`` and temperature sampling use (None: fresh entropy).
    offline : bool
        Never use the network.
    threads : int
        ONNX Runtime intra-op threads per model.

    Attributes
    ----------
    arch : tonehost.exports.convert.music_vae_arch.MusicVaeArch
        Every width, read from the weights.
    converter : tonehost.exports.sequences.DataConverter
    chord_encoder : tonehost.exports.sequences.ChordEncoder or None
    z_dims : int

    Raises
    ------
    CheckpointError
        Unknown id, failed download, missing or corrupt files, weights that do not fit config.json.
    """

    def __init__(self, checkpoint: str | os.PathLike | None = None, *, seed=None, offline: bool = False,
                 threads: int = 1):
        from tonehost.exports.convert.music_vae import export_music_vae, read_architecture
        from tonehost.exports.onnx_session import make_session
        from tonehost.exports.resolve import checkpoint_dir
        from tonehost.exports.checkpoints.index import check_source
        from tonehost.exports.sequences import chord_encoder_from_type, converter_from_spec

        rng = _generator(seed, "seed")  # a bad seed or checkpoint argument is refused before anything loads
        if checkpoint is None:
            from tonehost.exports.checkpoints.shipped import default_music_vae_dir

            self.checkpoint_dir = default_music_vae_dir()
        else:
            self.checkpoint_dir = checkpoint_dir(check_source(checkpoint), offline)
        self.name = str(checkpoint) if checkpoint is not None and not Path(str(checkpoint)).exists() \
            else self.checkpoint_dir.name
        parts = export_music_vae(self.checkpoint_dir)
        self.arch = read_architecture(self.checkpoint_dir)
        self.spec = self.arch.spec
        self.converter = converter_from_spec(copy.deepcopy(dict(self.spec["dataConverter"])))
        self.chord_encoder = chord_encoder_from_type(self.spec["chordEncoder"]) if self.spec.get("chordEncoder") \
            else None
        self.sessions = {name: make_session(path, threads) for name, path in parts.items()}
        self._threads = threads
        self.rng = rng
        self._row_index: dict[int, np.ndarray] = {}

    # -- properties --------------------------------------------------------------------------------------
    @property
    def z_dims(self) -> int:
        """Z: the latent size."""
        return self.arch.z_dims

    @property
    def num_steps(self) -> int:
        """Steps of a sequence (32 for a 2-bar model at 4 steps per quarter)."""
        return self.arch.num_steps

    @property
    def steps_per_quarter(self) -> int:
        """The converter's grid: 24 for multitrack, 4 for the others."""
        return int(getattr(self.converter, "steps_per_quarter", 4) or 4)

    def __repr__(self) -> str:
        a = self.arch
        extra = f", segments={a.num_segments}" if a.num_segments else ""
        if self.chord_encoder is not None:
            extra += f", chords={self.spec['chordEncoder']}"
        return f"MusicVAE({self.name!r}, {a.family}, z={a.z_dims}, steps={a.num_steps}{extra})"

    # -- controls ----------------------------------------------------------------------------------------
    def control_tensor(self, chord_progression=None, key: int | None = None,
                       extra_controls: Mapping[str, np.ndarray] | None = None) -> np.ndarray | None:
        """The control tensor ``[num_steps, C]`` float32 (magenta.js ``controlArgsToTensor``), or None when the
        model takes no controls.

        Parameters
        ----------
        chord_progression : str or sequence of str, optional
            ``"C G Am F"`` or ``["C", "G", "Am", "F"]``: spread evenly over the steps (multitrack: one chord,
            repeated per track after a no-chord program step).
        key : int, optional
            0 (C) .. 11 (B), for a model with ``conditionOnKey``.
        extra_controls : mapping of str to array, optional
            ``{name: [num_steps, depth]}`` for the spec's ``extraControls``.

        Raises
        ------
        UsageError
            Chords or a key missing for a model that needs them, or given to one that does not; more than one
            chord for multitrack; a bad extra control.
        ChordError
            A chord symbol that cannot be parsed or encoded.
        """
        from tonehost.exports.sequences import NO_CHORD, parse_chord_progression

        spec, extra_controls = self.spec, dict(extra_controls or {})
        if self.chord_encoder is not None and not chord_progression:
            raise UsageError(f"{self.name} is chord-conditioned: pass a chord progression "
                             "(chord_progression=\"C G Am F\", or --chords \"C G Am F\")")
        if self.chord_encoder is None and chord_progression:
            raise UsageError(f"{self.name} takes no chords; drop the chord progression")
        if spec.get("conditionOnKey") and key is None:
            raise UsageError(f"{self.name} is conditioned on a key: pass key=0..11 (0 = C)")
        if not spec.get("conditionOnKey") and key is not None:
            raise UsageError(f"{self.name} takes no key; drop key")
        parts = []
        if chord_progression:
            chords = parse_chord_progression(chord_progression, self.chord_encoder)
            if self.arch.segmented_by_track:
                if len(chords) > 1:
                    raise UsageError(f"{self.name} takes one chord per bar-long segment (magenta.js: multiple "
                                     "chords are not supported with variable-length segments); pass one chord")
                seg = self.arch.segment_steps
                one = np.concatenate([self.chord_encoder.encode(NO_CHORD)[None, :],
                                      self.chord_encoder.encode_progression(chords, seg - 1)], axis=0)
                parts.append(np.tile(one, (self.arch.num_segments, 1)).astype(np.float32))
            else:
                parts.append(np.asarray(self.chord_encoder.encode_progression(chords, self.num_steps), np.float32))
        if key is not None:
            if int(key) != key or not 0 <= int(key) <= 11:
                raise UsageError(f"key must be an int 0..11 (0 = C, 1 = C#, ... 11 = B), got {key!r}")
            parts.append(np.tile(np.eye(12, dtype=np.float32)[int(key)], (self.num_steps, 1)))
        declared = [c["name"] for c in spec.get("extraControls") or []]
        for name in extra_controls:
            if name not in declared:
                raise UsageError(f"{self.name} has no control named {name!r} (its extra controls: "
                                 f"{', '.join(declared) or 'none'})")
        for c in spec.get("extraControls") or []:
            if c["name"] not in extra_controls:
                raise UsageError(f"{self.name} needs the control signal {c['name']!r} "
                                 f"([{self.num_steps}, {c['depth']}])")
            v = np.asarray(extra_controls[c["name"]], np.float32)
            if v.shape != (self.num_steps, int(c["depth"])):
                raise UsageError(f"control signal {c['name']!r} has shape {list(v.shape)}, not "
                                 f"[{self.num_steps}, {c['depth']}]")
            parts.append(v)
        return np.concatenate(parts, axis=1).astype(np.float32) if parts else None

    def _decoder_controls(self, controls: np.ndarray | None) -> np.ndarray | None:
        """Per-step controls the decoders read: ``[segments or 1, steps per segment, C']``."""
        if controls is None:
            return None
        n = self.arch.num_segments or 1
        chunks = controls.reshape(n, -1, controls.shape[1])
        if self.arch.control_pre is None:
            return chunks
        return self.sessions["controls"].run(["controls_out"], {"controls": chunks})[0]

    # -- encode ------------------------------------------------------------------------------------------
    def check_input(self, seq: NoteSequence, where: str = "the sequence") -> None:
        """Refuse what the model's converter would silently read as something else: a melody model given only drum
        notes (the converter drops drums: it encoded an empty melody, and ``similar`` or ``decode(encode(...))``
        returned made-up melodies without a word). An empty sequence is a bar of rests, as in magenta.js.

        Raises
        ------
        UsageError
            ``where`` holds only drums and this is a melody model.
        """
        if self.spec["dataConverter"]["type"].startswith("Melody") and seq.notes and all(n.is_drum for n in seq.notes):
            raise UsageError(f"{where} holds only drums and {self.name} is a melody model; use a drum checkpoint "
                             "(drums_2bar_hikl_small, groovae_2bar_humanize)")

    def to_tensor(self, seq: NoteSequence) -> np.ndarray:
        """The converter's tensor of one sequence, ``[num_steps, D_in]`` float32. An unquantized sequence is
        quantized at the model's steps per quarter first (the groove converter quantizes itself).

        Raises
        ------
        UsageError
            The sequence does not convert to ``num_steps`` rows, or :meth:`check_input` refuses it.
        ConverterError
            A sequence the converter rejects (polyphony, pitch range, too long for a groove model).
        """
        if not isinstance(seq, NoteSequence):
            raise UsageError(f"encode takes NoteSequences, got {type(seq).__name__}")
        self.check_input(seq)
        s = copy.deepcopy(seq)
        if self.spec["dataConverter"]["type"] != "GrooveConverter" and not s.is_quantized:
            s = s.quantize(self.steps_per_quarter)
        t = np.asarray(self.converter.to_tensor(s), np.float32)
        if t.shape != (self.num_steps, self.arch.input_depth):
            raise UsageError(f"a sequence converts to {t.shape[0]} steps of {t.shape[1]}; {self.name} encodes "
                             f"exactly {self.num_steps} steps of {self.arch.input_depth} "
                             f"({self.num_steps / self.steps_per_quarter / 4:g} bars of 4/4 at "
                             f"{self.steps_per_quarter} steps per quarter): trim or pad it")
        return t

    def encode_tensors(self, tensors: np.ndarray, chord_progression=None, key: int | None = None,
                       extra_controls=None) -> np.ndarray:
        """z ``[n, Z]`` of converter tensors ``[n, num_steps, D_in]`` (magenta.js ``encodeTensors``)."""
        x = np.ascontiguousarray(tensors, np.float32)
        if x.ndim != 3 or x.shape[1:] != (self.num_steps, self.arch.input_depth):
            raise UsageError(f"encode_tensors takes [n, {self.num_steps}, {self.arch.input_depth}], got "
                             f"{list(x.shape)}")
        feed = {"x": x}
        controls = self.control_tensor(chord_progression, key, extra_controls)
        if controls is not None:
            feed["controls"] = np.ascontiguousarray(np.broadcast_to(controls, (x.shape[0],) + controls.shape))
        if self.arch.segmented_by_track:
            mask = np.zeros(x.shape[:2], bool)
            seg = self.arch.segment_steps
            for b in range(x.shape[0]):
                for k, n in enumerate(segment_lengths(x[b], self.converter.end_tensor, self.arch.num_segments)):
                    mask[b, k * seg:k * seg + min(n, seg)] = True
            feed["mask"] = mask
        return self.sessions["encoder"].run(["z"], feed)[0]

    def encode(self, seqs, chord_progression=None, key: int | None = None, extra_controls=None) -> np.ndarray:
        """Encode sequences to their latent vectors (magenta.js ``encode``; z = mu, no sampling).

        Parameters
        ----------
        seqs : NoteSequence or sequence of NoteSequence
            Each converts to ``num_steps`` rows (a melody model of 32 steps: 2 bars at 4 steps per quarter).
        chord_progression, key, extra_controls :
            The controls (:meth:`control_tensor`), when the model has them.

        Returns
        -------
        numpy.ndarray
            float32 ``[n, Z]``.

        Raises
        ------
        UsageError, ConverterError, ChordError
        """
        seqs = [seqs] if isinstance(seqs, NoteSequence) else list(seqs)
        if not seqs:
            raise UsageError("encode needs at least one sequence")
        return self.encode_tensors(np.stack([self.to_tensor(s) for s in seqs]), chord_progression, key,
                                   extra_controls)

    # -- decode ------------------------------------------------------------------------------------------
    def _sample(self, dec, logits: np.ndarray, nade: np.ndarray | None, temperature, rng) -> np.ndarray:
        if dec.kind == "nade":
            return nade
        if dec.kind == "categorical":
            if temperature is None:
                idx = logits.argmax(axis=1)
            else:
                probs = softmax32((logits / np.float32(temperature)).astype(np.float32))
                idx = [multinomial_from_probs(p, rng.random()) for p in probs]
            out = np.zeros(logits.shape, np.float32)
            out[self._rows(logits.shape[0]), idx] = 1.0
            return out
        if dec.kind == "boolean":
            if temperature is None:
                return (logits >= 0).astype(np.float32)
            p = _sigmoid32(logits / np.float32(temperature))
            return (p >= rng.random(logits.shape, dtype=np.float32)).astype(np.float32)
        # groove: hits | velocities | offsets
        k = logits.shape[1] // 3
        hits, vel, off = logits[:, :k], logits[:, k:2 * k], logits[:, 2 * k:]
        if temperature is None:
            h = (_sigmoid32(hits) > 0.5).astype(np.float32)
        else:
            h = (_sigmoid32(hits / np.float32(temperature)) > rng.random(hits.shape, dtype=np.float32))
            h = h.astype(np.float32)
        return np.concatenate([h, _sigmoid32(vel), np.tanh(off.astype(np.float64)).astype(np.float32)], axis=1)

    def _rows(self, n: int) -> np.ndarray:
        rows = self._row_index.get(n)
        if rows is None:
            rows = self._row_index[n] = np.arange(n)
        return rows

    def _run_decoder(self, i: int, zc: np.ndarray, controls: np.ndarray | None, steps: int,
                     first: np.ndarray | None, temperature, rng, bar=None) -> tuple[np.ndarray, np.ndarray]:
        dec = self.arch.decoders[i]
        B = zc.shape[0]
        run = _DecoderRun(self, i, zc, controls, first, temperature, rng)
        samples = np.zeros((B, steps, dec.output_dims), np.float32)
        logits_all = np.zeros((B, steps, dec.projection_dims), np.float32)
        for t in range(steps):
            x, logits = run.step()
            samples[:, t] = x
            logits_all[:, t] = logits
        if bar is not None:
            bar.update(steps)
        return samples, logits_all

    def decode_tensors(self, z, temperature=None, chord_progression=None, key: int | None = None,
                       extra_controls=None, rng=None, return_logits: bool = False, progress: bool = False):
        """Decode latent vectors to the decoders' samples (magenta.js ``decodeTensors``).

        Parameters
        ----------
        z : array_like
            ``[n, Z]`` (a single ``[Z]`` vector is taken as ``[1, Z]``).
        temperature : float, optional
            None or 0: argmax (deterministic); else sampling at that temperature (NADE: always MAP).
        chord_progression, key, extra_controls :
            The controls (:meth:`control_tensor`).
        rng : int or numpy.random.Generator, optional
            Overrides the model's generator for this call.
        return_logits : bool
            Also return every step's output projection.
        progress : bool
            Draw a progress bar on standard error when decoding takes over a second (the 16-bar models).

        Returns
        -------
        numpy.ndarray or DecodeResult
            float32 ``[n, num_steps, D_out]`` (with ``return_logits``: a :class:`DecodeResult`).

        Raises
        ------
        UsageError
            ``z`` not finite ``[n, Z]``, or more than :data:`~tonehost.realtime.pipelines.limits.MAX_BATCH` rows
            (decode in several calls); controls missing or unexpected.
        ChordError
            A chord the encoder cannot encode.
        """
        try:
            z = np.asarray(z, np.float32)
        except (TypeError, ValueError):  # "abc", [[1, "x"]], ragged rows: numpy's ValueError
            raise UsageError(f"z must be numbers, finite [n, {self.z_dims}] for {self.name} (e.g. vae.encode(seqs) "
                             f"or numpy.random.randn(n, {self.z_dims})), got {type(z).__name__} {z!r:.40}") from None
        if z.ndim == 1:
            z = z[None, :]
        if z.ndim != 2 or z.shape[1] != self.z_dims or not np.all(np.isfinite(z)):  # (NaN read as a shape fault)
            got = f"shape {list(z.shape)}" if z.ndim != 2 or z.shape[1] != self.z_dims else \
                f"{int(np.count_nonzero(~np.isfinite(z)))} NaN or infinite values"
            raise UsageError(f"z must be finite [n, {self.z_dims}] for {self.name}, got {got}")
        check_batch(z.shape[0], "the number of latent vectors (rows of z)")
        z = np.ascontiguousarray(z)
        temperature = check_temperature(temperature)
        rng = self.rng if rng is None else _generator(rng)
        ctrl = self._decoder_controls(self.control_tensor(chord_progression, key, extra_controls))
        decs = self.arch.decoders
        if not progress:  # (a disabled tqdm still starts tqdm's monitor thread, left running in the caller's process)
            return self._decode(z, ctrl, temperature, rng, return_logits, None)
        with tqdm(total=self.num_steps * len(decs), unit="step", desc=f"{self.name} decode", delay=1.0, leave=False,
                  file=sys.stderr) as bar:
            return self._decode(z, ctrl, temperature, rng, return_logits, bar)

    def _decode(self, z, ctrl, temperature, rng, return_logits: bool, bar):
        decs = self.arch.decoders
        if self.arch.conductor is None:
            parts = [self._run_decoder(i, z, None if ctrl is None else ctrl[0], self.num_steps, None, temperature,
                                       rng, bar) for i in range(len(decs))]
            samples = [p[0] for p in parts]
            logits = [p[1] for p in parts]
        else:
            cond = self.arch.conductor
            names = [f"{s}{l}" for l in range(len(cond.layers)) for s in ("c", "h")]
            state = dict(zip(names, self.sessions["conductor_init"].run(names, {"z": z})))
            dummy = np.zeros((z.shape[0], 1), np.float32)
            seg_samples = [[] for _ in decs]
            seg_logits = [[] for _ in decs]
            last = [None] * len(decs)
            run_names = ["y"] + [n + "_out" for n in names]
            for k in range(self.arch.num_segments):
                res = self.sessions["conductor_step"].run(run_names, {"x": dummy, **state})
                e, state = res[0], dict(zip(names, res[1:]))
                for i in range(len(decs)):
                    s, lg = self._run_decoder(i, e, None if ctrl is None else ctrl[k], self.arch.segment_steps,
                                              last[i], temperature, rng, bar)
                    seg_samples[i].append(s)
                    seg_logits[i].append(lg)
                    last[i] = np.ascontiguousarray(s[:, -1])
            samples = [np.concatenate(s, axis=1) for s in seg_samples]
            logits = [np.concatenate(lg, axis=1) for lg in seg_logits]
        out = np.concatenate(samples, axis=2) if len(samples) > 1 else samples[0]
        return DecodeResult(out, logits) if return_logits else out

    def decode(self, z, temperature=None, chord_progression=None, key: int | None = None, extra_controls=None,
               steps_per_quarter: int | None = None, qpm: float | None = None, rng=None,
               progress: bool = False) -> list[NoteSequence]:
        """Decode latent vectors to NoteSequences (magenta.js ``decode``).

        Parameters
        ----------
        z : array_like
            ``[n, Z]``.
        temperature : float, optional
            None or 0: argmax; else sampling.
        chord_progression, key, extra_controls :
            The controls (:meth:`control_tensor`).
        steps_per_quarter : int, optional
            Written in the sequences (default: the model's grid, 4; 24 for multitrack).
        qpm : float, optional
            Tempo written, quarter notes per minute (default 120; 4 .. 1000).
        rng : int or numpy.random.Generator, optional
        progress : bool
            A progress bar on standard error for decodes over a second.

        Returns
        -------
        list of NoteSequence
            Quantized (groove models: unquantized, with times in seconds).

        Raises
        ------
        UsageError, ChordError
            As :meth:`decode_tensors` (at most :data:`~tonehost.realtime.pipelines.limits.MAX_BATCH` vectors);
            ``steps_per_quarter`` not a whole number >= 1.
        SequenceError
            ``qpm`` outside 4 .. 1000 (:func:`~tonehost.exports.note_sequence.check_qpm`: what a MIDI file holds).
        """
        # what is written in the sequences, checked before any decoding (steps_per_quarter=2.5 became 2 and 0 a
        # sequence quantized at 0 steps per quarter; qpm 0, -5 or NaN a tempo no MIDI file or unquantize takes)
        spq = self.steps_per_quarter if steps_per_quarter is None else _steps_per_quarter(steps_per_quarter)
        qpm = DEFAULT_QPM if qpm is None else check_qpm(qpm)
        samples = self.decode_tensors(z, temperature, chord_progression, key, extra_controls, rng,
                                      progress=progress)
        return [self.converter.to_note_sequence(s, spq, qpm) for s in samples]

    # -- generation --------------------------------------------------------------------------------------
    def sample(self, n: int, temperature=0.5, chord_progression=None, key: int | None = None,
               extra_controls=None, steps_per_quarter: int | None = None, qpm: float | None = None,
               rng=None, progress: bool = False) -> list[NoteSequence]:
        """``n`` new sequences from z ~ N(0, 1) (magenta.js ``sample``).

        Parameters
        ----------
        n : int
            How many.
        temperature : float, optional
            0.5 by default (stochastic, as magenta.js); None or 0: argmax.
        chord_progression, key, extra_controls :
            The controls (:meth:`control_tensor`).
        steps_per_quarter, qpm, rng, progress :
            As :meth:`decode`; ``rng`` also draws z.

        Returns
        -------
        list of NoteSequence

        Raises
        ------
        UsageError
            ``n`` not a whole number in 1 .. :data:`~tonehost.realtime.pipelines.limits.MAX_BATCH`; controls
            missing or unexpected.
        """
        n = check_batch(n, "the number of samples")
        gen = self.rng if rng is None else _generator(rng)
        z = gen.standard_normal((n, self.z_dims)).astype(np.float32)
        return self.decode(z, temperature, chord_progression, key, extra_controls, steps_per_quarter, qpm, gen,
                           progress)

    def interpolate(self, seqs: Sequence[NoteSequence], n_interps, temperature=None, chord_progression=None,
                    key: int | None = None, extra_controls=None, steps_per_quarter: int | None = None,
                    qpm: float | None = None, rng=None, progress: bool = False) -> list[NoteSequence]:
        """Sequences between 2 inputs (a line, both ends included) or 4 (a grid), decoded from interpolated z
        (magenta.js ``interpolate``; :func:`interpolated_zs`).

        Parameters
        ----------
        seqs : sequence of NoteSequence
            2 (line) or 4 (grid corners: top-left, bottom-left, top-right, bottom-right).
        n_interps : int or (int, int)
            Points on the line, or the grid's ``(width, height)`` (an int: a square grid), rows first.
        temperature : float, optional
            None or 0: argmax (default).
        chord_progression, key, extra_controls, steps_per_quarter, qpm, rng, progress :
            As :meth:`decode`.

        Returns
        -------
        list of NoteSequence
            ``w`` or ``w * h`` sequences.

        Raises
        ------
        UsageError
            Not 2 or 4 sequences, bad ``n_interps``.
        """
        if isinstance(seqs, NoteSequence) or not isinstance(seqs, (Sequence, np.ndarray)) or isinstance(seqs, str):
            raise UsageError(f"interpolate takes a list of 2 or 4 NoteSequences (the ends or the corners), got "
                             f"{type(seqs).__name__}")  # None: "'NoneType' object is not iterable"
        seqs = list(seqs)
        if len(seqs) not in (2, 4):
            raise UsageError(f"interpolate takes 2 or 4 sequences, got {len(seqs)}")
        z = self.encode(seqs, chord_progression, key, extra_controls)
        return self.decode(interpolated_zs(z, n_interps), temperature, chord_progression, key, extra_controls,
                           steps_per_quarter, qpm, rng, progress)

    def similar(self, seq: NoteSequence, n: int, similarity: float, temperature=None, chord_progression=None,
                key: int | None = None, extra_controls=None, steps_per_quarter: int | None = None,
                qpm: float | None = None, rng=None, progress: bool = False) -> list[NoteSequence]:
        """``n`` variations of ``seq``: z = z_seq * similarity + N(0, 1) * (1 - similarity) (magenta.js
        ``similar``).

        Parameters
        ----------
        seq : NoteSequence
        n : int
            How many.
        similarity : float
            0 (unrelated) .. 1 (the same z).
        temperature : float, optional
            None or 0: argmax (default).
        chord_progression, key, extra_controls, steps_per_quarter, qpm, rng, progress :
            As :meth:`decode`; ``rng`` also draws the noise.

        Returns
        -------
        list of NoteSequence

        Raises
        ------
        UsageError
            ``similarity`` outside [0, 1], ``n`` not a whole number in 1 ..
            :data:`~tonehost.realtime.pipelines.limits.MAX_BATCH`.
        """
        import numbers

        # a number, as every other argument: "0.5" was read as 0.5, True as 1.0 (and "x" was float()'s ValueError)
        if not (isinstance(similarity, numbers.Real) and not isinstance(similarity, (bool, np.bool_))
                and 0 <= similarity <= 1):
            raise UsageError(f"similarity must be a number between 0 and 1, got {similarity!r:.40}")
        n = check_batch(n, "the number of variations")
        gen = self.rng if rng is None else _generator(rng)
        z = self.encode([seq], chord_progression, key, extra_controls)
        noise = gen.standard_normal((n, self.z_dims)).astype(np.float32)
        zs = (z * np.float32(similarity) + noise * np.float32(1 - float(similarity))).astype(np.float32)
        return self.decode(zs, temperature, chord_progression, key, extra_controls, steps_per_quarter, qpm, gen,
                           progress)

    # -- GrooVAE -----------------------------------------------------------------------------------------
    def groove(self, seq: NoteSequence, temperature=None, rng=None) -> NoteSequence:
        """Run a drum sequence of any length through a GrooVAE model, window by window (``num_steps`` each:
        2 bars for ``groovae_2bar_humanize``): encode, decode, and put the windows back in place.

        ``groovae_2bar_humanize`` adds feel (velocities, timing) to a quantized beat, ``tap2drum_*`` turns
        taps into a beat, ``groovae_4bar`` re-plays a groove.

        Parameters
        ----------
        seq : NoteSequence
            Drums (MIDI drum pitches; tap2drum: any pitch), quantized or not (quantized here at 4 steps per
            quarter, at its first tempo).
        temperature : float, optional
            None: deterministic hits; else hits sampled.
        rng : int or numpy.random.Generator, optional

        Returns
        -------
        NoteSequence
            Unquantized (seconds), the input's tempo, as long as the input.

        Raises
        ------
        UsageError
            Not a groove model.
        """
        from tonehost.exports.note_sequence import Tempo

        if self.streams_groove:
            stream = self.groove_stream(seq, temperature, rng)
            while not stream.done:
                stream.next()
            return stream.result()
        g = self._groove_windows(seq)
        z = self.encode_tensors(g.x)
        outs = self.decode(z, temperature, qpm=g.qpm, rng=rng)
        result = NoteSequence(tempos=[Tempo(0.0, g.qpm)], total_time=g.total_steps * g.step_len)
        for k, o in enumerate(outs):
            result.notes.extend(_place_window_notes(o.notes, k * g.n * g.step_len, g.total_steps * g.step_len))
        return result

    @property
    def streams_groove(self) -> bool:
        """True for a flat GrooVAE model with one decoder and one row per step (every hosted one): its
        :meth:`groove` runs through :class:`GrooveStream`, step by step."""
        return (self.spec["dataConverter"]["type"] == "GrooveConverter" and self.arch.conductor is None
                and len(self.arch.decoders) == 1 and not getattr(self.converter, "split_instruments", False)
                and not self.arch.control_depth)

    def groove_stream(self, seq: NoteSequence, temperature=None, rng=None, z: np.ndarray | None = None,
                      encoder: "StreamedEncoder | None" = None) -> "GrooveStream":
        """:meth:`groove` one time step at a time (:class:`GrooveStream`): the live tap2drum plays the first
        steps of a window while the rest are decoded. ``z`` (optional) is the windows' latent vectors when they
        were computed already (bitwise what :meth:`encode_tensors` gives); or ``encoder``, a
        :class:`StreamedEncoder` already fed the first rows, finishes the encode.

        Raises
        ------
        UsageError
            Not a groove model, or one :attr:`streams_groove` excludes.
        """
        return GrooveStream(self, seq, temperature, rng, z, encoder)

    def streamed_encoder(self, batch: int = 1) -> "StreamedEncoder":
        """A :class:`StreamedEncoder` of this (flat) model: the forward pass fed row by row, the backward pass
        and mu at the end; z bitwise equal to :meth:`encode_tensors`'s."""
        return StreamedEncoder(self, batch)

    def _live_sessions(self) -> dict:
        """The ONNX sessions of the streamed encoder (exported on first use, then cached like the others)."""
        live = getattr(self, "_live", None)
        if live is None:
            from tonehost.exports.convert.music_vae import export_music_vae
            from tonehost.exports.onnx_session import make_session

            parts = export_music_vae(self.checkpoint_dir, live=True)
            if not parts:
                raise UsageError(f"{self.name} has no flat encoder to stream (hierarchical or with controls)")
            live = self._live = {name: make_session(path, self._threads) for name, path in parts.items()}
        return live

    def _groove_windows(self, seq: NoteSequence) -> "_GrooveWindows":
        """What :meth:`groove` encodes: the sequence quantized and cut into ``num_steps`` windows, their tensors."""
        if self.spec["dataConverter"]["type"] != "GrooveConverter":
            raise UsageError(f"{self.name} is not a GrooVAE model; use groovae_2bar_humanize, groovae_4bar or "
                             "tap2drum_1bar..4bar")
        qpm = seq.tempos[0].qpm if seq.tempos else DEFAULT_QPM
        q = seq if (seq.quantization_info is not None and seq.quantization_info.steps_per_quarter > 0) \
            else seq.quantize(self.steps_per_quarter)
        if q.quantization_info.steps_per_quarter != self.steps_per_quarter:
            q = copy.deepcopy(seq)
            q.quantization_info = None
            q = q.quantize(self.steps_per_quarter)
        n = self.num_steps
        step_len = 60.0 / qpm / self.steps_per_quarter
        last = max([int(x.quantized_start_step) for x in q.notes], default=-1)
        total_steps = max(int(q.total_quantized_steps or 0), last + 1, 1)
        windows = []
        for w in range(0, total_steps, n):
            part = copy.deepcopy(q)
            part.notes = []
            for note in q.notes:
                if w <= note.quantized_start_step < w + n:
                    m = copy.deepcopy(note)
                    m.quantized_start_step -= w
                    m.quantized_end_step -= w
                    m.start_time -= w * step_len
                    m.end_time -= w * step_len
                    part.notes.append(m)
            part.total_quantized_steps = n
            windows.append(part)
        x = np.stack([self.to_tensor(s) for s in windows])
        return _GrooveWindows(windows, x, qpm, step_len, total_steps, n)


class _GrooveWindows:
    """:meth:`MusicVAE._groove_windows`: ``windows`` (NoteSequences), their tensors ``x`` ``[W, n, D]``, the
    tempo, the step length (s), the sequence's length in steps and the window length ``n``."""

    def __init__(self, windows, x, qpm, step_len, total_steps, n):
        self.windows, self.x, self.qpm, self.step_len, self.total_steps, self.n = \
            windows, x, qpm, step_len, total_steps, n


def _place_window_notes(notes, shift: float, end: float) -> list:
    """A decoded window's notes moved to its place in the sequence (``shift`` s), none before 0, those that
    start at or after ``end`` dropped (what :meth:`MusicVAE.groove` does to every window)."""
    kept = []
    for note in notes:
        note.start_time = max(0.0, note.start_time + shift)
        note.end_time += shift
        if note.start_time < end:
            kept.append(note)
    return kept


class _DecoderRun:
    """One decoder's decode, one step per :meth:`step` (what ``MusicVAE._run_decoder`` loops over): the
    initial state from ``zc``, then each step's logits and sample (the sample is the next step's input)."""

    def __init__(self, vae: "MusicVAE", i: int, zc: np.ndarray, controls: np.ndarray | None,
                 first: np.ndarray | None, temperature, rng):
        dec = vae.arch.decoders[i]
        self.vae, self.dec = vae, dec
        self.B = zc.shape[0]
        self.session = vae.sessions[f"decoder{i}_step"]
        self.names = [f"{s}{l}" for l in range(len(dec.layers)) for s in ("c", "h")]
        res = vae.sessions[f"decoder{i}_init"].run(self.names + ["zk"], {"z": zc})
        self.state, self.zk = dict(zip(self.names, res[:-1])), res[-1]
        self.outs = ["logits"] + [n + "_out" for n in self.names] + (["sample"] if dec.kind == "nade" else [])
        self.x = np.zeros((self.B, dec.output_dims), np.float32) if first is None else first
        self.controls, self.temperature, self.rng = controls, temperature, rng
        self.t = 0

    def step(self) -> tuple[np.ndarray, np.ndarray]:
        """Decode the next step: ``(sample [B, D_out], logits [B, P])``."""
        feed = {"x": self.x, "zk": self.zk, **self.state}
        if self.controls is not None:
            feed["control"] = np.ascontiguousarray(np.broadcast_to(self.controls[self.t],
                                                                   (self.B, self.controls.shape[1])))
        res = self.session.run(self.outs, feed)
        logits = res[0]
        self.state = dict(zip(self.names, res[1:1 + len(self.names)]))
        self.x = self.vae._sample(self.dec, logits, res[-1] if self.dec.kind == "nade" else None,
                                  self.temperature, self.rng)
        self.t += 1
        return self.x, logits


class GrooveStream:
    """:meth:`MusicVAE.groove` one time step at a time, with the same notes, bit for bit.

    Construction encodes the windows (or takes their ``z``, or finishes a :class:`StreamedEncoder`'s encode)
    and sets the decoder's state; each :meth:`next`
    decodes one step of every window and returns that step's notes, placed as :meth:`MusicVAE.groove` places
    them (seconds from the sequence's start). The live tap2drum schedules the first steps of a window while the
    rest are still being decoded. The ONNX calls, the sampler's random draws and the note arithmetic are those
    of ``groove`` in the same order (``groove`` itself runs through this class).

    Attributes
    ----------
    steps : int
        Time steps per window (the model's ``num_steps``).
    step : int
        Steps decoded so far.
    windows : int
    qpm : float
    step_length : float
        Seconds per step.
    """

    def __init__(self, vae: MusicVAE, seq: NoteSequence, temperature=None, rng=None, z: np.ndarray | None = None,
                 encoder: "StreamedEncoder | None" = None):
        if not vae.streams_groove:
            raise UsageError(f"{vae.name} does not decode a groove step by step (a flat GrooVAE model with one "
                             "decoder does)")
        g = vae._groove_windows(seq)
        self.vae, self._g = vae, g
        if z is None and encoder is not None and encoder.batch == g.x.shape[0]:
            z = encoder.finish(g.x)
        z = vae.encode_tensors(g.x) if z is None else np.asarray(z, np.float32)
        if z.shape != (len(g.windows), vae.z_dims) or not np.all(np.isfinite(z)):
            raise UsageError(f"z must be finite [{len(g.windows)}, {vae.z_dims}], got shape {list(z.shape)}")
        self.z = np.ascontiguousarray(z)
        rng = vae.rng if rng is None else _generator(rng)
        self._run = _DecoderRun(vae, 0, self.z, None, None, check_temperature(temperature), rng)
        dec = vae.arch.decoders[0]
        self.steps, self.windows, self.qpm = g.n, len(g.windows), g.qpm
        self.step_length = g.step_len
        self._samples = np.zeros((self.windows, g.n, dec.output_dims), np.float32)
        # the converter's step length, as decode(..., qpm=qpm) hands it to to_note_sequence
        self._conv_step = (60.0 / float(g.qpm)) / vae.converter.steps_per_quarter
        self._notes: list[list] = [[] for _ in range(self.windows)]
        self.step = 0

    @property
    def done(self) -> bool:
        """Every step decoded."""
        return self.step >= self.steps

    def next(self) -> list[list]:
        """Decode the next step; per window, that step's notes (:class:`~tonehost.exports.note_sequence.Note`,
        times in seconds from the sequence's start, as in :meth:`MusicVAE.groove`'s result)."""
        if self.done:
            raise UsageError("the groove is decoded already")
        t = self.step
        x, _ = self._run.step()
        self._samples[:, t] = x
        g, conv, out = self._g, self.vae.converter, []
        for b in range(self.windows):
            notes = conv.step_notes(self._samples[b].reshape(-1), t, self._conv_step)
            kept = _place_window_notes(notes, b * g.n * g.step_len, g.total_steps * g.step_len)
            self._notes[b].extend(kept)
            out.append(kept)
        self.step += 1
        return out

    def result(self) -> NoteSequence:
        """The notes decoded so far as :meth:`MusicVAE.groove` returns them (all of them once :attr:`done`)."""
        from tonehost.exports.note_sequence import Tempo

        g = self._g
        out = NoteSequence(tempos=[Tempo(0.0, g.qpm)], total_time=g.total_steps * g.step_len)
        for notes in self._notes:
            out.notes.extend(notes)
        return out


class StreamedEncoder:
    """A flat MusicVAE encoder fed while its input is still being played: the forward LSTM advances row by row
    (:meth:`feed`, as the rows become final), and :meth:`finish` runs what is left -- the remaining forward rows,
    the backward pass over the whole input and ``encoder/mu`` -- so z is ready one backward pass after the last
    row, not a whole bidirectional encode. The step model is the forward ``Scan``'s cell op for op and the
    backward part the encoder's own graph, so z equals :meth:`MusicVAE.encode_tensors`'s bit for bit (the
    tests check it); rows that changed after they were fed are caught by :meth:`finish`, which then starts the
    forward pass over. :meth:`speculate` computes z early from the input as it stands (the live groove does it
    half a step before the window closes): :meth:`finish` returns it at once when the input did not change since.

    Parameters
    ----------
    vae : MusicVAE
        A flat model without controls.
    batch : int
    """

    def __init__(self, vae: MusicVAE, batch: int = 1):
        sessions = vae._live_sessions()
        self.fw_step, self.bw = sessions["encoder_fw_step"], sessions["encoder_bw"]
        self.vae = vae
        self.units = vae.arch.encoder[0].fw.units
        self.batch = check_batch(batch, "batch")
        self.fed = np.zeros((self.batch, 0, vae.arch.input_depth), np.float32)
        self.refeeds = 0
        self.speculated = 0  # finish() calls answered by a speculation
        self._spec: tuple[np.ndarray, np.ndarray] | None = None
        self._zero()

    def _zero(self) -> None:
        self.c = np.zeros((self.batch, self.units), np.float32)
        self.h = np.zeros((self.batch, self.units), np.float32)
        self.fed = self.fed[:, :0]

    @property
    def rows(self) -> int:
        """Rows fed so far."""
        return self.fed.shape[1]

    def feed(self, rows: np.ndarray) -> None:
        """Advance the forward pass over ``rows`` ``[B, k, D_in]`` (the next k rows of the input)."""
        rows = np.asarray(rows, np.float32)
        for t in range(rows.shape[1]):
            self.c, self.h = self.fw_step.run(["c_out", "h_out"], {"x_t": np.ascontiguousarray(rows[:, t]),
                                                                    "c": self.c, "h": self.h})
        self.fed = np.concatenate([self.fed, rows], axis=1)

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        if x.shape != (self.batch, self.vae.num_steps, self.vae.arch.input_depth):
            raise UsageError(f"the streamed encoder takes [{self.batch}, {self.vae.num_steps}, "
                             f"{self.vae.arch.input_depth}], got {list(x.shape)}")
        return x

    def _z(self, x: np.ndarray, commit: bool) -> np.ndarray:
        k = self.rows
        if k > x.shape[1] or not np.array_equal(self.fed, x[:, :k]):
            self.refeeds += 1
            self._zero()
            k = 0
        c, h, fed = self.c, self.h, self.fed
        self.feed(x[:, k:])
        z = self.bw.run(["z"], {"x": x, "h_fw": self.h})[0]
        if not commit:  # rows past the fed ones were only assumed: leave the forward pass where it was
            self.c, self.h, self.fed = c, h, fed
        return z

    def speculate(self, x: np.ndarray) -> np.ndarray:
        """z of ``x`` as if it were the whole input already, kept: :meth:`finish` with the same ``x`` returns it
        at once. Rows of ``x`` past the fed ones are not fed (they may still change)."""
        x = self._check(x).copy()
        z = self._z(x, commit=False)
        self._spec = (x, z)
        return z

    def finish(self, x: np.ndarray) -> np.ndarray:
        """z ``[B, Z]`` of the whole input ``x`` ``[B, T, D_in]`` (a :meth:`speculate` of the same ``x``: its z)."""
        x = self._check(x)
        if self._spec is not None and np.array_equal(self._spec[0], x):
            self.speculated += 1
            return self._spec[1].copy()
        return self._z(x, commit=True)


def _sigmoid32(x: np.ndarray) -> np.ndarray:
    """tfjs's CPU ``sigmoid``: ``1 / (1 + exp(-x))`` in float64, stored as float32."""
    return (1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))).astype(np.float32)
