"""MusicRNN on ONNX Runtime: magenta.js 1.23.1's ``continueSequence``, and a step-wise stream for live use.

    from tonehost import MusicRNN, NoteSequence
    rnn = MusicRNN()                                # the shipped melody model (or "basic_rnn", a URL, a dir)
    primer = NoteSequence.from_midi("primer.mid").quantize(4)
    cont = rnn.continue_sequence(primer, 64)        # argmax; temperature=1.0, rng=seed for sampling
    stream = rnn.stream(temperature=1.0, rng=7)     # live: feed what was played, draw the answer step by step
    stream.feed_sequence(phrase); events = stream.take(16)

The model is the checkpoint's step graph exported once to ONNX (:mod:`tonehost.exports.convert.music_rnn`,
cached next to the checkpoint); each generated step is one ONNX Runtime call (the GIL is released inside it) plus
a few NumPy operations. The loop is magenta.js's ``sampleRnn`` (MUSICGEN.md section 5):

* the primer is the converter's tensor ``[T, D]``; chord controls are the progression spread over ``T + steps``
  rows; the aux inputs (drum_kit_rnn's binary counter) are computed over the same rows;
* from zero state, step ``i`` feeds ``concat[controls[i + 1], event_i, aux_i]`` (the chord of the *next* step);
* a generated step takes the logits of the last output: argmax when ``temperature`` is None or 0, else one
  draw from ``softmax(logits / temperature)`` with tfjs's cdf rule
  (:func:`tonehost.exports.tfjs.random.multinomial_from_probs`);
* the result holds only the ``steps`` new events, decoded as a fresh sequence starting at step 0 with the
  primer's steps per quarter and 120 qpm.

With ``rng=TfjsMultinomial(mulberry32(seed))`` the draws are those of magenta.js running under the same
seeded ``Math.random`` (the parity tests do this); with an int or a NumPy ``Generator`` they are NumPy's.
"""
from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Mapping
from typing import Callable, Iterator, Sequence

import numpy as np

from tonehost.exports.convert.music_rnn import DEFAULT_SPECS, MusicRNNSpec, export_music_rnn
from tonehost.exports.errors import ModelError, UsageError
from tonehost.exports.note_sequence import NoteSequence
from tonehost.exports.sequences import ChordError, ConverterError, binary_counter_row
from tonehost.exports.sequences.base import assert_relative_quantized, one_hot
from tonehost.exports.tfjs.random import check_temperature, CdfSampler, softmax32
from tonehost.realtime.pipelines.limits import check_steps

__all__ = ["MusicRNN", "MusicRNNStream", "Continuation", "PrefixCache"]

Sampler = Callable[[np.ndarray], int]


def _sampler(rng) -> Sampler:
    """A sampler ``f(probs) -> index`` from ``rng``: a callable as it is, else the cdf rule over the generator of a
    seed or a generator (anything else is one UsageError: :func:`tonehost.exports.rng.as_generator`)."""
    from tonehost.exports.rng import as_generator

    if callable(rng) and not isinstance(rng, np.random.Generator):
        return rng
    return CdfSampler(as_generator(rng))


class Continuation:
    """What :meth:`MusicRNN.continue_sequence_and_return_probabilities` returns.

    Attributes
    ----------
    sequence : NoteSequence
        The new steps only, from step 0 (quantized, the primer's steps per quarter, 120 qpm).
    events : numpy.ndarray
        int64 ``[steps]``: the class drawn at each new step (the converter's event codes).
    probs : numpy.ndarray
        float32 ``[steps, D]``: ``softmax(logits / temperature)`` (``softmax(logits)`` for argmax) per new step.
    """

    def __init__(self, sequence: NoteSequence, events: np.ndarray, probs: np.ndarray):
        self.sequence = sequence
        self.events = events
        self.probs = probs

    def __iter__(self):
        return iter((self.sequence, self.probs))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index):
        """``result[0]`` the sequence, ``result[1]`` the probabilities, as for the ``(sequence, probs)`` pair it
        unpacks to (``result[1]`` was a TypeError)."""
        return (self.sequence, self.probs)[index]


