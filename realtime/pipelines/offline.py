"""Offline rendering of an :class:`~tonehost.realtime.pipelines.instrument.InstrumentPipeline`: the live path's
output, thousands of model frames per call (``tonehost render``, :meth:`InstrumentPipeline.render`).

:meth:`InstrumentPipeline.process` handles a block at a time and steps the controls model once per model frame
(250 ONNX calls per second of audio, each with Python around it). Here the same stages run over long stretches:

1. the input at the pipeline's rate (the file resampled on the fly exactly as
   :meth:`~InstrumentPipeline.render_blocks` does, then the flush and the tail) goes through the pipeline's own
   48k -> 16k resampler and voice tracker (one Numba call per 128k-sample chunk); the model frames are the
   tracker frames the live path would hand to the model (every ``decim``-th), each with the output sample at
   which the live path makes it visible to the synthesizer;
2. with ``whole_file``, that first pass also takes the recording's statistics (voiced mean pitch and level,
   as :meth:`~InstrumentPipeline.file_statistics`, over the same frames the render uses) and keeps the model
   frames in a temporary file (21 bytes per frame, 18 MB per hour; memory stays flat in the file's length),
   so the tracker runs once, not twice;
3. the live normaliser over each chunk of model frames (:meth:`LiveNormalizer.frames`: one Numba call, the same
   values as frame by frame), then ONE call of the
   controls model's sequence variant for the chunk (:func:`tonehost.exports.convert.ddsp_sequence.sequence_model_path`:
   derived from the step graph, state carried from chunk to chunk);
4. the frames enter the synthesizers' rings at the same output samples as live, and the harmonic and noise
   kernels render between them (:meth:`InstrumentPipeline._synth`, the live code).

The output equals the live path's (``process`` block by block over the same input, after the same
:meth:`~InstrumentPipeline.preset`): bit for bit when the sequence model is the step's GRU run over time (the
shipped violin), else within the float32 rounding of a matrix product summed in another order (the model's
outputs agree to :data:`tonehost.exports.convert.ddsp_sequence.TOLERANCE` relative).

:func:`render_live_stream` (``tonehost render --live``) renders what ``tonehost play`` plays instead: its
:class:`~tonehost.realtime.pipelines.live_voice.LiveInstrument` block by block at ``D = 0``, the file streamed.
:func:`input_at_rate` is the one streaming resampling of a recording to the pipeline's rate for all of them.
"""
from __future__ import annotations

import tempfile

import numpy as np

from tonehost.dsp.channels import mix_to_mono
from tonehost.dsp.poly_synth import poly_synth_block, write_voice_frames
from tonehost.dsp.resample import Resampler
from tonehost.exports.contracts.ddsp import (INPUT_F0, INPUT_PW, INPUT_STATE, OUTPUT_AMPLITUDE, OUTPUT_HARMONICS,
                                             OUTPUT_NOISE, OUTPUT_STATE, scale_db, scale_f0_hz)

__all__ = ["SequenceRunner", "can_render_fast", "render_stream", "render_live_stream", "input_at_rate"]

_ROW = np.dtype([("f0", "<f4"), ("conf", "<f4"), ("voiced", "?"), ("db", "<f4"), ("pos", "<i8")])
_CHUNK_IN = 1 << 17  # input samples per tracker call (Python per call is then ~2% of the tracker's CPU)
_CHUNK_FRAMES = 2048  # model frames per sequence-model call (about 8 s at 250 frames/s)
_GROUP = 128  # frames written to the synth rings (256 rows: at most half) before rendering up to them


