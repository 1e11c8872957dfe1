"""Multi-instrument bars as performance tokens: magenta.js ``MultitrackConverter``.

Source: ``music/src/core/data.ts`` (``MultitrackConverter``) and ``core/performance.ts`` of magenta-js v1.23.1;
MUSICGEN.md section 4. Segmented by track (``segmented_by_track``): ``num_segments`` tracks of
``num_steps / num_segments`` rows each (8 x 64 for the hosted ``multitrack*`` checkpoints).

Vocabulary (``P = max_pitch - min_pitch + 1``, ``S = total_steps``, ``V = num_velocity_bins``), in order:
note-on ``[0, P)``, note-off ``[P, 2P)``, time-shift 1..S ``[2P, 2P + S)``, velocity bin 1..V, program 0..127,
the drums "program" (128), the end token. ``depth = 2P + S + V + 129 + 1`` (490 for P 128, S 96, V 8).
"""
from __future__ import annotations

import numpy as np

from tonehost.exports.note_sequence import NoteSequence
from tonehost.exports.sequences.base import (ConverterError, DataConverter, assert_relative_quantized, js_sort,
                                             one_hot, quantized_sequence)
from tonehost.exports.sequences.performance import Performance

__all__ = ["MultitrackConverter"]

_NUM_PROGRAMS = 127 - 0 + 2  # MAX_MIDI_PROGRAM - MIN_MIDI_PROGRAM + 2: programs 0..127 and drums


