"""Transkun V2 (Yan and Duan, 2024; pip ``transkun`` 2.0.1, MIT): the most accurate offline piano transcriber
available here, as an optional backend for ``tonehost transcribe --model transkun`` and batch runs.

Transkun is a semi-Markov CRF over note intervals on a transformer backbone, trained on MAESTRO v3 (reported
onset F1 98.3). Its weights (``transkun/pretrained/2.0.pt``, 56 MB) and config ship inside its wheel. It runs on
torch (CPU here). This module:

- reads the file block by block through :class:`~tonehost.realtime.io.AudioFile` and feeds Transkun's own
  segmentation (16 s windows every 8 s, the open notes of one window carried into the next, the same merge of
  incomplete events as ``TransKun.transcribe``), so memory is flat in the file's length and the notes equal
  ``TransKun.transcribe`` on the whole (mono) array;
- builds the model without ``torchaudio``: Transkun imports it for one HTK mel filterbank
  (``torchaudio.functional.melscale_fbanks``, no norm), and the torchaudio wheels on PyPI do not match every CPU
  torch build; :func:`melscale_fbanks` computes the same matrix and is handed to Transkun while it builds;
- needs neither ``moduleconf`` nor ``pkg_resources``: the JSON config is read directly;
- :meth:`Transkun.export_onnx` (``tonehost export transkun``, once, where torch and the transkun wheel are
  installed) writes the network up to its interval scores as ONNX plus the heads' weights: then
  :class:`~tonehost.realtime.pipelines.transkun_onnx.TranskunOnnx` runs Transkun with onnxruntime and NumPy only
  (the semi-CRF Viterbi and the heads ported), and :func:`load` picks it whenever the export is there.

Install: ``pip install 'tonehost[transkun]'`` (torch) then ``pip install --no-deps transkun==2.0.1`` (its declared
dependencies include torchaudio, which would pull a different torch build).
"""
from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path
from typing import Callable

import numpy as np

from tonehost.exports.errors import ModelError
from tonehost.exports.note_sequence import Note, NoteSequence

__all__ = ["Transkun", "check_available", "load", "melscale_fbanks", "transcribe_file_blocks", "INSTALL_HINT"]

from tonehost.exports.resolve import TRANSKUN_INSTALL as INSTALL_HINT  # noqa: E402  (what a user runs)


def check_available() -> Path:
    """Where Transkun will come from: its ONNX export (:func:`~tonehost.realtime.pipelines.transkun_onnx.export_dir`,
    run without torch) when present, else the folder of its pretrained weights in the transkun wheel
    (:func:`tonehost.exports.resolve.transkun_model`, run on torch).

    Raises
    ------
    ModelError
        No export, and torch or transkun is not installed (or the wheel lacks its weights).
    """
    from tonehost.exports.resolve import transkun_model
    from tonehost.realtime.pipelines.transkun_onnx import FILES, export_dir

    if all((export_dir() / f).is_file() for f in FILES):
        return export_dir()
    try:
        return transkun_model()[0].parent
    except ModelError as exc:
        raise ModelError(f"{exc}; or, where they are installed, run `tonehost export transkun` once and copy "
                         f"{export_dir()} here (then only onnxruntime is needed)", exc.path) from None


def load(threads: int = 1):
    """The Transkun backend: :class:`~tonehost.realtime.pipelines.transkun_onnx.TranskunOnnx` (ONNX Runtime and
    NumPy, no torch) when ``tonehost export transkun`` has been run, else :class:`Transkun` (torch).

    Raises
    ------
    ModelError
        Neither is available (:func:`check_available`).
    """
    from tonehost.realtime.pipelines.transkun_onnx import TranskunOnnx, export_dir

    if check_available() == export_dir():
        return TranskunOnnx(threads=threads)
    return Transkun(threads=threads)


