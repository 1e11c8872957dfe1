"""The DDSP instrument pipeline: voice (or MIDI) in, instrument out, block by block or over a whole file.

:class:`InstrumentPipeline` is one worker that the live engine drives (``process(block)`` per audio block) and
that ``tonehost render`` runs over a whole array (:meth:`InstrumentPipeline.render`); both take the same code path.

Per block of input at ``sample_rate`` (48 kHz):

1. resample to 16 kHz (:class:`tonehost.dsp.resample.Resampler`, short filter: ~0.7 ms);
2. features every ``feature_hop`` = 64 samples (4 ms, 250 frames/s) from :class:`tonehost.dsp.features.VoiceTracker`
   (or the DDSP-VST pitch model, ``tracker="ddsp-vst"``, run at its own 20 ms hop);
3. the live magenta.js normalisation (:class:`tonehost.dsp.features.LiveNormalizer`), input gain, pitch shift;
4. one controls-model step per model frame (250 frames/s for hosted magenta.js instruments, 50 for DDSP-VST
   models): ONNX in the contract of :mod:`tonehost.exports.contracts.ddsp`;
5. harmonic and filtered-noise synthesis straight at the output rate (:mod:`tonehost.dsp.harmonic`, :mod:`tonehost.dsp.noise`;
   harmonics at or above the *model's* Nyquist are zeroed and the 65 noise bands are placed on a 48 kHz filter
   with the same 125 Hz band spacing, so the result equals synthesis at 16 kHz followed by ideal upsampling);
6. optional reverb (:mod:`tonehost.dsp.reverb`), post gain from the checkpoint.

The controls model can be swapped while running (:meth:`InstrumentPipeline.set_controls`): the swap happens at
the next model frame, with the new model's state starting at zero.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tonehost.exports.errors import ModelError, UsageError
from tonehost.exports.onnx_session import make_session
from tonehost.realtime.audio.worker import BlockTimes

from tonehost.dsp.harmonic import harmonic_block, make_frame_buffer, make_harmonic_state
from tonehost.dsp.noise import make_noise_frame_buffer, make_noise_state, noise_block
from tonehost.dsp.resample import Resampler, resample_block
from tonehost.exports.contracts.ddsp import (INPUT_F0, INPUT_PW, INPUT_STATE, OUTPUT_AMPLITUDE, OUTPUT_HARMONICS,
                                   OUTPUT_NOISE, OUTPUT_STATE, ContractInfo, read_metadata, scale_db,
                                   scale_f0_hz)
from tonehost.dsp._checks import zero_non_finite
from tonehost.dsp.channels import mix_to_mono
from tonehost.dsp.features import TrackerConfig, VoiceTracker
from tonehost.dsp.normalize import LiveNormalizer, NormalizerSettings

FEATURE_RATE = 16000
_RING = 256


class ControlsModel:
    """A DDSP controls model in the tonehost ONNX contract, stepped one frame at a time.

    Parameters
    ----------
    path : path of the ``.onnx`` file (with contract metadata).
    threads : onnxruntime intra-op threads.
    """

    def __init__(self, path: str | Path, threads: int = 1):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: no such model file (pass a .onnx exported with `tonehost export ddsp`, "
                             "a checkpoint directory or an id from `tonehost checkpoints list`)", self.path)
        try:
            self.info: ContractInfo = read_metadata(self.path)
        except ValueError as exc:
            raise ModelError(f"{self.path}: {exc}", self.path) from None
        self.session = make_session(self.path, threads)
        self.name = self.path.stem
        self.reset()

    def reset(self) -> None:
        """Zero the recurrent state."""
        self.state = np.zeros((1, self.info.state_size), np.float32)
        self._f0 = np.zeros((1, 1), np.float32)
        self._pw = np.zeros((1, 1), np.float32)

    def copy(self) -> "ControlsModel":
        """The same model (its ONNX session, contract and cached sequence variant shared, nothing loaded again)
        with a recurrent state of its own, zeroed: what one pipeline runs leaves another's model untouched.

        Returns
        -------
        ControlsModel
        """
        c = object.__new__(type(self))
        c.__dict__.update(self.__dict__)
        c.reset()
        return c

    def step(self, f0_hz: float, db: float):
        """One control frame: returns (amplitude, harmonic_distribution[K], noise_magnitudes[B])."""
        self._f0[0, 0] = scale_f0_hz(f0_hz, self.info.f0_range)
        self._pw[0, 0] = scale_db(db, self.info.db_range)
        amp, harm, noise, state = self.session.run(
            [OUTPUT_AMPLITUDE, OUTPUT_HARMONICS, OUTPUT_NOISE, OUTPUT_STATE],
            {INPUT_F0: self._f0, INPUT_PW: self._pw, INPUT_STATE: self.state})
        self.state = state
        return float(amp.reshape(-1)[0]), harm.reshape(-1), noise.reshape(-1)


@dataclass
class PipelineConfig:
    """Settings of :class:`InstrumentPipeline`."""

    sample_rate: int = 48000
    tracker: str = "yin"  # "yin" (the live tracker) or "ddsp-vst" (the converted DDSP-VST pitch model)
    input_gain_db: float = 0.0
    pitch_shift: float = 0.0  # semitones
    auto_register: bool = True
    reverb: bool = False
    reverb_wet: float = 0.3
    output_gain: float = 1.0
    noise_seed: int = 0
    resampler_zero_crossings: int = 8

    def __post_init__(self):
        """Every setting checked where it is made: ``DDSP(pitch_shift=float("nan"))``, ``output_gain=-1`` or
        ``reverb="yes"`` were taken as given (a NaN shift, an inverted output), while the command line refused the
        same values in one line. The ranges are the command line's
        (:mod:`tonehost.realtime.pipelines.instrument_ranges`).

        Raises
        ------
        UsageError
            A setting of the wrong type or outside its range (the message names it, its value and the range).
        """
        from tonehost.dsp._checks import MAX_RATE, check_int, check_real
        from tonehost.realtime.pipelines.instrument_ranges import MAX_GAIN, MAX_INPUT_GAIN_DB, MAX_PITCH_SHIFT

        try:
            self.sample_rate = check_int("sample_rate (Hz)", self.sample_rate, 1, MAX_RATE)
            self.input_gain_db = check_real("input_gain_db", self.input_gain_db, -MAX_INPUT_GAIN_DB,
                                            MAX_INPUT_GAIN_DB)
            self.pitch_shift = check_real("pitch_shift (semitones)", self.pitch_shift, -MAX_PITCH_SHIFT,
                                          MAX_PITCH_SHIFT)
            self.reverb_wet = check_real("reverb_wet", self.reverb_wet, 0.0, 1.0)
            self.output_gain = check_real("output_gain (linear)", self.output_gain, 0.0, MAX_GAIN)
            self.noise_seed = check_int("noise_seed", self.noise_seed, 0, 2 ** 31 - 1)
            self.resampler_zero_crossings = check_int("resampler_zero_crossings", self.resampler_zero_crossings,
                                                      1, 1024)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        for name in ("auto_register", "reverb"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise UsageError(f"{name} must be True or False, got {value!r}")
            setattr(self, name, bool(value))
        if self.tracker not in ("yin", "ddsp-vst"):
            raise UsageError(f"tracker must be 'yin' (tonehost's live tracker) or 'ddsp-vst' (DDSP-VST's model), "
                             f"got {self.tracker!r}")


def check_output_rate(sample_rate: int, controls: "ControlsModel") -> None:
    """Refuse an output rate below the model's own: its noise bands (up to the model's Nyquist) do not fit under
    the output's Nyquist (``play --sample-rate 8000`` and ``DDSP(sample_rate=11025)`` ended in a numpy broadcast
    error inside the synth).

    Raises
    ------
    UsageError
        ``sample_rate`` under the model's rate (the message names both and what to do instead).
    """
    model_rate = int(controls.info.sample_rate)
    if sample_rate < model_rate:
        raise UsageError(f"the instrument {controls.name} plays at {model_rate} Hz or more (its model's own rate), "
                         f"not {sample_rate} Hz: run it at {model_rate} Hz or more, e.g. 48000 (DDSP(sample_rate=...), "
                         "play --sample-rate or the sound server's rate), and resample afterwards if you need "
                         f"{sample_rate} Hz")


class InstrumentPipeline:
    """Voice in, DDSP instrument out (see the module docstring).

    Parameters
    ----------
    controls : ControlsModel
    config : PipelineConfig, optional
    tracker_config : TrackerConfig, optional
    """

    def __init__(self, controls: ControlsModel, config: PipelineConfig | None = None,
                 tracker_config: TrackerConfig | None = None):
        self.cfg = config or PipelineConfig()
        sr = self.cfg.sample_rate  # any integer rate: the rational resampler brings it to 16 kHz
        check_output_rate(sr, controls)
        self.tracker_cfg = tracker_config or TrackerConfig()
        self.tracker = VoiceTracker(self.tracker_cfg)
        self._down = Resampler(sr, FEATURE_RATE, zero_crossings=self.cfg.resampler_zero_crossings)
        self._down_out = np.zeros(self._down.max_out(8192))
        self._vst = None
        if self.cfg.tracker == "ddsp-vst":
            from tonehost.exports.convert.pitch_model import DDSPVSTPitchModel
            self._vst = DDSPVSTPitchModel()
            self._vst_buf = np.zeros(DDSPVSTPitchModel.frame_size, np.float32)
            self._vst_f0 = 0.0
            self._vst_conf = 0.0
        elif self.cfg.tracker != "yin":
            raise ValueError(f"unknown tracker {self.cfg.tracker!r} (use 'yin' or 'ddsp-vst')")
        self._lock = threading.Lock()
        self._pending: ControlsModel | None = None
        self._reverb = None
        if self.cfg.reverb:
            from tonehost.dsp.reverb import Reverb
            self._reverb = Reverb(sr, wet=self.cfg.reverb_wet)
        self._install(controls)
        self._external = None
        #: With an external control source, skip the voice tracker (a MIDI-driven voice has no input to track).
        self.skip_tracker = False
        self._ext_dt = 0.0
        #: Called per feature frame with ``(time_s, f0_hz, voiced, db)`` of the tracked voice (hum -> MIDI).
        self.feature_listener = None
        self._clock16 = self._clock_frames = 0
        self.block_times = BlockTimes()  # bounded: a long session keeps flat memory
        #: When a list, every model frame appends (input samples consumed so far, f0_hz, db, amplitude).
        self.trace: list[tuple[int, float, float, float]] | None = None
        self._samples_in = 0
        #: NaN/inf input samples :meth:`process` replaced by zeros so far.
        self.non_finite = 0
        #: The latest feature frame, for a display: ``f0_hz`` (to the instrument), ``input_f0_hz`` (tracked),
        #: ``octave_shift``, ``confidence``, ``voiced``, ``db``, ``amplitude``.
        self.last = {"f0_hz": 0.0, "input_f0_hz": 0.0, "octave_shift": 0, "confidence": 0.0, "voiced": False,
                     "db": -120.0, "amplitude": 0.0}

    # -- model management -----------------------------------------------------------------------------
    def _install(self, controls: ControlsModel) -> None:
        info = controls.info
        sr = self.cfg.sample_rate
        self.controls = controls
        controls.reset()
        self.model_hop_16k = int(round(FEATURE_RATE / info.frame_rate))
        if self.model_hop_16k % self.tracker_cfg.hop:
            raise ValueError(f"model hop {self.model_hop_16k} is not a multiple of the feature hop "
                             f"{self.tracker_cfg.hop}")
        self._decim = self.model_hop_16k // self.tracker_cfg.hop
        self.synth_hop = int(round(sr / info.frame_rate))
        self.normalizer = LiveNormalizer(NormalizerSettings.from_settings(info.settings, controls.name),
                                         db_kind=info.db_kind,
                                         frame_rate=float(info.frame_rate),
                                         input_gain_db=self.cfg.input_gain_db, pitch_shift=self.cfg.pitch_shift,
                                         auto_register=self.cfg.auto_register)
        self.model_nyquist = 0.5 * info.sample_rate
        K, B = info.n_harmonics, info.n_noise_bands
        self._hframes = make_frame_buffer(_RING, K, np.float64)
        self._hstate = make_harmonic_state(K)
        # Noise bands on a filter at the output rate with the model's band spacing (zeros above the model's
        # Nyquist); sqrt(sr/model_sr) keeps the in-band power equal to synthesis at the model rate.
        spacing = self.model_nyquist / (B - 1)
        self._nb_out = int(round(0.5 * sr / spacing)) + 1
        self._noise_gain = math.sqrt(sr / info.sample_rate)
        self._nframes = make_noise_frame_buffer(_RING, self._nb_out, np.float64)
        # float32 filter arithmetic (DDSP's own precision): a 48 kHz filter has 3x the taps of the model's (384
        # for 65 bands at 16 kHz), and float32 does twice the multiply-adds per vector instruction
        self._nstate = make_noise_state(self._nb_out, seed=self.cfg.noise_seed, dtype=np.float32)
        self._harm_written = self._harm_read = self._noise_written = self._noise_read = 0
        self._harm_visible = self._noise_visible = 0  # write counters the synth may see (frames become due at fixed samples)
        self._due: list[tuple[int, int, int]] = []
        self._feature_count = 0
        self._k = np.arange(1, K + 1, dtype=np.float64)
        self._h_tmp = np.zeros(n := max(8192, 4 * self.synth_hop))
        self._n_tmp = np.zeros(n)
        self.post_gain = float(info.post_gain) * self.cfg.output_gain

    def set_controls(self, controls: ControlsModel) -> None:
        """Switch instrument while running: takes effect at the next model frame (thread-safe)."""
        with self._lock:
            self._pending = controls

    def set_pitch_shift(self, semitones: float) -> None:
        self.cfg.pitch_shift = self.normalizer.pitch_shift = float(semitones)

    def set_input_gain(self, db: float) -> None:
        self.cfg.input_gain_db = self.normalizer.input_gain_db = float(db)

    # -- latency ----------------------------------------------------------------------------------------
    def latency_budget(self, block_size: int = 128) -> dict[str, float]:
        """Expected delay per stage in milliseconds (what the live stream adds on top of the device)."""
        sr = self.cfg.sample_rate
        t = self.tracker_cfg
        budget = {
            "input block": 1000.0 * block_size / sr,
            "resample 48k->16k": 1000.0 * self._down.delay_out() / FEATURE_RATE,
            "feature hop (wait for a full hop)": 1000.0 * t.hop / FEATURE_RATE / 2,
            "loudness window (half)": 1000.0 * t.loudness_delay_s,
            "pitch analysis (half of width + period) + median": 1000.0 * t.pitch_delay_s,
            "model frame (synth ramps over one hop)": 1000.0 * self.synth_hop / sr,
            "output block": 1000.0 * block_size / sr,
        }
        if self._vst is not None:
            budget["pitch analysis (half of width + period) + median"] = 1000.0 * (512 + 320 / 2) / FEATURE_RATE
        return budget

    # -- control input from outside (MIDI) ---------------------------------------------------------------
    def set_external_control(self, source=True) -> None:
        """Drive the instrument from outside instead of the voice (MIDI in).

        ``source``: True (use :meth:`push_control`), a callable ``source(dt) -> (f0_hz, db, voiced)`` called
        once per feature frame (``dt`` = frame period in seconds, e.g. :class:`tonehost.realtime.midi.input.MidiVoice`),
        or False/None to go back to the voice.
        """
        self._external = source if source else None
        self._ext_last = (0.0, -120.0, False)
        self._ext_dt = 0.0

    def push_control(self, f0_hz: float, db: float, voiced: bool = True) -> None:
        """Set the external control for the coming feature frames (f0 in Hz, loudness/power in dB)."""
        self._ext_last = (float(f0_hz), float(db), bool(voiced))

    # -- processing ---------------------------------------------------------------------------------------
    def process(self, block: np.ndarray) -> np.ndarray:
        """Consume one block of mono input at ``sample_rate``; return as many output samples (float32).

        Each model frame enters the synthesizer at a fixed output sample (just after the input sample that
        completed it), so the output does not depend on the block size. NaN/inf input samples are taken as
        silence (counted in :attr:`non_finite`).
        """
        t0 = time.perf_counter()
        # NaN/inf: silence (the tracker, the DDSP-VST model and the controls model's state kept a NaN for good)
        x, bad = zero_non_finite(np.asarray(block, np.float64).reshape(-1))
        self.non_finite += bad
        n = len(x)
        if len(self._down_out) < self._down.max_out(n):
            self._down_out = np.zeros(self._down.max_out(n))
        m = resample_block(x, n, self._down_out, self._down.state, self._down.bank, self._down.L, self._down.M)
        audio_16k = self._down_out[:m]
        block_start = self._samples_in
        self._samples_in += n
        if self._vst is not None:
            self._vst_push(audio_16k)
        hop16 = self.tracker_cfg.hop
        if self.skip_tracker and self._external is not None:
            # driven from outside (a voice of PolyInstrument): only the frame clock of the 16 kHz samples
            before = self._clock_frames
            self._clock16 += m
            count = self._clock16 // hop16 - before
            self._clock_frames += count
            rows = [(0.0, 0.0, False, -80.0, -120.0)] * count
        else:
            before = self.tracker.frames_out
            frames = self.tracker.process(audio_16k)
            rows = zip(frames.f0_hz.tolist(), frames.confidence.tolist(), frames.voiced.tolist(),
                       frames.power_db.tolist(), frames.loudness_db.tolist())
        skip_between = self.skip_tracker and self._external is not None and callable(self._external)
        for i, row in enumerate(rows):
            if skip_between and (self._feature_count + 1) % self._decim:
                # between model frames a MIDI voice only advances its clock (its glides are exponential, so
                # one step of k frames equals k steps of one)
                self._feature_count += 1
                self._ext_dt += self.tracker_cfg.hop / FEATURE_RATE
                continue
            if self._feature_frame(*row):
                c = (before + i + 1) * hop16  # 16 kHz samples that completed this frame
                pos = ((c - 1) * self._down.M) // self._down.L + 2  # first output sample after it
                self._due.append((pos, self._harm_written, self._noise_written))
        out = self._synth(n, block_start)
        self.block_times.append(time.perf_counter() - t0)
        return out

    def advance_idle(self, n: int) -> np.ndarray:
        """Let ``n`` input samples pass without work (an idle voice of a polyphonic instrument): the frame
        clock advances, no model step, no synthesis. Returns ``n`` zeros (float32)."""
        if len(self._down_out) < self._down.max_out(n):
            self._down_out = np.zeros(self._down.max_out(n))
        m = resample_block(np.zeros(n), n, self._down_out, self._down.state, self._down.bank, self._down.L,
                           self._down.M)
        self._samples_in += n
        hop16 = self.tracker_cfg.hop
        before = self._clock_frames
        self._clock16 += m
        count = self._clock16 // hop16 - before
        self._clock_frames += count
        self._feature_count += count
        return np.zeros(n, np.float32)

    def _vst_push(self, audio_16k: np.ndarray) -> None:
        # The DDSP-VST model sees the newest 1024 samples every 20 ms (320 samples), as in the plugin.
        buf = self._vst_buf
        k = len(audio_16k)
        if k >= len(buf):
            buf[:] = audio_16k[-len(buf):]
        elif k:
            buf[:-k] = buf[k:]
            buf[-k:] = audio_16k
        self._vst_count = getattr(self, "_vst_count", 0) + k
        if self._vst_count >= 320:
            self._vst_count -= 320
            r = self._vst(buf)
            self._vst_conf = r["confidence"]
            if r["confidence"] >= 0.5 and r["pw_db"] > self.tracker_cfg.gate_db:
                self._vst_f0 = r["f0_hz"]

    def _feature_frame(self, f0, conf, voiced, pw_db, ld_db) -> bool:
        """Handle one feature frame; True when it produced a model frame (written ahead into the rings)."""
        if self._vst is not None:
            f0, conf = self._vst_f0, self._vst_conf
            voiced = conf >= 0.5 and pw_db > self.tracker_cfg.gate_db
        if self._external is not None:
            if callable(self._external):
                self._ext_last = self._external(self.tracker_cfg.hop / FEATURE_RATE + self._ext_dt)
                self._ext_dt = 0.0
            f0, db, voiced = self._ext_last
            conf = 1.0 if voiced else 0.0
        else:
            db = pw_db if self.controls.info.db_kind == "power_db" else ld_db
        self._feature_count += 1
        if self.feature_listener is not None:
            self.feature_listener(self._feature_count * self.tracker_cfg.hop / FEATURE_RATE, f0, voiced, db)
        if self._feature_count % self._decim:
            # between model frames: nothing reaches the model (the tracker's own smoothing and voicing ran
            # on every frame in its kernel); the normaliser runs at the model's frame rate
            self.last.update(input_f0_hz=f0, voiced=voiced, confidence=conf)
            return False
        if self._external is not None:
            f0n, dbn = f0, db
        else:
            f0n, dbn = self.normalizer(f0, db, voiced)
        self.last.update(f0_hz=f0n, confidence=conf, voiced=voiced, db=dbn, input_f0_hz=f0,
                         octave_shift=self.normalizer.octave_shift if self._external is None else 0)
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self._swap(pending)
        amp, harm, noise = self.controls.step(max(f0n, 0.0), dbn)
        self.last["amplitude"] = amp
        if self.trace is not None:
            self.trace.append((self._samples_in, f0n, dbn, amp))
        row = self._harm_written % _RING
        h = self._hframes[row]
        h[0] = f0n
        h[1] = amp
        hk = np.where(self._k * f0n < self.model_nyquist, harm, 0.0)
        h[2:] = hk
        self._harm_written += 1
        nrow = self._nframes[self._noise_written % _RING]
        nrow[:] = 0.0
        nrow[:len(noise)] = noise * self._noise_gain
        self._noise_written += 1
        return True

    def _swap(self, controls: ControlsModel) -> None:
        old = self.controls.info
        new = controls.info
        same_shape = (old.n_harmonics, old.n_noise_bands, old.frame_rate, old.sample_rate) == \
            (new.n_harmonics, new.n_noise_bands, new.frame_rate, new.sample_rate)
        if same_shape:
            # Keep the synth state (phase, ring) so the sound continues without a click.
            self.controls = controls
            controls.reset()
            self.normalizer.settings = NormalizerSettings.from_settings(new.settings, controls.name)
            self.normalizer.db_kind = new.db_kind
            self.normalizer.reset()
            self.post_gain = float(new.post_gain) * self.cfg.output_gain
        else:
            self._install(controls)

    def _synth(self, n: int, block_start: int) -> np.ndarray:
        sr = float(self.cfg.sample_rate)
        if len(self._h_tmp) < n:
            self._h_tmp = np.zeros(n)
            self._n_tmp = np.zeros(n)
        h, nz = self._h_tmp, self._n_tmp
        done = 0
        while done < n:
            upto = n
            if self._due and self._due[0][0] - block_start <= done:
                _, self._harm_visible, self._noise_visible = self._due.pop(0)
                continue
            if self._due:
                upto = min(n, max(done, self._due[0][0] - block_start))
            k = upto - done
            self._harm_read = harmonic_block(h[done:], k, self._hframes, self._harm_read, self._harm_visible, self._hstate, sr,
                                      self.synth_hop)
            self._noise_read = noise_block(nz[done:], k, self._nframes, self._noise_read, self._noise_visible, self._nstate,
                                   self.synth_hop)
            done = upto
        y = (h[:n] + nz[:n]) * self.post_gain
        if self._reverb is not None:
            y = self._reverb.process(y)
        return y.astype(np.float32)

    # -- offline ------------------------------------------------------------------------------------------
    def file_statistics(self, blocks, sample_rate: int) -> tuple[float | None, float | None]:
        """Whole-recording statistics for :meth:`preset`: the voice tracker over every block, nothing else.

        Parameters
        ----------
        blocks : iterable of numpy.ndarray
            The recording in order, mono ``[n]`` or ``[n, channels]`` (averaged) float blocks of any size.
        sample_rate : int
            Their rate in Hz.

        Returns
        -------
        (float or None, float or None)
            Mean MIDI pitch and mean loudness (the model's ``db_kind``, dB) of the voiced frames, as magenta.js's
            ``normalizeAudioFeatures`` takes them over a whole file; None when nothing is voiced.
        """
        tracker = VoiceTracker(self.tracker_cfg)
        rs = Resampler(int(sample_rate), FEATURE_RATE, zero_crossings=self.cfg.resampler_zero_crossings) \
            if int(sample_rate) != FEATURE_RATE else None
        power = self.controls.info.db_kind == "power_db"
        sum_p = sum_db = 0.0
        n_p = n_db = 0
        for block in blocks:
            x = np.asarray(block, np.float64)
            if x.ndim > 1:
                x = mix_to_mono(x)
            for i in range(0, len(x), 1 << 16):
                part = x[i:i + (1 << 16)]
                fr = tracker.process(rs.process(part) if rs is not None else part)
                v = fr.voiced & (fr.f0_hz > 0)
                if v.any():
                    sum_p += float(np.sum(69.0 + 12.0 * np.log2(fr.f0_hz[v].astype(np.float64) / 440.0)))
                    n_p += int(v.sum())
                    db = (fr.power_db if power else fr.loudness_db)[v].astype(np.float64)
                    db = db[db > self.normalizer.active_db]
                    sum_db += float(db.sum())
                    n_db += len(db)
        return (sum_p / n_p if n_p else None), (sum_db / n_db if n_db else None)

    def preset(self, mean_pitch: float | None, level_db: float | None) -> None:
        """Start the normaliser from a whole recording's statistics (:meth:`file_statistics`): the register shift
        is magenta.js's whole-file one from the first frame, the level statistic is settled from the start."""
        self.normalizer.preset(mean_pitch, level_db)

    def render_blocks(self, blocks, sample_rate: int, tail_s: float = 0.0, block_size: int = 2048,
                      fast: bool = True):
        """Stream a recording through the pipeline: yields the instrument, block by block (memory flat in length).

        Parameters
        ----------
        blocks : iterable of numpy.ndarray
            Input blocks (mono or ``[n, channels]``, averaged) at ``sample_rate``.
        sample_rate : int
            Input rate in Hz; resampled on the fly (a streaming polyphase filter whose delay is removed) when it
            differs from the pipeline's rate.
        tail_s : float
            Seconds of silence appended (reverb tails).
        block_size : int
            Samples per :meth:`process` call (the output does not depend on it).
        fast : bool
            Many model frames per call (:func:`tonehost.realtime.pipelines.offline.render_stream`: the same
            output) when the voice tracker drives the pipeline; False: :meth:`process` block by block.

        Yields
        ------
        numpy.ndarray
            float32 output blocks at the pipeline's rate; together ``ceil(n * sr / sample_rate) + tail`` samples.
        """
        from tonehost.realtime.pipelines.offline import can_render_fast, input_at_rate, render_stream
        if fast and can_render_fast(self):
            yield from render_stream(self, blocks, sample_rate, tail_s)
            return
        # the input at the pipeline's rate (delay-compensated streaming resampler, flushed to exactly
        # ceil(n * sr / sample_rate) samples, then the tail): the same generator the offline path uses
        for y in input_at_rate(blocks, sample_rate, self.cfg.sample_rate, tail_s):
            for i in range(0, len(y), block_size):
                yield self.process(y[i:i + block_size])

    def render(self, audio: np.ndarray, sample_rate: int | None = None, block_size: int = 2048,
               tail_s: float = 0.0, progress=None, whole_file: bool = True, fast: bool = True) -> np.ndarray:
        """Run the live pipeline over a whole signal (``tonehost render``): same code path, blockwise.

        Parameters
        ----------
        audio : numpy.ndarray, shape (n,) or (n, channels)
            Float samples (channels are averaged).
        sample_rate : int, optional
            Their rate in Hz; resampled to the pipeline's rate when different (default: the pipeline's rate).
        block_size : int
            Samples per simulated stream block (the output does not depend on it).
        tail_s : float
            Seconds of silence appended (reverb tails).
        progress : callable, optional
            Called with the fraction done (0..1) now and then.
        whole_file : bool
            Normalise with the whole recording's statistics first (:meth:`file_statistics`, :meth:`preset`:
            magenta.js's register shift and a settled level from the first frame); False: exactly the live path.
        fast : bool
            Many model frames per call (the same output, see :meth:`render_blocks`); with ``whole_file`` the
            statistics then come from the frames the render itself uses (one tracker pass).

        Returns
        -------
        numpy.ndarray, float32
            At the pipeline's sample rate, ``ceil(n * rate / sample_rate)`` samples plus the tail.
        """
        x = np.asarray(audio, np.float64)
        if x.ndim > 1:
            x = mix_to_mono(x)
        sr = self.cfg.sample_rate
        sample_rate = int(sample_rate or sr)
        total = -(-len(x) * sr // sample_rate) + int(round(tail_s * sr))
        out = np.zeros(total, np.float32)
        pos = 0
        step = max(block_size, 1 << 15)
        blocks = (x[i:i + step] for i in range(0, len(x), step))
        from tonehost.realtime.pipelines.offline import can_render_fast, render_stream
        if fast and can_render_fast(self):
            ys = render_stream(self, blocks, sample_rate, tail_s, whole_file=whole_file)
        else:
            if whole_file:
                self.preset(*self.file_statistics([x], sample_rate))
            ys = self.render_blocks(blocks, sample_rate, tail_s, block_size, fast=False)
        for y in ys:
            out[pos:pos + len(y)] = y
            pos += len(y)
            if progress is not None:
                progress(min(1.0, pos / max(1, total)))
        return out[:pos]


# ---------------------------------------------------------------------------------------------- latency

def _test_tone(f0s, durs, sr, amp=0.3):
    parts = []
    phase = 0.0
    for f0, dur in zip(f0s, durs):
        n = int(dur * sr)
        if f0 <= 0:
            parts.append(np.zeros(n))
            continue
        ph = phase + 2 * np.pi * f0 * np.arange(1, n + 1) / sr
        phase = ph[-1]
        parts.append(amp * sum((0.7 ** k) * np.sin(k * ph) for k in range(1, 6)) / 2)
    return np.concatenate(parts)


def _partial_energy(frame, f0, sr):
    spec = np.abs(np.fft.rfft(frame * np.hanning(len(frame)))) ** 2
    freqs = np.fft.rfftfreq(len(frame), 1.0 / sr)
    total = 0.0
    for k in range(1, 8):
        total += spec[np.abs(freqs - k * f0) < 0.03 * k * f0].sum()
    return total


LATENCY_T_ON, LATENCY_T_STEP = 0.5, 1.5


def latency_test_signal(sr: int) -> np.ndarray:
    """Silence, then a 220 Hz voice-like tone at ``LATENCY_T_ON`` s, stepping to 330 Hz at ``LATENCY_T_STEP`` s."""
    return _test_tone([0, 220.0, 330.0], [LATENCY_T_ON, LATENCY_T_STEP - LATENCY_T_ON, 1.0], sr)


def detect_arrivals(y: np.ndarray, sr: int, t_on: float = LATENCY_T_ON,
                    t_step: float = LATENCY_T_STEP) -> dict[str, float]:
    """When the instrument's answer to :func:`latency_test_signal` arrives in its output ``y``.

    The onset arrives when the output envelope (1 ms causal RMS) first reaches -20 dB of its steady level; the
    step arrives when the output's partials at multiples of 330 Hz first outweigh those at 220 Hz (centred 20 ms
    analysis windows). ``t_on``/``t_step`` say where the input events sit in ``y``'s time base.
    Returns ``onset_ms`` and ``pitch_step_ms`` (NaN when not found).
    """
    y = np.asarray(y, np.float64)
    win = max(1, sr // 1000)
    env = np.sqrt(np.convolve(y ** 2, np.ones(win) / win)[:len(y)])
    on = int(round(t_on * sr))
    step = int(round(t_step * sr))
    # the steady level: from 0.5 s after the onset (a third of the tone when shorter) to 20-50 ms before the step
    steady = np.median(env[on + min(sr // 2, (step - on) // 3):step - min(sr // 20, (step - on) // 10)])
    hit = np.flatnonzero(env[on:step] > 0.1 * steady)
    onset_ms = 1000.0 * hit[0] / sr if len(hit) else float("nan")
    half = int(0.010 * sr)
    step_ms = float("nan")
    for c in range(step - int(0.01 * sr), min(len(y) - half, step + int(0.08 * sr)), max(1, sr // 4000)):
        frame = y[c - half:c + half]
        if _partial_energy(frame, 330.0, sr) > _partial_energy(frame, 220.0, sr):
            step_ms = 1000.0 * (c - step) / sr
            break
    return {"onset_ms": onset_ms, "pitch_step_ms": step_ms}


def measure_latency(pipeline: "InstrumentPipeline", block_size: int = 128) -> dict[str, float]:
    """Measure voice-in to instrument-out delays through :meth:`InstrumentPipeline.process` (offline).

    Feeds :func:`latency_test_signal` and applies :func:`detect_arrivals` to the output. Returns ``onset_ms``
    and ``pitch_step_ms`` (the pipeline is consumed: its state advances).
    """
    sr = pipeline.cfg.sample_rate
    y = pipeline.render(latency_test_signal(sr), sr, block_size=block_size, whole_file=False)
    return detect_arrivals(y, sr)


# ---------------------------------------------------------------------------------------------- public API

class DDSP:
    """A DDSP instrument on ONNX Runtime (magenta.js ``DDSP``): controls or a voice in, the instrument out.

    Parameters
    ----------
    checkpoint : str or os.PathLike, optional
        An exported ``.onnx`` controls model, an index id (``ddsp_violin``), a URL, a checkpoint directory or a
        DDSP-VST ``.tflite``; wins over ``instrument`` (:func:`tonehost.exports.resolve.instrument_model`).
    instrument : str
        ``violin`` (shipped with tonehost, works offline), ``flute``, ``trumpet``, ``tenor_saxophone`` (hosted).
    sample_rate : int
        Output rate in Hz: a whole number from the model's own rate (16000 for the DDSP instruments) to 1000000.
    offline : bool
        Never download.
    **settings
        Fields of :class:`PipelineConfig` for :meth:`render` (``pitch_shift`` in semitones, -48..48;
        ``input_gain_db``, -60..60; ``auto_register`` and ``reverb``, bools; ``output_gain``, linear, 0..16;
        ``tracker``, ``"yin"`` or ``"ddsp-vst"``), the command line's ranges.

    Raises
    ------
    UsageError
        A sample rate that is not a whole number of Hz, or under the model's rate; an unknown setting or a
        setting's value of the wrong type or outside its range; an empty ``checkpoint`` or one that is no str or
        path.
    TonehostError
        (ModelError, CheckpointError) the model cannot be found, fetched or converted.

    Examples
    --------
    >>> violin = tonehost.DDSP()
    >>> audio = violin.synthesize(f0_hz, loudness_db)      # one value per frame at violin.frame_rate
    >>> audio = violin.render(voice, 44100)                  # voice recording -> violin at 48 kHz
    """

    def __init__(self, checkpoint=None, instrument: str = "violin", sample_rate: int = 48000,
                 offline: bool = False, **settings):
        import dataclasses

        from tonehost.exports.resolve import instrument_model
        from tonehost.realtime.io import check_sample_rate

        sample_rate = check_sample_rate(sample_rate)  # NaN or "48000": one UsageError (int(nan) was a ValueError)
        if checkpoint is not None:
            if not isinstance(checkpoint, (str, os.PathLike)):  # 123: pathlib's TypeError
                raise UsageError(f"checkpoint must be a .onnx file, a checkpoint folder, an index id or a URL (a str "
                                 f"or a path), got {type(checkpoint).__name__}")
            if not str(checkpoint).strip():  # "": the hosted violin was downloaded (the CLI refused it already)
                raise UsageError("checkpoint is empty: leave it out (or None) for the instrument named by "
                                 "instrument=, or give a .onnx file, a checkpoint folder, an index id or a URL")
        known = [f.name for f in dataclasses.fields(PipelineConfig) if f.name != "sample_rate"]
        unknown = sorted(set(settings) - set(known))
        if unknown:  # was PipelineConfig.__init__()'s TypeError, naming a class the caller never saw
            raise UsageError(f"unknown DDSP setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; the "
                             f"settings are {', '.join(known)}")
        PipelineConfig(sample_rate=sample_rate, **settings)  # bad values fail here, not at the first render
        self.model_path = instrument_model(instrument, checkpoint, offline)
        self.controls = ControlsModel(self.model_path)
        check_output_rate(sample_rate, self.controls)
        self.sample_rate = sample_rate
        self.settings = settings

    @property
    def info(self) -> ContractInfo:
        """The model's contract: ``frame_rate``, ``n_harmonics``, ``n_noise_bands``, ``db_kind``, ``settings``."""
        return self.controls.info

    @property
    def frame_rate(self) -> float:
        """Control frames per second the model runs at (250 for magenta.js instruments, 50 for DDSP-VST)."""
        return float(self.controls.info.frame_rate)

    def pipeline(self) -> InstrumentPipeline:
        """A fresh :class:`InstrumentPipeline` of this instrument (the live worker; state starts at zero).

        Each pipeline steps a model of its own (:meth:`ControlsModel.copy`: one session, its own recurrent state):
        ``play`` measures its latency on one pipeline and then plays another, which must start from silence as
        ``render --live`` does, not from the state the measurement left (its output differed, and the two
        pipelines' models were one object).
        """
        return InstrumentPipeline(self.controls.copy(), PipelineConfig(sample_rate=self.sample_rate,
                                                                       **self.settings))

    def synthesize(self, f0_hz, loudness_db) -> np.ndarray:
        """Audio from control frames: one value of each per model frame (``frame_rate`` per second).

        Parameters
        ----------
        f0_hz : array_like, shape (frames,)
            Fundamental frequency in Hz (0 or less: held from the previous frame).
        loudness_db : array_like, shape (frames,)
            magenta.js loudness in dB (``20 log10(rms) - 20.7``, -120 = silence) for magenta.js instruments, or
            DDSP-VST power in dB (``10 log10(mean square)``, -80 = silence) for DDSP-VST models
            (``info.db_kind`` says which). Not normalised: these go to the model as given.

        Returns
        -------
        numpy.ndarray, float32, shape (frames * sample_rate / frame_rate,)
            Harmonic plus filtered noise at ``sample_rate``; frame ``i`` starts at sample
            ``i * sample_rate / frame_rate``.

        Raises
        ------
        UsageError
            Arrays that are not 1-D, empty, of different lengths, or with non-finite values.
        """
        try:
            f0 = np.asarray(f0_hz, np.float64)
            db = np.asarray(loudness_db, np.float64)
        except (TypeError, ValueError):
            raise UsageError("f0_hz and loudness_db must be arrays of numbers, one value per frame") from None
        if f0.ndim != 1 or db.ndim != 1:  # a [frames, 1] or [1, frames] array was flattened silently
            raise UsageError(f"f0_hz and loudness_db must be 1-D, one value per frame; got shapes {list(f0.shape)} "
                             f"and {list(db.shape)} (pass x.reshape(-1) if that is what you mean)")
        if len(f0) == 0:
            raise UsageError("f0_hz and loudness_db hold no frames: give at least one value of each")
        if f0.shape != db.shape:
            raise UsageError(f"f0_hz and loudness_db need one value per frame each; got {len(f0)} and {len(db)}")
        if not (np.all(np.isfinite(f0)) and np.all(np.isfinite(db))):
            raise UsageError("f0_hz and loudness_db must be finite numbers")
        pipe = self.pipeline()
        hop = pipe.synth_hop
        frames_per_model_frame = pipe._decim
        held = [0.0]
        count = [0]

        def source(_dt):
            i = min(count[0] // frames_per_model_frame, len(f0) - 1)
            count[0] += 1
            if f0[i] > 0:
                held[0] = f0[i]
            return held[0], db[i], f0[i] > 0

        pipe.set_external_control(source)
        n = len(f0) * hop
        # model frame i is computed when feature frame (i + 1) * decim completes: one model hop of delay
        y = pipe.render(np.zeros(n + hop), self.sample_rate, whole_file=False)
        return y[hop:hop + n]

    def render(self, audio: np.ndarray, sample_rate: int, tail_s: float = 0.0, live: bool = False) -> np.ndarray:
        """A voice (or any monophonic) recording played by the instrument: the live pipeline over a whole file.

        Like magenta.js, the register shift and the loudness level come from the whole recording
        (:meth:`InstrumentPipeline.file_statistics`); ``live=True`` plays it exactly as ``tonehost play`` would
        (running statistics from an empty history).

        Parameters
        ----------
        audio : array_like, shape (n,) or (n, channels)
            Float samples, or whole-number PCM (int16, int32, uint8: scaled to [-1, 1) as soundfile reads it);
            channels are averaged; NaN/inf samples become silence with one
            :class:`~tonehost.exports.errors.NonFiniteAudioWarning`.
        sample_rate : int
            Rate of ``audio`` in Hz (1000 or more).
        tail_s : float
            Seconds of silence appended (reverb tails).
        live : bool
            The live normalisation instead of the whole-file one.

        Returns
        -------
        numpy.ndarray, float32
            The instrument at :attr:`sample_rate`, ``ceil(n * sample_rate / rate)`` samples plus the tail.

        Raises
        ------
        UsageError
            A sample rate that is not a whole number of Hz from 1000 (:data:`~tonehost.dsp.features.MIN_VOICE_RATE`)
            to 1000000, a file name instead of samples, a non-numeric,
            ``[channels, n]`` (librosa's layout) or 3-D array, a tail outside 0..60 s, or ``live`` not a bool.
        """
        from tonehost.dsp._checks import check_real
        from tonehost.dsp.features import MIN_VOICE_RATE
        from tonehost.realtime.io import audio_array, check_sample_rate

        sample_rate = check_sample_rate(sample_rate, lowest=MIN_VOICE_RATE)
        if not isinstance(live, (bool, np.bool_)):  # live="no" was taken as True
            raise UsageError(f"live must be True or False, got {live!r}")
        audio = audio_array(audio)  # NaN/inf samples: zeros, with a NonFiniteAudioWarning
        try:
            tail_s = check_real("tail_s (seconds)", tail_s, 0.0, 60.0)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return self.pipeline().render(audio, sample_rate, tail_s=tail_s, whole_file=not live)
