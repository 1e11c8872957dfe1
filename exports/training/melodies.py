"""Monophonic melodies from music21's corpus, in magenta.js's melody encoding: the data of the shipped melody models.

The corpus (``pip install 'tonehost[train]'`` installs music21) holds folk-tune collections in ABC and Bach's
chorales in MusicXML. :func:`extract_corpus` turns them into :class:`Tune` s (one voice, notes on a grid of
``STEPS_PER_QUARTER`` = 4 steps per quarter, bar lines kept):

- ABC collections (:data:`ABC_COLLECTIONS`: the Essen folk songs, O'Neill's 1850, Ryan's Mammoth, Aird's airs,
  the Nottingham tunes, misc. folk): music21's own ABC tokenizer (:class:`music21.abcFormat.ABCHandler`, which
  applies keys, accidentals, default lengths, broken rhythms and tuplets) read token by token -- the notes that
  ``music21.converter.parse`` would put in the score, at a 40th of its cost (building the score objects is what
  takes the time: ~0.12 s per tune against ~6 ms). Ties are merged, grace notes dropped, of a chord the top note
  kept, repeats left as written, and tunes with several voices (``V:``) keep the first.
  :func:`stream_melody` is the slow reference through the score; ``tests/exports/test_melody_data.py`` checks the
  two agree;
- the chorales (``bach/*.mxl`` with a part named Soprano): the soprano line, through the score.

Each tune's notes are timed at 120 qpm (a quarter = 0.5 s) and quantized by the rule of
:meth:`~tonehost.exports.note_sequence.NoteSequence.quantize` (4 steps per quarter, magenta.js's
``quantizeToStep``, a zero-length note lengthened to one step) and stored as quantized notes. Models read it through the sequence layer's
:class:`~tonehost.exports.sequences.MelodyConverter`: :func:`rnn_events` (the basic_rnn range 48..83, the tune
moved by whole octaves into it) and :func:`vae_windows` (2-bar windows of 32 steps in the mel_2bar range 21..108).

The split (:func:`make_split`) is by piece and seeded: tunes whose first notes have the same intervals and
rhythm (the same tune in two collections, a chorale melody harmonised twice) form one group and land in the same
part, so no test melody is a training melody in another key. It is written to ``recipes/melody_split.json``.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from tonehost.exports.errors import UsageError
from tonehost.exports.note_sequence import NoteSequence, TimeSignature, quantize_to_step
from tonehost.exports.paths import atomic_output

__all__ = ["STEPS_PER_QUARTER", "ABC_COLLECTIONS", "CHORALE_COLLECTION", "RNN_MIN_PITCH", "RNN_MAX_PITCH",
           "VAE_MIN_PITCH", "VAE_MAX_PITCH", "VAE_STEPS", "SPLIT_PATH", "Tune", "corpus_root", "abc_tunes",
           "chorale_tunes", "stream_melody", "extract_corpus", "melody_key", "make_split", "load_split",
           "save_tunes", "load_tunes", "split_tunes", "rnn_events", "octave_shift", "vae_windows",
           "transpositions", "CORPUS_PATTERNS", "DATA_VERSION", "cached_tunes"]

#: Bumped when the extraction changes (it keys the cache of :func:`cached_tunes`).
DATA_VERSION = 2
#: The grid of every model here (sixteenth notes).
STEPS_PER_QUARTER = 4
#: basic_rnn's range (config.json ``MelodyConverter {minPitch 48, maxPitch 83}``): 38 classes.
RNN_MIN_PITCH, RNN_MAX_PITCH = 48, 83
#: mel_2bar_small's range (``MelodyConverter {numSteps 32, minPitch 21, maxPitch 108}``): 90 classes.
VAE_MIN_PITCH, VAE_MAX_PITCH = 21, 108
#: 2 bars of 4/4 at 4 steps per quarter.
VAE_STEPS = 32
#: ABC folk-tune collections of music21's corpus (folder names); the Essen test files are left out.
ABC_COLLECTIONS = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "nottingham-dataset", "miscFolk")
#: Bach's chorales (soprano lines).
CHORALE_COLLECTION = "bach"
#: Files of the corpus read per collection (globs relative to the corpus root).
CORPUS_PATTERNS = {**{c: f"{c}/*.abc" for c in ABC_COLLECTIONS}, CHORALE_COLLECTION: "bach/*.mxl"}
#: The committed split (piece ids per part), beside the recipes.
SPLIT_PATH = Path(__file__).resolve().parent / "recipes" / "melody_split.json"


@dataclass
class Tune:
    """One monophonic melody on the 4-steps-per-quarter grid.

    Attributes
    ----------
    piece_id : str
        ``collection/file.abc#X`` (the ABC reference number) or ``bach/bwvN.M.mxl``.
    notes : numpy.ndarray
        int32 ``[n, 3]``: MIDI pitch, quantized start step, quantized end step (sorted by start, higher pitch
        first; what :meth:`NoteSequence.quantize` gives, so two notes may share a start step when a grace or a fast
        tuplet rounds onto its neighbour -- the converter keeps the higher, as magenta.js does).
    total_steps : int
        ``total_quantized_steps`` of the quantized sequence.
    bars : numpy.ndarray
        int32 steps at which a bar starts (0 included when the tune starts on a downbeat; a pickup's bar lines
        after it).
    meter : str
        ``"4/4"``, ``"6/8"``, ... (the first one).
    title : str
    """

    piece_id: str
    notes: np.ndarray
    total_steps: int
    bars: np.ndarray
    meter: str = "4/4"
    title: str = ""

    def note_sequence(self, transpose: int = 0) -> NoteSequence:
        """The tune as a quantized NoteSequence (4 steps per quarter, 120 qpm), moved by ``transpose``
        semitones."""
        from tonehost.exports.note_sequence import Note, QuantizationInfo, Tempo

        seq = NoteSequence()
        seq.quantization_info = QuantizationInfo(steps_per_quarter=STEPS_PER_QUARTER)
        seq.tempos = [Tempo(0.0, 120.0)]
        num, den = (int(x) for x in self.meter.split("/"))
        seq.time_signatures = [TimeSignature(0.0, num, den)]
        step_s = 60.0 / 120.0 / STEPS_PER_QUARTER
        for p, s, e in self.notes.tolist():
            seq.notes.append(Note(pitch=p + transpose, velocity=100, start_time=s * step_s, end_time=e * step_s,
                                  quantized_start_step=s, quantized_end_step=e))
        seq.total_quantized_steps = int(self.total_steps)
        seq.total_time = self.total_steps * step_s
        return seq


# ------------------------------------------------------------------------------------------ the corpus

def corpus_root() -> Path:
    """music21's corpus folder.

    Raises
    ------
    UsageError
        music21 is not installed (``pip install 'tonehost[train]'``).
    """
    try:
        from music21 import corpus
    except ImportError:
        raise UsageError("the melody data comes from music21's corpus: pip install 'tonehost[train]' (or "
                         "music21)") from None
    return Path(corpus.__file__).resolve().parent


def _quarters(tok) -> Fraction:
    ql = Fraction(tok.quarterLength).limit_denominator(10000)
    if tok.activeTuplet is not None:  # translate.parseABCNote appends the tuplet to the duration
        ql *= Fraction(tok.activeTuplet.tupletMultiplier()).limit_denominator(10000)
    return ql


def _meter(meter: str) -> str:
    meter = meter.strip()
    return {"C": "4/4", "C|": "2/2"}.get(meter, meter)


def _measure_quarters(meter: str) -> Fraction | None:
    try:
        num, den = (int(x) for x in meter.split("/"))
        return Fraction(4 * num, den)
    except (ValueError, ZeroDivisionError):
        return None


_MIDI: dict[str, int] = {}


def _midi(name: str) -> int:
    m = _MIDI.get(name)
    if m is None:
        from music21 import pitch

        m = _MIDI[name] = int(pitch.Pitch(name).midi)
    return m


def _token_melody(tokens) -> tuple[list[tuple[int, Fraction, Fraction]], list[Fraction], str, str]:
    """(notes as (midi, onset, duration) in quarters, bar-line offsets, meter, title) from processed tokens."""
    from music21.abcFormat import ABCBar, ABCChord, ABCMetadata, ABCNote

    notes: list[list] = []
    bars: list[Fraction] = []
    meter, title = "", ""
    t = Fraction(0)
    for tok in tokens:
        if isinstance(tok, ABCMetadata):
            if tok.tag == "M" and not meter:
                meter = _meter(tok.data)
            elif tok.tag == "T" and not title:
                title = tok.data.strip()
            continue
        if isinstance(tok, ABCBar):
            if t > 0 and (not bars or bars[-1] != t):
                bars.append(t)
            continue
        if not isinstance(tok, ABCNote) or tok.inGrace:
            continue
        dur = _quarters(tok)
        if isinstance(tok, ABCChord):
            names = [s.pitchName for s in tok.subTokens if isinstance(s, ABCNote) and s.pitchName]
            if not names:
                continue
            midi = max(_midi(n) for n in names)
        elif tok.isRest:
            t += dur
            continue
        else:
            midi = _midi(tok.pitchName)
        prev = notes[-1] if notes else None
        if tok.tie in ("stop", "continue") and prev is not None and prev[0] == midi and prev[1] + prev[2] == t:
            prev[2] += dur  # tied on: one longer note
        else:
            notes.append([midi, t, dur])
        t += dur
    return [tuple(n) for n in notes], bars, meter or "4/4", title


def _tune(piece_id: str, notes, bars, meter: str, title: str) -> Tune | None:
    """Quantize (onset, duration in quarters) notes through NoteSequence.quantize into a Tune."""
    if not notes:
        return None
    mq = _measure_quarters(meter)
    if mq is None or mq <= 0:
        meter, mq = "4/4", Fraction(4)
    num, den = (int(x) for x in meter.split("/"))
    if den & (den - 1):
        meter, num, den = "4/4", 4, 4
    # NoteSequence.quantize's rule (magenta.js quantizeNoteSequence) on the times at 120 qpm, without its deep copy
    sps = STEPS_PER_QUARTER * 120.0 / 60.0
    rows, total_time = [], 0.0
    for midi, onset, dur in notes:
        if dur <= 0:
            continue
        start, end = float(onset) * 0.5, float(onset + dur) * 0.5
        s, e = quantize_to_step(start, sps), quantize_to_step(end, sps)
        rows.append((midi, s, e + 1 if e == s else e))
        total_time = max(total_time, end)
    if not rows:
        return None
    arr = np.array(rows, np.int32)
    total = max(quantize_to_step(total_time, sps), int(arr[:, 2].max()))
    arr = arr[np.lexsort((-arr[:, 0], arr[:, 1]))]
    marks = sorted(set(bars))
    if marks and marks[0] == mq or not marks:
        marks = [Fraction(0)] + marks  # no pickup: the tune starts on a downbeat
    filled = []
    for a, b in zip(marks, marks[1:] + [None]):
        filled.append(a)
        if b is not None and (b - a) > mq and (b - a) % mq == 0:  # a bar line left out (Essen: at line ends)
            filled.extend(a + k * mq for k in range(1, int((b - a) / mq)))
    # a bar line at (or after) the end starts no music
    bar_steps = sorted(b for b in {int(round(float(m) * STEPS_PER_QUARTER)) for m in filled} if b < total)
    return Tune(piece_id, arr, int(total), np.asarray(bar_steps, np.int32), meter, title)


def abc_tunes(path: str | os.PathLike, piece_prefix: str | None = None, numbers: Iterable[int] | None = None
              ) -> Iterator[Tune]:
    """The tunes of one ABC file (read with music21's tokenizer; see the module docstring).

    Parameters
    ----------
    path : path
        An ``.abc`` file (one or many tunes, ``X:`` reference numbers).
    piece_prefix : str, optional
        The id prefix (default ``<parent folder>/<file name>``); ids are ``PREFIX#X``.
    numbers : iterable of int, optional
        Only these reference numbers.

    Yields
    ------
    Tune
        In the file's order; tunes without notes are skipped.
    """
    from music21.abcFormat import ABCHandler

    path = Path(path)
    prefix = piece_prefix or f"{path.parent.name}/{path.name}"
    wanted = None if numbers is None else set(int(n) for n in numbers)
    handler = ABCHandler()
    handler.process(path.read_text(encoding="latin-1"))
    for number, tune in handler.splitByReferenceNumber().items():
        if wanted is not None and number not in wanted:
            continue
        voices = tune.splitByVoice()
        tokens = voices[1].tokens if len(voices) > 1 else tune.tokens
        header = [t for t in tune.tokens if type(t).__name__ == "ABCMetadata"]
        notes, bars, meter, title = _token_melody(header + [t for t in tokens if type(t).__name__ != "ABCMetadata"])
        out = _tune(f"{prefix}#{number}", notes, bars, meter, title)
        if out is not None:
            yield out


def stream_melody(score) -> tuple[list[tuple[int, Fraction, Fraction]], list[Fraction], str]:
    """The reference path: (midi, onset, duration) in quarters of a music21 score's first part (ties stripped,
    grace notes dropped, the top note of chords), its bar-line offsets and meter."""
    from music21 import chord, meter as m21meter, stream

    part = score.parts[0] if hasattr(score, "parts") and len(score.parts) else score
    flat = part.flatten().stripTies()
    notes = []
    for n in flat.notes:
        if n.duration.isGrace or n.quarterLength == 0:
            continue
        midi = max(p.midi for p in n.pitches) if isinstance(n, chord.Chord) else n.pitch.midi
        notes.append((int(midi), Fraction(n.offset).limit_denominator(10000),
                      Fraction(n.quarterLength).limit_denominator(10000)))
    bars = []
    measures = list(part.getElementsByClass(stream.Measure))
    for m in measures[1:]:
        bars.append(Fraction(m.offset).limit_denominator(10000))
    ts = flat.getElementsByClass(m21meter.TimeSignature)
    meter = ts[0].ratioString if len(ts) else "4/4"
    return notes, bars, meter


def chorale_tunes(paths: Sequence[str | os.PathLike]) -> Iterator[Tune]:
    """The soprano lines of Bach chorales (MusicXML files with a part named Soprano; others are skipped)."""
    from music21 import converter

    for p in paths:
        p = Path(p)
        try:
            score = converter.parse(str(p))
        except Exception:  # noqa: BLE001 -- a corpus file music21 cannot read is skipped, not fatal
            continue
        sop = [part for part in score.parts if (part.partName or "").strip().lower() == "soprano"]
        if not sop or len(score.parts) < 4:
            continue
        notes, bars, meter = stream_melody(sop[0])
        title = score.metadata.title if score.metadata is not None and score.metadata.title else p.stem
        out = _tune(f"{p.parent.name}/{p.name}", notes, bars, meter, title)
        if out is not None:
            yield out


def extract_corpus(collections: Sequence[str] | None = None, progress: bool = True) -> list[Tune]:
    """Every melody of the chosen collections of music21's corpus.

    Parameters
    ----------
    collections : sequence of str, optional
        Keys of :data:`CORPUS_PATTERNS` (default: all of them).
    progress : bool
        A tqdm bar over the files.

    Returns
    -------
    list of Tune
        In a fixed order (collection, file name, reference number).

    Raises
    ------
    UsageError
        music21 missing, or an unknown collection.
    """
    from tqdm import tqdm

    root = corpus_root()
    names = list(collections or CORPUS_PATTERNS)
    bad = [c for c in names if c not in CORPUS_PATTERNS]
    if bad:
        raise UsageError(f"unknown corpus collection {bad[0]!r}; choose from {', '.join(CORPUS_PATTERNS)}")
    files = []
    for c in names:
        for f in sorted(root.glob(CORPUS_PATTERNS[c])):
            if c == "essenFolksong" and f.name.startswith("test"):
                continue  # music21's parser tests, not songs
            files.append((c, f))
    tunes: list[Tune] = []
    for c, f in tqdm(files, desc="music21 corpus", unit="file", disable=not progress, mininterval=2.0):
        if c == CHORALE_COLLECTION:
            tunes.extend(chorale_tunes([f]))
        else:
            tunes.extend(abc_tunes(f))
    return tunes


# ------------------------------------------------------------------------------------------------ split

def melody_key(tune: Tune, n_notes: int = 24) -> str:
    """A transposition-invariant key of a tune's start: its first ``n_notes`` intervals and step durations
    (tunes sharing it are one group in the split)."""
    notes = tune.notes[:n_notes]
    if len(notes) == 0:
        return "empty"
    iv = np.diff(notes[:, 0]).tolist()
    dur = (notes[:, 2] - notes[:, 1]).tolist()
    return hashlib.sha1(json.dumps([iv, dur]).encode()).hexdigest()[:16]


def make_split(tunes: Sequence[Tune], seed: int = 1234, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
               ) -> dict:
    """A seeded train/validation/test split by piece, duplicates grouped (see the module docstring).

    Parameters
    ----------
    tunes : sequence of Tune
    seed : int
        Seeds :class:`random.Random` that shuffles the groups (sorted by key first, so the split depends only
        on the tunes and the seed).
    fractions : (train, validation, test)

    Returns
    -------
    dict
        ``{"seed", "fractions", "steps_per_quarter", "counts": {part: n}, "pieces": {file: {part: [X, ...]}}}``
        where ``file`` is ``collection/file`` and the list holds ABC reference numbers (chorale files, one piece
        each, hold ``[0]``).
    """
    groups: dict[str, list[Tune]] = {}
    for t in tunes:
        groups.setdefault(melody_key(t), []).append(t)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    n = len(keys)
    n_test = int(round(fractions[2] * n))
    n_val = int(round(fractions[1] * n))
    part_of = {}
    for i, k in enumerate(keys):
        part = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
        for t in groups[k]:
            part_of[t.piece_id] = part
    pieces: dict[str, dict[str, list[int]]] = {}
    counts = {"train": 0, "validation": 0, "test": 0}
    for t in tunes:
        file, _, num = t.piece_id.partition("#")
        part = part_of[t.piece_id]
        pieces.setdefault(file, {}).setdefault(part, []).append(int(num) if num else 0)
        counts[part] += 1
    return {"seed": seed, "fractions": list(fractions), "steps_per_quarter": STEPS_PER_QUARTER,
            "grouping": "tunes with the same first 24 intervals and durations share a part",
            "counts": counts, "pieces": pieces}


def load_split(path: str | os.PathLike | None = None) -> dict[str, str]:
    """``{piece_id: "train" | "validation" | "test"}`` from a split JSON (default :data:`SPLIT_PATH`).

    Raises
    ------
    UsageError
        The file is missing or not a split (make it with ``make_melody_data --write-split``).
    """
    p = Path(path) if path else SPLIT_PATH
    try:
        raw = json.loads(p.read_text())
        out = {}
        for file, parts in raw["pieces"].items():
            for part, nums in parts.items():
                for num in nums:
                    out[file if file.endswith(".mxl") else f"{file}#{num}"] = part
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise UsageError(f"cannot read the melody split {p} ({exc}); run python -m "
                         "tonehost.exports.training.recipes.make_melody_data --write-split") from None
    return out


def split_tunes(tunes: Sequence[Tune], split: dict[str, str]) -> dict[str, list[Tune]]:
    """Tunes per part of ``split`` (tunes the split does not list are left out)."""
    out: dict[str, list[Tune]] = {"train": [], "validation": [], "test": []}
    for t in tunes:
        part = split.get(t.piece_id)
        if part is not None:
            out[part].append(t)
    return out


# ----------------------------------------------------------------------------------------------- storage

def save_tunes(tunes: Sequence[Tune], path: str | os.PathLike) -> Path:
    """Write tunes to one ``.npz`` (notes and bars concatenated, with offsets; ids, meters, titles as JSON)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    notes = np.concatenate([t.notes for t in tunes]) if tunes else np.zeros((0, 3), np.int32)
    note_off = np.cumsum([0] + [len(t.notes) for t in tunes]).astype(np.int64)
    bars = np.concatenate([t.bars for t in tunes]) if tunes else np.zeros(0, np.int32)
    bar_off = np.cumsum([0] + [len(t.bars) for t in tunes]).astype(np.int64)
    meta = json.dumps([[t.piece_id, t.meter, t.title] for t in tunes])
    with atomic_output(p) as tmp, open(tmp, "wb") as f:  # a file object: savez appends .npz to a bare name
        np.savez_compressed(f, notes=notes, note_off=note_off, bars=bars, bar_off=bar_off,
                            total=np.array([t.total_steps for t in tunes], np.int64), meta=np.array(meta))
    return p


