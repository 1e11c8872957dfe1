"""``tonehost export``: convert a hosted checkpoint to ONNX. One sub-command per model family
(``onsets-frames`` here); add a family with a ``_register_<name>(sub)`` function listed in ``EXPORTERS``."""
from __future__ import annotations

import time

from tonehost.exports.resolve import checkpoint_dir
from tonehost.realtime.cli.options import ExamplesHelpFormatter, output_dir
from tonehost.realtime.cli.outputs import onnx_output

HELP = "convert a model checkpoint to ONNX (cached next to the checkpoint)"


def _register_onsets_frames(sub) -> None:
    p = sub.add_parser(
        "onsets-frames", formatter_class=ExamplesHelpFormatter, epilog="examples:\n"
        "  tonehost export onsets-frames onsets_frames_uni -o piano.onnx\n"
        "  tonehost export onsets-frames ./my_checkpoint_dir --form whole -o piano_whole.onnx\n"
        "  tonehost transcribe take.wav -o take.mid --model piano.onnx   # use the export", help="Onsets and Frames piano transcription (onsets_frames_uni, onsets_frames_uni_q2)",
        description="Build an ONNX model of magenta.js's OnsetsAndFrames from a layers checkpoint (float32 or "
        "quantized). The 'stream' form (default) takes mel frames, the range of frames to output and the LSTM "
        "states, and returns probabilities and the new states, so it runs a frame or a chunk at a time; the "
        "'whole' form takes a whole mel spectrogram. The export is cached next to the checkpoint (or in "
        "$TONEHOST_CACHE/exports) and reused while the checkpoint is unchanged.")
    p.add_argument("checkpoint", help="checkpoint id (e.g. onsets_frames_uni), URL, or local directory")
    p.add_argument("-o", "--output", metavar="MODEL.onnx", type=onnx_output, help="also copy the model here")
    p.add_argument("--form", choices=["stream", "whole"], default="stream", help="graph form (default stream)")
    p.add_argument("--force", action="store_true", help="rebuild even if a cached export matches")
    p.add_argument("--offline", action="store_true", help="never download the checkpoint")
    p.set_defaults(func=cmd_onsets_frames)


def cmd_onsets_frames(args) -> int:
    from tonehost.exports.convert.onsets_frames import export_checkpoint

    ckpt = checkpoint_dir(args.checkpoint, args.offline)
    t0 = time.perf_counter()
    path, reused = export_checkpoint(ckpt, args.output, form=args.form, force=args.force)
    took = time.perf_counter() - t0
    print(f"{path} ({'cached export reused' if reused else f'exported in {took:.1f} s'}, {args.form} form, "
          f"{path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _register_ddsp(sub) -> None:
    p = sub.add_parser(
        "ddsp", formatter_class=ExamplesHelpFormatter, epilog="examples:\n"
        "  tonehost export ddsp ddsp_flute -o flute.onnx\n"
        "  tonehost export ddsp ./Flute.tflite -o flute.onnx          # a DDSP-VST controls model\n"
        "  tonehost play --checkpoint flute.onnx                      # play the export", help="DDSP instrument controls model (ddsp_violin, ..., a checkpoint dir, or a DDSP-VST .tflite)",
        description="Convert a DDSP instrument to tonehost's streaming ONNX controls contract (exports/"
        "ddsp_contract.py): one control frame per call, inputs f0_scaled, pw_scaled and the GRU state, outputs "
        "amplitude, harmonic distribution, noise magnitudes and the new state; synthesis runs in tonehost's own "
        "synthesizers. Sources: a hosted magenta.js checkpoint (id, URL, directory with model.json + shard + "
        "settings.json, or the model.json itself) or a DDSP-VST .tflite controls model. The checkpoint's "
        "settings.json is kept in the model's metadata. Needs no TensorFlow.")
    p.add_argument("checkpoint", help="checkpoint id (e.g. ddsp_violin), URL, directory, model.json or .tflite")
    p.add_argument("-o", "--output", metavar="MODEL.onnx", required=True, type=onnx_output, help="where to write the model")
    p.add_argument("--offline", action="store_true", help="never download the checkpoint")
    p.set_defaults(func=cmd_ddsp)


def cmd_ddsp(args) -> int:
    from pathlib import Path

    from tonehost.exports.contracts.ddsp import read_metadata
    from tonehost.exports.convert.ddsp_export import export_ddsp

    src = Path(args.checkpoint).expanduser()
    if src.is_file() and src.name.endswith(".json"):
        src = src.parent
    if not src.exists():
        src = checkpoint_dir(args.checkpoint, args.offline)
    t0 = time.perf_counter()
    out = export_ddsp(src, args.output)
    info = read_metadata(out)
    print(f"{out} (exported in {time.perf_counter() - t0:.1f} s from {info.source_format}, "
          f"{info.frame_rate:g} frames/s, {info.n_harmonics} harmonics, {info.n_noise_bands} noise bands, "
          f"state {info.state_size}, {out.stat().st_size / 1e6:.1f} MB)")
    return 0


def _register_transkun(sub) -> None:
    p = sub.add_parser(
        "transkun", formatter_class=ExamplesHelpFormatter, epilog="examples:\n"
        "  tonehost export transkun                       # into the cache, once\n"
        "  tonehost export transkun -o /shared/transkun-2.0  # a folder to copy to machines without torch", help="Transkun V2 piano transcription, so that --model transkun runs without torch",
        description="Export Transkun V2 (the weights inside the transkun wheel; needs torch and transkun, "
        "pip install 'tonehost[transkun]' && pip install --no-deps transkun==2.0.1) once: its network up to the "
        "interval scores as ONNX, the velocity/offset heads' weights and its frame sizes. Afterwards "
        "`tonehost transcribe --model transkun` runs it with onnxruntime and NumPy only (the folder can be copied "
        "to machines without torch, into the same cache path or $TONEHOST_CACHE/exports/transkun-2.0).")
    p.add_argument("-o", "--output", metavar="DIR", type=output_dir, help="write the export here instead of the cache "
                   "folder (created if missing)")
    p.set_defaults(func=cmd_transkun)


def cmd_transkun(args) -> int:
    from tonehost.realtime.pipelines.transkun import Transkun

    t0 = time.perf_counter()
    folder = Transkun(threads=1).export_onnx(args.output)
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6
    print(f"{folder} (exported in {time.perf_counter() - t0:.1f} s, {size:.0f} MB): --model transkun now runs "
          "without torch")
    return 0


EXPORTERS = [_register_onsets_frames, _register_ddsp, _register_transkun]


def register(subparsers) -> None:
    """Add ``export`` with one sub-command per model family."""
    p = subparsers.add_parser("export", help=HELP, description=HELP + ".", formatter_class=ExamplesHelpFormatter,
                              epilog="examples:\n"
                              "  tonehost export onsets-frames onsets_frames_uni -o piano.onnx\n"
                              "  tonehost export ddsp ddsp_flute -o flute.onnx\n"
                              "  tonehost export transkun\n"
                              "(`tonehost export MODEL --help` for each)")
    sub = p.add_subparsers(dest="export_model", metavar="MODEL")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    for reg in EXPORTERS:
        reg(sub)
