"""The live voice instrument: control frames scheduled at a constant delay, synthesised in the audio callback.

:class:`LiveInstrument` drives an :class:`~tonehost.realtime.pipelines.instrument.InstrumentPipeline` (its tracker,
normaliser, controls model and settings) for ``tonehost play``. Instead of synthesising audio in the worker and
queueing samples through a second ring (whose fill level, and so the latency, wanders with the worker's timing),
the worker publishes *control frames*, each stamped with the engine sample it belongs to plus a fixed delay ``D``;
the engine's GIL-free callback synthesises them sample-accurately (:mod:`tonehost.dsp.scheduled`). So an input event
comes out exactly ``D`` samples (plus the analysis) later, whatever the block size, the phase of the block grid or
when the worker finished, as long as the worker finishes within ``D`` (late frames are counted in
``Engine.stats()["synth_frames_late"]``).

``D`` adapts like a jitter buffer (:class:`AdaptiveDelay`): it starts at :func:`default_delay` (one block at 128
frames / 48 kHz); when frames keep arriving late (5% of them over 5 s: an overloaded machine, a worker without
real-time priority) it grows by one block, and after a long stretch without late frames it shrinks back by one
block, never below the start value. A rare late frame leaves it alone.
Both changes wait for a moment the instrument is silent (between notes), so every note of a phrase keeps the same
latency: a late frame makes one event late, not the timing of the rest of the take uneven. Frames are never
scheduled before one already sent (a smaller ``D`` merges the frames of that stretch into the last one's sample).

What is scheduled, per block of input (16 kHz analysis as in the pipeline):

- **note starts at the exact sample** (:class:`tonehost.dsp.onset.OnsetLoudness`): when the input rises out of a
  quiet stretch while the instrument is silent, a model frame is computed ``onset_delay_ms`` later (not at the next
  point of the 4 ms model grid: the grid restarts there), with the loudness of the note's own samples (the window
  clipped to the note's start), the confidence mask opened for ``onset_confirm_ms`` while the pitch tracker settles
  (the previous pitch is held, as the tracker holds it), and its amplitude ramp shortened to ``onset_ramp_ms``;
  the model hears that first frame twice (its recurrent state answers a jump from silence one frame late);
- the model at its frame rate (250 frames/s: every 4 ms from the last note start), and at once when the tracker
  starts voicing (the register decision and the real pitch reach the model then, not up to 4 ms later);
- **pitch at the tracker's rate**: every tracker frame (2 ms) updates the synthesiser's f0 (mapped by the
  normaliser's current register and pitch shift) while the amplitudes follow the model frames' ramps piecewise
  (each sub-frame aims at the model ramp's value at its own end: the same linear ramp as one frame per hop); a
  jump of a semitone or more ramps in ``jump_ramp_ms``; where the tracker (re)starts voicing, the frame's own
  period is played at once (the tracker's smoothed f0 follows it one frame later);
- **pitch changes at the sample they are confirmed** (:class:`tonehost.dsp.pitch_change.PitchChangeDetector`):
  inside a note the newest 2 ms are checked every 2 samples against the note's period; when a new period is
  found there the synth jumps to it (``jump_ramp_ms``) with a model frame at once, instead of waiting for the
  tracker's 8 ms window, its median and its 2 ms grid; the tracker's frames that still hold the old note are
  overridden until it agrees (at most ``change_hold_ms``).

Offline (no engine attached) :meth:`LiveInstrument.process` renders the same frames with the same kernel at
``D = 0`` and returns the audio: the live output is that, delayed by ``D`` samples (bench ``bench/ddsp_jack.py``
measures both). With external control (MIDI) the frames are the model's, one per hop, as in the pipeline.
"""
from __future__ import annotations

import math
import time

import numpy as np

from tonehost.dsp.loudness import loudness_db, power_db
from tonehost.dsp.onset import OnsetLoudness
from tonehost.dsp.pitch_change import PitchChangeDetector
from tonehost.dsp.resample import resample_block
from tonehost.dsp.scheduled import ScheduledSynth
from tonehost.realtime.audio.worker import BlockTimes

__all__ = ["AdaptiveDelay", "LiveInstrument", "default_delay"]

FEATURE_RATE = 16000


class AdaptiveDelay:
    """The scheduling delay ``D`` as a jitter buffer: grow when frames keep coming late, shrink after a clean stretch.

    The policy (the adaptive playout delay of packet audio, e.g. Ramjee et al., "Adaptive playout mechanisms for
    packetized audio applications", INFOCOM 1994: the delay follows a high percentile of the lateness, not single
    late packets; here in whole blocks, because a frame's deadline is a callback):

    - over each ``window_s`` of input, the share of the frames the synthesizer applied that came late: at least
      ``grow_fraction`` (the worker keeps missing its deadline: an overloaded machine), grow by one block at the
      next silent moment, up to ``maximum``. A stall now and then (a few frames late in thousands) leaves ``D``
      alone: it makes one event late, while a change of ``D`` would move every later one. The first
      ``warmup_s`` (compiling, first model runs) and the window in which ``D`` changed (its frames were
      computed under the old ``D``) are not judged;
    - ``relax_s`` seconds without a late frame: shrink by one block at the next silent moment, down to
      ``minimum``.

    Parameters
    ----------
    minimum : int
        Samples: the start value and the floor (:func:`default_delay`).
    block_size : int
        Samples per step (the engine's period).
    sample_rate : int
        Hz.
    maximum : int or None
        Samples; default ``minimum`` + 3 blocks.
    relax_s : float
        Seconds without late frames before one block is given back.
    window_s : float
        Seconds of input per judgement.
    grow_fraction : float
        Share of late frames in a window that makes ``D`` grow (0 < f <= 1).
    warmup_s : float
        Seconds at the start that are not judged.

    Attributes
    ----------
    value : int
        The current ``D`` (samples).
    changes : list of (int, int)
        ``(input sample, new D)`` for every change, in order.

    Raises
    ------
    ValueError
        A negative ``minimum``, a block size or rate <= 0, a fraction outside (0, 1].
    """

    def __init__(self, minimum: int, block_size: int, sample_rate: int, maximum: int | None = None,
                 relax_s: float = 30.0, window_s: float = 5.0, grow_fraction: float = 0.05, warmup_s: float = 1.0):
        if minimum < 0 or block_size <= 0 or sample_rate <= 0 or not 0.0 < grow_fraction <= 1.0:
            raise ValueError("minimum >= 0, block_size > 0, sample_rate > 0 and 0 < grow_fraction <= 1 are required")
        self.minimum = int(minimum)
        self.block = int(block_size)
        self.maximum = int(maximum) if maximum is not None else self.minimum + 3 * self.block
        self.relax = int(relax_s * sample_rate)
        self.window = max(1, int(window_s * sample_rate))
        self.grow_fraction = float(grow_fraction)
        self.value = self.minimum
        self.changes: list[tuple[int, int]] = []
        self._grow = False
        self._window_start = int(warmup_s * sample_rate)  # the first window starts after the warm-up
        self._base = None  # (late, applied) at the window's start
        self._late_seen = 0
        self._clean_since = 0

    def update(self, now: int, late_total: int, applied_total: int, silent: bool) -> int:
        """Account for the engine's counters at input sample ``now``; change ``D`` if due and ``silent``.

        Parameters
        ----------
        now : int
            Input samples consumed so far.
        late_total, applied_total : int
            The engine's running counts of frames applied late and of all frames applied
            (:meth:`Engine.synth_late`); smaller values than before (the stats were reset) restart the window.
        silent : bool
            Whether the instrument is between notes (a change is applied only then).

        Returns
        -------
        int
            ``D`` in samples.
        """
        if late_total != self._late_seen:
            if late_total > self._late_seen:
                self._clean_since = now
            self._late_seen = late_total
        if now >= self._window_start:
            base = self._base
            if base is None or late_total < base[0] or applied_total < base[1]:  # a new window (or a reset)
                self._base, self._window_start = (late_total, applied_total), now
            elif now - self._window_start >= self.window:
                late, applied = late_total - base[0], applied_total - base[1]
                if applied > 0 and late >= self.grow_fraction * applied and self.value < self.maximum:
                    self._grow = True
                self._base, self._window_start = (late_total, applied_total), now
        if not silent:
            return self.value
        if self._grow:
            self._set(now, self.value + self.block)
        elif self.value > self.minimum and now - self._clean_since >= self.relax:
            self._set(now, max(self.minimum, self.value - self.block))
        return self.value

    def _set(self, now: int, value: int) -> None:
        self.value = value
        self.changes.append((now, value))
        self._grow = False
        self._base, self._window_start = None, now  # the window of a change is not judged
        self._clean_since = now