def load_tunes(path: str | os.PathLike) -> list[Tune]:
    """Read what :func:`save_tunes` wrote.

    Raises
    ------
    UsageError
        Missing or unreadable file.
    """
    p = Path(path)
    try:
        z = np.load(p)
        meta = json.loads(str(z["meta"]))
        notes, no, bars, bo, total = z["notes"], z["note_off"], z["bars"], z["bar_off"], z["total"]
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"cannot read melody data {p} ({exc}); make it with python -m "
                         "tonehost.exports.training.recipes.make_melody_data --out DIR") from None
    return [Tune(m[0], notes[no[i]:no[i + 1]], int(total[i]), bars[bo[i]:bo[i + 1]], m[1], m[2])
            for i, m in enumerate(meta)]


def cached_tunes(progress: bool = True) -> list[Tune]:
    """Every melody of the corpus (:func:`extract_corpus`), extracted once and kept in
    ``cache_dir("melody_data")`` (keyed by music21's version and :data:`DATA_VERSION`).

    Raises
    ------
    UsageError
        music21 is not installed.
    """
    from tonehost.exports.paths import cache_dir

    corpus_root()
    import music21

    path = cache_dir("melody_data") / f"tunes-music21-{music21.__version__}-v{DATA_VERSION}.npz"
    if path.is_file():
        return load_tunes(path)
    tunes = extract_corpus(progress=progress)
    save_tunes(tunes, path)
    return tunes