class MultitrackConverter(DataConverter):
    """``MultitrackConverter``: up to ``num_segments`` instruments <-> ``[num_steps, depth]`` int32 one-hot.

    Parameters
    ----------
    num_steps, num_segments : int
        Rows in all and tracks (64 rows per track for 512 / 8).
    steps_per_quarter : int
        The grid the model was trained on (24); :meth:`to_tensor` requires the same.
    total_steps : int
        Steps per bar-length segment (96) = the longest time-shift.
    num_velocity_bins : int
        8 for the hosted models.
    min_pitch, max_pitch : int, optional
        Default 0 and 127; a falsy value (0) means the default, as in magenta.js.
    """

    segmented_by_track = True

    def __init__(self, num_steps: int, num_segments: int, steps_per_quarter: int, total_steps: int,
                 num_velocity_bins: int, min_pitch: int | None = None, max_pitch: int | None = None):
        super().__init__(num_steps, num_segments)
        self.steps_per_quarter = int(steps_per_quarter)
        self.total_steps = int(total_steps)
        self.num_velocity_bins = int(num_velocity_bins)
        self.min_pitch = int(min_pitch) if min_pitch else 0
        self.max_pitch = int(max_pitch) if max_pitch else 127
        self.num_pitches = self.max_pitch - self.min_pitch + 1
        self.performance_event_depth = 2 * self.num_pitches + self.total_steps + self.num_velocity_bins
        self.num_programs = _NUM_PROGRAMS
        self.end_token = self.performance_event_depth + self.num_programs
        self.depth = self.end_token + 1
        self.end_tensor = one_hot([self.end_token], self.depth)[0]

    @property
    def max_events_per_track(self) -> int:
        """Rows per track: ``num_steps // num_segments``."""
        return int(self.num_steps // self.num_segments)

    def track_tokens(self, track: Performance | None) -> list[int]:
        """``trackToTensor``'s tokens: ``[program token, events (at most rows - 2), end token]`` (just the end
        token for a missing track). Truncates ``track.events`` in place, as magenta.js. A program left undefined
        (several programs in one track) is stored as token 0, which is what the JS ``Int32Array`` makes of NaN."""
        if track is None:
            return [self.end_token]
        limit = self.max_events_per_track - 2
        while len(track.events) > limit:
            track.events.pop()
        if track.is_drum:
            first = self.performance_event_depth + self.num_programs - 1
        elif track.program is None:
            first = 0
        else:
            first = self.performance_event_depth + int(track.program)
        tokens = [first]
        P, S = self.num_pitches, self.total_steps
        for kind, value in track.events:
            if kind == "note-on":
                tokens.append(value - self.min_pitch)
            elif kind == "note-off":
                tokens.append(P + value - self.min_pitch)
            elif kind == "time-shift":
                tokens.append(2 * P + value - 1)
            elif kind == "velocity-change":
                tokens.append(2 * P + S + value - 1)
            else:
                raise ConverterError(f"unrecognized performance event {kind!r}")
        tokens.append(self.end_token)
        return tokens

    def track_to_tensor(self, track: Performance | None) -> np.ndarray:
        """``[rows, depth]`` int32: the one-hot of :meth:`track_tokens`, zero-padded."""
        oh = one_hot(self.track_tokens(track), self.depth)
        pad = self.max_events_per_track - oh.shape[0]
        return np.concatenate([oh, np.zeros((max(pad, 0), self.depth), np.int32)]) if pad > 0 else oh

    def tracks(self, seq: NoteSequence) -> list[Performance | None]:
        """The performances that :meth:`to_tensor` encodes: notes in the pitch range grouped by ``instrument``
        (first appearance), sorted by program with drums last (V8's sort of magenta.js's comparator), at most
        ``num_segments``, each padded/trimmed to ``total_steps``, then ``None`` up to ``num_segments``.

        Raises
        ------
        ConverterError
            Not quantized per quarter, or at another steps per quarter than the model's.
        """
        assert_relative_quantized(seq, "the multitrack converter")
        if seq.quantization_info.steps_per_quarter != self.steps_per_quarter:
            raise ConverterError(f"steps per quarter mismatch: the sequence has "
                                 f"{seq.quantization_info.steps_per_quarter}, the model needs "
                                 f"{self.steps_per_quarter}; quantize with seq.quantize({self.steps_per_quarter})")
        kept = seq.copy()
        kept.notes = [n for n in seq.notes if self.min_pitch <= n.pitch <= self.max_pitch]
        instruments = list(dict.fromkeys(int(n.instrument) for n in kept.notes))
        tracks = [Performance.from_note_sequence(kept, self.total_steps, self.num_velocity_bins, i)
                  for i in instruments]

        def compare(a: Performance, b: Performance) -> float:
            if b.is_drum:
                return -1
            if a.is_drum:
                return 1
            if a.program is None or b.program is None:
                return float("nan")
            return a.program - b.program

        ordered: list[Performance | None] = list(js_sort(tracks, compare))[:self.num_segments]
        for t in ordered:
            t.set_num_steps(self.total_steps)
        ordered += [None] * (self.num_segments - len(ordered))
        return ordered

    def to_tensor(self, seq: NoteSequence) -> np.ndarray:
        """``[num_steps, depth]`` int32: the tracks' one-hots one after the other (see :meth:`tracks`)."""
        return np.concatenate([self.track_to_tensor(t) for t in self.tracks(seq)], axis=0)

    def tokens_to_track(self, tokens) -> Performance:
        """``tokensToTrack``: the tokens before the first end token; the first program token sets the program
        (128 = drums); the others are events.

        Raises
        ------
        ConverterError
            A token outside the vocabulary.
        """
        tokens = [int(t) for t in tokens]
        end = tokens.index(self.end_token) if self.end_token in tokens else len(tokens)
        body = tokens[:end]
        P, S, V, E = self.num_pitches, self.total_steps, self.num_velocity_bins, self.performance_event_depth
        programs = [t for t in body if t >= E]
        if programs:
            program, is_drum = (programs[0] - E, False) if programs[0] - E < self.num_programs - 1 else (0, True)
        else:
            program, is_drum = 0, False
        events = []
        for t in body:
            if t >= E:
                continue
            if t < P:
                events.append(("note-on", self.min_pitch + t))
            elif t < 2 * P:
                events.append(("note-off", self.min_pitch + t - P))
            elif t < 2 * P + S:
                events.append(("time-shift", t - 2 * P + 1))
            elif t < 2 * P + S + V:
                events.append(("velocity-change", t - 2 * P - S + 1))
            else:
                raise ConverterError(f"invalid performance event token {t}")
        return Performance(events, self.total_steps, self.num_velocity_bins, program, is_drum)

    def to_note_sequence(self, tensor, steps_per_quarter=None, qpm=None) -> NoteSequence:
        """Argmax per row, split into ``num_segments`` tracks, each decoded by :meth:`tokens_to_track`, padded
        to ``total_steps``; notes get ``instrument`` = track index. ``steps_per_quarter`` defaults to the
        model's (24); ``total_quantized_steps = total_steps``."""
        seq = quantized_sequence(self.steps_per_quarter if steps_per_quarter is None else steps_per_quarter, qpm)
        seq.total_quantized_steps = self.total_steps
        labels = np.argmax(np.asarray(tensor), axis=1)
        for i, chunk in enumerate(np.split(labels, self.num_segments)):
            track = self.tokens_to_track(chunk.tolist())
            track.set_num_steps(self.total_steps)
            seq.notes.extend(track.to_note_sequence(i).notes)
        return seq
