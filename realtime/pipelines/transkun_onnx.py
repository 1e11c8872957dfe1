"""Transkun V2 without torch: its exported network on ONNX Runtime, the semi-CRF decoding and the small heads in
NumPy.

:meth:`tonehost.realtime.pipelines.transkun.Transkun.export_onnx` (run once where torch and the ``transkun`` wheel
are installed: ``tonehost export transkun``) writes a folder with

- ``scores.onnx``: Transkun's network from audio frames to its interval scores (``score [n, n, 90]``,
  ``noise_score [n - 1, 90]``) and context features (``ctx [1, 90, n, 256]``), as
  :meth:`~tonehost.realtime.pipelines.transkun.Transkun.export_backbone_onnx` exports it;
- ``heads.npz``: the weights of the velocity and onset/offset refinement heads (two-layer MLPs with exact GELU);
- ``transkun.json``: the frame and window sizes and the symbols (88 keys and two pedals).

:class:`TranskunOnnx` runs that folder with numpy, scipy and onnxruntime only: the decoding is
``viterbiBackward`` of ``transkun/CRF/NeuralSemiCRFInterval.py`` (a backward Viterbi over the semi-CRF's interval
scores, float32 as in torch, ties to the first index as ``torch.max``), the heads and the note assembly are
``TransKun.transcribeFrames`` (``transkun/ModelTransformer.py``: argmax velocity, ``ContinuousBernoulli`` mean
offsets, presence logits), the merge of windows and ``resolveOverlapping`` as in ``TransKun.transcribe``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from tonehost.exports.errors import ModelError

__all__ = ["TranskunOnnx", "viterbi_backward", "export_dir", "make_frames", "resolve_overlapping", "Event"]

#: Files of an export folder.
FILES = ("scores.onnx", "heads.npz", "transkun.json")


def export_dir() -> Path:
    """Where ``tonehost export transkun`` puts Transkun's ONNX export: ``cache_dir("exports") / "transkun-2.0"``."""
    from tonehost.exports.paths import cache_dir

    return cache_dir("exports") / "transkun-2.0"


def make_frames(x: np.ndarray, hop: int, window: int) -> np.ndarray:
    """``transkun.Util.makeFrame`` in numpy: ``[..., n]`` -> ``[..., ceil(n / hop) + 1, window]`` frames centred
    on ``i * hop`` (zero padding of ``window // 2`` on the left, up to the last frame's end on the right)."""
    n = x.shape[-1]
    n_frame = math.ceil(n / hop) + 1
    left = window // 2
    right = (n_frame - 1) * hop + window // 2 - n
    pad = [(0, 0)] * (x.ndim - 1) + [(left, right)]
    xp = np.pad(np.asarray(x, np.float32), pad)
    return np.lib.stride_tricks.sliding_window_view(xp, window, axis=-1)[..., ::hop, :][..., :n_frame, :]