def melscale_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int,
                    norm: str | None = None, mel_scale: str = "htk"):
    """``torchaudio.functional.melscale_fbanks`` for the HTK scale without normalisation (what Transkun uses).

    Triangles between ``n_mels + 2`` points equally spaced in HTK mel (``2595 log10(1 + f / 700)``) from
    ``f_min`` to ``f_max``, on ``n_freqs`` bins linearly spaced from 0 to ``sample_rate // 2``; computed in float32
    torch as torchaudio does (``torchaudio/functional/functional.py``).

    Parameters
    ----------
    n_freqs : int
        STFT bins (``n_fft // 2 + 1``).
    f_min, f_max : float
        Hz.
    n_mels : int
    sample_rate : int
        Hz.
    norm, mel_scale : str
        Only ``None`` and ``"htk"`` (Transkun's choice) are implemented.

    Returns
    -------
    torch.Tensor
        float32 ``[n_freqs, n_mels]``.

    Raises
    ------
    NotImplementedError
        Another ``norm`` or ``mel_scale``.
    """
    import torch

    if norm is not None or mel_scale != "htk":
        raise NotImplementedError("only the HTK mel scale without norm is implemented (Transkun's filterbank)")
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_min = 2595.0 * math.log10(1.0 + f_min / 700.0)
    m_max = 2595.0 * math.log10(1.0 + f_max / 700.0)
    m_pts = torch.linspace(m_min, m_max, n_mels + 2)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.max(torch.zeros(1), torch.min(down, up))


def _torchaudio_shim() -> types.ModuleType:
    mod = types.ModuleType("torchaudio")
    functional = types.ModuleType("torchaudio.functional")
    functional.melscale_fbanks = melscale_fbanks
    mod.functional = functional
    return mod


