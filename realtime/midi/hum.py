"""Hum -> MIDI: the tracked voice as MIDI notes with pitch bend, live or into a file.

:class:`HumToMidi` turns the voice tracker's frames (f0, voicing, loudness) into MIDI messages, frame by frame, so
a user can play any synth by humming (``tonehost play --midi-out PORT``) or write a take as a MIDI file
(``tonehost pitch --midi out.mid``):

- a note starts at the first voiced frame, on the nearest semitone, with a velocity from the loudness on a scale
  that follows the take's level (:func:`velocity_scale`): a quiet mic gives the same velocities as a loud one (live,
  the scale settles on the voice's loud level within seconds of singing; a file is scaled to its own loud level);
- inside a note the pitch follows the voice with pitch bend (14-bit, +-``bend_range`` semitones, the General MIDI
  default of 2; glides and vibrato stay one note);
- the note changes when the voice settles on another semitone (``settle_s`` within half a semitone of it, at least
  ``change`` semitones from the note) or leaves the bend range; it ends after ``release_s`` of unvoiced frames;
- no note is shorter than ``min_note_s`` (40 ms). Live (``play --midi-out``) a note-on cannot be taken back and must
  not wait, so a note-on after silence is sent at once and a note younger than ``min_note_s`` is *held*: its
  note-off, or the change to the next note, waits until it is ``min_note_s`` old (only a note following a blip
  starts up to 40 ms later; a real note's note-on never waits). A file (``tonehost pitch --midi``) has the whole
  take, so :func:`merge_short_notes` does better there: a shorter note merges into its neighbour (the octave-off
  blip at a note's onset becomes the start of that note) or, alone, is dropped.
- a chord or a band is no input for a pitch tracker: :func:`check_polyphony` warns (one line) when the notes come
  faster than :data:`MAX_NOTES_PER_S`.

Messages are ``mido.Message`` objects with their time in seconds in ``.time`` (:func:`write_midi_file` turns them
into a type-0 file at 120 bpm, 480 ppq).
"""
from __future__ import annotations

import io
import math
import os
import warnings
from collections import deque

import mido
import numpy as np

__all__ = ["HumToMidi", "PolyphonyWatch", "write_midi_file", "velocity_from_db", "velocity_scale",
           "merge_short_notes", "check_polyphony", "MIN_NOTE_S", "MAX_NOTES_PER_S", "LEVEL_HEADROOM_DB",
           "ATTACK_S", "LEAP_SEMITONES_S"]


#: A pitch moving faster than this (semitones per second) is crossing a leap: the new note waits for it to stop (vibrato
#: moves under 10, the tracker crosses a leap at several hundred).
LEAP_SEMITONES_S = 100.0
#: Shortest note in seconds (live: held that long; files: shorter ones merged or dropped).
MIN_NOTE_S = 0.04
#: More notes per second than this (before merging) and the input looks polyphonic or noisy.
MAX_NOTES_PER_S = 10.0


def velocity_from_db(db: float, db_low: float = -70.0, db_high: float = -25.0) -> int:
    """MIDI velocity (1..127) from a loudness in dB: linear from ``db_low`` (1) to ``db_high`` (127).

    Parameters
    ----------
    db : float
        The tracker's loudness (magenta.js ``loudness_db`` or DDSP-VST power, dB).
    db_low, db_high : float
        The loudness that maps to velocity 1 and 127.

    Returns
    -------
    int
    """
    v = 1.0 + 126.0 * (db - db_low) / max(1e-9, db_high - db_low)
    return int(min(127, max(1, round(v))))


_HIST_LOW, _HIST_BINS = -150.0, 300  # HumToMidi's loudness histogram: -150..0 dB in 0.5 dB bins

#: A file's note velocity (:meth:`HumToMidi.relevel`) is the loudest frame of its first ATTACK_S seconds.
ATTACK_S = 0.05

#: Velocity 127 lies this far (dB) above a take's loud level (the 95th percentile of its voiced frames' loudness).
LEVEL_HEADROOM_DB = 10.0


