"""``export_ddsp``: any DDSP instrument checkpoint -> one ``.onnx`` in the tonehost controls contract.

Sources: a hosted magenta.js checkpoint directory (``model.json`` + shard + ``settings.json``), its
``model.json``, or a DDSP-VST ``.tflite`` controls model. See :mod:`tonehost.exports.contracts.ddsp` for the contract,
:mod:`tonehost.exports.convert.ddsp_graph` and :mod:`tonehost.exports.convert.ddsp_tflite` for the readers. Needs only numpy, onnx and tflite.
"""
from __future__ import annotations

import json
from pathlib import Path

from tonehost.exports.convert.ddsp_decoder import DecoderNotFound
from tonehost.exports.errors import CheckpointFormatError, CheckpointNotFoundError
from tonehost.exports.paths import atomic_output


def _kind(source: Path) -> str:
    if source.is_dir():
        if (source / "model.json").is_file():
            return "tfjs"
        tfl = sorted(source.glob("*.tflite"))
        if len(tfl) == 1:
            return "tflite"
        raise CheckpointNotFoundError(
            f"{source}: no model.json (hosted DDSP checkpoint) or single .tflite (DDSP-VST model) in this "
            "directory; download the checkpoint with `tonehost checkpoints fetch ddsp_violin` or pass the file",
            source)
    if not source.exists():
        raise CheckpointNotFoundError(f"{source}: no such file or directory; pass a DDSP checkpoint directory, "
                                      "its model.json, or a DDSP-VST .tflite model", source)
    if source.suffix == ".tflite":
        return "tflite"
    if source.name.endswith(".json"):
        return "tfjs"
    raise CheckpointFormatError(f"{source}: not a DDSP checkpoint (expected a directory, model.json or .tflite)",
                                source)


def convert_ddsp(source):
    """Convert without writing: returns ``(onnx.ModelProto, DecoderSpec)``.

    Raises
    ------
    tonehost.exports.errors.CheckpointError
        Missing files, unreadable formats, or a graph without a recognisable ddsp decoder (the message names the
        file and what was expected).
    """
    src = Path(source).expanduser()
    kind = _kind(src)
    try:
        if kind == "tfjs":
            from tonehost.exports.convert.ddsp_graph import export_graph_model
            return export_graph_model(src)
        from tonehost.exports.convert.ddsp_tflite import export_tflite
        path = src if src.is_file() else sorted(src.glob("*.tflite"))[0]
        settings = None
        sfile = path.parent / "settings.json"
        if sfile.is_file():
            try:
                settings = json.loads(sfile.read_text())
            except ValueError as exc:
                raise CheckpointFormatError(f"{sfile}: invalid JSON ({exc}); fix or delete it", sfile)
        return export_tflite(path, settings)
    except DecoderNotFound as exc:
        raise CheckpointFormatError(
            f"{src}: not a DDSP instrument tonehost can export ({exc}). Supported: magenta.js DDSP checkpoints "
            "(model.json + shard + settings.json) and DDSP-VST controls .tflite files.", src) from exc


def export_ddsp(source, out_path) -> Path:
    """Export ``source`` to ``out_path`` (an ``.onnx``; written atomically). Returns the output path.

    Parameters
    ----------
    source : str or Path
        Checkpoint directory, ``model.json`` or ``.tflite``.
    out_path : str or Path
        Where to write the model; parent directories are created.

    Raises
    ------
    tonehost.exports.errors.CheckpointError
        See :func:`convert_ddsp`.
    tonehost.exports.errors.UsageError
        ``out_path`` cannot be written (through :func:`~tonehost.exports.paths.atomic_output`: the old file is
        kept and no temporary file is left).
    """
    import onnx
    model, _ = convert_ddsp(source)
    out = Path(out_path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        onnx.save(model, str(tmp))
    return out


__all__ = ["convert_ddsp", "export_ddsp"]
