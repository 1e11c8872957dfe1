"""Hum -> MIDI: the tracked voice as MIDI notes with pitch bend, live or into a file.

:class:`HumToMidi` turns the voice tracker's frames (f0, voicing, loudness) into MIDI messages, frame by frame, so
a user can play any synth by humming (``tonehost play --midi-out PORT``) or write a take as a MIDI file
(``tonehost pitch --midi out.mid``):

- a note starts at the first voiced frame, on the nearest semitone, with a velocity from the loudness;
- inside a note the pitch follows the voice with pitch bend (14-bit, +-``bend_range`` semitones, the General MIDI
  default of 2; glides and vibrato stay one note);
- the note changes when the voice settles on another semitone (``settle_s`` within half a semitone of it, at least
  ``change`` semitones from the note) or leaves the bend range; it ends after ``release_s`` of unvoiced frames.

Messages are ``mido.Message`` objects with their time in seconds in ``.time`` (:func:`write_midi_file` turns them
into a type-0 file at 120 bpm, 480 ppq).
"""
from __future__ import annotations

import math
import os

import mido

__all__ = ["HumToMidi", "write_midi_file", "velocity_from_db"]


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
    """

    def __init__(self, bend_range: float = 2.0, change: float = 0.75, settle_s: float = 0.04,
                 release_s: float = 0.03, channel: int = 0, db_low: float = -70.0, db_high: float = -25.0,
                 bend_cents: float = 3.0):
        self.bend_range = float(bend_range)
        self.change = float(change)
        self.settle_s = float(settle_s)
        self.release_s = float(release_s)
        self.channel = int(channel)
        self.db_low, self.db_high = float(db_low), float(db_high)
        self.bend_cents = float(bend_cents)
        self.reset()

    def reset(self) -> None:
        """No note sounding, no history."""
        self.note: int | None = None
        self._bend = 0
        self._unvoiced_since: float | None = None
        self._candidate: int | None = None
        self._candidate_since = 0.0

    def _bend_value(self, semitones: float) -> int:
        v = int(round(8192 * semitones / self.bend_range))
        return max(-8192, min(8191, v))

    def _start(self, t: float, pitch: float, db: float, out: list) -> None:
        self.note = int(min(127, max(0, round(pitch))))
        bend = self._bend_value(pitch - self.note)
        out.append(mido.Message("pitchwheel", channel=self.channel, pitch=bend, time=t))
        out.append(mido.Message("note_on", channel=self.channel, note=self.note,
                                velocity=velocity_from_db(db, self.db_low, self.db_high), time=t))
        self._bend = bend
        self._candidate = None

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
        if not voiced or f0_hz <= 0:
            if self.note is not None:
                if self._unvoiced_since is None:
                    self._unvoiced_since = t
                if t - self._unvoiced_since >= self.release_s - 1e-9:
                    self._stop(t, out)
            return out
        self._unvoiced_since = None
        pitch = 69.0 + 12.0 * math.log2(f0_hz / 440.0)
        if self.note is None:
            self._start(t, pitch, db, out)
            return out
        dev = pitch - self.note
        nearest = int(round(pitch))
        if abs(dev) >= self.bend_range - 0.05:  # out of the bend range: a new note now
            self._stop(t, out)
            self._start(t, pitch, db, out)
            return out
        if abs(dev) >= self.change and abs(pitch - nearest) < 0.5:
            if self._candidate != nearest:
                self._candidate, self._candidate_since = nearest, t
            elif t - self._candidate_since >= self.settle_s - 1e-9:
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

    def finish(self, t: float) -> list:
        """End a sounding note at time ``t`` (the end of the take); returns its messages."""
        out: list = []
        self._stop(t, out)
        return out


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
    f.save(str(path))
    return notes