def default_delay(block_size: int, sample_rate: int = 48000, budget_ms: float = 2.6) -> int:
    """The scheduling delay ``D`` in samples: whole blocks, at least one, covering ``budget_ms`` of worker time.

    A frame computed from block ``k`` must be in the frame ring before the callback that plays its due sample:
    with ``D`` = one block that is the very next callback, so the worker has one period; at 64 frames (1.3 ms) a
    block holding a model step does not always fit, hence two blocks there (2.7 ms either way).

    Parameters
    ----------
    block_size : int
        Engine block (frames).
    sample_rate : int
        Hz.
    budget_ms : float
        Worst-case worker time per block to cover.

    Returns
    -------
    int
        Samples.
    """
    period_ms = 1000.0 * block_size / sample_rate
    return int(block_size * max(1, math.ceil(budget_ms / period_ms - 1e-9)))


class LiveInstrument:
    """Voice (or MIDI) in, scheduled control frames out (see the module docstring).

    Parameters
    ----------
    pipeline : InstrumentPipeline
        Its tracker, normaliser, model, settings, ``last`` readout, ``feature_listener`` and ``trace`` are used.
        Reverb is not applied here (``tonehost play --reverb`` keeps the pipeline's own path).
    onset : bool
        Note starts at the exact sample (see the module docstring); False: the model grid and the tracker's
        voicing alone.
    onset_delay_ms : float
        From the detected note start to its first model frame (the loudness of that much of the note).
    onset_ramp_ms : float
        The first frame's amplitude ramp.
    onset_confirm_ms : float
        How long the confidence mask stays open for the tracker to confirm the note.
    jump_ramp_ms : float
        The f0 ramp when the tracked pitch jumps by a semitone or more between tracker frames (a new note; a glide
        keeps the tracker hop's ramp).
    gap_hold_ms : float
        Unvoiced tracker frames shorter than this inside a note (a pitch change, a breathy patch) keep the mask
        open: the level holds through a legato step instead of dipping while the tracker re-locks.
    change_detect : bool
        Pitch changes inside a note at the sample they are confirmed
        (:class:`~tonehost.dsp.pitch_change.PitchChangeDetector` on the newest 2 ms: a step reaches the synth
        about 6 ms after it happened instead of the tracker's 9-12 ms), with a model frame at once.
    change_hold_ms : float
        After a detected change, tracker frames that still report the old pitch (its window holds the old note)
        are replaced by the new one for at most this long; once the tracker agrees (25 cents), or after this, the
        tracker's pitch is played again.
    change_align_ms : float
        A detected change plays this long after the new period's first repetition (the change point
        :class:`~tonehost.dsp.pitch_change.PitchChangeDetector` estimates + one new period), or when it is
        confirmed if that is later: the detector confirms a change 2-5 ms after that point depending on the
        waveform's phase, this makes the latency of a change constant (0: play each change when confirmed).
    adaptive_delay : bool
        Let ``D`` grow on late frames and shrink back after a clean stretch (:class:`AdaptiveDelay`); False:
        ``D`` stays what :meth:`attach` set.
    onset_unconfirmed_db : float
        A note start plays this much softer (dB of the model's loudness input) until the tracker confirms it
        voiced: a tap, a knock or a cough opens the onset path too, and played a 26-42 ms note at a sung note's
        level; a sung note is confirmed within a few ms, so only its first frames are softer (0: off).

    Attributes
    ----------
    delay : int
        ``D`` in samples now (set by :meth:`attach`, then adapted; 0 offline).
    adaptive : AdaptiveDelay or None
        The policy while attached with ``adaptive_delay`` (its ``changes`` list every change of ``D``).
    frames_dropped : int
        Frames the engine's ring had no room for.
    block_times : BlockTimes
        Worker CPU time per :meth:`process` call (s).
    """

    def __init__(self, pipeline, onset: bool = True, onset_delay_ms: float = 1.0, onset_ramp_ms: float = 0.5,
                 onset_confirm_ms: float = 20.0, gap_hold_ms: float = 0.0, jump_ramp_ms: float = 0.5,
                 change_detect: bool = True, change_hold_ms: float = 15.0, change_align_ms: float = 3.5,
                 adaptive_delay: bool = True, onset_unconfirmed_db: float = 12.0):
        self.pipe = pipeline
        self.onset_unconfirmed_db = float(onset_unconfirmed_db)
        self.adaptive_delay = bool(adaptive_delay)
        self.adaptive = None
        self._last_due = -(1 << 62)
        self.onset_enabled = bool(onset)
        sr = pipeline.cfg.sample_rate
        self.sample_rate = sr
        tc = pipeline.tracker_cfg
        self._hop16 = tc.hop
        self._onset_delay16 = max(1, int(round(onset_delay_ms * FEATURE_RATE / 1000.0)))
        self._onset_ramp = max(1, int(round(onset_ramp_ms * sr / 1000.0)))
        self._onset_confirm16 = int(round(onset_confirm_ms * FEATURE_RATE / 1000.0))
        self._sub_ramp = max(1, int(round(tc.hop * sr / FEATURE_RATE)))
        self._jump_ramp = max(1, int(round(jump_ramp_ms * sr / 1000.0)))
        self._jump_octaves = 1.0 / 12.0  # a semitone or more between tracker frames is a jump, not a glide
        self._f0_sent = 0.0
        self._jump_end = -(1 << 62)  # output sample where the current f0 jump ramp ends
        tc16 = tc.sample_rate
        self._change = PitchChangeDetector(tc16, tc.fmin, tc.fmax) if change_detect else None
        self._change_hold16 = int(round(change_hold_ms * tc16 / 1000.0))
        self._change_align16 = int(round(change_align_ms * tc16 / 1000.0))
        self._pending: list[tuple[int, float]] = []
        self._fast_f0 = 0.0
        self._fast_until = -1
        self._onset = OnsetLoudness(FEATURE_RATE, window=tc.loudness_window, gate_db=tc.gate_db,
                                    dc_cutoff_hz=tc.dc_cutoff_hz)
        self._engine = None
        self.delay = 0
        self._offset = 0
        self.frames_dropped = 0
        self.block_times = BlockTimes()
        self._samples_in = 0
        self._c16 = 0
        self._feature_count = 0
        self._feat = (0.0, 0.0, False)
        self._was_voiced = False
        self._onset_until = -1
        self._note_start = -(1 << 40)
        self._trigger_frame = -1
        self._f0n = 0.0
        self._last_voiced_c = -(1 << 40)
        self._gap_hold16 = int(round(gap_hold_ms * FEATURE_RATE / 1000.0))
        self._setup()

    # -- shapes ---------------------------------------------------------------------------------------------
    def _setup(self) -> None:
        pipe = self.pipe
        info = pipe.controls.info
        self._info = info
        self.n_harmonics = info.n_harmonics
        self.n_noise_bands = pipe._nb_out
        self._model_hop16 = pipe.model_hop_16k
        self._model_ramp = pipe.synth_hop
        self._k = np.arange(1, self.n_harmonics + 1, dtype=np.float64)
        self._a_from = np.zeros(self.n_harmonics)
        self._a_to = np.zeros(self.n_harmonics)
        self._r0, self._rlen = 0, 1
        self._f0_from = self._f0_to = 0.0
        self._next_model = self._model_hop16
        self._synth = ScheduledSynth(self.n_harmonics, self.n_noise_bands, self.sample_rate, capacity=512,
                                     seed=pipe.cfg.noise_seed)
        self._h = np.zeros(8192)
        self._z = np.zeros(8192)
        self._noise_buf = np.zeros(self.n_noise_bands)

    def engine_settings(self) -> dict:
        """The :class:`~tonehost.realtime.audio.engine.EngineConfig` fields the engine needs for :meth:`attach`."""
        return {"synth_harmonics": self.n_harmonics, "synth_noise_bands": self.n_noise_bands,
                "synth_hop": self._sub_ramp, "frame_capacity": 512, "synth_schedule": True,
                "noise_seed": self.pipe.cfg.noise_seed}

    def attach(self, engine, delay: int | None = None) -> "LiveInstrument":
        """Publish frames to ``engine`` (made with :meth:`engine_settings`) at ``delay`` samples (default
        :func:`default_delay` of its block size, the floor of the adaptive delay); :meth:`process` then returns
        None.

        Raises
        ------
        ValueError
            The engine has no scheduled synthesizer.
        """
        if not engine.config.synth_schedule:
            raise ValueError("the engine needs EngineConfig(**live.engine_settings()) (a scheduled synthesizer)")
        self._engine = engine
        block = engine.server_period[0] if engine.server_period else engine.config.block_size  # JACK's period rules
        self.delay = int(delay if delay is not None else default_delay(block, engine.sample_rate))
        self.adaptive = AdaptiveDelay(self.delay, block, engine.sample_rate) if self.adaptive_delay else None
        return self

    # -- the pipeline's interface ---------------------------------------------------------------------------------
    @property
    def last(self) -> dict:
        return self.pipe.last

    @property
    def controls(self):
        return self.pipe.controls

    def set_controls(self, controls) -> None:
        """Switch instrument while running (at the next model frame)."""
        self.pipe.set_controls(controls)

    def latency_budget(self, block_size: int = 128) -> dict[str, dict[str, float]]:
        """Expected delay per stage in ms, for a tone onset and a pitch step (device buffers excluded).

        Returns
        -------
        dict
            ``{"onset": {stage: ms}, "pitch_step": {stage: ms}}``; each sums to the expected latency.
        """
        sr = self.sample_rate
        t = self.pipe.tracker_cfg
        d = 1000.0 * (self.delay or default_delay(block_size, sr)) / sr
        rs = 1000.0 * self.pipe._down.delay_out() / FEATURE_RATE
        onset = {
            "resample 48k->16k": rs,
            "note start detector (1 ms envelope)": 0.1,
            "first model frame after the start": 1000.0 * self._onset_delay16 / FEATURE_RATE,
            "attack ramp to -20 dB": 0.1 * 1000.0 * self._onset_ramp / sr,
            "scheduling delay D (whole blocks >= worker budget)": d,
        }
        if self._change is not None:
            step = {
                "resample 48k->16k": rs,
                "new period repeats once (330 Hz)": 1000.0 / 330.0,
                "change confirmation margin (change_align_ms)": 1000.0 * self._change_align16 / FEATURE_RATE,
                "f0 jump ramp (half)": 1000.0 * self._jump_ramp / sr / 2,
                "scheduling delay D (whole blocks >= worker budget)": d,
            }
        else:
            step = {
                "resample 48k->16k": rs,
                "pitch analysis (half of width + period) + median": 1000.0 * t.pitch_delay_s,
                "tracker hop (wait for a frame, mean)": 1000.0 * t.hop / FEATURE_RATE / 2,
                "f0 jump ramp (half)": 1000.0 * self._jump_ramp / sr / 2,
                "scheduling delay D (whole blocks >= worker budget)": d,
            }
        return {"onset": onset, "pitch_step": step}

    # -- frames ---------------------------------------------------------------------------------------------
    def _pos(self, c16: int) -> int:
        """First output sample after the input sample that completed 16 kHz sample count ``c16``."""
        d = self.pipe._down
        return ((c16 - 1) * d.M) // d.L + 2

    def _amp_at(self, t: int) -> np.ndarray:
        frac = min(1.0, max(0.0, (t - self._r0) / self._rlen))
        return self._a_from + (self._a_to - self._a_from) * frac

    def _f0_ramp(self, pos: int, r: int, f0: float) -> int:
        """The ramp of a frame at output sample ``pos`` playing ``f0``: ``jump_ramp_ms`` when the pitch jumps a
        semitone or more from the one sent last (that jump then ends at ``pos`` + the ramp), else ``r``, but never
        past the end of a jump still under way: a frame arriving inside the jump (the tracker's or the model's
        own, a few samples after a detected change) used to retarget it from mid-way over its full 2 ms hop,
        moving the middle of the pitch change by up to 0.8 ms depending on where the grids fell."""
        if f0 > 0 and self._f0_sent > 0 and abs(math.log2(f0 / self._f0_sent)) > self._jump_octaves:
            r = min(r, self._jump_ramp)
            self._jump_end = pos + r
        elif pos < self._jump_end:
            r = max(1, min(r, self._jump_end - pos))
        return r

    def _emit(self, pos: int, ramp: int, f0: float, amps: np.ndarray, noise) -> None:
        self._f0_sent = f0
        below = self._k * f0 < 0.5 * self.sample_rate
        amp = float(amps[below].sum())
        if self._engine is not None:
            # never before a frame already sent: after D shrinks, that stretch's frames share the last one's sample
            due = max(pos + self._offset + self.delay, self._last_due)
            self._last_due = due
            ok = self._engine.push_frame(f0, amp, amps, noise, due=due, ramp=ramp)
            if not ok:
                self.frames_dropped += 1
            return
        sy = self._synth
        if sy.write - sy.read >= sy.capacity:
            self._render_until(pos)
        sy.push(pos, ramp, f0, amp, amps, noise)

    def _render_until(self, end: int) -> None:
        a, b = self._rendered - self._block_start, end - self._block_start
        if b > a:
            self._synth.render(self._h[a:], self._z[a:], b - a, self._rendered)
            self._rendered = end

    def _model_frame(self, c: int, trigger: bool) -> None:
        pipe = self.pipe
        with pipe._lock:
            pending, pipe._pending = pipe._pending, None
        if pending is not None:
            pipe._swap(pending)
            if pipe.controls.info is not self._info and (pipe.controls.info.n_harmonics != self.n_harmonics or
                                                       pipe._nb_out != self.n_noise_bands):
                raise RuntimeError("switching to a model with another number of harmonics or noise bands is not "
                                   "supported while playing live")
            self._info = pipe.controls.info
            self._model_hop16 = pipe.model_hop_16k
            self._model_ramp = pipe.synth_hop
        info = pipe.controls.info
        external = pipe._external is not None
        if external:
            if callable(pipe._external):
                pipe._ext_last = pipe._external(self._model_hop16 / FEATURE_RATE)
            f0n, dbn, voiced = pipe._ext_last
            conf = 1.0 if voiced else 0.0
            f0 = f0n
        else:
            f0, conf, voiced = self._feat
            start = self._note_start if c - self._note_start < self._onset.window else None
            ms = self._onset.mean_square(c, start)
            db = float(power_db(ms) if info.db_kind == "power_db" else loudness_db(ms))
            hold = c <= self._onset_until or c - self._last_voiced_c <= self._gap_hold16
            f0n, dbn = pipe.normalizer(f0, db, voiced, onset=hold and not voiced)
            if not voiced and c <= self._onset_until:
                dbn -= self.onset_unconfirmed_db  # not yet a voice: a tap or a cough stays a whisper
            if f0n <= 0 and c <= self._onset_until:  # the first note, nothing tracked yet: the instrument's register
                mp = pipe.normalizer.settings.mean_pitch
                f0n = 440.0 * 2.0 ** (((mp if mp is not None else 57.0) - 69.0) / 12.0)
        self._f0n = f0n
        pipe.last.update(f0_hz=f0n, confidence=conf, voiced=voiced, db=dbn, input_f0_hz=f0,
                         octave_shift=pipe.normalizer.octave_shift if not external else 0)
        if trigger:
            # the model's recurrent state answers a jump from silence one frame late: let it hear the note's
            # first frame twice (one more model call per note start) so its first frame already sounds
            pipe.controls.step(max(f0n, 0.0), dbn)
        amp, harm, noise = pipe.controls.step(max(f0n, 0.0), dbn)
        pipe.last["amplitude"] = amp
        if pipe.trace is not None:
            pipe.trace.append((self._samples_in, f0n, dbn, amp))
        g = pipe.post_gain
        hk = np.where(self._k * f0n < pipe.model_nyquist, harm, 0.0)
        below = self._k * f0n < 0.5 * self.sample_rate
        total = float(hk[below].sum())
        target = hk * (amp * g / total) if total > 0 else np.zeros(self.n_harmonics)
        target[~below] = 0.0
        nz = self._noise_buf
        nz[:] = 0.0
        nz[:len(noise)] = noise * (pipe._noise_gain * g)
        pos = self._pos(c)
        ramp = self._onset_ramp if trigger else self._model_ramp
        self._a_from = self._amp_at(pos)
        self._a_to = target
        self._r0, self._rlen = pos, ramp
        if external:
            self._emit(pos, ramp, max(f0n, 0.0), target, nz)
        else:
            r = self._f0_ramp(pos, min(self._sub_ramp, ramp), f0n)  # a new note (a detected change): short
            self._emit(pos, r, max(f0n, 0.0), self._amp_at(pos + r), nz)
        self._next_model = c + self._model_hop16

    def _with_changes(self, audio, c_start: int, cs: list, rows: list, fr) -> tuple[list, list]:
        """The tracker's frames with the pitch changes :class:`~tonehost.dsp.pitch_change.PitchChangeDetector`
        confirms merged in, in sample order (a change is a row ``(None, f0)``), each at its due sample: the
        estimated change point + the new period + ``change_align_ms`` (or when confirmed, if that is later), so
        every change of a note reaches the synth the same time after it happened wherever it fell in the
        detector's checks (a change due after this block waits for its block)."""
        if self._change is None or self.pipe._vst is not None:
            return cs, rows
        det = self._change
        at, f0 = det.process(audio, np.asarray(cs, np.int64) - c_start - 1, fr.f0_hz, fr.voiced)
        for a, s0, f in zip(at.tolist(), det.last_starts.tolist(), f0.tolist()):
            due = c_start + a + 1
            if self._change_align16 > 0:
                due = max(due, c_start + s0 + 1 + int(round(FEATURE_RATE / f)) + self._change_align16)
            self._pending.append((due, f))
        if not self._pending or self._pending[0][0] > self._c16:
            return cs, rows
        now = [p for p in self._pending if p[0] <= self._c16]
        self._pending = [p for p in self._pending if p[0] > self._c16]
        ev = sorted([(c, 0, r) for c, r in zip(cs, rows)] + [(c, 1, (None, f)) for c, f in now],
                    key=lambda e: e[:2])
        return [e[0] for e in ev], [e[2] for e in ev]

    def _change_frame(self, c: int, f0: float) -> None:
        """A pitch change confirmed at 16 kHz sample ``c``: the new pitch and a model frame now, held until the
        tracker agrees (or for ``change_hold_ms``)."""
        if c - self._last_voiced_c > self._change_hold16:
            return  # no note (the tracker's voiced frames pause across a step: its window mixes two periods)
        self._fast_f0 = f0
        self._fast_until = c + self._change_hold16
        self._feat = (f0, self._feat[1], True)
        self._was_voiced = True
        self.pipe.last.update(input_f0_hz=f0, voiced=True)
        self._next_model = c  # the model hears the new pitch now (its frame plays it in the jump ramp)

    def _tracker_frame(self, c: int, row) -> None:
        pipe = self.pipe
        if row[0] is None:
            return self._change_frame(c, row[1])
        f0, conf, voiced, pw, ld, raw = row
        if self._fast_f0 > 0:
            if c > self._fast_until or pw < self.pipe.tracker_cfg.gate_db or (
                    voiced and f0 > 0 and abs(math.log2(f0 / self._fast_f0)) < 25.0 / 1200):
                # the tracker has the new pitch (or the hold is over, or the voice is gone: the tracker wins)
                self._fast_f0 = 0.0
            else:
                f0, voiced = self._fast_f0, True  # its window still holds the old note: keep the detected pitch
        if pipe._vst is not None:
            f0, conf = pipe._vst_f0, pipe._vst_conf
            voiced = conf >= 0.5 and pw > pipe.tracker_cfg.gate_db
        elif voiced and not self._was_voiced and raw > 0:
            # the tracker starts a note on this frame's own period (its f0 follows one frame later, through its
            # median): play that period now, as the note start it is
            f0 = raw
        self._feature_count += 1
        if pipe.feature_listener is not None:
            db = pw if pipe.controls.info.db_kind == "power_db" else ld
            pipe.feature_listener(self._feature_count * self._hop16 / FEATURE_RATE, f0, voiced, db)
        pipe.last.update(input_f0_hz=f0, voiced=voiced, confidence=conf)
        self._feat = (f0, conf, voiced)
        if voiced:
            self._last_voiced_c = c
        if voiced and not self._was_voiced:
            self._next_model = c  # the tracker has the note: the model hears its pitch now
        self._was_voiced = voiced
        if self._next_model == c:
            return  # the model frame at this sample carries the pitch
        pos = self._pos(c)
        r = self._sub_ramp
        if pos < self._r0 + self._rlen:
            r = max(1, min(r, self._r0 + self._rlen - pos))
        f0m = pipe.normalizer.map_f0(f0) if f0 > 0 else self._f0n
        r = self._f0_ramp(pos, r, f0m)  # a new note jumps in a short ramp, a glide keeps the hop's
        self._emit(pos, r, f0m, self._amp_at(pos + r), None)

    # -- processing -------------------------------------------------------------------------------------------
    def process(self, block: np.ndarray):
        """Consume one block of mono input; publish its frames (attached) or return as many output samples.

        Returns
        -------
        numpy.ndarray (float32, ``len(block)``) or None
            The instrument (offline, ``D = 0``), or None when attached to an engine (it synthesises).
        """
        t0 = time.perf_counter()
        pipe = self.pipe
        x = np.asarray(block, np.float64).reshape(-1)
        n = len(x)
        down = pipe._down
        if len(pipe._down_out) < down.max_out(n):
            pipe._down_out = np.zeros(down.max_out(n))
        m = resample_block(x, n, pipe._down_out, down.state, down.bank, down.L, down.M)
        audio = pipe._down_out[:m]
        block_start = self._samples_in
        self._samples_in += n
        if self._engine is not None:
            self._offset = self._engine.last_input_position - block_start
            if self.adaptive is not None:
                if pipe._external is not None:  # MIDI: between notes
                    silent = not pipe._ext_last[2]
                else:
                    silent = not self._was_voiced and self._c16 > self._onset_until
                late, applied = self._engine.synth_late()
                self.delay = self.adaptive.update(block_start, late, applied, silent)
        else:
            if len(self._h) < n:
                self._h = np.zeros(n)
                self._z = np.zeros(n)
            self._block_start = self._rendered = block_start
        if pipe._vst is not None:
            pipe._vst_push(audio)
        c_start = self._c16
        self._c16 += m
        external = pipe._external is not None
        hop = self._hop16
        if external:
            trig = -1
            count = (self._c16 // hop) - (c_start // hop)
            first = c_start // hop
            cs = [(first + i + 1) * hop for i in range(count)]
            rows = None
            self._onset.process(audio, allow=False)
        else:
            before = pipe.tracker.frames_out
            fr = pipe.tracker.process(audio)
            cs = [(before + i + 1) * hop for i in range(len(fr))]
            rows = list(zip(fr.f0_hz.tolist(), fr.confidence.tolist(), fr.voiced.tolist(), fr.power_db.tolist(),
                            fr.loudness_db.tolist(), fr.raw_f0_hz.tolist()))
            cs, rows = self._with_changes(audio, c_start, cs, rows, fr)
            silent = not self._was_voiced and self._c16 > self._onset_until
            trig = self._onset.process(audio, allow=self.onset_enabled and silent)
        c_trig = c_start + trig + 1 if trig >= 0 else -1
        i = 0
        while True:
            ct = cs[i] if i < len(cs) else None
            cm = self._next_model if self._next_model <= self._c16 else None
            if c_trig >= 0 and (ct is None or c_trig <= ct) and (cm is None or c_trig <= cm):
                self._note_start = self._onset.rise_start
                self._onset_until = c_trig + self._onset_confirm16
                self._next_model = c_trig + self._onset_delay16
                self._trigger_frame = self._next_model
                c_trig = -1
                continue
            if ct is None and cm is None:
                break
            if ct is not None and (cm is None or ct <= cm):
                if rows is not None:
                    self._tracker_frame(ct, rows[i])
                i += 1
                continue
            self._model_frame(cm, trigger=(cm == self._trigger_frame))
        self.block_times.append(time.perf_counter() - t0)
        if self._engine is not None:
            return None
        self._render_until(block_start + n)
        return (self._h[:n] + self._z[:n]).astype(np.float32)

    def render(self, audio: np.ndarray, block_size: int = 128) -> np.ndarray:
        """Offline, block by block (``D = 0``): what the live instrument plays, without the scheduling delay."""
        x = np.asarray(audio, np.float64).reshape(-1)
        return np.concatenate([self.process(x[i:i + block_size]) for i in range(0, len(x), block_size)]) \
            if len(x) else np.zeros(0, np.float32)


# ---------------------------------------------------------------------------------------------- measuring

EVENT_CYCLE = (0.25, 0.3, 0.3)  # seconds of silence, 220 Hz, 330 Hz in one cycle of event_signal


def event_signal(sr: int, cycles: int, seed: int = 0) -> tuple[np.ndarray, list[float], list[float]]:
    """Many latency events: ``cycles`` x (silence, a 220 Hz voice-like tone, a step to 330 Hz).

    Each silence and each 220 Hz stretch is lengthened by a random fraction of 4 ms, so the onsets and the steps
    fall at every phase of the block, tracker and model grids (independently of each other).

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    cycles : int
    seed : int

    Returns
    -------
    (numpy.ndarray float32, list of float, list of float)
        The signal, the onset times and the step times (s).
    """
    from tonehost.dsp.features import voice_like
    rng = np.random.default_rng(seed)
    f, onsets, steps = [], [], []
    t = 0.0
    for _ in range(cycles):
        n0 = int(round((EVENT_CYCLE[0] + rng.uniform(0, 0.004)) * sr))
        n1 = int(round((EVENT_CYCLE[1] + rng.uniform(0, 0.004)) * sr))
        n2 = int(EVENT_CYCLE[2] * sr)
        onsets.append(t + n0 / sr)
        steps.append(t + (n0 + n1) / sr)
        f += [np.zeros(n0), np.full(n1, 220.0), np.full(n2, 330.0)]
        t += (n0 + n1 + n2) / sr
    f.append(np.zeros(int(0.3 * sr)))
    return voice_like(np.concatenate(f), sr, 0.25).astype(np.float32), onsets, steps


def _lagged(y: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``y`` at fractional sample positions (linear interpolation)."""
    i = np.floor(pos).astype(np.int64)
    f = pos - i
    return y[i] * (1.0 - f) + y[i + 1] * f


def _output_period(y: np.ndarray, sr: int, a: int, b: int, f: float) -> float:
    """The period (samples) at which ``y[a:b]`` repeats, in the octave of ``f`` the output plays: the shortest of
    ``sr / (f 2^k)``, k = -2..3, that repeats (nearly) as well as the best (normalised difference, YIN's eq. 6; a
    signal repeating at P also repeats at 2P, 4P: YIN's first dip rather than the global minimum)."""
    def fit(g: float) -> float:
        j = np.arange(a, b, dtype=np.float64)
        u, v = y[a:b], _lagged(y, j - sr / g)
        return float(((u - v) ** 2).sum() / max((u * u + v * v).sum(), 1e-20))

    ks = np.arange(-2, 4)
    d = np.array([fit(f * 2.0 ** k) for k in ks])
    ok = d <= max(2.0 * d.min(), d.min() + 0.02)
    return sr / (f * 2.0 ** ks[np.flatnonzero(ok)[-1]])


def step_arrival(y: np.ndarray, sr: int, t_step: float, f_from: float = 220.0, f_to: float = 330.0,
                 search_s: tuple[float, float] = (-0.005, 0.08), hold_s: float = 0.002) -> float:
    """When the output ``y`` of an instrument answering a pitch step ``f_from`` -> ``f_to`` at ``t_step`` starts
    repeating at its new period rather than its old one (ms after ``t_step``; NaN when never).

    The output's periods are found first, whatever the instrument's register: the highest octave ``k`` whose
    period ``sr / (f 2^k)`` repeats about as well as the best (normalised difference, YIN's eq. 6 over 60 ms)
    before the step for ``f_from`` and after it for ``f_to``. Then at every sample ``t`` around the step the
    normalised symmetric difference ``sum (y[j + P/2] - y[j - P/2])^2 / sum (y[j + P/2]^2 + y[j - P/2]^2)``
    over a centred box of one period is compared for the two periods: the step arrives at the first ``t`` from
    which the new period fits better for ``hold_s``. The comparison is centred (it looks half a period either
    side of ``t``) and a ratio (the instrument's level and harmonic balance do not move it): on rendered steps it
    lands within 0.3 ms of the middle of the synthesiser's f0 ramp (within 0.5 ms of a synthetic switch), where
    the 330-vs-220 Hz partial-energy test of :func:`tonehost.realtime.pipelines.instrument.detect_arrivals` lands
    2.5-3.3 ms late when the instrument plays an octave up (the partials at 660 and 1320 Hz belong to both sets, so
    its margin after the step is the third harmonic alone, and the crossing waits for the 20 ms window to be
    mostly the new note).

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
        The output (same time base as the input).
    sr : int
        Hz.
    t_step : float
        The input step (s); ``y`` must hold 80 ms before it and 120 ms after it.
    f_from, f_to : float
        The input's pitches (Hz).
    search_s : (float, float)
        Seconds around the step searched.
    hold_s : float
        How long the new period must keep fitting better.

    Returns
    -------
    float
        Milliseconds.
    """
    y = np.asarray(y, np.float64)
    s = int(round(t_step * sr))
    p_old = _output_period(y, sr, s - int(0.08 * sr), s - int(0.02 * sr), f_from)
    p_new = _output_period(y, sr, s + int(0.06 * sr), s + int(0.12 * sr), f_to)
    w = int(math.ceil(max(p_old, p_new)))
    lo = max(s + int(search_s[0] * sr) - w, int(math.ceil(max(p_old, p_new))) + 1)
    hi = min(s + int(search_s[1] * sr) + w, len(y) - w - 2)
    if hi - lo <= 2 * w:
        return float("nan")
    t = np.arange(lo, hi, dtype=np.float64)

    def curve(p: float) -> np.ndarray:
        u, v = _lagged(y, t + p / 2), _lagged(y, t - p / 2)
        num, den = np.cumsum((u - v) ** 2), np.cumsum(u * u + v * v)
        return (num[w:] - num[:-w]) / np.maximum(den[w:] - den[:-w], 1e-20)

    better = curve(p_new) < curve(p_old)
    centre = t[w // 2 + 1:w // 2 + 1 + len(better)]
    hold = max(1, int(hold_s * sr))
    for k in np.flatnonzero(better & (centre >= s + search_s[0] * sr)):
        if better[k:k + hold].all():
            return 1000.0 * (centre[k] - s) / sr
    return float("nan")


def _harmonic_basis(t: np.ndarray, sr: int, f: float, count: int) -> np.ndarray:
    """Least-squares basis of harmonics ``1..count`` of ``f`` Hz at sample times ``t``: ``[cos | sin]`` columns,
    shape ``(len(t), 2 count)``, harmonic ``k``'s cosine in column ``k - 1`` and its sine in column ``count + k - 1``."""
    th = np.outer(2.0 * np.pi * f * np.asarray(t, np.float64) / sr, np.arange(1, count + 1))
    return np.concatenate([np.cos(th), np.sin(th)], axis=1)


def _fundamental(y: np.ndarray, sr: int, a: int, b: int, f: float, harmonics: int) -> tuple[float, complex, float]:
    """Least-squares fit of harmonics ``1..harmonics`` of ``f`` (below 0.45 ``sr``) to ``y[a:b]``: the window's centre
    (sample), the fundamental's complex amplitude there (``y ~ Re(z exp(2 pi i f (n - centre) / sr))``) and the
    share of the window's energy the fit explains."""
    n = np.arange(a, b, dtype=np.float64)
    c = 0.5 * (a + b - 1)
    count = max(1, min(harmonics, int(0.45 * sr / f)))
    m = _harmonic_basis(n - c, sr, f, count)
    u = y[a:b]
    coef = np.linalg.lstsq(m, u, rcond=None)[0]
    explained = 1.0 - float(((u - m @ coef) ** 2).sum()) / max(float((u * u).sum()), 1e-30)
    return c, complex(coef[0], -coef[count]), explained


def _harmonic_octave(y: np.ndarray, sr: int, a: int, b: int, f: float, top_hz: float = 2500.0) -> float:
    """The output's fundamental (Hz) in ``y[a:b]``, in the octave of ``f`` it plays: the highest ``f 2^k``,
    k = -1..2, whose harmonics (below ``top_hz``, least squares) explain at least 90% of what the lowest octave's
    explain (a series at ``f`` is a subset of the one at ``f / 2``, so the octaves below the fundamental explain as
    much and those above it lose its odd harmonics). Unlike the repetition test of :func:`step_arrival` an
    amplitude ripple does not favour a longer period (the violin's level ripples 30-60% at 125 Hz after a step)."""
    u = y[a:b]
    energy = max(float((u * u).sum()), 1e-30)
    n = np.arange(a, b, dtype=np.float64)
    ks = np.arange(-1, 3)
    ex = []
    for k in ks:
        g = f * 2.0 ** k
        m = _harmonic_basis(n, sr, g, max(1, int(min(top_hz, 0.45 * sr) / g)))
        coef = np.linalg.lstsq(m, u, rcond=None)[0]
        ex.append(1.0 - float(((u - m @ coef) ** 2).sum()) / energy)
    ex = np.asarray(ex)
    return float(f * 2.0 ** ks[np.flatnonzero(ex >= 0.9 * ex[0])[-1]])


def _switch_time(y: np.ndarray, sr: int, lo: int, hi: int, f1: float, f2: float, harmonics: int,
                 hold: int) -> float:
    """Rough change time (sample) from ``f1`` to ``f2`` in ``y[lo:hi]``: the first window centre from which the
    harmonics of ``f2`` explain more of a centred window of ``1 / |f2 - f1|`` (a whole number of periods of both
    for a fifth) than those of ``f1``, for ``hold`` samples; NaN when never."""
    n = int(round(sr / abs(f2 - f1)))
    t = np.arange(n, dtype=np.float64) - 0.5 * (n - 1)
    q = []
    for f in (f1, f2):
        q.append(np.linalg.qr(_harmonic_basis(t, sr, f, max(1, min(harmonics, int(0.45 * sr / f)))))[0])
    a, b = lo - n // 2, hi + n
    if a < 0 or b > len(y) or b - a <= n:
        return float("nan")
    win = np.lib.stride_tricks.sliding_window_view(y[a:b], n)
    e1 = ((win @ q[0]) ** 2).sum(axis=1)
    e2 = ((win @ q[1]) ** 2).sum(axis=1)
    better = e2 > e1
    centre = a + np.arange(len(better)) + 0.5 * (n - 1)
    for k in np.flatnonzero(better & (centre >= lo)):
        if better[k:k + hold].all():
            return float(centre[k])
    return float("nan")


def step_phase_arrival(y: np.ndarray, sr: int, t_step: float, f_from: float = 220.0, f_to: float = 330.0,
                       guard_s: float = 0.0015, periods: float = 3.0, harmonics: int = 12,
                       search_s: tuple[float, float] = (-0.005, 0.08), rough_ms: float | None = None) -> float:
    """When the output ``y`` of an instrument answering a pitch step ``f_from`` -> ``f_to`` at ``t_step`` changes
    pitch, from the phase of its fundamental: the middle of the synthesiser's f0 ramp (ms after ``t_step``; NaN
    when not found).

    A harmonic synthesiser's partials follow one continuous phase (the cumulative f0, :mod:`tonehost.dsp.harmonic`),
    so before the change the fundamental's phase is the line ``phi_1 + 2 pi f_1 t`` and after it ``phi_2 + 2 pi
    f_2 t``; for a ramp of f0 symmetric about ``t_c`` (a linear ramp, or a switch) the two lines meet at ``t_c``
    exactly, whatever the model does to the harmonic amplitudes meanwhile. ``f_1``, ``f_2``: the output's
    fundamentals 20-60 ms before and 60-100 ms after the step (the octave the instrument plays them in: the highest
    whose harmonics explain the output as well as the octave below). The phases: least-squares fits of the first
    ``harmonics`` harmonics (all of them, so the others do not leak into the fundamental) over ``periods`` periods
    ending ``guard_s`` before the change and starting ``guard_s`` after it. The lines meet every
    ``1 / |f_2 - f_1|`` (the phases are known modulo 2 pi: 4.5 ms for 440 -> 660 Hz); the meeting nearest a rough
    change time is taken (the first centre from which ``f_2``'s harmonics explain a window of that length better
    than ``f_1``'s, or ``rough_ms``), then the fits are redone around it. On synthetic steps with known change
    points (random phases, ramp positions and harmonic balance, amplitude ripple and filtered noise at the
    violin's level, ``python -m bench.jitter_measures``) its own spread is a few hundredths of a ms where
    :func:`step_arrival`'s is about 0.5 ms; on the violin's offline output it lands within 0.1 ms of the f0 ramp's
    middle read from the control frames. A frequency that differs from ``f_2`` after the change (a tracker frame a
    few cents off) moves the meeting by the phase it adds over the window: hence the short windows.

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
        The output (same time base as the input); 60 ms before the step and 100 ms after it.
    sr : int
        Hz.
    t_step : float
        The input step (s).
    f_from, f_to : float
        The input's pitches (Hz).
    guard_s : float
        Seconds between the change and each fit window.
    periods : float
        Each fit window's length in periods of its frequency.
    harmonics : int
        Harmonics fitted (those below 0.45 ``sr``).
    search_s : (float, float)
        Seconds around the step searched for the rough change time.
    rough_ms : float or None
        The rough change time (ms after ``t_step``) instead of searching; it must be within half of
        ``1 / |f_2 - f_1|`` of the change.

    Returns
    -------
    float
        Milliseconds.
    """
    y = np.asarray(y, np.float64)
    s = t_step * sr
    si = int(round(s))
    if si - int(0.06 * sr) < 0 or si + int(0.10 * sr) > len(y):
        return float("nan")
    f1 = _harmonic_octave(y, sr, si - int(0.06 * sr), si - int(0.02 * sr), f_from)
    f2 = _harmonic_octave(y, sr, si + int(0.06 * sr), si + int(0.10 * sr), f_to)
    if abs(f2 - f1) < 0.01 * f1:
        return float("nan")
    if rough_ms is None:
        r = _switch_time(y, sr, si + int(search_s[0] * sr), si + int(search_s[1] * sr), f1, f2, harmonics,
                         max(1, int(0.001 * sr)))
    else:
        r = s + rough_ms * sr / 1000.0
    if not np.isfinite(r):
        return float("nan")
    g = guard_s * sr
    w1, w2 = periods * sr / f1, periods * sr / f2
    spacing = sr / (f1 - f2)
    for _ in range(2):  # the second pass centres the windows on the first pass's change
        a1, b1 = int(round(r - g - w1)), int(round(r - g))
        a2, b2 = int(round(r + g)), int(round(r + g + w2))
        if a1 < 0 or b2 > len(y):
            return float("nan")
        c1, z1, e1 = _fundamental(y, sr, a1, b1, f1, harmonics)
        c2, z2, e2 = _fundamental(y, sr, a2, b2, f2, harmonics)
        if min(e1, e2) < 0.5 or min(abs(z1), abs(z2)) == 0.0:
            return float("nan")  # not a harmonic tone at those frequencies
        # phases in cycles: p1 + f1 (t - c1) / sr = p2 + f2 (t - c2) / sr + m, m integer
        p1, p2 = np.angle(z1) / (2.0 * np.pi), np.angle(z2) / (2.0 * np.pi)
        base = (p2 - p1 + (f1 * c1 - f2 * c2) / sr) * sr / (f1 - f2)
        r = base + round((r - base) / spacing) * spacing
    return 1000.0 * (r - s) / sr


def onset_start(y: np.ndarray, sr: int, t_on: float, t_end: float, level_db: float = -50.0,
                f_ref: float = 440.0) -> float:
    """When the output ``y`` of an instrument answering a tone onset at ``t_on`` starts to sound (ms after
    ``t_on``; NaN when never before ``t_end``): its quadrature energy ``y^2 + (y' / (2 pi f_ref))^2`` first reaches
    ``level_db`` of its steady level (the median over the tone's middle, as
    :func:`tonehost.realtime.pipelines.instrument.detect_arrivals` takes it).

    The 1 ms envelope reaching -20 dB (``detect_arrivals``) depends on the phase the tone starts at: a waveform
    starting in a flat stretch (all harmonics of a harmonic synthesiser start in sine phase, and at half a cycle
    they nearly cancel with their slopes) takes a part of a period to fill the window, so on synthetic onsets with
    one known start its own spread is 0.4-0.9 ms (more for lower tones, ``python -m bench.jitter_measures``). The
    signal and its scaled derivative are never small together for long, and a level this low is reached in the
    first samples of the attack ramp: spread about 0.02 ms, bias 0.01 ms at 220-660 Hz, and on the violin's
    offline output one sample after the first control frame's due sample at every onset. It needs a quiet output
    before the note (a digital output, as offline and through JACK's dummy backend: not a microphone's noise).

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
    sr : int
        Hz.
    t_on, t_end : float
        The input onset and the end of the tone (s, in ``y``'s time base).
    level_db : float
        dB below the steady level.
    f_ref : float
        Hz: scales the derivative (a sinusoid at ``f_ref`` has constant energy).

    Returns
    -------
    float
        Milliseconds.
    """
    y = np.asarray(y, np.float64)
    d = np.diff(y, prepend=y[:1]) * (sr / (2.0 * np.pi * f_ref))
    e = y * y + d * d
    on, end = int(round(t_on * sr)), int(round(t_end * sr))
    steady = np.median(e[on + min(sr // 2, (end - on) // 3):end - min(sr // 20, (end - on) // 10)])
    hit = np.flatnonzero(e[on:end] > 10.0 ** (level_db / 10.0) * steady)
    return 1000.0 * hit[0] / sr if len(hit) else float("nan")


def event_latencies(y: np.ndarray, sr: int, onsets, steps, measures=None) -> dict[str, np.ndarray]:
    """Per-event latency (ms) in the output ``y`` of :func:`event_signal` (same time base as the input), by every
    measure (or those named in ``measures``), on each event's own cycle.

    Parameters
    ----------
    measures : iterable of str, optional
        Keys of the result to compute (default: all five below); the others are not computed.

    Returns
    -------
    dict of numpy.ndarray (one value per event, NaN = not found)
        ``onset_envelope``: :func:`tonehost.realtime.pipelines.instrument.detect_arrivals` (the 1 ms envelope
        reaches -20 dB of the steady level; its own spread on synthetic onsets is 0.4-0.9 ms); ``onset_start``:
        :func:`onset_start` (the sound starts: -50 dB of the quadrature energy; its own spread about 0.02 ms);
        ``step_period``: :func:`step_arrival` (the output repeats at its new period rather than its old one; its
        own spread about 0.5 ms); ``step_phase``: :func:`step_phase_arrival` (the middle of the f0 ramp from the
        fundamental's phase; its own spread a few hundredths of a ms); ``step_partials``: as ``detect_arrivals``
        (the partials of 330 Hz outweigh those of 220 Hz in a centred 20 ms window: 2.5-3.3 ms later when the
        instrument plays an octave up, see :func:`step_arrival`).
    """
    from tonehost.realtime.pipelines.instrument import detect_arrivals
    names = ("onset_envelope", "onset_start", "step_period", "step_phase", "step_partials")
    out: dict[str, list] = {k: [] for k in (names if measures is None else measures)}
    for t_on, t_step in zip(onsets, steps):
        a = max(0, int(round((t_on - 0.1) * sr)))
        b = min(len(y), int(round((t_step + EVENT_CYCLE[2]) * sr)))
        seg = np.asarray(y[a:b], np.float64)
        if len(seg) < sr // 10:
            continue
        on, st = t_on - a / sr, t_step - a / sr
        r = detect_arrivals(seg, sr, on, st) if {"onset_envelope", "step_partials"} & out.keys() else None
        each = {"onset_envelope": lambda: r["onset_ms"], "onset_start": lambda: onset_start(seg, sr, on, st),
                "step_partials": lambda: r["pitch_step_ms"], "step_period": lambda: step_arrival(seg, sr, st),
                "step_phase": lambda: step_phase_arrival(seg, sr, st)}
        for k in out:
            out[k].append(each[k]())
    return {k: np.asarray(v, float) for k, v in out.items()}


def detect_events(y: np.ndarray, sr: int, onsets, steps, step: str = "period",
                  onset: str = "envelope") -> tuple[np.ndarray, np.ndarray]:
    """Per-event onset and step latency (ms) in the output ``y`` of :func:`event_signal`, by one measure each (see
    :func:`event_latencies`, which computes them all in one pass).

    Parameters
    ----------
    step : str
        ``"period"`` (default, :func:`step_arrival`), ``"phase"`` (:func:`step_phase_arrival`) or ``"partials"``.
    onset : str
        ``"envelope"`` (default, the 1 ms envelope reaching -20 dB) or ``"start"`` (:func:`onset_start`).

    Raises
    ------
    ValueError
        An unknown measure.
    """
    if step not in ("period", "partials", "phase"):
        raise ValueError(f"step must be 'period', 'phase' or 'partials', got {step!r}")
    if onset not in ("envelope", "start"):
        raise ValueError(f"onset must be 'envelope' or 'start', got {onset!r}")
    r = event_latencies(y, sr, onsets, steps, (f"onset_{onset}", f"step_{step}"))
    return r[f"onset_{onset}"], r[f"step_{step}"]


def distribution(values) -> dict:
    """p5/p50/p95, jitter (p95 - p5), count and misses of latencies in ms (NaN = not found)."""
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    if not len(v):
        return {"n": 0, "p5": float("nan"), "p50": float("nan"), "p95": float("nan"), "jitter": float("nan"),
                "missed": len(values)}
    p5, p50, p95 = np.percentile(v, [5, 50, 95])
    return {"n": int(len(v)), "p5": float(p5), "p50": float(p50), "p95": float(p95), "jitter": float(p95 - p5),
            "missed": int(len(values) - len(v))}


def measure_live_latency(pipeline, block_size: int = 128, delay: int | None = None) -> dict[str, float]:
    """Voice-in to instrument-out delays of the live instrument: offline through :class:`LiveInstrument` (the
    same frames the callback plays) plus the scheduling delay ``D`` (default :func:`default_delay`).

    Feeds :func:`tonehost.realtime.pipelines.instrument.latency_test_signal`; the onset by
    :func:`~tonehost.realtime.pipelines.instrument.detect_arrivals`, the step by :func:`step_arrival` (as
    ``bench.ddsp_jack``). Returns ``onset_ms``, ``pitch_step_ms`` and ``delay_ms`` (the pipeline is consumed).
    """
    from tonehost.realtime.pipelines.instrument import LATENCY_T_STEP, detect_arrivals, latency_test_signal
    sr = pipeline.cfg.sample_rate
    d = default_delay(block_size, sr) if delay is None else int(delay)
    y = LiveInstrument(pipeline).render(latency_test_signal(sr), block_size)
    r = detect_arrivals(y, sr)
    ms = 1000.0 * d / sr
    return {"onset_ms": r["onset_ms"] + ms, "pitch_step_ms": step_arrival(y, sr, LATENCY_T_STEP) + ms, "delay_ms": ms}
