"""The sequence layer of MusicRNN and MusicVAE: magenta.js 1.23.1's data converters, chord encoders and aux inputs.

Everything here turns a quantized :class:`~tonehost.exports.note_sequence.NoteSequence` into the ``[steps, depth]``
array a model reads, and a model's output back into a NoteSequence, exactly as ``@magenta/music`` 1.23.1 does
(``core/data.ts``, ``melodies.ts``, ``performance.ts``, ``chords.ts``, ``aux_inputs.ts``; MUSICGEN.md section
4), quirks included; the Node parity tests (``tests/exports/test_sequences_node.py``) run both on the same
inputs. Arrays are numpy (int32 one-hots, float32 elsewhere, as magenta.js's tensors).

Converters (all :class:`DataConverter`: ``to_tensor(seq)``, ``to_note_sequence(tensor, steps_per_quarter=None,
qpm=None)``, ``depth``, ``num_steps``, ``num_segments``, ``num_splits``, ``segmented_by_track``)::

    MelodyConverter, MelodyRhythmConverter, MelodyShapeConverter   (melody.py)
    DrumsConverter, DrumRollConverter, DrumsOneHotConverter        (drums.py)
    TrioConverter, TrioRhythmConverter                             (trio.py)
    MultitrackConverter (+ Performance, performance.py)            (multitrack.py)
    GrooveConverter                                                (groove.py)
    converter_from_spec({"type": ..., "args": {...}})               (spec.py, config.json's dataConverter)

Chords (chords.py): ``PitchChordEncoder`` (37), ``MajorMinorChordEncoder`` (25), ``TriadChordEncoder`` (49),
``chord_encoder_from_type(name)``, ``encode_progression(chords, n)``, ``parse_chord_progression("C G Am F")``.
Aux inputs (aux_inputs.py): ``BinaryCounter(num_bits)``, ``aux_input_from_spec(spec)``.

Errors: :class:`ConverterError` (and :class:`~.melody.PolyphonyError`, :class:`~.melody.PitchRangeError`) and
:class:`~.chords.ChordError` (``ChordSymbolError``, ``ChordEncodingError``), all
:class:`~tonehost.exports.note_sequence.SequenceError`, hence :class:`~tonehost.exports.errors.TonehostError`.

One deliberate difference: decoded notes carry tonehost's default velocity (100) where magenta.js leaves the
field unset (0), so a decoded sequence written as MIDI is audible. Velocities magenta.js does set (multitrack
velocity bins, groove) are the same.
"""
from __future__ import annotations

from tonehost.exports.sequences.aux_inputs import BinaryCounter, aux_input_from_spec, binary_counter_row
from tonehost.exports.sequences.base import (DEFAULT_STEPS_PER_QUARTER, ConverterError, DataConverter, js_sort,
                                             one_hot, quantized_sequence)
from tonehost.exports.sequences.chords import (CHORD_ENCODERS, NO_CHORD, ChordEncoder, ChordEncodingError,
                                               ChordError, ChordSymbolError, MajorMinorChordEncoder,
                                               PitchChordEncoder, TriadChordEncoder, chord_encoder_from_type,
                                               chord_pitches, chord_quality, chord_root, parse_chord_progression)
from tonehost.exports.sequences.drums import (DEFAULT_DRUM_PITCH_CLASSES, DrumRollConverter, DrumsConverter,
                                              DrumsOneHotConverter)
from tonehost.exports.sequences.groove import GrooveConverter
from tonehost.exports.sequences.melody import (FIRST_PITCH, NO_EVENT, NOTE_OFF, Melody, MelodyConverter,
                                               MelodyRhythmConverter, MelodyShapeConverter, PitchRangeError,
                                               PolyphonyError)
from tonehost.exports.sequences.multitrack import MultitrackConverter
from tonehost.exports.sequences.performance import Performance
from tonehost.exports.sequences.spec import CONVERTERS, converter_from_spec
from tonehost.exports.sequences.trio import TrioConverter, TrioRhythmConverter

__all__ = [
    "DataConverter", "ConverterError", "PolyphonyError", "PitchRangeError", "converter_from_spec", "CONVERTERS",
    "Melody", "MelodyConverter", "MelodyRhythmConverter", "MelodyShapeConverter", "NO_EVENT", "NOTE_OFF",
    "FIRST_PITCH", "DrumsConverter", "DrumRollConverter", "DrumsOneHotConverter", "DEFAULT_DRUM_PITCH_CLASSES",
    "TrioConverter", "TrioRhythmConverter", "MultitrackConverter", "Performance", "GrooveConverter",
    "ChordEncoder", "PitchChordEncoder", "MajorMinorChordEncoder", "TriadChordEncoder", "chord_encoder_from_type",
    "CHORD_ENCODERS", "NO_CHORD", "ChordError", "ChordSymbolError", "ChordEncodingError", "chord_root",
    "chord_pitches", "chord_quality", "parse_chord_progression", "BinaryCounter", "aux_input_from_spec",
    "binary_counter_row", "one_hot", "js_sort", "quantized_sequence", "DEFAULT_STEPS_PER_QUARTER",
]