def velocity_scale(level_db: float, db_low: float = -70.0, db_high: float = -25.0,
                   headroom_db: float = LEVEL_HEADROOM_DB, up: bool = False) -> tuple[float, float]:
    """The loudness (dB) of velocity 1 and 127 for a take whose loud level is ``level_db``.

    The scale ``db_low..db_high`` moves down with a quiet take, so that its loud level lies ``headroom_db`` under
    velocity 127 (with ``up`` False, never up: a take louder than ``db_high - headroom_db`` keeps the scale and
    reaches 127; live, where the first notes come before the level is known). A voice 30 dB under another (a
    mic's gain turned down) then gets the same velocities; before, it got velocity 1. With ``up`` (what
    :class:`HumToMidi` uses, live and for a file) the scale moves up too: a hot input (gain up 20 dB, clipping)
    gave FDA speech velocities of median 112 where the same take at its own gain gave 76, a sung phrase 125
    against 64 (live, ``play --midi-out``: 104-127 against 51-96, now 58-99).

    Parameters
    ----------
    level_db : float
        The take's loud level (dB, the tracker's loudness): the 95th percentile of its voiced frames, or live a
        running peak.
    db_low, db_high : float
        The scale of a take at full level (:func:`velocity_from_db`).
    headroom_db : float
    up : bool
        Move the scale up for a loud take as well as down for a quiet one.

    Returns
    -------
    (float, float)
        ``(low, high)`` for :func:`velocity_from_db`.
    """
    shift = float(level_db) + headroom_db - db_high if math.isfinite(level_db) else 0.0
    if not up:
        shift = min(0.0, shift)
    return db_low + shift, db_high + shift


