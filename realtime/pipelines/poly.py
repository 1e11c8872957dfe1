"""Polyphonic DDSP instrument from MIDI: chords on a monophonic model, one model state and synth per voice.

:class:`PolyInstrument` holds up to ``voices`` (8) voices that each keep their own controls-model state (the GRU),
harmonic and noise synthesiser, each driven by its own :class:`~tonehost.realtime.midi.input.MidiVoice`. It takes
MIDI messages (``handle(msg)``, the interface :func:`~tonehost.realtime.midi.input.open_midi_input` feeds) and
renders the sum (``process(block)``):

- note on: a free voice (silent longest), else the oldest sounding one is stolen (its note ends, the new one
  starts on the same voice; a voice already playing the same note is re-struck);
- note off: the voice releases, unless the sustain pedal (CC 64 >= 64) is down, in which case it keeps sounding
  until the pedal is lifted; all-notes-off / all-sound-off (CC 123 / 120) release everything;
- pitch bend applies to every voice;
- a voice whose note ended and whose loudness has decayed below audibility is idle: it costs nothing (no model
  step, no synthesis) until it gets a note again.

The voices are batched: they share one clock of model frames (the one-voice pipeline's: 250 frames/s for the
magenta.js instruments), and at each model frame ONE call of the controls model's batched variant
(:func:`tonehost.exports.convert.ddsp_sequence.batched_model_path`, derived from the step graph: ``[N, 1]``
controls, ``[N, R]`` states) steps every sounding voice; the frames go into per-voice rings stacked on a voice
axis, and one Numba call per block (:func:`tonehost.dsp.poly_synth.poly_synth_block`) renders and sums all
sounding voices. Between model frames nothing runs per voice.
"""
from __future__ import annotations

import copy
import threading
import time
from dataclasses import replace

import numpy as np

from tonehost.dsp.harmonic import make_harmonic_state
from tonehost.dsp.noise import make_noise_state
from tonehost.dsp.poly_synth import poly_synth_block, write_voice_frames
from tonehost.dsp.resample import resample_block
from tonehost.exports.contracts.ddsp import (INPUT_F0, INPUT_PW, INPUT_STATE, OUTPUT_AMPLITUDE, OUTPUT_HARMONICS,
                                             OUTPUT_NOISE, OUTPUT_STATE, scale_db, scale_f0_hz)
