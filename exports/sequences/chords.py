"""Chord symbols and chord encoders: magenta.js ``core/chords.ts`` with the ``tonal`` 2.2.2 chord parser.

Source: magenta-js v1.23.1 ``core/chords.ts`` and ``core/constants.ts``; ``tonal-note``, ``tonal-chord`` and
``tonal-dictionary`` 2.2.2 (the chord vocabulary, copied in :mod:`._tonal_chords`); MUSICGEN.md section 4.

Parsing (``tonal``): a symbol splits into a tonic and a chord type with the note regex
``^([a-gA-G]?)(#+|b+|x+|)(-?\\d*)\\s*(.*)$``; digits after the root are an *octave* unless they are 6, 64, 7, 9,
11 or 13 (``"C5"`` is a C major triad, ``"C-7"`` too: tonal reads ``-7`` as an octave). The type must be a name
or alias of the dictionary (``""``, ``m``, ``7``, ``maj7``, ``dim``, ``+``, ``sus4``, ``m7b5``, ...). Slash
chords (``"C/G"``) are not chords to tonal and raise. ``"N.C."`` is "no chord".

Encoders (``chordEncoderFromType``):

* :class:`PitchChordEncoder`, depth 37 (chord_pitches_improv): ``[no-chord flag, root one-hot (12), chord
  pitch classes multi-hot (12), bass one-hot (12) = the root]``; N.C. = ``[1, 0, ...]``; float32.
* :class:`MajorMinorChordEncoder`, depth 25: one-hot of ``0`` (N.C.) or ``1 + quality * 12 + root``, quality
  0 major, 1 minor; others raise. int32.
* :class:`TriadChordEncoder`, depth 49: the same with qualities major, minor, augmented, diminished. int32.

The quality is the unique triad among {1P 3M 5P}, {1P 3m 5P}, {1P 3M 5A}, {1P 3m 5d} whose intervals the
chord's intervals all contain (``C7`` is major, ``Cm7b5`` diminished, ``Csus4`` none: "other").
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from tonehost.exports.note_sequence import SequenceError
from tonehost.exports.sequences._tonal_chords import CHORDS

__all__ = ["NO_CHORD", "NUM_PITCH_CLASSES", "ChordError", "ChordSymbolError", "ChordEncodingError",
           "ChordQuality", "chord_root", "chord_pitches", "chord_quality", "chord_intervals", "ChordEncoder",
           "PitchChordEncoder", "MajorMinorChordEncoder", "TriadChordEncoder", "chord_encoder_from_type",
           "CHORD_ENCODERS", "parse_chord_progression"]

NO_CHORD = "N.C."
NUM_PITCH_CLASSES = 12


class ChordError(SequenceError):
    """A chord symbol that cannot be read or encoded."""


class ChordSymbolError(ChordError):
    """A chord symbol ``tonal`` does not recognise (magenta.js ``ChordSymbolException``)."""


class ChordEncodingError(ChordError):
    """A valid chord the encoder has no class for, e.g. a 7sus4 for the triad encoder (``ChordEncodingException``)."""


class ChordQuality:
    """magenta.js ``ChordQuality``."""

    MAJOR = 0
    MINOR = 1
    AUGMENTED = 2
    DIMINISHED = 3
    OTHER = 4


_QUALITY_INTERVALS = (("1P", "3M", "5P"), ("1P", "3m", "5P"), ("1P", "3M", "5A"), ("1P", "3m", "5d"))
_NOTE_RE = re.compile(r"^([a-gA-G]?)(#+|b+|x+|)(-?[0-9]*)\s*(.*)$")
_NUM_TYPES = re.compile(r"^(6|64|7|9|11|13)$")
_SEMI = (0, 2, 4, 5, 7, 9, 11)
_TYPES: dict[str, tuple[str, ...]] = {}
for _name, (_ivls, _aliases) in sorted(CHORDS.items()):  # tonal-dictionary: sorted keys, then their aliases
    for _n in (_name, *_aliases):
        _TYPES[_n] = tuple(_ivls.split(" "))
_HINT = "use symbols such as C, Am, F#m7, Bb7, Gsus4, Cdim or N.C."


def _note_tokens(s: str) -> tuple[str, str, str, str]:
    """``tonal-note`` ``tokenize``: ``[letter (upper case), accidentals (x -> ##), octave, rest]``."""
    m = _NOTE_RE.match(s)
    if m is None:  # JS: a line break makes the regex fail and magenta.js crash
        raise ChordSymbolError(f"unrecognized chord symbol {s!r}; {_HINT}")
    return m.group(1).upper(), m.group(2).replace("x", "##"), m.group(3), m.group(4)


def _tokenize(symbol: str) -> tuple[str, str]:
    """``tonal-chord`` ``tokenize``: ``(tonic, type)``."""
    p = _note_tokens(symbol)
    if p[0] == "":
        return "", symbol
    if p[0] == "A" and p[3] == "ug":
        return "", "aug"
    if _NUM_TYPES.match(p[2]):
        return p[0] + p[1], p[2] + p[3]
    return p[0] + p[1] + p[2], p[3]


def _chroma(note: str) -> int | None:
    letter, acc, _octave, rest = _note_tokens(note)
    if letter == "" or rest != "":
        return None
    alt = -len(acc) if acc.startswith("b") else len(acc)
    return (_SEMI[(ord(letter) + 3) % 7] + alt) % 12


def _interval_semitones(ivl: str) -> int:
    m = re.match(r"^(\d+)([PMmAd]+)$", ivl)
    num, q = int(m.group(1)), m.group(2)
    step, octave = (num - 1) % 7, (num - 1) // 7
    perfect = step in (0, 3, 4)
    if q in ("P", "M"):
        alt = 0
    elif q == "m":
        alt = -1
    elif q[0] == "A":
        alt = len(q)
    else:  # diminished
        alt = -len(q) if perfect else -len(q) - 1
    return _SEMI[step] + 12 * octave + alt


def _check_symbol(chord: object) -> str:
    if not isinstance(chord, str):
        raise ChordSymbolError(f"chord {chord!r} is not a string; {_HINT}")
    return chord


def chord_intervals(chord: str) -> tuple[str, ...]:
    """The chord type's intervals (``Chord.intervals``).

    Raises
    ------
    ChordSymbolError
        Unknown chord type.
    """
    _check_symbol(chord)
    ivls = _TYPES.get(_tokenize(chord)[1])
    if ivls is None:
        raise ChordSymbolError(f"unrecognized chord symbol {chord!r}; {_HINT}")
    return ivls


def chord_root(chord: str) -> int:
    """``ChordSymbols.root``: the root's pitch class (0 = C).

    Raises
    ------
    ChordSymbolError
        No root letter.
    """
    _check_symbol(chord)
    root = _tokenize(chord)[0]
    if not root:
        raise ChordSymbolError(f"chord symbol {chord!r} has no root note (A-G); {_HINT}")
    c = _chroma(root)
    if c is None:  # cannot happen for a tokenized root; kept for safety
        raise ChordSymbolError(f"chord symbol {chord!r} has an unknown root; {_HINT}")
    return c


def chord_pitches(chord: str) -> list[int]:
    """``ChordSymbols.pitches``: pitch classes of the chord's notes, in interval order (repeats kept).

    Raises
    ------
    ChordSymbolError
    """
    root = chord_root(chord)
    return [(root + _interval_semitones(i)) % 12 for i in chord_intervals(chord)]


def chord_quality(chord: str) -> int:
    """``ChordSymbols.quality``: a :class:`ChordQuality` value.

    Raises
    ------
    ChordSymbolError
    """
    ivls = chord_intervals(chord)
    matches = [i for i, q in enumerate(_QUALITY_INTERVALS) if all(x in ivls for x in q)]
    return matches[0] if len(matches) == 1 else ChordQuality.OTHER


class ChordEncoder:
    """Base of the chord encoders: ``encode(chord) -> [depth]``, ``encode_progression(chords, n) -> [n, depth]``.

    Attributes
    ----------
    depth : int
    dtype : numpy dtype
        Of the encodings (int32 for the one-hot encoders, float32 for the pitch encoder, as in magenta.js).
    """

    depth: int = 0
    dtype = np.int32

    def encode(self, chord: str) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def encoding_dtype(self, chord: str):
        """The dtype magenta.js gives ``encode(chord)`` (the pitch encoder's N.C. is an int32 one-hot, its
        chords float32)."""
        return self.dtype

    def encode_progression(self, chords: Sequence[str], num_steps: int, strict: bool = True) -> np.ndarray:
        """``encodeProgression``: step ``k`` gets chord ``floor(k * len(chords) / num_steps)`` (the chords spread
        evenly). Every chord is encoded first, so a bad one raises even where unused.

        Parameters
        ----------
        chords : sequence of str
            At least one.
        num_steps : int
            At least one.
        strict : bool
            Raise where magenta.js's ``tf.stack`` does: :class:`PitchChordEncoder` with ``N.C.`` *and* chords
            among the steps (its N.C. encoding is int32, its chords float32). False encodes those too.

        Returns
        -------
        numpy.ndarray
            ``[num_steps, depth]``.

        Raises
        ------
        ChordError
            A bad chord, or no chords.
        """
        if isinstance(chords, str):
            raise ChordSymbolError("the chord progression must be a list of chord symbols, not one string; "
                                   "split it, e.g. 'C G Am F'.split()")
        encoded = [self.encode(c) for c in chords]
        if not encoded:
            raise ChordError("the chord progression is empty; give at least one chord (or 'N.C.')")
        if num_steps < 1:
            raise ChordError(f"cannot spread a chord progression over {num_steps} steps")
        idx = [(k * len(encoded)) // num_steps for k in range(int(num_steps))]
        if strict and len({np.dtype(self.encoding_dtype(chords[i])) for i in set(idx)}) > 1:
            raise ChordEncodingError(
                f"{type(self).__name__} cannot mix 'N.C.' with chords in one progression ({list(chords)}): "
                "magenta.js fails there (tf.stack of int32 and float32); replace N.C. by a chord")
        return np.stack([encoded[i] for i in idx]).astype(self.encoding_dtype(chords[idx[0]]))


class _IndexChordEncoder(ChordEncoder):
    _kind = ""

    def index(self, chord: str) -> int:
        """0 for N.C., else ``1 + quality * 12 + root``.

        Raises
        ------
        ChordSymbolError, ChordEncodingError
        """
        if chord == NO_CHORD:
            return 0
        root = chord_root(chord)
        quality = chord_quality(chord)
        i = 1 + quality * NUM_PITCH_CLASSES + root
        if i >= self.depth:
            raise ChordEncodingError(f"chord {chord!r} is not {self._kind}; this model knows only those chords")
        return i

    def encode(self, chord: str) -> np.ndarray:
        """int32 one-hot of :meth:`index`."""
        out = np.zeros(self.depth, np.int32)
        out[self.index(chord)] = 1
        return out


class MajorMinorChordEncoder(_IndexChordEncoder):
    """``MajorMinorChordEncoder``: depth 25 (N.C., 12 major, 12 minor)."""

    depth = 1 + 2 * NUM_PITCH_CLASSES
    _kind = "a major or minor chord"


class TriadChordEncoder(_IndexChordEncoder):
    """``TriadChordEncoder``: depth 49 (N.C., 12 each of major, minor, augmented, diminished)."""

    depth = 1 + 4 * NUM_PITCH_CLASSES
    _kind = "a major, minor, augmented or diminished triad"


class PitchChordEncoder(ChordEncoder):
    """``PitchChordEncoder``: depth 37, float32 ``[N.C. flag, root (12), pitch classes (12), bass = root (12)]``."""

    depth = 1 + 3 * NUM_PITCH_CLASSES
    dtype = np.float32

    def encoding_dtype(self, chord: str):
        """int32 for ``N.C.`` (magenta.js one-hots it), float32 for chords."""
        return np.int32 if chord == NO_CHORD else np.float32

    def encode(self, chord: str) -> np.ndarray:
        """The 37-vector of ``chord``.

        Raises
        ------
        ChordSymbolError
        """
        out = np.zeros(self.depth, np.float32)
        if chord == NO_CHORD:
            out[0] = 1
            return out
        root = chord_root(chord)
        out[1 + root] = 1
        for p in chord_pitches(chord):
            out[1 + NUM_PITCH_CLASSES + p] = 1
        out[1 + 2 * NUM_PITCH_CLASSES + root] = 1
        return out


#: ``chordEncoder`` names of config.json -> class.
CHORD_ENCODERS = {"MajorMinorChordEncoder": MajorMinorChordEncoder, "TriadChordEncoder": TriadChordEncoder,
                  "PitchChordEncoder": PitchChordEncoder}


def chord_encoder_from_type(name: str) -> ChordEncoder:
    """``chordEncoderFromType``.

    Raises
    ------
    ChordError
        Unknown encoder name.
    """
    try:
        return CHORD_ENCODERS[name]()
    except (KeyError, TypeError):
        raise ChordError(f"unknown chord encoder {name!r} (known: {', '.join(CHORD_ENCODERS)})") from None


def parse_chord_progression(text: str | Sequence[str], encoder: ChordEncoder | None = None) -> list[str]:
    """Chord symbols from a string (``"C G Am F"``, commas or bars ``|`` also separate) or a list, each checked
    with ``encoder`` (default: the symbol must parse) so that a typo fails here with its name.

    Raises
    ------
    ChordError
        Empty, or a symbol that does not parse or encode.
    """
    chords = re.split(r"[\s,|]+", text.strip()) if isinstance(text, str) else list(text)
    chords = [c for c in chords if c != ""]
    if not chords:
        raise ChordError(f"no chords in {text!r}; give symbols such as 'C G Am F'")
    for c in chords:
        if encoder is not None:
            encoder.encode(c)
        elif c != NO_CHORD:
            chord_pitches(c)
    return chords