class HumToMidi:
    """Streaming voice-to-MIDI converter (see the module docstring).

    Parameters
    ----------
    bend_range : float
        Pitch-bend range in semitones the receiving synth uses (General MIDI default 2).
    change : float
        Semitones the voice must move from the note before a new note is considered.
    settle_s : float
        Seconds the voice must stay within half a semitone of another note before the note changes.
    release_s : float
        Seconds of unvoiced frames that end a note.
    channel : int
        MIDI channel 0..15.
    db_low, db_high : float
        Loudness range mapped onto velocity (:func:`velocity_from_db`).
    bend_cents : float
        Smallest pitch change (cents) that sends a new pitch bend.
    min_note_s : float
        Shortest note (seconds): a younger note's note-off or change to another note waits until it is this old
        (note-ons after silence never wait). 0 for none (a file's notes then go through
        :func:`merge_short_notes`).
    follow_level : bool
        Velocities on a scale that follows the voice's level (:func:`velocity_scale`): live, the level is the peak
        loudness of the voiced frames, falling ``level_release_db_s`` per second of voiced frames and starting at
        the first voiced frame's (a quiet mic's first notes got velocity 1 for seconds while a level that started
        at full scale came down; now the first note plays as loud as the take's loud level would, and the level
        rises at once with a louder voice). A file takes its own loud level afterwards: :meth:`relevel`. False:
        the fixed scale ``db_low..db_high``.
    level_release_db_s : float
    """

    def __init__(self, bend_range: float = 2.0, change: float = 0.75, settle_s: float = 0.04,
                 release_s: float = 0.03, channel: int = 0, db_low: float = -70.0, db_high: float = -25.0,
                 bend_cents: float = 3.0, min_note_s: float = MIN_NOTE_S, follow_level: bool = True,
                 level_release_db_s: float = 6.0):
        self.bend_range = float(bend_range)
        self.change = float(change)
        self.settle_s = float(settle_s)
        self.release_s = float(release_s)
        self.channel = int(channel)
        self.db_low, self.db_high = float(db_low), float(db_high)
        self.bend_cents = float(bend_cents)
        self.min_note_s = max(0.0, float(min_note_s))
        self.follow_level = bool(follow_level)
        self.level_release_db_s = max(0.0, float(level_release_db_s))
        self.reset()

    def reset(self) -> None:
        """No note sounding, no history."""
        self.note: int | None = None
        self._bend = 0
        self._unvoiced_since: float | None = None
        self._candidate: int | None = None
        self._candidate_since = 0.0
        self._note_on_t = 0.0
        self._prev_pitch: float | None = None  # the last voiced frame's pitch (semitones)
        self._leap_since: float | None = None  # when the pitch left the bend range
        self._peak: float | None = None  # the running loud level (follow_level); the first voiced frame's
        self._last_t: float | None = None
        self._hist = np.zeros(_HIST_BINS, np.int64)  # the voiced frames' loudness, 0.5 dB bins (relevel)
        self._onset_db: list = []  # each note's attack loudness (its loudest in ATTACK_S), in order (relevel)
        self._attack_prev: float | None = None

    def _bend_value(self, semitones: float) -> int:
        v = int(round(8192 * semitones / self.bend_range))
        return max(-8192, min(8191, v))

    def _scale(self, level_db: float | None = None) -> tuple[float, float]:
        if not self.follow_level:
            return self.db_low, self.db_high
        level = self._peak if level_db is None else level_db
        if level is None:
            return self.db_low, self.db_high
        return velocity_scale(level, self.db_low, self.db_high, up=True)

    def _start(self, t: float, pitch: float, db: float, out: list) -> None:
        if self._attack_prev is not None:
            self._onset_db[-1] = self._attack_prev  # this frame starts the next note: not the old note's attack
            self._attack_prev = None
        self.note = int(min(127, max(0, round(pitch))))
        bend = self._bend_value(pitch - self.note)
        out.append(mido.Message("pitchwheel", channel=self.channel, pitch=bend, time=t))
        out.append(mido.Message("note_on", channel=self.channel, note=self.note,
                                velocity=velocity_from_db(db, *self._scale()), time=t))
        self._onset_db.append(db)
        self._bend = bend
        self._candidate = None
        self._note_on_t = t

    def _stop(self, t: float, out: list) -> None:
        if self.note is not None:
            out.append(mido.Message("note_off", channel=self.channel, note=self.note, velocity=0, time=t))
        self.note = None
        self._candidate = None

    def frame(self, t: float, f0_hz: float, voiced: bool, db: float) -> list:
        """One tracker frame; returns the MIDI messages it causes (``.time`` = ``t``, seconds).

        Parameters
        ----------
        t : float
            Time of the frame in seconds (live: when it was available; offline: its analysis centre).
        f0_hz : float
            Tracked f0 in Hz.
        voiced : bool
            The tracker's voicing decision.
        db : float
            The frame's loudness in dB (for the velocity of a new note).

        Returns
        -------
        list of mido.Message
        """
        out: list = []
        self._attack_prev = None  # the last note's attack level before this frame (see below)
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        if voiced and f0_hz > 0 and math.isfinite(db):
            self._peak = db if self._peak is None else max(db, self._peak - self.level_release_db_s * dt)
            self._hist[min(_HIST_BINS - 1, max(0, int((db - _HIST_LOW) * 2.0)))] += 1
        if not voiced or f0_hz <= 0:
            self._prev_pitch = None
            self._leap_since = None
            if self.note is not None:
                if self._unvoiced_since is None:
                    self._unvoiced_since = t
                if t - self._unvoiced_since >= self.release_s - 1e-9 and self._old_enough(t):
                    self._stop(t, out)
            return out
        self._unvoiced_since = None
        if self.note is not None and t - self._note_on_t <= ATTACK_S + 1e-9 and math.isfinite(db):
            # a file's velocity (relevel) is the loudest frame of the note's attack, not its first frame: that
            # one lies somewhere on the rise, lower the later the tracker voices it (a quiet or noisy take later).
            # A frame that starts the next note is that note's (_start appends it), so it is undone there.
            self._attack_prev = self._onset_db[-1]
            self._onset_db[-1] = max(self._onset_db[-1], db)
        pitch = 69.0 + 12.0 * math.log2(f0_hz / 440.0)
        if self.note is None:
            self._prev_pitch = pitch
            self._start(t, pitch, db, out)
            return out
        dev = pitch - self.note
        nearest = int(round(pitch))
        moving = (self._prev_pitch is not None and dt > 0.0
                  and abs(pitch - self._prev_pitch) / dt > LEAP_SEMITONES_S)
        self._prev_pitch = pitch
        if abs(dev) >= self.bend_range - 0.05 and self._old_enough(t):  # out of the bend range: a new note ...
            if self._leap_since is None:
                self._leap_since = t
            # ... once the pitch has stopped moving (or after settle_s): the tracker crosses a leap in a few frames,
            # and the first frame past the bend range lies mid-way (E4 -> G4 started an F#4, 42 ms before G4)
            if not moving or t - self._leap_since >= self.settle_s - 1e-9:
                self._stop(t, out)
                self._start(t, pitch, db, out)
                return out
            return out
        self._leap_since = None
        if abs(dev) >= self.change and abs(pitch - nearest) < 0.5:
            if self._candidate != nearest:
                self._candidate, self._candidate_since = nearest, t
            elif t - self._candidate_since >= self.settle_s - 1e-9 and self._old_enough(t):
                self._stop(t, out)
                self._start(t, pitch, db, out)
                return out
        else:
            self._candidate = None
        bend = self._bend_value(dev)
        if abs(bend - self._bend) * 100.0 * self.bend_range / 8192.0 >= self.bend_cents:
            out.append(mido.Message("pitchwheel", channel=self.channel, pitch=bend, time=t))
            self._bend = bend
        return out

    def _old_enough(self, t: float) -> bool:
        return t - self._note_on_t >= self.min_note_s - 1e-9

    def finish(self, t: float) -> list:
        """End a sounding note at time ``t`` (the end of the take); returns its messages."""
        out: list = []
        self._stop(t, out)
        return out

    def take_level(self) -> float:
        """The loud level of the frames so far: the 95th percentile of the voiced frames' loudness (dB, to 0.5 dB);
        NaN before any voiced frame."""
        n = int(self._hist.sum())
        if n == 0:
            return float("nan")
        k = int(np.searchsorted(np.cumsum(self._hist), 0.95 * n))
        return _HIST_LOW + (k + 0.5) / 2.0

    def relevel(self, messages: list) -> list:
        """A file's velocities on the scale of its own loud level (:meth:`take_level`, :func:`velocity_scale`).

        Parameters
        ----------
        messages : list of mido.Message
            Everything this converter returned since :meth:`reset`, in order (before
            :func:`merge_short_notes`); changed in place.

        Returns
        -------
        list of mido.Message
            ``messages``.
        """
        if not self.follow_level:
            return messages
        scale = self._scale(self.take_level())
        dbs = iter(self._onset_db)
        for m in messages:
            if m.type == "note_on" and m.velocity > 0:
                m.velocity = velocity_from_db(next(dbs), *scale)
        return messages