from tonehost.realtime.audio.worker import BlockTimes
from tonehost.realtime.midi.input import MidiVoice
from tonehost.realtime.pipelines.instrument import FEATURE_RATE, ControlsModel, InstrumentPipeline, PipelineConfig

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
        V = int(voices)
        self.controls = controls
        # the frame clock and the synth's settings: a one-voice pipeline of the same instrument (never run)
        clock = InstrumentPipeline(copy.copy(controls), replace(cfg, reverb=False))  # (a copy: reset there)
        self._clock = clock
        self._decim, self._hop16, self.synth_hop = clock._decim, clock.tracker_cfg.hop, clock.synth_hop
        self._clock16 = self._clock_frames = self._feature_count = self._samples = 0
        self.midi: list[MidiVoice] = [MidiVoice(db_low=self.db_low, db_high=self.db_high, portamento_s=portamento_s)
                                      for _ in range(V)]
        info = controls.info
        K, R = info.n_harmonics, info.state_size
        self._ring = 256
        self._states = np.zeros((V, R), np.float32)
        self._hframes = np.zeros((V, self._ring, 2 + K))
        self._hstate = np.stack([make_harmonic_state(K) for _ in range(V)])
        self._nb = clock._nb_out
        self._nframes = np.zeros((V, self._ring, self._nb))
        self._nstate = np.stack([make_noise_state(self._nb, seed=cfg.noise_seed + v) for v in range(V)])
        self._hread = np.zeros(V, np.int64)
        self._hvis = np.zeros(V, np.int64)
        self._nread = np.zeros(V, np.int64)
        self._nvis = np.zeros(V, np.int64)
        self._written = np.zeros(V, np.int64)  # frames written per voice (harmonic and noise rings alike)
        self._due: list[tuple[int, np.ndarray]] = []  # (output sample, write counters then)
        self._ext_count = np.zeros(V, np.int64)  # feature frame of each voice's last control update
        self._k = np.arange(1, K + 1, dtype=np.float64)
        self._nyq = clock.model_nyquist
        self._noise_gain = clock._noise_gain
        self.post_gain = clock.post_gain
        self._tmp = np.zeros((2, 8192))
        self._batched = None
        try:
            from tonehost.exports.convert.ddsp_sequence import batched_model_path
            from tonehost.exports.onnx_session import make_session
            self._batched = make_session(batched_model_path(controls.path))
        except Exception:  # noqa: BLE001 - step voice by voice with the step model (same results, slower)
            self._batched = None
        #: Model frames stepped so far, and voice-frames among them (for the cost per voice).
        self.model_frames = self.voice_frames = 0
        n = V
        self.note = [-1] * n  # MIDI note per voice (-1: none)
        self.sounding = [False] * n  # key (or pedal) holds it
        self.sustained = [False] * n  # key released while the pedal was down
        self.started = [0] * n  # note-on order, for stealing
        self.idle = np.ones(n, bool)  # (an array: the sounding voices are picked by one mask per frame)
        self._order = 0
        self.pedal = False
        self.steals = 0
        self._reverb = None
        if cfg.reverb:
            from tonehost.dsp.reverb import Reverb
            self._reverb = Reverb(cfg.sample_rate, wet=cfg.reverb_wet)
        self._zeros = np.zeros(128)
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
            n = len(self.midi)
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
            if self.idle[v]:
                self._ext_count[v] = self._feature_count  # its glide/envelope clock restarts now
            self.idle[v] = False
            self.midi[v].note_on(int(note), int(velocity))
            return v

    def note_off(self, note: int) -> None:
        """Release ``note`` (held on while the sustain pedal is down)."""
        with self._lock:
            for v in range(len(self.midi)):
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
                for v in range(len(self.midi)):
                    if self.sustained[v]:
                        self._release(v)

    def all_notes_off(self) -> None:
        with self._lock:
            self.pedal = False
            for v in range(len(self.midi)):
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
    @property
    def voices(self) -> int:
        """Number of voices."""
        return len(self.midi)

    def _model_frame(self, pos: int) -> int:
        """One model frame for every sounding voice: controls, one batched model call, the rings. Returns the
        number of voices stepped."""
        act = np.flatnonzero(~self.idle)
        if len(act) == 0:
            return 0
        dt_frame = self._hop16 / FEATURE_RATE
        f0 = np.empty(len(act))
        db = np.empty(len(act))
        for i, v in enumerate(act.tolist()):
            f0[i], db[i], _ = self.midi[v]((self._feature_count - self._ext_count[v]) * dt_frame)
            self._ext_count[v] = self._feature_count
        info = self.controls.info
        f0c = np.maximum(f0, 0.0)
        if self._batched is not None:
            amp, harm, noise, st = self._batched.run(
                [OUTPUT_AMPLITUDE, OUTPUT_HARMONICS, OUTPUT_NOISE, OUTPUT_STATE],
                {INPUT_F0: scale_f0_hz(f0c, info.f0_range).reshape(-1, 1),
                 INPUT_PW: scale_db(db, info.db_range).reshape(-1, 1), INPUT_STATE: self._states[act]})
            self._states[act] = st
            amp = amp.reshape(-1)
        else:
            amp = np.zeros(len(act), np.float32)
            harm = np.zeros((len(act), info.n_harmonics), np.float32)
            noise = np.zeros((len(act), info.n_noise_bands), np.float32)
            c = self.controls
            for i, v in enumerate(act.tolist()):
                c.state = self._states[v:v + 1]
                amp[i], harm[i], noise[i] = c.step(f0c[i], db[i])
                self._states[v] = c.state[0]
        write_voice_frames(self._hframes, self._nframes, self._written, act, f0, amp.astype(np.float64),
                           np.ascontiguousarray(harm, np.float32), np.ascontiguousarray(noise, np.float32),
                           self._k, self._nyq, np.float32(self._noise_gain))
        self._due.append((pos, self._written.copy()))
        self.model_frames += 1
        self.voice_frames += len(act)
        return len(act)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Render one block (its length sets the output length; the input itself is not used).

        Returns
        -------
        numpy.ndarray, float32, shape (len(block),)
            The sum of the active voices (times ``output_gain`` and post gain, as one voice).
        """
        t0 = time.perf_counter()
        n = len(block)
        clock = self._clock
        with self._lock:
            # the frame clock: 16 kHz samples the one-voice pipeline's resampler would have made of this block
            if len(clock._down_out) < clock._down.max_out(n):
                clock._down_out = np.zeros(clock._down.max_out(n))
            if len(self._zeros) < n:
                self._zeros = np.zeros(n)
            d = clock._down
            m = resample_block(self._zeros, n, clock._down_out, d.state, d.bank, d.L, d.M)
            block_start = self._samples
            self._samples += n
            before = self._clock_frames
            self._clock16 += m
            count = self._clock16 // self._hop16 - before
            self._clock_frames += count
            active = 0
            for j in range(count):
                self._feature_count += 1
                if self._feature_count % self._decim == 0:
                    c = (before + j + 1) * self._hop16
                    active = max(active, self._model_frame(((c - 1) * d.M) // d.L + 2))
            act = ~self.idle
            active = max(active, int(act.sum()))
            if self._tmp.shape[1] < n:
                self._tmp = np.zeros((2, n))
            out = np.zeros(n)
            due = self._due
            if due:
                pos = np.fromiter((e[0] for e in due), np.int64, len(due))
                w = np.stack([e[1] for e in due])
            else:
                pos = np.zeros(0, np.int64)
                w = np.zeros((0, len(self.midi)), np.int64)
            if act.any():
                poly_synth_block(out, n, block_start, act, pos, w, w, len(due), self._hframes, self._hread,
                                 self._hvis, self._hstate, self._nframes, self._nread, self._nvis, self._nstate,
                                 float(self.cfg.sample_rate), self.synth_hop, self.post_gain, self._tmp[0],
                                 self._tmp[1])
            # frames visible from this block on are applied (an idle voice catches up at its next frame)
            end = block_start + n
            while due and due[0][0] < end:
                due.pop(0)
            for v in np.flatnonzero(act).tolist():
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