def viterbi_backward(score: np.ndarray, noise: np.ndarray, forced_start: list[int] | None = None
                     ) -> list[list[tuple[int, int]]]:
    """Best set of non-overlapping intervals per track: ``viterbiBackward`` of Transkun's semi-CRF.

    Parameters
    ----------
    score : numpy.ndarray
        float32 ``[T, T, B]``: ``score[end, begin, b]`` of interval ``[begin, end]`` on track ``b`` (the diagonal:
        a one-frame interval, taken when positive).
    noise : numpy.ndarray
        float32 ``[T - 1, B]``: the score of no interval over ``[t, t + 1]``.
    forced_start : list of int, optional
        Frame each track's back-tracking starts from (default 0).

    Returns
    -------
    list of list of (int, int)
        For each track, ``(begin, end)`` frame pairs in time order.
    """
    score = np.asarray(score, np.float32)
    noise = np.asarray(noise, np.float32)
    T, B = score.shape[0], score.shape[2]
    scoreT = np.ascontiguousarray(score.transpose(1, 0, 2))  # [begin, end, b]
    diag = np.ascontiguousarray(np.diagonal(score, axis1=0, axis2=1).T)  # [T, B]
    q = np.zeros((T, B), np.float32)
    q[T - 1] = diag[T - 1] * (diag[T - 1] > 0)
    ptr = np.zeros((max(T - 1, 0), B), np.int64)
    for i in range(1, T):
        t = T - i - 1
        tmp = np.empty((i + 1, B), np.float32)
        tmp[0] = q[t + 1] + noise[t]
        tmp[1:] = q[t + 1:] + scoreT[t, t + 1:]
        sel = np.argmax(tmp, axis=0)  # the first maximum, as torch.max
        ptr[i - 1] = sel - 1
        q[t] = tmp[sel, np.arange(B)] + diag[t] * (diag[t] > 0)
    inc = diag > 0
    out = []
    for b in range(B):
        j = 0 if forced_start is None else int(forced_start[b])
        cur = []
        while j < T - 1:
            s = int(ptr[T - j - 2, b])
            if inc[j, b]:
                cur.append((j, j))
            if s < 0:
                j += 1
            else:
                i = s + j + 1
                cur.append((j, i))
                j = i
        if score[T - 1, T - 1, b] > 0:
            cur.append((T - 1, T - 1))
        out.append(cur)
    return out


class Event:
    """A decoded interval (Transkun's ``Data.Note``): times in seconds, pitch (negative: pedals)."""

    __slots__ = ("start", "end", "pitch", "velocity", "hasOnset", "hasOffset")

    def __init__(self, start, end, pitch, velocity, hasOnset=True, hasOffset=True):  # noqa: N803 - Transkun's names
        self.start, self.end, self.pitch, self.velocity = start, end, pitch, velocity
        self.hasOnset, self.hasOffset = hasOnset, hasOffset


def resolve_overlapping(events: list) -> list:
    """``transkun.Data.resolveOverlapping``: sort, cut each note at the next onset of its pitch, drop empty
    notes."""
    events.sort(key=lambda e: (e.start, e.end, e.pitch))
    last: dict[int, object] = {}
    for e in events:
        prev = last.get(e.pitch)
        if prev is not None and prev.end > e.start:
            prev.end = e.start
        last[e.pitch] = e
    events.sort(key=lambda e: (e.start, e.end, e.pitch))
    return [e for e in events if e.start < e.end]


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return (0.5 * x * (1.0 + erf(x / np.float32(math.sqrt(2.0))))).astype(np.float32)


def _mlp(x: np.ndarray, w1, b1, w2, b2) -> np.ndarray:
    return _gelu(x @ w1.T + b1) @ w2.T + b2


def _cb_mean(logits: np.ndarray, lims=(0.499, 0.501)) -> np.ndarray:
    """Mean of ``torch.distributions.ContinuousBernoulli(logits=...)`` (with its Taylor expansion near 0.5)."""
    p = (1.0 / (1.0 + np.exp(-logits.astype(np.float32)))).astype(np.float32)
    outside = (p <= lims[0]) | (p > lims[1])
    cut = np.where(outside, p, np.float32(lims[0])).astype(np.float32)
    mus = cut / (2.0 * cut - 1.0) + 1.0 / (np.log1p(-cut) - np.log(cut))
    x = p - 0.5
    taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x * x) * x
    return np.where(outside, mus, taylor).astype(np.float32)