def write_midi_file(path: str | os.PathLike, messages, program: int = 0) -> int:
    """Write timed messages (``.time`` in seconds, ascending) as a type-0 MIDI file (120 bpm, 480 ppq).

    Parameters
    ----------
    path : str or os.PathLike
    messages : iterable of mido.Message
        From :class:`HumToMidi`; their ``.time`` is absolute, in seconds.
    program : int
        General MIDI program sent first (0 = piano; 40 = violin).

    Returns
    -------
    int
        Notes written (note-on messages).
    """
    tpb, tempo = 480, 500000
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0),
                            mido.Message("program_change", program=int(program), time=0)])
    now = 0
    notes = 0
    for m in messages:
        tick = int(round(m.time * 1e6 / tempo * tpb))
        track.append(m.copy(time=max(0, tick - now)))
        now = max(now, tick)
        notes += m.type == "note_on"
    track.append(mido.MetaMessage("end_of_track", time=0))
    f = mido.MidiFile(type=0, ticks_per_beat=tpb)
    f.tracks.append(track)
    buf = io.BytesIO()
    f.save(file=buf)
    from tonehost.realtime.midi.output import write_atomic

    write_atomic(path, buf.getvalue())  # a temporary file beside it, then os.replace: never a half file
    return notes


def merge_short_notes(messages, min_note_s: float = MIN_NOTE_S) -> list:
    """A take's messages with no note shorter than ``min_note_s``: a shorter note merges into its neighbour or goes.

    For files, where the whole take is known (live, :class:`HumToMidi` holds young notes instead). In time order,
    a note shorter than ``min_note_s`` that the next note follows at once merges into it (the next note starts at
    its onset: the octave-off blip at the start of a hummed note becomes that note); else, when it follows the
    previous note at once, that note is lengthened over it; else (alone between silences) it is dropped. The
    short note's pitch bends go with it.

    Parameters
    ----------
    messages : list of mido.Message
        One voice's messages from :class:`HumToMidi` (``.time`` absolute seconds, ascending; at most one note
        sounding at a time).
    min_note_s : float
        Shortest note kept, seconds.

    Returns
    -------
    list of mido.Message
        New messages, ascending in time.
    """
    notes, pending, cur = [], [], None  # pending: pitch bends sent before a note-on (they belong to it)
    for m in messages:
        if m.type == "note_on" and m.velocity > 0:
            cur = {"start": m.time, "end": None, "on": m, "lead": pending, "inner": [], "off": None}
            pending = []
            notes.append(cur)
        elif m.type in ("note_off", "note_on") and cur is not None and m.note == cur["on"].note:
            cur["end"], cur["off"] = m.time, m
            cur = None
        elif cur is not None:
            cur["inner"].append(m)
        else:
            pending.append(m)
    for n in notes:
        if n["end"] is None:  # never ended: lasts to the last message
            n["end"] = max(n["start"], messages[-1].time if messages else n["start"])
    kept: list = []
    for i, n in enumerate(notes):
        if n["end"] - n["start"] >= min_note_s - 1e-9:
            kept.append(n)
            continue
        nxt = notes[i + 1] if i + 1 < len(notes) else None
        if nxt is not None and nxt["start"] <= n["end"] + 1e-9:
            nxt["start"] = n["start"]  # merged into the next note: it starts here
        elif kept and kept[-1]["end"] >= n["start"] - 1e-9:
            kept[-1]["end"] = n["end"]  # the previous note lasts over it
        # else: alone, dropped
    out = []
    for n in kept:
        t0 = n["start"]
        out.extend(m.copy(time=t0) for m in n["lead"])
        out.append(n["on"].copy(time=t0))
        out.extend(m.copy(time=max(t0, m.time)) for m in n["inner"] if m.time <= n["end"])
        off = n["off"] if n["off"] is not None else mido.Message("note_off", channel=n["on"].channel,
                                                                 note=n["on"].note, velocity=0)
        out.append(off.copy(time=n["end"]))
    out.sort(key=lambda m: m.time)  # stable: a note-off before the next note-on at the same time
    return out