# ------------------------------------------------------------------------------------------ model inputs

def octave_shift(tune: Tune, lo: int = RNN_MIN_PITCH, hi: int = RNN_MAX_PITCH, centre: float = 66.0
                 ) -> int | None:
    """The smallest multiple of 12 (in size; of two, the one leaving the mean pitch nearer ``centre``) that moves
    the whole tune into ``[lo, hi]`` -- 0 when it fits as written -- or None when its span is too wide."""
    p = tune.notes[:, 0]
    if len(p) == 0:
        return None
    options = [12 * k for k in range(-8, 9) if lo <= p.min() + 12 * k and p.max() + 12 * k <= hi]
    if not options:
        return None
    mean = float(p.mean())
    return min(options, key=lambda s: (abs(s), abs(mean + s - centre)))


def transpositions(tune: Tune, lo: int, hi: int, max_shift: int = 6) -> list[int]:
    """Semitone shifts in ``[-max_shift, max_shift]`` that keep the tune inside ``[lo, hi]``."""
    p = tune.notes[:, 0]
    return [s for s in range(-max_shift, max_shift + 1) if lo <= p.min() + s and p.max() + s <= hi]


def rnn_events(tune: Tune, transpose: int | None = None, lo: int = RNN_MIN_PITCH, hi: int = RNN_MAX_PITCH
               ) -> np.ndarray | None:
    """The tune's events (int ``[total_steps]``) through ``MelodyConverter(lo, hi)`` -- the encoding basic_rnn
    reads -- after moving it by :func:`octave_shift` (``transpose`` None) or by ``transpose`` semitones.

    Returns None when the tune does not fit the range.
    """
    from tonehost.exports.sequences import MelodyConverter

    shift = octave_shift(tune, lo, hi) if transpose is None else transpose
    if shift is None:
        return None
    p = tune.notes[:, 0] + shift
    if p.min() < lo or p.max() > hi:
        return None
    tensor = MelodyConverter(lo, hi).to_tensor(tune.note_sequence(shift))
    return np.argmax(tensor, axis=1).astype(np.int64)


