"""tonehost: a real-time audio plugin-host backend for Magenta's model checkpoints.

Hum into a mic and hear a violin; transcribe piano as it is played; measure where every millisecond goes. Models
run on ONNX Runtime, synthesis and analysis in Numba kernels, audio through a GIL-free PortAudio callback.

The API map (everything here is importable as ``tonehost.NAME``)
-----------------------------------------------------------------
Models, in the shape of magenta.js's classes:

- :class:`OnsetsAndFrames` (``checkpoint=None``) -- piano transcription: ``.transcribe(audio, sample_rate)`` ->
  :class:`NoteSequence` (``audio`` ``[n]`` or ``[n, channels]``, any int or float dtype, 1 kHz .. 1 MHz);
  ``.transcribe_file(path)``; ``.stream(sample_rate, max_chunk=8)`` -> a :class:`TranscriptionStream`:
  ``push(block) -> events`` (note-ons/offs, ``time`` in seconds), ``finish()``, ``note_sequence``.
- :class:`DDSP` (``checkpoint=None, instrument="violin"``) -- an instrument:
  ``.synthesize(f0_hz, loudness_db)`` -> audio; ``.render(voice_audio, sample_rate)`` -> audio.
- :func:`track_pitch` (``audio, sample_rate``) -> ``(times, f0_hz, confidence)``: the live f0 tracker.
- :class:`MusicRNN` (``checkpoint=None, spec=None``) -- melody/drum continuation: the shipped melody model
  ``basic_rnn_folk`` (basic_rnn's format, works offline) or a hosted basic_rnn, melody_rnn, drum_kit_rnn,
  chord_pitches_improv: ``.continue_sequence(seq, steps, temperature=None,
  chord_progression=None, rng=None)`` -> :class:`NoteSequence` of the new steps; ``.stream(...)`` -> a step-wise
  generator for live use (``feed_sequence``, ``sample``, ``take`` -> event codes, ``to_note_sequence``).
- :class:`MusicVAE` (``checkpoint=None, seed=None``) -- the shipped 2-bar melody model ``mel_2bar_folk``
  (mel_2bar_small's format, works offline) or any of the 25 hosted MusicVAE checkpoints (melody, drums, NADE
  drums, chords, 16-bar, trio, multitrack, GrooVAE): ``.encode(seqs, chord_progression=None,
  key=None)`` -> z ``[n, Z]``; ``.decode(z, temperature=None)`` -> [:class:`NoteSequence`];
  ``.sample(n, temperature=0.5)``; ``.interpolate(seqs, n_interps)`` (2 or 4 corners); ``.similar(seq, n,
  similarity)``; ``.groove(drums)`` (GrooVAE over any length, window by window).

Randomness: ``seed=`` / ``rng=`` take None (fresh entropy), a whole number >= 0 or a ``numpy.random.Generator``;
the same seed gives the same result. Sizes are capped (:mod:`tonehost.realtime.pipelines.limits`: 4096 MusicRNN
steps, 1000 MusicVAE sequences a call).

Data:

- :class:`NoteSequence`, :class:`Note` -- magenta.js's fields (``pitch``, ``velocity``, ``start_time``,
  ``end_time`` in seconds, ``quantized_start_step``, ...); ``from_midi``/``to_midi``, ``from_pretty_midi``/
  ``to_pretty_midi``, ``to_json``/``from_json`` (magenta.js's camelCase, or the proto field names), ``quantize``,
  ``unquantize``.
- :func:`read_audio` (``path, mono=True``) -> ``(samples, sample_rate)``: float32 ``[n]`` (or ``[n, channels]``
  with ``mono=False``) and Hz.

Checkpoints: :mod:`checkpoints` -- ``list()``, ``info(id)``, ``fetch(id)`` (as ``tonehost checkpoints``).

Live audio: :class:`Engine`, :class:`EngineConfig` (every field checked when made; see its help) -- a full-duplex
stream whose callback never takes the GIL; workers read input (``read_input``), write output (``write_output``) or
push synth control frames (``push_frame``); ``stats()`` counts every xrun, drop and underrun.

Errors: every failure a user can fix is a :class:`TonehostError` (one sentence naming the file, device or
argument and the fix); subclasses in :mod:`tonehost.exports.errors` (``UsageError`` for an argument of the wrong
kind or range, ``AudioFileError``, ``DeviceError``, ``ModelError``, ``CheckpointError``; a NoteSequence's own
``SequenceError``). Arguments are checked before a model loads or a download starts.

The packages
------------
- :mod:`tonehost.dsp` -- pure numeric kernels (synthesizers, resampling, mel, YIN, loudness, the voice tracker).
- :mod:`tonehost.exports` -- model files in and out: the checkpoint index and downloader, tfjs/tflite readers,
  ONNX converters, model contracts, the ONNX session factory, NoteSequence and ``sequences`` (magenta.js's data
  converters and chord encoders); ``training`` (torch) apart.
- :mod:`tonehost.realtime` -- the engine and audio I/O, the pipelines (instrument, transcriber), MIDI, the CLI.

Imports point one way: ``realtime -> exports -> dsp``. Names below load on first use, so ``import tonehost`` is
quick and pulls in neither ONNX Runtime nor PortAudio.
"""
from __future__ import annotations

import importlib

__version__ = "0.2.0"

_EXPORTS = {
    "OnsetsAndFrames": "tonehost.realtime.pipelines.transcriber",
    "TranscriptionStream": "tonehost.realtime.pipelines.transcriber",
    "DDSP": "tonehost.realtime.pipelines.instrument",
    "MusicRNN": "tonehost.realtime.pipelines.music_rnn",
    "MusicVAE": "tonehost.realtime.pipelines.music_vae",
    "track_pitch": "tonehost.dsp.features",
    "NoteSequence": "tonehost.exports.note_sequence",
    "Note": "tonehost.exports.note_sequence",
    "read_audio": "tonehost.realtime.io",
    "Engine": "tonehost.realtime.audio.engine",
    "EngineConfig": "tonehost.realtime.audio.engine",
    "TonehostError": "tonehost.exports.errors",
}
_MODULES = {"checkpoints": "tonehost.exports.checkpoints"}

__all__ = ["__version__", "checkpoints", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        raise AttributeError(f"module 'tonehost' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    # (not the module's own plumbing: the ``annotations`` future flag and ``importlib``)
    return sorted((set(globals()) - {"annotations", "importlib"}) | set(__all__))