class SequenceRunner:
    """Runs a :class:`~tonehost.realtime.pipelines.instrument.ControlsModel` over many frames per call.

    The sequence variant of its step graph is built (and cached) on first use; the recurrent state is the
    ControlsModel's own ``state``, carried in and out, so stepping and sequence calls can alternate. When the
    variant cannot be built the frames are stepped one by one.
    """

    def __init__(self, controls):
        from tonehost.exports.onnx_session import make_session
        self.path = controls.path
        self.session = None
        try:
            from tonehost.exports.convert.ddsp_sequence import sequence_model_path
            self.session = make_session(sequence_model_path(controls.path))
        except Exception:  # noqa: BLE001 - any failure: step frame by frame (same results, slower)
            self.session = None

    @classmethod
    def of(cls, controls) -> "SequenceRunner":
        """The runner cached on ``controls`` (shared by copies of it, which share its step session)."""
        r = getattr(controls, "_sequence_runner", None)
        if r is None or r.path != controls.path:
            r = cls(controls)
            controls._sequence_runner = r
        return r

    def run(self, controls, f0_hz: np.ndarray, db: np.ndarray):
        """Frames ``f0_hz`` [T] (Hz, >= 0) and ``db`` [T] through the model from ``controls.state`` on.

        Returns
        -------
        (numpy.ndarray [T] float32, numpy.ndarray [T, K] float32, numpy.ndarray [T, B] float32)
            Amplitude, harmonic distribution and noise magnitudes per frame; ``controls.state`` is left after the
            last frame.
        """
        info = controls.info
        f0s = scale_f0_hz(np.asarray(f0_hz, np.float64), info.f0_range).reshape(-1, 1)
        pws = scale_db(np.asarray(db, np.float64), info.db_range).reshape(-1, 1)
        if self.session is not None:
            amp, harm, noise, state = self.session.run(
                [OUTPUT_AMPLITUDE, OUTPUT_HARMONICS, OUTPUT_NOISE, OUTPUT_STATE],
                {INPUT_F0: f0s, INPUT_PW: pws, INPUT_STATE: controls.state})
            controls.state = state
            return amp.reshape(-1), harm, noise
        T = len(f0s)
        amp = np.zeros(T, np.float32)
        harm = np.zeros((T, info.n_harmonics), np.float32)
        noise = np.zeros((T, info.n_noise_bands), np.float32)
        for t in range(T):
            a, h, n = controls.step(float(f0_hz[t]), float(db[t]))
            amp[t], harm[t], noise[t] = a, h, n
        return amp, harm, noise


def can_render_fast(pipe) -> bool:
    """Whether :func:`render_stream` gives ``pipe``'s live output: the voice tracker drives it (not the DDSP-VST
    pitch model, not an external/MIDI source) and nobody listens to individual feature frames."""
    return pipe._vst is None and pipe._external is None and pipe.feature_listener is None