class MusicRNN:
    """A magenta.js MusicRNN checkpoint (basic_rnn, melody_rnn, drum_kit_rnn, chord_pitches_improv shapes).

    Parameters
    ----------
    checkpoint : str or os.PathLike, optional
        None (the default): the melody model shipped with tonehost (``basic_rnn_folk``: basic_rnn's format and
        pitch range 48..83, trained by the project on folk tunes and chorale melodies of music21's corpus; works
        offline). Otherwise an index id (``basic_rnn``, ``melody_rnn``, ``drum_kit_rnn``,
        ``chord_pitches_improv``: fetched and verified once), an http(s) URL, a checkpoint directory
        (``weights_manifest.json`` + shards + ``config.json``, float32 or quantized) or an exported ``.onnx``
        (then ``spec`` is required).
    spec : dict, optional
        A MusicRNN config (magenta.js ``MusicRNNSpec``) instead of the checkpoint's config.json.
    offline : bool
        Never use the network.
    threads : int
        ONNX Runtime intra-op threads.

    Raises
    ------
    CheckpointError
        Unknown id, failed download, missing or corrupt files, a config that does not fit the weights.
    ModelError
        An ``.onnx`` that is not a MusicRNN step model.
    """

    def __init__(self, checkpoint: str | os.PathLike | None = None, spec: dict | None = None,
                 offline: bool = False, threads: int = 1):
        from tonehost.exports.onnx_session import make_session
        from tonehost.exports.resolve import music_rnn_checkpoint
        from tonehost.exports.checkpoints.index import check_source
        from tonehost.exports.tfjs import read_checkpoint_config

        source = None if checkpoint is None else check_source(checkpoint)  # MusicRNN(3): one UsageError
        if source is not None and str(source).endswith(".onnx"):
            if spec is None:
                raise UsageError(f"{source}: an exported MusicRNN model needs spec= (its config.json)")
            self.spec = MusicRNNSpec.from_json(spec, "spec")
            self.checkpoint_dir = None
            self.model_path = Path(source).expanduser()
        else:
            self.checkpoint_dir = music_rnn_checkpoint(source, offline)
            if spec is None:
                raw = read_checkpoint_config(self.checkpoint_dir) or DEFAULT_SPECS.get(str(source or "")) \
                    or DEFAULT_SPECS.get(self.checkpoint_dir.name)
                self.spec = MusicRNNSpec.from_json(raw, str(self.checkpoint_dir / "config.json")) if raw else None
                if self.spec is None:
                    raise ModelError(f"{self.checkpoint_dir} has no config.json; add the MusicRNN config or pass "
                                     "spec=", self.checkpoint_dir)
            else:
                self.spec = MusicRNNSpec.from_json(spec, "spec")
            self.model_path = export_music_rnn(self.checkpoint_dir, None if spec is None and
                                               read_checkpoint_config(self.checkpoint_dir) else self.spec)[0]
        self.session = make_session(self.model_path, threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("tonehost.kind") != "music_rnn_step":
            raise ModelError(f"{self.model_path} is not a MusicRNN step model exported by tonehost; pass a "
                             "checkpoint directory or id", self.model_path)
        self.units = [int(u) for u in meta["tonehost.units"].split(",")]
        self.attention_length = int(meta["tonehost.attention_length"])
        self.attention_size = int(meta["tonehost.attention_size"])
        if int(meta["tonehost.input_depth"]) != self.spec.input_depth or \
                int(meta["tonehost.output_depth"]) != self.spec.event_depth:
            raise ModelError(f"{self.model_path} reads {meta['tonehost.input_depth']} inputs and predicts "
                             f"{meta['tonehost.output_depth']} classes, but the spec needs "
                             f"{self.spec.input_depth} and {self.spec.event_depth}", self.model_path)
        self._state_inputs = [i.name for i in self.session.get_inputs() if i.name != "x"]
        self._outputs = [o.name for o in self.session.get_outputs()]

    # -- properties ------------------------------------------------------------------------------------
    @property
    def data_converter(self):
        """The spec's data converter (:mod:`tonehost.exports.sequences`)."""
        return self.spec.data_converter

    @property
    def chord_encoder(self):
        """The chord encoder, or None for a model without chord conditioning."""
        return self.spec.chord_encoder

    @property
    def event_depth(self) -> int:
        """D: the number of event classes."""
        return self.spec.event_depth

    def __repr__(self) -> str:
        where = self.checkpoint_dir or self.model_path
        return (f"MusicRNN({str(where)!r}, layers={self.units}, classes={self.event_depth}, "
                f"attention={self.attention_length or None}, chords={type(self.chord_encoder).__name__ if self.chord_encoder else None})")

    # -- the step ------------------------------------------------------------------------------------
    def initial_state(self, batch: int = 1) -> dict[str, np.ndarray]:
        """Zero state: ``c{l}``, ``h{l}`` ``[batch, H_l]`` float32 (and ``attention``, ``attention_state``), what
        :meth:`step` takes first.

        Parameters
        ----------
        batch : int
            Rows run side by side.

        Returns
        -------
        dict of str to numpy.ndarray
        """
        state = {}
        for l, u in enumerate(self.units):
            state[f"c{l}"] = np.zeros((batch, u), np.float32)
            state[f"h{l}"] = np.zeros((batch, u), np.float32)
        if self.attention_length:
            state["attention"] = np.zeros((batch, self.attention_size), np.float32)
            state["attention_state"] = np.zeros((batch, self.attention_size * self.attention_length), np.float32)
        return state

    def step(self, x: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One RNN step: ``x`` ``[B, C + D + A]`` float32 -> (logits ``[B, D]``, new state).

        Raises
        ------
        UsageError
            ``x`` is not ``[B, C + D + A]`` numbers, or ``state`` lacks a tensor of :meth:`initial_state` ``(B)``
            (the shapes ONNX Runtime refused in its own words).
        """
        width = self.spec.input_depth
        try:
            x = np.asarray(x, np.float32)
        except (TypeError, ValueError):
            x = None
        if x is None or x.ndim != 2 or x.shape[1] != width:
            raise UsageError(f"x must be float32 [batch, {width}] (controls, event one-hot, aux inputs), got "
                             f"{'no numbers' if x is None else list(x.shape)}")
        missing = [k for k in self._state_inputs if not isinstance(state, Mapping) or k not in state]
        if missing or any(np.shape(state[k])[:1] != (len(x),) for k in self._state_inputs):
            raise UsageError(f"state must be initial_state({len(x)}) or the state a step returned: tensors "
                             f"{', '.join(self._state_inputs)} of batch {len(x)}")
        feed = {"x": x}
        feed.update({k: state[k] for k in self._state_inputs})
        out = self.session.run(self._outputs, feed)
        new = {}
        logits = None
        for name, value in zip(self._outputs, out):
            if name == "logits":
                logits = value
            else:
                new[name[:-4]] = value  # strip "_out"
        return logits, new

    # -- generation ----------------------------------------------------------------------------------
    def encode(self, seq: NoteSequence) -> np.ndarray:
        """The primer tensor: the converter's ``[T, D]`` as float32.

        Raises
        ------
        ConverterError
            Not quantized per quarter, or what the converter rejects (pitch out of range, polyphony with
            ``ignorePolyphony: false``).
        """
        assert_relative_quantized(seq, "MusicRNN")
        return np.asarray(self.data_converter.to_tensor(seq), np.float32)

    def _check_chords(self, chord_progression):
        if self.chord_encoder is not None and not chord_progression:
            raise UsageError("this model is conditioned on chords: pass chord_progression (e.g. ['C', 'G', 'Am', "
                             "'F'])")
        if self.chord_encoder is None and chord_progression:
            raise UsageError("this model takes no chords: leave chord_progression out (chord_pitches_improv "
                             "takes them)")
        if isinstance(chord_progression, str):
            raise ChordError("chord_progression is a list of chord symbols, not one string: use "
                             "'C G Am F'.split()")

    def stream(self, temperature: float | None = None, rng=None,
               chords: Sequence[str] | Callable[[int], str] | None = None,
               steps_per_chord: int | None = None) -> "MusicRNNStream":
        """A step-wise generator for live use (see :class:`MusicRNNStream`): ``feed_sequence(primer)``, then
        ``sample()`` / ``take(n)`` draw event codes one step at a time, ``to_note_sequence(events)`` decodes them.

        Parameters
        ----------
        temperature : float, optional
            None or 0: argmax; else sampling from ``softmax(logits / temperature)``, (0, 100].
        rng : int, numpy.random.Generator or callable, optional
            Seed, generator, or a sampler ``f(probs) -> event code`` (as :meth:`continue_sequence`).
        chords : sequence of str or callable, optional
            For a chord-conditioned model: chord symbols, or ``step -> symbol``.
        steps_per_chord : int, optional
            Steps each chord of a list lasts (cycling).

        Returns
        -------
        MusicRNNStream

        Raises
        ------
        UsageError
            A bad temperature or rng, chords given to a model without them or missing for one.
        ChordError
            A chord symbol the encoder cannot encode.
        """
        return MusicRNNStream(self, temperature, rng, chords, steps_per_chord)

    def continue_sequence_and_return_probabilities(self, seq: NoteSequence, steps: int,
                                                   temperature: float | None = None,
                                                   chord_progression: Sequence[str] | None = None,
                                                   rng=None) -> Continuation:
        """magenta.js ``continueSequenceAndReturnProbabilities``.

        Parameters
        ----------
        seq : NoteSequence
            The primer, quantized per quarter (``seq.quantize(4)``), at least one step long. Not modified.
        steps : int
            New steps to generate (>= 1).
        temperature : float, optional
            None or 0: argmax. Otherwise sample from ``softmax(logits / temperature)``.
        chord_progression : list of str, optional
            Required exactly when the model is chord-conditioned (chord_pitches_improv); spread evenly over
            primer + new steps.
        rng : int, numpy.random.Generator or callable, optional
            Seed or generator of the draws, or a sampler ``f(probs) -> index`` (e.g.
            :class:`~tonehost.exports.tfjs.random.TfjsMultinomial`).

        Returns
        -------
        Continuation
            ``(sequence, probs)`` when unpacked; also ``.events``.

        Raises
        ------
        UsageError
            Chords given to a model without them or missing for one; ``steps`` not a whole number in 1 ..
            :data:`~tonehost.realtime.pipelines.limits.MAX_STEPS`; a negative temperature.
        ConverterError
            A primer the converter rejects, or an empty one.
        ChordError
            A chord symbol the encoder cannot encode.
        """
        self._check_chords(chord_progression)
        steps = check_steps(steps)  # a whole number 1 .. MAX_STEPS (NaN, 2.5, "8", 10**9 refused)
        primer = self.encode(seq)
        if primer.shape[0] == 0:
            raise ConverterError("the primer is empty (0 steps); give a sequence with at least one step")
        total = primer.shape[0] + steps
        chords = None
        if chord_progression:
            chords = list(chord_progression)
            self.chord_encoder.encode_progression(chords, total)  # validate all (magenta.js encodes them first)
        s = MusicRNNStream(self, temperature, rng, chords, total_steps=total)
        s.feed_tensor(primer)
        # magenta.js stops after drawing the last step: it is not fed back
        events = np.array([s.sample(feed=k < steps - 1) for k in range(steps)], dtype=np.int64)
        probs = np.stack(s.history_probs[-steps:]) if steps else np.zeros((0, self.event_depth), np.float32)
        oh = one_hot(events, self.event_depth)
        out = self.data_converter.to_note_sequence(oh, seq.quantization_info.steps_per_quarter)
        return Continuation(out, events, probs)

    def continue_sequence(self, seq: NoteSequence, steps: int, temperature: float | None = None,
                          chord_progression: Sequence[str] | None = None, rng=None) -> NoteSequence:
        """magenta.js ``continueSequence``: the ``steps`` new steps as a NoteSequence starting at step 0.

        Parameters
        ----------
        seq : NoteSequence
            The primer, quantized per quarter (``seq.quantize(4)``), at least one step long. Not modified.
        steps : int
            New steps (1 .. :data:`~tonehost.realtime.pipelines.limits.MAX_STEPS`; 4 per quarter note at
            ``quantize(4)``).
        temperature, chord_progression, rng :
            As :meth:`continue_sequence_and_return_probabilities`.

        Returns
        -------
        NoteSequence
            Quantized, the primer's steps per quarter, 120 qpm; its notes' ``quantized_start_step`` count from 0.

        Raises
        ------
        UsageError, ConverterError, ChordError
            As :meth:`continue_sequence_and_return_probabilities`.
        """
        return self.continue_sequence_and_return_probabilities(seq, steps, temperature, chord_progression,
                                                               rng).sequence


class MusicRNNStream:
    """Step-wise MusicRNN for live use: feed the events that happened, draw the next ones, one step at a time.

    The stream counts steps from 0. :meth:`feed` (or :meth:`feed_sequence`) runs one RNN step on the event of
    the current step; :meth:`sample` draws the current step's event from the last output and feeds it. A
    continuation is ``feed_sequence(primer)`` then ``sample()`` per new step, which is exactly what
    :meth:`MusicRNN.continue_sequence` does. Each step costs one ONNX Runtime call.

    Parameters
    ----------
    model : MusicRNN
    temperature : float, optional
        None or 0: argmax.
    rng : int, numpy.random.Generator or callable, optional
        See :meth:`MusicRNN.continue_sequence_and_return_probabilities`.
    chords : sequence of str or callable, optional
        For chord-conditioned models: a callable ``step -> chord symbol``, or a list of chords each lasting
        ``steps_per_chord`` steps (cycling), or, without ``steps_per_chord``, spread evenly over the steps of a
        :meth:`MusicRNN.continue_sequence` call.
    steps_per_chord : int, optional
    total_steps : int, optional
        The length a chord list without ``steps_per_chord`` is spread over (magenta.js: primer + new steps).
    """

    def __init__(self, model: MusicRNN, temperature=None, rng=None, chords=None, steps_per_chord=None,
                 total_steps: int | None = None):
        self.model = model
        self.temperature = check_temperature(temperature)
        self.sampler = _sampler(rng)
        if model.chord_encoder is not None and chords is None:
            raise UsageError("this model is conditioned on chords: pass chords (a list or a step -> chord "
                             "function)")
        if model.chord_encoder is None and chords is not None:
            raise UsageError("this model takes no chords")
        self._chords = chords
        self._steps_per_chord = steps_per_chord
        self._chord_cache: dict[str, np.ndarray] = {}
        self._total = total_steps
        self.reset()

    def reset(self) -> None:
        """Back to step 0 and zero state."""
        self.state = self.model.initial_state(1)
        self.t = 0
        self.logits: np.ndarray | None = None
        self.history_probs: list[np.ndarray] = []

    # -- inputs ----------------------------------------------------------------------------------------
    def chord_at(self, step: int) -> str | None:
        """The chord symbol of ``step`` (None for models without chords)."""
        c = self._chords
        if c is None:
            return None
        if callable(c):
            return c(step)
        if self._steps_per_chord:
            return c[(step // int(self._steps_per_chord)) % len(c)]
        if self._total is None:
            raise UsageError("a chord list without steps_per_chord is spread over a continuation's length; give "
                             "steps_per_chord for open-ended streaming")
        return c[(step * len(c)) // self._total]

    def _control(self, step: int) -> np.ndarray | None:
        chord = self.chord_at(step)
        if chord is None:
            return None
        enc = self._chord_cache.get(chord)
        if enc is None:
            enc = self._chord_cache[chord] = np.asarray(self.model.chord_encoder.encode(chord), np.float32)
        return enc

    def _input(self, event_row: np.ndarray) -> np.ndarray:
        parts = []
        ctrl = self._control(self.t + 1)
        if ctrl is not None:
            parts.append(ctrl)
        parts.append(np.asarray(event_row, np.float32).reshape(-1))
        for aux in self.model.spec.aux_inputs:
            parts.append(binary_counter_row(self.t, aux.depth))
        return np.concatenate(parts)[None, :]

    # -- stepping --------------------------------------------------------------------------------------
    def feed_row(self, event_row: np.ndarray) -> None:
        """Feed the current step's event as a ``[D]`` row (a one-hot, or any row of the converter's tensor)."""
        self.logits, self.state = self.model.step(self._input(event_row), self.state)
        self.t += 1

    def _event(self, event, what: str = "event") -> int:
        """``event`` as an int class index in ``0 .. D - 1``, else one UsageError naming ``what``."""
        from tonehost.dsp._checks import check_int

        try:
            return check_int(what, event, 0, self.model.event_depth - 1)
        except ValueError as exc:
            raise UsageError(f"{exc} (a class index of the model's {self.model.event_depth} events: the "
                             "converter's event codes)") from None

    def feed(self, event: int) -> None:
        """Feed the current step's event as a class index (e.g. a melody event code).

        Parameters
        ----------
        event : int
            0 .. :attr:`MusicRNN.event_depth` - 1.

        Raises
        ------
        UsageError
            ``event`` is not a whole number in that range (one out of range used to be fed as an all-zero row,
            1.5 as 1, without a word).
        """
        row = np.zeros(self.model.event_depth, np.float32)
        row[self._event(event)] = 1
        self.feed_row(row)

    def input_rows(self, tensor: np.ndarray) -> np.ndarray:
        """The model inputs ``[T, C + D + A]`` that feeding ``tensor`` from the current step would run (chord
        controls, the events, aux inputs), without running them."""
        t = self.t
        rows = []
        for row in np.asarray(tensor, np.float32):
            rows.append(self._input(row))
            self.t += 1
        self.t = t
        return np.concatenate(rows) if rows else np.zeros((0, self.model.spec.input_depth), np.float32)

    def feed_tensor(self, tensor: np.ndarray, cache: "PrefixCache | None" = None,
                    cancelled: Callable[[], bool] | None = None) -> bool:
        """Feed every row of a ``[T, D]`` converter tensor.

        With a ``cache`` (a stream at step 0 only), the rows that begin like inputs the cache ran before are not
        run again: their state is taken from the cache (a live phrase grows at its end, so only its new steps
        cost model calls). ``cancelled`` is asked between steps; when it says True, feeding stops and False is
        returned (the stream is then at an unspecified step: :meth:`reset` it).
        """
        tensor = np.asarray(tensor, np.float32)
        if cache is not None and self.t == 0 and len(tensor):
            rows = self.input_rows(tensor)
            got = cache.run(rows, cancelled)
            if got is None:
                return False
            self.logits, self.state = got
            self.t = len(tensor)
            return True
        for row in tensor:
            if cancelled is not None and cancelled():
                return False
            self.feed_row(row)
        return True

    def feed_sequence(self, seq: NoteSequence) -> None:
        """Feed a quantized sequence through the model's converter (a primer, or a phrase just played).

        Parameters
        ----------
        seq : NoteSequence
            Quantized per quarter (``seq.quantize(4)``).

        Raises
        ------
        ConverterError
            Not a NoteSequence, not quantized, or what the converter rejects (a pitch out of the model's range).
        """
        self.feed_tensor(self.model.encode(seq))

    def probabilities(self) -> np.ndarray:
        """``softmax(logits / temperature)`` (or of the logits) for the current step, float32 ``[D]``.

        Raises
        ------
        UsageError
            Nothing fed yet.
        """
        if self.logits is None:
            raise UsageError("feed at least one event (a primer) before sampling")
        logits = self.logits[0]
        if self.temperature is not None:
            logits = logits / np.float32(self.temperature)
        return softmax32(logits)

    def sample(self, feed: bool = True) -> int:
        """Draw the current step's event, feed it (unless ``feed`` is False: the last step of a fixed-length
        continuation), and return it.

        Raises
        ------
        UsageError
            Nothing fed yet; a sampler given as ``rng`` returned something else than a class index
            ``0 .. D - 1`` (10**6 used to be fed as a rest and decoded as nothing, "a" was int()'s ValueError).
        """
        probs = self.probabilities()
        if self.temperature is None:
            event = int(np.argmax(self.logits[0]))
        else:
            event = self._event(self.sampler(probs), "the event the sampler (rng) returned")
        self.history_probs.append(probs)
        if feed:
            self.feed(event)
        else:
            self.t += 1
            self.logits = None
        return event

    def take(self, n: int) -> list[int]:
        """:meth:`sample` ``n`` times.

        Parameters
        ----------
        n : int
            1 .. :data:`~tonehost.realtime.pipelines.limits.MAX_STEPS`.

        Returns
        -------
        list of int
            The event codes drawn (:meth:`to_note_sequence` decodes them).

        Raises
        ------
        UsageError
            A larger or bad ``n`` (as in :meth:`MusicRNN.continue_sequence`); nothing fed yet.
        """
        return [self.sample() for _ in range(check_steps(n, "n"))]

    def __iter__(self) -> Iterator[int]:
        while True:
            yield self.sample()

    def to_note_sequence(self, events: Sequence[int], steps_per_quarter: int = 4) -> NoteSequence:
        """Decode drawn events with the model's converter (from step 0).

        Parameters
        ----------
        events : sequence of int
            Class indices ``0 .. D - 1`` (what :meth:`sample` / :meth:`take` return), one per step.
        steps_per_quarter : int
            The grid written in the sequence (>= 1).

        Returns
        -------
        NoteSequence
            Quantized, from step 0.

        Raises
        ------
        UsageError
            An event outside ``0 .. D - 1`` or not a whole number (decoded as nothing, without a word), a bad
            ``steps_per_quarter`` (0 was written as the sequence's grid).
        """
        from tonehost.dsp._checks import check_int

        codes = np.asarray([self._event(e, f"events[{i}]") for i, e in enumerate(events)], np.int64)
        try:
            steps_per_quarter = check_int("steps_per_quarter", steps_per_quarter, 1, 1 << 20)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return self.model.data_converter.to_note_sequence(one_hot(codes, self.model.event_depth), steps_per_quarter)


class PrefixCache:
    """The states a MusicRNN went through from zero state, by input row, so that inputs beginning like ones run
    before resume from their longest common prefix.

    For live use: a phrase being played grows at its end; each time it is fed as a primer, only the steps after
    the first row that differs from the last primer cost model calls. Equal rows give equal states (the step is
    deterministic), so the result is exactly that of feeding all rows from zero state. Keeps the last run's
    rows, and the state and logits after each (at most ``max_steps``; a longer primer runs its tail uncached).

    Parameters
    ----------
    model : MusicRNN
    max_steps : int

    Attributes
    ----------
    fed : int
        Rows actually run by the last :meth:`run` (the rest came from the cache).
    """

    def __init__(self, model: MusicRNN, max_steps: int = 1024):
        self.model = model
        self.max_steps = int(max_steps)
        self._rows: list[np.ndarray] = []                  # the cached rows
        self._after: list[tuple[np.ndarray, dict]] = []   # (logits, state) after row i
        self.fed = 0

    @property
    def rows(self) -> np.ndarray:
        """The cached rows ``[n, input_depth]``."""
        if not self._rows:
            return np.zeros((0, self.model.spec.input_depth), np.float32)
        return np.concatenate(self._rows)

    def common_prefix(self, rows: np.ndarray) -> int:
        """How many leading rows of ``rows`` equal those of the last run."""
        n = min(len(rows), len(self._rows))
        if n == 0:
            return 0
        same = np.all(np.asarray(rows[:n]) == self.rows[:n], axis=1)
        return n if bool(same.all()) else int(np.argmin(same))

    def run(self, rows: np.ndarray, cancelled: Callable[[], bool] | None = None):
        """Feed ``rows`` ``[T, input_depth]`` (T >= 1) from zero state; return ``(logits, state)`` after the last
        one, or None when ``cancelled()`` said so between steps (what was run so far stays cached)."""
        rows = np.asarray(rows, np.float32)
        k = self.common_prefix(rows)
        kept = min(k, len(self._after))
        del self._rows[kept:]
        del self._after[kept:]
        if kept:
            logits, state = self._after[kept - 1]
        else:
            logits, state = None, self.model.initial_state(1)
        self.fed = 0
        for i in range(kept, len(rows)):
            if cancelled is not None and cancelled():
                return None
            logits, state = self.model.step(rows[i:i + 1], state)
            self.fed += 1
            if i < self.max_steps:
                self._after.append((logits, state))
                self._rows.append(rows[i:i + 1].copy())
        return logits, state
