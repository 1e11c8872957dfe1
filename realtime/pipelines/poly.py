"""Polyphonic DDSP instrument from MIDI: chords on a monophonic model, one model state and synth per voice.

:class:`PolyInstrument` holds up to ``voices`` (8) :class:`~tonehost.realtime.pipelines.instrument.InstrumentPipeline`
voices that share one ONNX session but each keep their own controls-model state (the GRU), harmonic and noise
synthesiser; each is driven by its own :class:`~tonehost.realtime.midi.input.MidiVoice`. It takes MIDI messages
(``handle(msg)``, the interface :func:`~tonehost.realtime.midi.input.open_midi_input` feeds) and renders the sum
(``process(block)``):

- note on: a free voice (silent longest), else the oldest sounding one is stolen (its note ends, the new one
  starts on the same voice; a voice already playing the same note is re-struck);
- note off: the voice releases, unless the sustain pedal (CC 64 >= 64) is down, in which case it keeps sounding
  until the pedal is lifted; all-notes-off / all-sound-off (CC 123 / 120) release everything;
- pitch bend applies to every voice;
- a voice whose note ended and whose loudness has decayed below audibility is idle: it costs nothing (no model
  step, no synthesis) until it gets a note again.
"""
from __future__ import annotations

import copy
import threading
import time
from dataclasses import replace

import numpy as np

from tonehost.realtime.audio.worker import BlockTimes
from tonehost.realtime.midi.input import MidiVoice
from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig

__all__ = ["PolyInstrument"]


def _model_db_range(controls: ControlsModel) -> tuple[float, float]:
    """The loudness range a velocity maps to (the model's dB kind): DDSP-VST power or magenta.js loudness."""
    info = controls.info
    if info.db_kind == "power_db":
        return -70.0, -15.0
    hi = float((info.settings or {}).get("averageMaxLoudness", -45.0))
    return hi - 35.0, hi