class PolyphonyWatch:
    """The live form of :func:`check_polyphony` (``play --midi-out``): note-on times over the last ``window_s``
    seconds, one warning per session when they come faster than ``max_per_s``.

    Parameters
    ----------
    window_s : float
        Seconds of note-ons counted (> 0).
    max_per_s : float
        Notes per second above which the input is called polyphonic.
    """

    def __init__(self, window_s: float = 3.0, max_per_s: float = MAX_NOTES_PER_S):
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0 s, got {window_s!r}")
        self.window_s = float(window_s)
        self.max_per_s = float(max_per_s)
        self._ons: deque = deque()
        self.warned = False

    def note_on(self, t: float, where: str = "the input") -> bool:
        """Count a note-on at ``t`` (s); returns True once, when it warned."""
        if self.warned:
            return False
        self._ons.append(float(t))
        while self._ons and self._ons[0] < t - self.window_s:
            self._ons.popleft()
        self.warned = check_polyphony(len(self._ons), self.window_s, where=where, max_per_s=self.max_per_s)
        return self.warned


def check_polyphony(notes: int, duration_s: float, where="the input", max_per_s: float = MAX_NOTES_PER_S) -> bool:
    """Warn (one :class:`~tonehost.exports.errors.TonehostWarning` line) when ``notes`` in ``duration_s`` come
    faster than ``max_per_s``: a chord, a band, speech or noise, which a single-voice tracker turns into note salad.

    Returns
    -------
    bool
        True when it warned.
    """
    from tonehost.exports.errors import TonehostWarning

    rate = notes / max(float(duration_s), 1e-9)
    if notes >= max_per_s and rate > max_per_s:
        # speech is one voice too, but its syllables are many short notes: the old "record a single voice" told a
        # single speaker to do what they had done
        warnings.warn(f"{where}: {notes} notes in {duration_s:.1f} s ({rate:.0f} per second) - it looks polyphonic "
                      "(a chord or several voices), spoken or noisy; hum -> MIDI follows one sung or hummed voice: "
                      "hum or sing the melody alone", TonehostWarning, stacklevel=2)
        return True
    return False