def vae_windows(tune: Tune, steps: int = VAE_STEPS, min_notes: int = 2, lo: int = VAE_MIN_PITCH,
                hi: int = VAE_MAX_PITCH, transpose: int = 0) -> np.ndarray:
    """2-bar windows of the tune for the mel_2bar model: ``steps`` events starting on each bar line.

    Each window is ``MelodyConverter(lo, hi, num_steps=steps)`` of the tune's notes that start inside it (a note
    reaching past the window's end is cut there, its NOTE_OFF dropped; a note sounding into its start is not in
    it), i.e. the converter applied to the cropped sequence. Windows with fewer than ``min_notes`` note-ons or
    running past the tune's end are skipped.

    Returns
    -------
    numpy.ndarray
        int64 ``[n_windows, steps]`` of events.
    """
    from tonehost.exports.sequences import MelodyConverter

    p = tune.notes[:, 0] + transpose
    if len(p) == 0 or p.min() < lo or p.max() > hi:
        return np.zeros((0, steps), np.int64)
    conv = MelodyConverter(lo, hi)
    events = np.argmax(conv.to_tensor(tune.note_sequence(transpose)), axis=1)
    out = []
    for b in tune.bars.tolist():
        if b + steps > len(events):
            break
        w = events[b:b + steps].copy()
        onsets = np.flatnonzero(w >= 2)
        if len(onsets):
            head = w[:onsets[0]]
            head[head == 1] = 0  # the NOTE_OFF of a note that started before the window
        if int((w >= 2).sum()) >= min_notes:
            out.append(w)
    return np.asarray(out, np.int64).reshape(-1, steps)