class Transkun:
    """Transkun V2 piano transcription, read block by block.

    Parameters
    ----------
    threads : int
        torch intra-op threads.
    weights : str or os.PathLike, optional
        A ``.pt`` checkpoint (default: the one in the transkun wheel), with its ``.conf`` beside it or ``conf``.
    conf : str or os.PathLike, optional
    segment_s, hop_s : float, optional
        Window length and hop in seconds (default: the config's 16 s and 8 s), as ``TransKun.transcribe``'s
        ``segmentSizeInSecond`` and ``stepInSecond``.

    Raises
    ------
    ModelError
        torch/transkun missing or the weights cannot be loaded.

    Examples
    --------
    >>> seq = Transkun().transcribe_file("take.flac")   # NoteSequence with velocities
    """

    def __init__(self, threads: int = 1, weights=None, conf=None, segment_s: float | None = None,
                 hop_s: float | None = None):
        folder = check_available()
        import torch

        torch.set_num_threads(max(1, int(threads)))
        weights = Path(weights) if weights else folder / "2.0.pt"
        conf = Path(conf) if conf else weights.with_suffix(".conf")
        try:
            cfg = json.loads(conf.read_text())["Model"]["config"]
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot read Transkun's config {conf} ({exc}); reinstall: {INSTALL_HINT}", conf) from None
        real = sys.modules.get("torchaudio")
        sys.modules["torchaudio"] = _torchaudio_shim()  # only while the model builds its mel filterbank
        try:
            from transkun.ModelTransformer import Config, TransKun, resolveOverlapping

            c = Config()
            c.__dict__.update(cfg)
            model = TransKun(conf=c)
        finally:
            if real is not None:
                sys.modules["torchaudio"] = real
            else:
                sys.modules.pop("torchaudio", None)
        try:
            state = torch.load(str(weights), map_location="cpu")
        except Exception as exc:
            raise ModelError(f"cannot load Transkun weights {weights} ({exc}); reinstall: {INSTALL_HINT}",
                             weights) from None
        model.load_state_dict(state.get("best_state_dict", state.get("state_dict")), strict=False)
        model.eval()
        model.backbone.useGradientCheckpoint = False  # a training-memory device; at inference a plain call
        self.model = model
        self.sample_rate = self.fs = int(model.fs)
        self.hop_size, self.window_size = int(model.hopSize), int(model.windowSize)
        self.symbols = list(model.targetMIDIPitch)
        self.weights = weights
        self.segment_s = float(segment_s or model.segmentSizeInSecond)
        self.hop_s = float(hop_s or model.segmentHopSizeInSecond)
        self._resolve_overlapping = resolveOverlapping

    def transcribe_frames(self, frames: np.ndarray, forced_start: list[int], last_frame: int):
        """``TransKun.transcribeFrames`` on one window of frames ``[n, window]``: (events, last offset frames)."""
        import torch

        with torch.no_grad():
            events, last_p = self.model.transcribeFrames(torch.from_numpy(frames)[None, None],
                                                         forcedStartPos=forced_start, velocityCriteron="hamming",
                                                         onsetBound=None, lastFrameIdx=last_frame)
        return events[0], last_p

    def export_onnx(self, folder=None) -> Path:
        """Export everything :class:`~tonehost.realtime.pipelines.transkun_onnx.TranskunOnnx` needs to run
        Transkun without torch: ``scores.onnx`` (:meth:`export_backbone_onnx`), ``heads.npz`` (the velocity
        and onset/offset heads' weights) and ``transkun.json`` (frame sizes, windows, symbols).

        Parameters
        ----------
        folder : str or os.PathLike, optional
            Default :func:`~tonehost.realtime.pipelines.transkun_onnx.export_dir`.

        Returns
        -------
        pathlib.Path
            The folder (written through temporary names, so a reader never sees half an export).
        """
        import contextlib

        from tonehost.exports.paths import atomic_output
        from tonehost.realtime.pipelines.transkun_onnx import export_dir

        folder = Path(folder) if folder else export_dir()
        folder.mkdir(parents=True, exist_ok=True)
        m = self.model
        # all three moved into place only once all three are written; the stack unwinds backwards, so
        # transkun.json is moved last, as before
        with contextlib.ExitStack() as stack:
            cfg_json, heads_npz, scores = (stack.enter_context(atomic_output(folder / n))
                                           for n in ("transkun.json", "heads.npz", "scores.onnx"))
            self.export_backbone_onnx(scores)
            heads = {}
            for name, seq in (("vel", m.velocityPredictor), ("of", m.refinedOFPredictor)):
                heads[f"{name}_w1"], heads[f"{name}_b1"] = seq[0].weight.detach().numpy(), seq[0].bias.detach().numpy()
                heads[f"{name}_w2"], heads[f"{name}_b2"] = seq[3].weight.detach().numpy(), seq[3].bias.detach().numpy()
            with open(heads_npz, "wb") as f:
                np.savez(f, **heads)
            cfg = {"fs": self.fs, "hopSize": self.hop_size, "windowSize": self.window_size,
                   "segmentSizeInSecond": float(m.segmentSizeInSecond),
                   "segmentHopSizeInSecond": float(m.segmentHopSizeInSecond), "targetMIDIPitch": self.symbols,
                   "weights": str(self.weights), "transkun": "2.0.1"}
            cfg_json.write_text(json.dumps(cfg, indent=1))
        return folder

    def export_backbone_onnx(self, path, seconds: float = 4.0) -> Path:
        """Export Transkun's network up to its interval scores to ONNX (experimental; not used at run time yet).

        What exports: frame normalisation, the mel front end (its ``torch.fft.rfft`` rewritten as two matmuls
        with cos/sin DFT matrices, which the ONNX exporter accepts; ``torch.diag_embed`` as a product with an
        identity), the transformer backbone and the interval scorer: input ``frames`` ``[1, 1, n_frames, 4096]``
        (``transkun.Util.makeFrame`` of 44.1 kHz audio, ``n_frames`` dynamic), outputs ``score``
        ``[n, n, 90]``, ``noise_score`` ``[n - 1, 90]`` and ``ctx`` ``[1, 90, n, 256]``. What still needs torch:
        the semi-CRF decoding and the velocity/offset heads of ``TransKun.transcribeFrames`` (small, but
        Python loops over intervals). Measured here on a 4 s window: outputs within 0.09 (score), 0 (noise) and
        3e-4 (ctx) of torch, 120 MB file (67 MB of DFT matrices), ONNX Runtime 20 % faster than torch.

        Parameters
        ----------
        path : str or os.PathLike
        seconds : float
            Length of the example window traced.

        Returns
        -------
        pathlib.Path
        """
        import torch
        from transkun.Util import makeFrame

        m = self.model
        fe = m.framewiseFeatureExtractor
        n = m.windowSize
        idx = torch.arange(n, dtype=torch.float64)
        ang = 2 * math.pi * idx[:, None] * torch.arange(n // 2 + 1, dtype=torch.float64)[None, :] / n
        cos, sin = (torch.cos(ang) / math.sqrt(n)).float(), (torch.sin(ang) / math.sqrt(n)).float()

        def mel_forward(frames):
            sp = fe.spectrogramExtractor
            wins = sp.win.unsqueeze(0)
            if sp.nExtraWins > 0:
                wins = torch.cat([wins, sp.winGen.get().t()], dim=0)
            xw = frames.unsqueeze(-2) * wins
            power = ((xw @ cos) ** 2 + (xw @ sin) ** 2).transpose(-1, -2)  # |rfft(x, norm="ortho")|^2
            if fe.toMono and len(power.shape) >= 4:
                power = power.mean(dim=-4, keepdim=True)
            mel = (power.transpose(-1, -2) @ fe.freq2mels).transpose(-1, -2)
            if fe.log:
                mel = ((mel + fe.eps).log() - math.log(fe.eps)) / (-math.log(fe.eps))
            return mel

        def diag_embed(x, offset=0, dim1=-2, dim2=-1):
            return x.unsqueeze(-1) * torch.eye(x.shape[-1], dtype=x.dtype)

        class Scores(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = m  # a submodule, so its weights export as initializers

            def forward(self, frames):
                crf, ctx = self.m.processFramesBatch(frames)
                return crf.score, crf.noiseScore, ctx

        frames = makeFrame(torch.zeros(1, int(seconds * m.fs)), m.hopSize, m.windowSize).unsqueeze(0)
        saved = fe.forward, torch.diag_embed
        fe.forward, torch.diag_embed = mel_forward, diag_embed
        try:
            torch.onnx.export(Scores().eval(), (frames,), str(path), dynamo=False, opset_version=17,
                              input_names=["frames"], output_names=["score", "noise_score", "ctx"],
                              dynamic_axes={"frames": {2: "n_frames"}})  # (traced with grad on, as it must)
        finally:
            fe.forward, torch.diag_embed = saved
        return Path(path)

    def transcribe_array(self, audio: np.ndarray, sample_rate: int) -> NoteSequence:
        """Transcribe an in-memory recording (``[n]`` or ``[n, channels]``, mixed to mono).

        Returns
        -------
        NoteSequence
        """
        from tonehost.realtime.io import to_mono

        run = _SegmentRunner(self, sample_rate)
        run.push(to_mono(audio))
        return run.finish()

    def transcribe_file(self, path, progress: Callable[[float], object] | None = None) -> NoteSequence:
        """Transcribe an audio file read block by block (any rate and channel count).

        Parameters
        ----------
        path : str or os.PathLike
        progress : callable, optional
            Called with the seconds of audio read after each block.

        Returns
        -------
        NoteSequence
            Notes with Transkun's velocities (1-127), onsets and offsets in seconds; ``total_time`` the length.

        Raises
        ------
        AudioFileError
            The file is missing, not audio, empty, truncated or damaged.
        """
        return transcribe_file_blocks(self, path, progress)


def transcribe_file_blocks(tk, path, progress: Callable[[float], object] | None = None) -> NoteSequence:
    """Run Transkun ``tk`` over an audio file read block by block: the one reading loop of
    :meth:`Transkun.transcribe_file` and of
    :meth:`~tonehost.realtime.pipelines.transkun_onnx.TranskunOnnx.transcribe_file`.

    Parameters
    ----------
    tk : Transkun or TranskunOnnx
        The model (anything :class:`_SegmentRunner` runs).
    path : str or os.PathLike
        The audio file (any rate and channel count; mixed to mono).
    progress : callable, optional
        Called with the seconds of audio read after each block.

    Returns
    -------
    NoteSequence
        The notes; ``total_time`` at least the file's duration.

    Raises
    ------
    AudioFileError
        The file is missing, not audio, empty, truncated or damaged.
    """
    from tonehost.realtime.io import AudioFile

    with AudioFile(path, mono=True) as f:
        run = _SegmentRunner(tk, f.sample_rate)
        for block in f.blocks():
            run.push(block)
            if progress is not None:
                progress(len(block) / f.sample_rate)
        seq = run.finish()
        seq.total_time = max(seq.total_time, f.duration)
        return seq


class _SegmentRunner:
    """``TransKun.transcribe`` fed incrementally: the same padding, windows, carried start positions and merge.

    ``tk`` is :class:`Transkun` (torch) or :class:`~tonehost.realtime.pipelines.transkun_onnx.TranskunOnnx`: anything
    with ``fs``, ``hop_size``, ``window_size``, ``symbols``, ``segment_s``, ``hop_s`` and
    ``transcribe_frames(frames, forced_start, last_frame)``.
    """

    def __init__(self, tk, sample_rate: int):
        from tonehost.realtime.pipelines.transcriber import AudioTo16k

        self.tk = tk
        self.fs = int(tk.fs)
        self.hop_size, self.window_size = int(tk.hop_size), int(tk.window_size)
        self.rs = AudioTo16k(sample_rate, self.fs)
        step_s, seg_s = tk.hop_s, tk.segment_s
        self.pad_s = seg_s - step_s
        self.pad = math.ceil(self.pad_s * self.fs)
        self.step = math.ceil(step_s * self.fs / self.hop_size) * self.hop_size
        self.seg = math.ceil(seg_s * self.fs)
        self.buf = np.zeros(self.pad, np.float32)  # padded signal from absolute index self.buf0
        self.buf0 = 0
        self.i = 0  # next window start (absolute, in the padded signal)
        self.start_pos = [math.floor(self.pad_s * self.fs / self.hop_size)] * len(tk.symbols)
        self.by_pitch: dict[int, list] = {}
        self.n_in = 0

    def push(self, x: np.ndarray) -> None:
        self.n_in += len(x)
        self._append(self.rs.process(x))
        while self.i + self.seg <= self.buf0 + len(self.buf):
            self._window(self.buf0 + len(self.buf))

    def _append(self, y: np.ndarray) -> None:
        if len(y):
            self.buf = np.concatenate([self.buf, np.asarray(y, np.float32)])

    def _window(self, n_total: int) -> None:
        from tonehost.realtime.pipelines.transkun_onnx import make_frames

        j = min(self.i + self.seg, n_total)
        sl = np.zeros(self.seg, np.float32)
        sl[:j - self.i] = self.buf[self.i - self.buf0:j - self.buf0]
        begin = self.i / self.fs - self.pad_s
        frames = make_frames(sl, self.hop_size, self.window_size)
        events, last_p = self.tk.transcribe_frames(np.ascontiguousarray(frames), self.start_pos,
                                                   round(self.seg / self.hop_size))
        self.start_pos = [max(k - int(self.step / self.hop_size), 0) for k in last_p]
        for e in events:
            e.start = max(e.start + begin, 0)
            e.end = max(e.end + begin, e.start)
            same = self.by_pitch.setdefault(e.pitch, [])
            if same and e.start < same[-1].end:  # overlaps the last event of its pitch (TransKun.transcribe)
                if e.hasOnset:
                    same[-1] = e
                else:
                    same[-1].hasOffset = e.hasOffset
                    same[-1].end = max(e.end, same[-1].end)
                continue
            if e.hasOnset:
                same.append(e)
        self.i += self.step
        drop = self.i - self.buf0
        if drop > 0:
            self.buf = self.buf[drop:]
            self.buf0 = self.i

    def finish(self) -> NoteSequence:
        from tonehost.realtime.pipelines.transkun_onnx import resolve_overlapping

        self._append(self.rs.flush())
        self._append(np.zeros(math.ceil(self.fs * self.pad_s), np.float32))
        n_total = self.buf0 + len(self.buf)
        while self.i < n_total:
            self._window(n_total)
        for events in self.by_pitch.values():
            if events:
                events[-1].hasOffset = True
        events = [e for evs in self.by_pitch.values() for e in evs if e.hasOffset]
        events = resolve_overlapping(events)
        notes = [Note(pitch=int(e.pitch), velocity=int(max(1, min(127, e.velocity))), start_time=float(e.start),
                      end_time=float(e.end)) for e in events if e.pitch >= 0]  # negative "pitches": pedals
        notes.sort(key=lambda n: (n.start_time, n.pitch))
        seq = NoteSequence(notes=notes)
        seq.total_time = float(self.n_in / self.rs.fs_in)
        return seq