class PolyInstrument:
    """Up to ``voices`` DDSP voices played from MIDI (see the module docstring).

    Parameters
    ----------
    controls : ControlsModel
        The instrument; its ONNX session is shared, each voice gets its own state.
    voices : int
        Most notes sounding at once (1..32).
    config : PipelineConfig, optional
        Settings of every voice (``sample_rate``, ``output_gain``, ...). Reverb, if asked for, is applied once
        to the sum.
    portamento_s : float
        Glide between the notes of one voice (0: each note starts on pitch, the usual for chords).
    idle_db : float
        A released voice below ``db_low + idle_db`` (its velocity range's floor, dB) goes idle.

    Raises
    ------
    ValueError
        ``voices`` outside 1..32.
    """

    def __init__(self, controls: ControlsModel, voices: int = 8, config: PipelineConfig | None = None,
                 portamento_s: float = 0.0, idle_db: float = -40.0):
        if not 1 <= int(voices) <= 32:
            raise ValueError(f"voices must be 1..32, got {voices}")
        cfg = config or PipelineConfig()
        self.cfg = cfg
        self.db_low, self.db_high = _model_db_range(controls)
        self.idle_below = self.db_low + idle_db
        self._lock = threading.Lock()
        self.voices: list[InstrumentPipeline] = []
        self.midi: list[MidiVoice] = []
        for _ in range(int(voices)):
            c = copy.copy(controls)
            c.reset()  # own state arrays, shared session
            pipe = InstrumentPipeline(c, replace(cfg, reverb=False))
            mv = MidiVoice(db_low=self.db_low, db_high=self.db_high, portamento_s=portamento_s)
            pipe.set_external_control(mv)
            pipe.skip_tracker = True
            self.voices.append(pipe)
            self.midi.append(mv)
        n = len(self.voices)
        self.note = [-1] * n  # MIDI note per voice (-1: none)
        self.sounding = [False] * n  # key (or pedal) holds it
        self.sustained = [False] * n  # key released while the pedal was down
        self.started = [0] * n  # note-on order, for stealing
        self.idle = [True] * n
        self._order = 0
        self.pedal = False
        self.steals = 0
        self._reverb = None
        if cfg.reverb:
            from tonehost.dsp.reverb import Reverb
            self._reverb = Reverb(cfg.sample_rate, wet=cfg.reverb_wet)
        self.block_times = BlockTimes()  # bounded: a long session keeps flat memory
        #: Voices that did work per block (for the cost per voice), the most recent blocks (bounded, as block_times).
        self.active_counts = BlockTimes()

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    # -- MIDI ----------------------------------------------------------------------------------------
    def _release(self, v: int) -> None:
        self.midi[v].note_off(self.note[v])
        self.sounding[v] = False
        self.sustained[v] = False

    def note_on(self, note: int, velocity: int) -> int:
        """Start ``note``; returns the voice index it plays on."""
        if velocity <= 0:
            self.note_off(note)
            return -1
        with self._lock:
            n = len(self.voices)
            same = [v for v in range(n) if self.note[v] == note and (self.sounding[v] or self.sustained[v])]
            if same:
                v = same[0]  # re-strike
            else:
                free = [v for v in range(n) if not (self.sounding[v] or self.sustained[v])]
                if free:
                    # the one silent longest (idle first, then the earliest started)
                    v = min(free, key=lambda k: (not self.idle[k], self.started[k]))
                else:
                    v = min(range(n), key=lambda k: self.started[k])  # steal the oldest
                    self.steals += 1
                if self.note[v] >= 0:
                    self.midi[v].note_off(self.note[v])
            self._order += 1
            self.note[v], self.sounding[v], self.sustained[v] = int(note), True, False
            self.started[v] = self._order
            self.idle[v] = False
            self.midi[v].note_on(int(note), int(velocity))
            return v

    def note_off(self, note: int) -> None:
        """Release ``note`` (held on while the sustain pedal is down)."""
        with self._lock:
            for v in range(len(self.voices)):
                if self.note[v] == note and self.sounding[v]:
                    if self.pedal:
                        self.sounding[v], self.sustained[v] = False, True
                    else:
                        self._release(v)

    def sustain(self, down: bool) -> None:
        """Sustain pedal (CC 64): lifting it releases every note whose key is already up."""
        with self._lock:
            self.pedal = bool(down)
            if not self.pedal:
                for v in range(len(self.voices)):
                    if self.sustained[v]:
                        self._release(v)

    def all_notes_off(self) -> None:
        with self._lock:
            self.pedal = False
            for v in range(len(self.voices)):
                if self.sounding[v] or self.sustained[v]:
                    self._release(v)

    def handle(self, msg) -> None:
        """Apply a mido message: note_on/note_off, control_change 64 (sustain), 120/123 (all off), pitchwheel."""
        kind = getattr(msg, "type", "")
        if kind == "note_on":
            self.note_on(msg.note, msg.velocity)
        elif kind == "note_off":
            self.note_off(msg.note)
        elif kind == "control_change" and msg.control == 64:
            self.sustain(msg.value >= 64)
        elif kind == "control_change" and msg.control in (120, 123):
            self.all_notes_off()
        elif kind == "pitchwheel":
            for mv in self.midi:
                mv.handle(msg)

    # -- audio ---------------------------------------------------------------------------------------
    def process(self, block: np.ndarray) -> np.ndarray:
        """Render one block (its length sets the output length; the input itself is not used).

        Returns
        -------
        numpy.ndarray, float32, shape (len(block),)
            The sum of the active voices (times ``output_gain`` and post gain, as one voice).
        """
        t0 = time.perf_counter()
        n = len(block)
        zeros = np.zeros(n, np.float32)
        out = np.zeros(n, np.float64)
        active = 0
        for v, pipe in enumerate(self.voices):
            if self.idle[v]:
                pipe.advance_idle(n)
                continue
            out += pipe.process(zeros)
            active += 1
            if not (self.sounding[v] or self.sustained[v]) and self.midi[v].db < self.idle_below:
                self.idle[v] = True
        if self._reverb is not None:
            out = self._reverb.process(out)
        self.active_counts.append(active)
        self.block_times.append(time.perf_counter() - t0)
        return out.astype(np.float32)

    def render(self, events, seconds: float, block_size: int = 128) -> np.ndarray:
        """Offline: apply timed MIDI messages (``(time_s, mido.Message)``, ascending) and render ``seconds``."""
        sr = self.sample_rate
        total = int(round(seconds * sr))
        out = np.zeros(total, np.float32)
        events = list(events)
        k = 0
        for start in range(0, total, block_size):
            while k < len(events) and events[k][0] * sr <= start:
                self.handle(events[k][1])
                k += 1
            m = min(block_size, total - start)
            out[start:start + m] = self.process(np.zeros(m, np.float32))
        return out