class TranskunOnnx:
    """Transkun V2 on ONNX Runtime (no torch): the same interface as
    :class:`~tonehost.realtime.pipelines.transkun.Transkun`.

    Parameters
    ----------
    folder : str or os.PathLike, optional
        An export folder (default :func:`export_dir`).
    threads : int
        ONNX Runtime intra-op threads.
    segment_s, hop_s : float, optional
        Window length and hop in seconds (default: the export's 16 s and 8 s).

    Raises
    ------
    ModelError
        The folder lacks the export (the message says how to make it).
    """

    def __init__(self, folder=None, threads: int = 1, segment_s: float | None = None, hop_s: float | None = None):
        from tonehost.exports.onnx_session import make_session
        from tonehost.exports.resolve import TRANSKUN_INSTALL

        folder = Path(folder) if folder else export_dir()
        missing = [f for f in FILES if not (folder / f).is_file()]
        if missing:
            raise ModelError(f"Transkun's ONNX export is not in {folder} (missing {', '.join(missing)}); make it once "
                             f"with `tonehost export transkun` where torch and transkun are installed ({TRANSKUN_INSTALL})",
                             folder)
        cfg = json.loads((folder / "transkun.json").read_text())
        self.folder = folder
        self.sample_rate = self.fs = int(cfg["fs"])
        self.hop_size, self.window_size = int(cfg["hopSize"]), int(cfg["windowSize"])
        self.symbols = [int(s) for s in cfg["targetMIDIPitch"]]
        self.segment_s = float(segment_s or cfg["segmentSizeInSecond"])
        self.hop_s = float(hop_s or cfg["segmentHopSizeInSecond"])
        heads = np.load(folder / "heads.npz")
        self.heads = {k: np.asarray(heads[k], np.float32) for k in heads.files}
        self.session = make_session(folder / "scores.onnx", threads)

    def transcribe_frames(self, frames: np.ndarray, forced_start: list[int], last_frame: int):
        """``TransKun.transcribeFrames`` for one window of frames ``[n, window]``: (events, last offset frame of
        each symbol)."""
        score, noise, ctx = self.session.run(None, {"frames": np.ascontiguousarray(frames[None, None], np.float32)})
        path = viterbi_backward(score, noise, forced_start)
        n_all = sum(len(p) for p in path)
        if n_all == 0:
            return [], [0] * len(path)
        sym = np.array([j for j, p in enumerate(path) for _ in p])
        iv = np.array([iv for p in path for iv in p])
        a, b = ctx[0, sym, iv[:, 0]], ctx[0, sym, iv[:, 1]]
        x = np.concatenate([a, b, a * b], axis=-1).astype(np.float32)
        h = self.heads
        velocity = np.argmax(_mlp(x, h["vel_w1"], h["vel_b1"], h["vel_w2"], h["vel_b2"]), axis=-1).tolist()
        of = _mlp(x, h["of_w1"], h["of_b1"], h["of_w2"], h["of_b2"])
        of_value = np.clip((_cb_mean(of[:, :2]) - 0.5) / 0.99, -0.5, 0.5).tolist()
        of_presence = (of[:, 2:] > 0).tolist()
        frame_dur = self.hop_size / self.fs
        events, last_p, k = [], [], 0
        for j, pitch in enumerate(self.symbols):
            last_end, cur_last = 0, 0
            for (i0, i1) in path[j]:
                start = (i0 + of_value[k][0]) * frame_dur
                end = (i1 + of_value[k][1]) * frame_dur
                has_on = (i0 > 0) or of_presence[k][0]
                has_off = (i1 < last_frame) or of_presence[k][1]
                start = max(start, last_end)
                end = max(end, start + 1e-8)
                last_end = end
                events.append(Event(start, end, pitch, velocity[k], has_on, has_off))
                if has_off:
                    cur_last = i1
                k += 1
            last_p.append(cur_last)
        events.sort(key=lambda e: (e.start, e.end, e.pitch))
        return events, last_p

    def transcribe_array(self, audio: np.ndarray, sample_rate: int):
        """Transcribe an in-memory recording (``[n]`` or ``[n, channels]``, mixed to mono): a NoteSequence."""
        from tonehost.realtime.io import to_mono
        from tonehost.realtime.pipelines.transkun import _SegmentRunner

        run = _SegmentRunner(self, sample_rate)
        run.push(to_mono(audio))
        return run.finish()

    def transcribe_file(self, path, progress=None):
        """Transcribe an audio file read block by block (as
        :meth:`~tonehost.realtime.pipelines.transkun.Transkun.transcribe_file`)."""
        from tonehost.realtime.pipelines.transkun import transcribe_file_blocks

        return transcribe_file_blocks(self, path, progress)
