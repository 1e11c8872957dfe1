"""``tonehost train-instrument RECORDINGS... -o my_instrument.onnx``: your own instrument from your recordings.

Monophonic recordings of one instrument go in; a DDSP controls model in the tonehost ONNX contract comes out,
playable with ``tonehost play --checkpoint my_instrument.onnx`` and ``tonehost render``. The features (f0 and
loudness) come from the same live tracker that drives the instrument at run time, so training inputs match what
the instrument will hear. Training uses PyTorch (``pip install 'tonehost[train]'``) on one CPU core, resumes from
its own checkpoint (``--work``, default ``OUTPUT.train/``) when re-run, and stops after ``--minutes``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tonehost.realtime.cli.options import ExamplesHelpFormatter, non_negative_int, output_dir, positive_float, positive_int
from tonehost.realtime.cli.outputs import onnx_output


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-instrument", help="train a DDSP instrument from your own recordings (needs PyTorch)",
        description="Train a DDSP decoder (multi-scale spectral loss through differentiable harmonic + noise "
        "synths) on monophonic recordings of one instrument and export it as a .onnx controls model.",
        formatter_class=ExamplesHelpFormatter, epilog="examples:\n"
        "  tonehost train-instrument cello/*.wav -o cello.onnx --minutes 20   # needs pip install 'tonehost[train]'\n"
        "  tonehost train-instrument cello/*.wav -o cello.onnx                # again: resumes from cello.onnx.train/\n"
        "  tonehost play --checkpoint cello.onnx                              # then play (or render) with it")
    p.add_argument("recordings", nargs="+", help="audio files of the instrument alone (wav/flac/ogg, any rate)")
    p.add_argument("-o", "--output", required=True, type=onnx_output, help="output .onnx controls model")
    p.add_argument("--minutes", type=positive_float, default=20.0, help="wall-clock training budget (default 20)")
    p.add_argument("--steps", type=positive_int, default=4000, help="maximum training steps (default 4000)")
    p.add_argument("--work", type=output_dir, help="training directory for resumable checkpoints (default OUTPUT.train/)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--post-gain", type=positive_float, default=1.0, help="output gain stored in the model (default 1)")
    p.set_defaults(func=run)


def load_recordings(paths) -> np.ndarray:
    """Read, mix to mono, resample to 16 kHz and concatenate (with 0.25 s of silence between files)."""
    from tonehost.dsp.resample import resample_to
    from tonehost.realtime.io import read_audio
    parts = []
    for path in paths:
        x, sr = read_audio(path)
        parts += [resample_to(x, sr, 16000).astype(np.float32), np.zeros(4000, np.float32)]
    return np.concatenate(parts)


def run(args) -> int:
    from tonehost.exports.errors import UsageError
    out = Path(args.output)  # named .onnx (any case): checked while parsing (outputs.onnx_output)
    audio = load_recordings(args.recordings)
    if len(audio) < 16000 * 5:
        raise UsageError(f"only {len(audio) / 16000:.1f} s of audio: give at least 5 s (minutes are better)")
    try:
        import torch  # noqa: F401
        from tonehost.exports.training import ddsp as T
    except ImportError as exc:
        raise UsageError("training needs PyTorch: pip install 'tonehost[train]' (or torch==2.13.0)") from exc
    f0, ld, voiced = T.features_from_audio(audio)
    if voiced.mean() < 0.05:
        raise UsageError("no pitched sound found in the recordings (the tracker heard < 5% voiced frames)")
    data = T.FrameData(audio, f0, ld)
    seconds = min(1.0, data.n_frames / T.FRAME_RATE / 2)
    cfg = T.TrainConfig(steps=args.steps, seconds=seconds, seed=args.seed, max_minutes=args.minutes,
                        checkpoint_every=100)
    work = Path(args.work) if args.work else out.with_name(out.name + ".train")
    print(f"training on {data.n_frames / T.FRAME_RATE:.1f} s of audio ({100 * voiced.mean():.0f}% voiced), "
          f"up to {args.steps} steps / {args.minutes:g} min; checkpoints in {work}")
    model = T.train(data, work, cfg, log=lambda m: print(m, flush=True))
    settings = T.settings_from_data(data, post_gain=args.post_gain)
    settings["trainedOn"] = {"recordings": [Path(p).name for p in args.recordings]}
    T.export_onnx(model, out, settings, source_format="tonehost-trained", post_gain=args.post_gain)
    print(f"{out}: play it with `tonehost play --checkpoint {out}` or `tonehost render VOICE.wav --checkpoint "
          f"{out} -o out.wav`")
    return 0