def input_at_rate(blocks, sample_rate: int, rate: int, tail_s: float = 0.0):
    """The input as :meth:`InstrumentPipeline.render_blocks` feeds it to ``process``: float64 arrays at ``rate``
    (resampled by a streaming polyphase filter whose delay is removed, flushed to exactly
    ``ceil(n * rate / sample_rate)`` samples), then ``tail_s`` seconds of zeros."""
    sample_rate = int(sample_rate)
    rs = Resampler(sample_rate, rate) if sample_rate != rate else None
    skip = int(round(rs.delay_out())) if rs is not None else 0
    n_in = produced = 0

    def convert(x):
        nonlocal skip
        y = rs.process(x)
        if skip:
            cut = min(skip, len(y))
            y, skip = y[cut:], skip - cut
        return y

    for block in blocks:
        x = np.asarray(block, np.float64)
        if x.ndim > 1:
            x = mix_to_mono(x)
        n_in += len(x)
        y = convert(x) if rs is not None else x
        produced += len(y)
        if len(y):
            yield y
    if rs is not None:
        total = -(-n_in * rate // sample_rate)
        y = convert(np.zeros(int(np.ceil(rs.delay_in())) + rs.taps + 1))[:max(0, total - produced)]
        if len(y):
            yield y
    n_tail = int(round(tail_s * rate))
    if n_tail:
        yield np.zeros(n_tail)


def render_live_stream(live, blocks, sample_rate: int, tail_s: float = 0.0, block_size: int = 128,
                       on_input=None, out_block: int = 1 << 15):
    """Render a recording exactly as ``tonehost play`` plays it: the file, streamed, through
    :meth:`LiveInstrument.process <tonehost.realtime.pipelines.live_voice.LiveInstrument.process>` in blocks of
    ``block_size`` (its offline render at ``D = 0``: the output equals ``live.render(x, block_size)`` of the whole
    input at the pipeline's rate, the scheduling delay left out).

    Parameters
    ----------
    live : LiveInstrument
        Not attached to an engine; its state continues from where it is.
    blocks : iterable of numpy.ndarray
        The recording at ``sample_rate``, mono ``[n]`` or ``[n, channels]`` (averaged), read once.
    sample_rate : int
        Its rate in Hz; resampled to the pipeline's rate by :func:`input_at_rate` (as :meth:`render_blocks`).
    tail_s : float
        Seconds of silence appended.
    block_size : int
        Samples per ``process`` call: play's audio block (the frames' timing depends on it, as live).
    on_input : callable, optional
        ``on_input(n)`` after each input block of ``n`` samples has been rendered (progress).
    out_block : int
        Output samples gathered per yielded array.

    Yields
    ------
    numpy.ndarray, float32
        Output blocks; together ``ceil(n * rate / sample_rate) + round(tail_s * rate)`` samples (memory flat in the
        recording's length).
    """
    block_size = max(1, int(block_size))

    def counted(src):
        for b in src:
            yield b
            if on_input is not None:
                on_input(len(b))

    rest = np.zeros(0)
    outs, n_out = [], 0
    for y in input_at_rate(counted(blocks), sample_rate, live.sample_rate, tail_s):
        x = np.concatenate([rest, y]) if len(rest) else y
        full = len(x) - len(x) % block_size
        for i in range(0, full, block_size):
            o = live.process(x[i:i + block_size])
            outs.append(o)
            n_out += len(o)
        rest = x[full:]
        if n_out >= out_block:
            yield np.concatenate(outs)
            outs, n_out = [], 0
    if len(rest):
        outs.append(live.process(rest))
    if outs:
        yield np.concatenate(outs)


class _Stats:
    """Whole-recording statistics over tracker frames (:meth:`InstrumentPipeline.file_statistics`'s sums)."""

    def __init__(self, power: bool, active_db: float):
        self.power, self.active_db = power, active_db
        self.sum_p = self.sum_db = 0.0
        self.n_p = self.n_db = 0

    def add(self, fr) -> None:
        v = fr.voiced & (fr.f0_hz > 0)
        if v.any():
            self.sum_p += float(np.sum(69.0 + 12.0 * np.log2(fr.f0_hz[v].astype(np.float64) / 440.0)))
            self.n_p += int(v.sum())
            db = (fr.power_db if self.power else fr.loudness_db)[v].astype(np.float64)
            db = db[db > self.active_db]
            self.sum_db += float(db.sum())
            self.n_db += len(db)

    def result(self):
        return (self.sum_p / self.n_p if self.n_p else None), (self.sum_db / self.n_db if self.n_db else None)


def _model_frames(pipe, x48: np.ndarray, stats: _Stats | None = None) -> np.ndarray:
    """Push input at the pipeline's rate through its resampler and tracker; the model frames it completes
    (rows of ``_ROW``), with the bookkeeping ``process`` does (frame counters, input samples, display)."""
    n = len(x48)
    d = pipe._down
    x16 = d.process(x48)  # long blocks: resample_batch (the same values and state as resample_block, faster)
    pipe._samples_in += n
    before = pipe.tracker.frames_out
    fr = pipe.tracker.process(x16)
    if stats is not None:
        stats.add(fr)
    F = len(fr)
    if F == 0:
        return np.zeros(0, _ROW)
    counts = pipe._feature_count + 1 + np.arange(F)
    pipe._feature_count += F
    sel = np.flatnonzero(counts % pipe._decim == 0)
    last = F - 1
    pipe.last.update(input_f0_hz=float(fr.f0_hz[last]), voiced=bool(fr.voiced[last]),
                     confidence=float(fr.confidence[last]))
    rows = np.zeros(len(sel), _ROW)
    rows["f0"] = fr.f0_hz[sel]
    rows["conf"] = fr.confidence[sel]
    rows["voiced"] = fr.voiced[sel]
    rows["db"] = (fr.power_db if pipe.controls.info.db_kind == "power_db" else fr.loudness_db)[sel]
    c = (before + sel.astype(np.int64) + 1) * pipe.tracker_cfg.hop  # 16 kHz samples that completed each frame
    rows["pos"] = ((c - 1) * d.M) // d.L + 2  # the first output sample after it (as process)
    return rows


class _Renderer:
    """Model frames in, audio out: the normaliser, the sequence model, the synth rings and kernels."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.synth_pos = pipe._samples_in  # output samples rendered so far (process: one per input sample)
        self._tmp = (np.zeros(0), np.zeros(0), np.zeros(0))
        self._counters = np.zeros(4, np.int64)
        self._one = np.ones(1, np.bool_)
        self._written = np.zeros(1, np.int64)  # write_voice_frames' counter of the one voice
        self._voice0 = np.zeros(_GROUP, np.int64)  # ... and its voice index per frame
        self._take_due()

    def _take_due(self) -> None:
        """The frames not yet visible (``pipe._due``'s (output sample, harmonic / noise write counter) entries) as
        arrays while rendering; ``pipe._due`` holds them again after :meth:`close`."""
        due = np.array(self.pipe._due, np.int64).reshape(-1, 3)
        self.pipe._due = []
        self._dpos, self._dhw, self._dnw = (np.ascontiguousarray(due[:, c]) for c in range(3))

    def close(self) -> None:
        """Hand the pending frames back to the pipeline (``pipe._due``, as ``process`` keeps them)."""
        self.pipe._due = list(zip(self._dpos.tolist(), self._dhw.tolist(), self._dnw.tolist()))
        self._dpos = self._dhw = self._dnw = np.zeros(0, np.int64)

    def frames(self, rows: np.ndarray):
        """Normalise and run ``rows``; yields the audio up to (not including) the last row's output sample."""
        pipe = self.pipe
        T = len(rows)
        if T == 0:
            return
        with pipe._lock:
            pending, pipe._pending = pipe._pending, None
        if pending is not None:
            self.close()  # the swap may rebuild the synth (pipe._due with it)
            pipe._swap(pending)
            self._take_due()
        norm = pipe.normalizer
        f0n, dbn = norm.frames(rows["f0"], rows["db"], rows["voiced"])  # = norm(...) frame by frame
        amp, harm, noise = SequenceRunner.of(pipe.controls).run(pipe.controls, np.maximum(f0n, 0.0), dbn)
        if pipe.trace is not None:
            pipe.trace.extend(zip(rows["pos"].tolist(), f0n.tolist(), dbn.tolist(), amp.astype(np.float64).tolist()))
        pipe.last.update(f0_hz=float(f0n[-1]), confidence=float(rows["conf"][-1]), voiced=bool(rows["voiced"][-1]),
                         db=float(dbn[-1]), input_f0_hz=float(rows["f0"][-1]),
                         octave_shift=norm.octave_shift, amplitude=float(amp[-1]))
        f0w = np.ascontiguousarray(f0n, np.float64)
        ampw = amp.astype(np.float64)
        harm = np.ascontiguousarray(harm, np.float32)
        noise = np.ascontiguousarray(noise, np.float32)
        gain = np.float32(pipe._noise_gain)  # float32 bands times a Python float are float32 in numpy: the same
        for a in range(0, T, _GROUP):
            b = min(T, a + _GROUP)
            g = b - a
            hw = pipe._harm_written
            nw = pipe._noise_written  # = hw: process() writes a frame to both rings, one after the other
            # process()'s ring rows of g frames in one Numba call (PolyInstrument's, one voice): f0, amplitude,
            # the harmonics at or above the model's Nyquist zeroed; the noise bands times the gain, zeros above
            self._written[0] = hw
            write_voice_frames(pipe._hframes[None], pipe._nframes[None], self._written, self._voice0[:g],
                               f0w[a:b], ampw[a:b], harm[a:b], noise[a:b], pipe._k, pipe.model_nyquist, gain)
            pipe._harm_written += g
            pipe._noise_written += g
            self._dpos = np.concatenate([self._dpos, rows["pos"][a:b]])
            self._dhw = np.concatenate([self._dhw, np.arange(hw + 1, hw + g + 1, dtype=np.int64)])
            self._dnw = np.concatenate([self._dnw, np.arange(nw + 1, nw + g + 1, dtype=np.int64)])
            # later frames become visible after this one: render up to it (never past the input consumed)
            yield from self.until(min(int(rows["pos"][b - 1]), pipe._samples_in))

    def until(self, end: int):
        """Render the output up to (not including) absolute sample ``end``, in spans of at most 32k samples:
        the live path's synthesis (:meth:`InstrumentPipeline._synth`: the harmonic and noise kernels between the
        frames' output samples, times the post gain, then the reverb) in one Numba call per span
        (:func:`tonehost.dsp.poly_synth.poly_synth_block` with one voice: the same kernels, the same values)."""
        pipe = self.pipe
        while self.synth_pos < end:
            n = min(end - self.synth_pos, 1 << 15)
            if len(self._tmp[0]) < n:
                self._tmp = (np.zeros(n), np.zeros(n), np.zeros(n))
            out, th, tn = self._tmp
            pos, hw, nw = self._dpos, self._dhw.reshape(-1, 1), self._dnw.reshape(-1, 1)
            c = self._counters
            c[:] = (pipe._harm_read, pipe._harm_visible, pipe._noise_read, pipe._noise_visible)
            h, ns = pipe._hframes, pipe._nframes
            poly_synth_block(out, n, self.synth_pos, self._one, pos, hw, nw, len(pos), h.reshape((1,) + h.shape),
                             c[0:1], c[1:2], pipe._hstate.reshape(1, -1), ns.reshape((1,) + ns.shape), c[2:3],
                             c[3:4], pipe._nstate.reshape(1, -1), float(pipe.cfg.sample_rate), pipe.synth_hop,
                             pipe.post_gain, th, tn)
            pipe._harm_read, pipe._harm_visible, pipe._noise_read, pipe._noise_visible = (int(v) for v in c)
            stop = self.synth_pos + n
            k = int(np.searchsorted(pos, stop))  # the frames now visible (due samples ascending)
            self._dpos, self._dhw, self._dnw = self._dpos[k:], self._dhw[k:], self._dnw[k:]
            y = out[:n]
            if pipe._reverb is not None:
                y = pipe._reverb.process(y)
            self.synth_pos += n
            yield y.astype(np.float32)


def render_stream(pipe, blocks, sample_rate: int, tail_s: float = 0.0, whole_file: bool = False,
                  on_input=None):
    """Render a recording with ``pipe``, as :meth:`InstrumentPipeline.render_blocks` (and, with ``whole_file``,
    after :meth:`InstrumentPipeline.preset` with the recording's own statistics), many frames per model call.

    Parameters
    ----------
    pipe : InstrumentPipeline
        Its state (tracker, normaliser, model state, synth) continues from where it is and is left at the end,
        as after ``process`` over the same input (:func:`can_render_fast` must hold).
    blocks : iterable of numpy.ndarray
        The recording at ``sample_rate``, mono ``[n]`` or ``[n, channels]`` (averaged), read once.
    sample_rate : int
        Its rate in Hz.
    tail_s : float
        Seconds of silence appended.
    whole_file : bool
        First pass over the whole recording: its statistics preset the normaliser (magenta.js's whole-file
        register shift and level); the model frames wait in a temporary file meanwhile.
    on_input : callable, optional
        ``on_input(n)`` after each input block of ``n`` samples has been analysed (progress).

    Yields
    ------
    numpy.ndarray, float32
        Output blocks; together ``ceil(n * rate / sample_rate) + tail`` samples at the pipeline's rate.
    """
    rate = pipe.cfg.sample_rate

    def counted(src):
        for b in src:
            yield b
            if on_input is not None:
                on_input(len(b))

    chunks = input_at_rate(counted(blocks), sample_rate, rate, tail_s)
    r = _Renderer(pipe)
    try:
        if not whole_file:
            for x in _split(chunks):
                rows = _model_frames(pipe, x)
                yield from r.frames(rows)
                yield from r.until(pipe._samples_in)
            return
        stats = _Stats(pipe.controls.info.db_kind == "power_db", pipe.normalizer.active_db)
        with tempfile.TemporaryFile(prefix="tonehost-frames-") as tmp:
            n_rows = 0
            for x in _split(chunks):
                rows = _model_frames(pipe, x, stats)
                rows.tofile(tmp)
                n_rows += len(rows)
            pipe.preset(*stats.result())
            pipe.file_stats = stats.result()
            tmp.seek(0)
            done = 0
            while done < n_rows:
                k = min(_CHUNK_FRAMES, n_rows - done)
                rows = np.fromfile(tmp, _ROW, k)
                done += k
                yield from r.frames(rows)
            yield from r.until(pipe._samples_in)
    finally:
        r.close()  # the pipeline's state as after process, also when the caller stops early


def _split(chunks):
    """Input arrays cut to at most ``_CHUNK_IN`` samples."""
    for x in chunks:
        for i in range(0, len(x), _CHUNK_IN):
            yield np.ascontiguousarray(x[i:i + _CHUNK_IN], np.float64)
