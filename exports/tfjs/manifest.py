"""TensorFlow.js weights manifests: read and write the weights of layers checkpoints (and of graph models).

The format (tfjs-core ``io``, written by the tfjs converter's ``write_weights``): a JSON list of groups
``{"paths": [shard, ...], "weights": [{"name", "shape", "dtype", "quantization"?}, ...]}``. The shards of a
group are concatenated and the weights are read from that byte string one after the other, in manifest order,
little-endian. Quantized weights (``quantization: {"min", "scale", "dtype": "uint8"|"uint16"}``) store ``q`` and
mean ``float32(q * scale + min)`` computed in float64, exactly as tfjs ``decodeWeights`` does.

Magenta's layers checkpoints are one group whose shards are named ``group1-shard{i}of{N}`` (no extension),
4 MiB each except the last, next to ``weights_manifest.json``.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

import numpy as np

from tonehost.exports.errors import CheckpointError, CheckpointFormatError, CheckpointNotFoundError

MANIFEST_NAME = "weights_manifest.json"
CONFIG_NAME = "config.json"
DEFAULT_SHARD_BYTES = 4 * 1024 * 1024

# dtype in the manifest -> (numpy dtype of the stored bytes, bytes per element)
STORED_DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("u1")}
QUANTIZED_DTYPES = {"uint8": np.dtype("u1"), "uint16": np.dtype("<u2"), "float16": np.dtype("<f2")}
# dtype of the array the reader returns for each manifest dtype
RESULT_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}

ShardLoader = Callable[[str], bytes]


def _fail(source: str, what: str, fix: str = "") -> CheckpointFormatError:
    message = f"{source}: {what}"
    if fix:
        message += f"; {fix}"
    return CheckpointFormatError(message, source)


REFETCH = "the checkpoint is corrupt: delete it and fetch it again (tonehost checkpoints fetch ID)"


def parse_manifest_json(text: bytes | str, source: str = MANIFEST_NAME) -> list:
    """Parse the text of a weights manifest (or any checkpoint JSON file).

    Parameters
    ----------
    text : bytes or str
        The file's content.
    source : str
        The file name or URL, used in error messages.

    Returns
    -------
    object
        The parsed JSON value.

    Raises
    ------
    CheckpointFormatError
        If the text is not valid UTF-8 JSON.
    """
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _fail(source, f"is not valid JSON ({exc.__class__.__name__}: {str(exc)[:120]})", REFETCH) from None


def check_relative_path(path: object, source: str) -> str:
    """Return ``path`` if it is a safe relative shard path (no absolute path, no ``..``), else raise."""
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        raise _fail(source, f"shard path {path!r} is not a relative file name", REFETCH)
    parts = PurePosixPath(path).parts
    if path.startswith("/") or any(p in ("..", ".") for p in parts) or ":" in parts[0]:
        raise _fail(source, f"shard path {path!r} points outside the checkpoint directory", REFETCH)
    return path


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite_number(value: object) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond float range
        return False


class WeightSpec:
    """One validated manifest entry: name, shape, dtype, optional quantization, and its byte size."""

    __slots__ = ("name", "shape", "dtype", "qdtype", "scale", "min", "size", "nbytes")

    def __init__(self, entry: object, source: str):
        if not isinstance(entry, Mapping):
            raise _fail(source, f"weight entry {entry!r:.80} is not an object", REFETCH)
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise _fail(source, f"weight entry {dict(entry)!r:.80} has no string 'name'", REFETCH)
        self.name = name
        shape = entry.get("shape")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise _fail(source, f"weight {name!r} has shape {shape!r:.80}, not a list of non-negative ints",
                        REFETCH)
        self.shape = tuple(shape)
        self.size = math.prod(self.shape)
        dtype = entry.get("dtype")
        if dtype not in STORED_DTYPES:
            raise _fail(source, f"weight {name!r} has unknown dtype {dtype!r:.40} (supported: float32, int32, "
                        "bool)", "this checkpoint needs a newer tonehost or is not a TensorFlow.js checkpoint")
        self.dtype = dtype
        quant = entry.get("quantization")
        self.qdtype = self.scale = self.min = None
        if quant is not None:
            if not isinstance(quant, Mapping):
                raise _fail(source, f"weight {name!r} has quantization {quant!r:.80}, not an object", REFETCH)
            qdtype = quant.get("dtype")
            if qdtype not in QUANTIZED_DTYPES:
                raise _fail(source, f"weight {name!r} has unknown quantization dtype {qdtype!r:.40} "
                            "(supported: uint8, uint16, float16)", REFETCH)
            if dtype == "bool" or (qdtype == "float16" and dtype != "float32"):
                raise _fail(source, f"weight {name!r}: {dtype} weights cannot be quantized to {qdtype}", REFETCH)
            if qdtype != "float16":
                scale, qmin = quant.get("scale"), quant.get("min")
                if not (_finite_number(scale) and _finite_number(qmin)):
                    raise _fail(source, f"weight {name!r} is quantized to {qdtype} without finite 'scale' and "
                                f"'min' (got scale={scale!r:.40}, min={qmin!r:.40})", REFETCH)
                self.scale, self.min = float(scale), float(qmin)
            self.qdtype = qdtype
            self.nbytes = self.size * QUANTIZED_DTYPES[qdtype].itemsize
        else:
            self.nbytes = self.size * STORED_DTYPES[dtype].itemsize

    def decode(self, buf: bytes | memoryview, offset: int) -> np.ndarray:
        """Decode this weight from ``buf`` at ``offset`` (the caller has checked that the bytes are there)."""
        if self.qdtype is None:
            arr = np.frombuffer(buf, STORED_DTYPES[self.dtype], self.size, offset)
            arr = arr.astype(RESULT_DTYPES[self.dtype])  # a copy in native byte order, writable
        else:
            q = np.frombuffer(buf, QUANTIZED_DTYPES[self.qdtype], self.size, offset)
            if self.qdtype == "float16":
                arr = q.astype(np.float32)
            else:
                # tfjs: Float32Array.from(q, v => v * scale + min) -- float64 arithmetic, rounded to float32;
                # int32: Int32Array.from(q, v => Math.round(v * scale + min)), Math.round = floor(x + 0.5).
                values = q.astype(np.float64) * self.scale + self.min
                if self.dtype == "int32":
                    values = np.floor(values + 0.5)
                    if values.size and (values.min() < -2**31 or values.max() >= 2**31):
                        raise CheckpointFormatError(f"weight {self.name!r}: dequantized int32 values overflow")
                arr = values.astype(RESULT_DTYPES[self.dtype])
        return arr.reshape(self.shape)


def parse_manifest(manifest: object, source: str = MANIFEST_NAME) -> list[tuple[list[str], list[WeightSpec]]]:
    """Validate a parsed weights manifest; return ``[(paths, [WeightSpec, ...]), ...]`` per group.

    Raises
    ------
    CheckpointFormatError
        If the structure is wrong, a dtype is unknown, or a weight name appears twice.
    """
    if not isinstance(manifest, list):
        raise _fail(source, f"is a {type(manifest).__name__}, not a list of weight groups", REFETCH)
    groups = []
    seen: set[str] = set()
    for gi, group in enumerate(manifest):
        if not isinstance(group, Mapping):
            raise _fail(source, f"group {gi} is not an object with 'paths' and 'weights'", REFETCH)
        paths, weights = group.get("paths"), group.get("weights")
        if not isinstance(paths, list) or not isinstance(weights, list):
            raise _fail(source, f"group {gi} needs a 'paths' list and a 'weights' list", REFETCH)
        paths = [check_relative_path(p, source) for p in paths]
        specs = [WeightSpec(w, source) for w in weights]
        for spec in specs:
            if spec.name in seen:
                raise _fail(source, f"weight name {spec.name!r} appears twice", REFETCH)
            seen.add(spec.name)
        groups.append((paths, specs))
    return groups


def manifest_paths(manifest: object, source: str = MANIFEST_NAME) -> list[str]:
    """All shard paths of a manifest, every group, in order (validated)."""
    return [p for paths, _ in parse_manifest(manifest, source) for p in paths]


def read_weights_manifest(manifest: object, shard_bytes_loader: ShardLoader, *, source: str = MANIFEST_NAME,
                          check_finite: bool = True) -> dict[str, np.ndarray]:
    """Decode every weight of a TensorFlow.js weights manifest.

    Parameters
    ----------
    manifest : list
        The parsed manifest (a list of groups).
    shard_bytes_loader : callable
        ``loader(path) -> bytes`` for a shard path of the manifest (relative to the manifest's directory). It may
        raise :class:`CheckpointError`; ``OSError`` is turned into one naming the shard.
    source : str
        Name of the manifest (file or URL) used in error messages.
    check_finite : bool
        Reject float weights holding NaN or inf (default True).

    Returns
    -------
    dict of str to numpy.ndarray
        name -> array of the manifest's shape, in manifest order; float32 for float32 and quantized float32
        weights, int32 for int32, bool for bool.

    Raises
    ------
    CheckpointError
        On any malformed manifest, missing or truncated shard, size mismatch, duplicate name or non-finite value.
    """
    groups = parse_manifest(manifest, source)
    out: dict[str, np.ndarray] = {}
    for gi, (paths, specs) in enumerate(groups):
        need = sum(s.nbytes for s in specs)
        chunks = []
        for p in paths:
            try:
                data = shard_bytes_loader(p)
            except CheckpointError:
                raise
            except OSError as exc:
                raise CheckpointNotFoundError(
                    f"shard {p!r} listed in {source} cannot be read ({exc.strerror or exc}); fetch the "
                    "checkpoint again (tonehost checkpoints fetch ID)", p) from None
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise CheckpointFormatError(f"shard {p!r} listed in {source}: loader returned no bytes", p)
            chunks.append(bytes(data))
        have = sum(len(c) for c in chunks)
        if have != need:
            what = "truncated" if have < need else "larger than the manifest says"
            names = ", ".join(paths) if len(paths) <= 3 else f"{paths[0]} ... {paths[-1]}"
            raise _fail(source, f"group {gi + 1} shards ({names}) hold {have} bytes but the manifest's "
                        f"{len(specs)} weights need {need} bytes: shard {what}", REFETCH)
        buf = b"".join(chunks) if len(chunks) != 1 else chunks[0]
        offset = 0
        for spec in specs:
            arr = spec.decode(buf, offset)
            offset += spec.nbytes
            if check_finite and arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
                bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
                raise _fail(source, f"weight {spec.name!r} holds {bad} NaN/inf values", REFETCH)
            out[spec.name] = arr
    return out


def _manifest_location(path: str | os.PathLike) -> tuple[Path, Path]:
    p = Path(path)
    if p.is_dir():
        return p, p / MANIFEST_NAME
    return p.parent, p


def file_loader(directory: Path) -> ShardLoader:
    """A shard loader reading files under ``directory``, with a clear error for a missing shard."""

    def load(rel: str) -> bytes:
        f = directory / rel
        if not f.is_file():
            raise CheckpointNotFoundError(
                f"missing shard file {f}: the checkpoint is incomplete; fetch it again "
                "(tonehost checkpoints fetch ID)", f)
        return f.read_bytes()

    return load


def read_json_file(path: Path, what: str = "file") -> object:
    """Read and parse a JSON file, raising :class:`CheckpointError` naming it when missing or invalid."""
    if not path.is_file():
        raise CheckpointNotFoundError(f"missing {what} {path}; is this a TensorFlow.js checkpoint directory? "
                                      "fetch it with tonehost checkpoints fetch ID", path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckpointNotFoundError(f"cannot read {path}: {exc.strerror or exc}", path) from None
    return parse_manifest_json(raw, str(path))


def read_layers_checkpoint(path: str | os.PathLike, *, check_finite: bool = True) -> dict[str, np.ndarray]:
    """Read a layers checkpoint (MusicRNN, MusicVAE, Onsets and Frames) from disk.

    Parameters
    ----------
    path : str or Path
        The checkpoint directory, or its ``weights_manifest.json``.
    check_finite : bool
        Reject NaN/inf weights (default True).

    Returns
    -------
    dict of str to numpy.ndarray
        name -> array (float32 for float and quantized weights, int32 for int32), in manifest order.

    Raises
    ------
    CheckpointError
        Missing manifest or shard, bad JSON, truncated shard, size mismatch, unknown dtype, duplicate names,
        NaN/inf weights.
    """
    directory, manifest_file = _manifest_location(path)
    manifest = read_json_file(manifest_file, "weights manifest")
    return read_weights_manifest(manifest, file_loader(directory), source=str(manifest_file),
                                 check_finite=check_finite)


def read_checkpoint_config(path: str | os.PathLike) -> dict | None:
    """The optional ``config.json`` of a layers checkpoint directory, or None when absent."""
    directory, _ = _manifest_location(path)
    f = directory / CONFIG_NAME
    if not f.exists():
        return None
    value = read_json_file(f, "config")
    if not isinstance(value, dict):
        raise _fail(str(f), "is not a JSON object", REFETCH)
    return value


# ----------------------------------------------------------------------------------------------- writing

def quantize_affine(data: np.ndarray, dtype: str) -> tuple[np.ndarray, float, float]:
    """Quantize float32 weights exactly as the tfjs converter that produced Magenta's checkpoints.

    tensorflowjs ``quantization.quantize_weights``: ``min``/``max`` of the data in float64,
    ``scale = (max - min) / (2**bits - 1)``, and when 0 lies in ``[min, max]`` the range is nudged so that 0 is
    exactly representable (``min = -round(-min / scale) * scale``). The data are then mapped with
    ``round((clip(x, min, max) - min) / scale)``; with the numpy 1.x of that converter the float32 array and the
    float64 scalars combine in float32, which is reproduced here explicitly (so numpy 2 gives the same bytes).
    A constant tensor is stored as zeros with ``scale = 1`` and ``min`` = the constant. int32 weights are
    quantized too (in float64, as numpy 1.x did), as the converter Magenta used (``write_weights(...,
    quantization_dtype=...)``, tensorflowjs 0.x) quantized every weight of the group; tfjs reads them back with
    ``Math.round``.

    Parameters
    ----------
    data : numpy.ndarray
        float32 (or int32) weights.
    dtype : {"uint8", "uint16"}
        Storage type.

    Returns
    -------
    q : numpy.ndarray
        The quantized values (same shape).
    scale, min : float
        The manifest's ``scale`` and ``min`` (float64).
    """
    if dtype not in ("uint8", "uint16"):
        raise ValueError(f"quantize must be None, 'uint8' or 'uint16', not {dtype!r}")
    qtype = np.uint8 if dtype == "uint8" else np.uint16
    data = np.asarray(data)
    if data.dtype != np.int32:
        data = data.astype(np.float32)
    if data.size == 0:
        return np.zeros(data.shape, qtype), 1.0, 0.0
    min_val = float(np.float64(data.min()))
    max_val = float(np.float64(data.max()))
    if min_val == max_val:
        return np.zeros(data.shape, qtype), 1.0, min_val
    quant_max = float(np.iinfo(qtype).max)
    scale = (max_val - min_val) / quant_max
    if min_val <= 0 <= max_val:
        nudged_zero = float(np.round((0 - min_val) / scale))
        nudged_min = -nudged_zero * scale
        nudged_max = quant_max * scale + nudged_min
    else:
        nudged_min, nudged_max = min_val, max_val
    if data.dtype == np.int32:  # numpy 1.x: int32 array op float64 scalar -> float64
        q = np.round((np.clip(data.astype(np.float64), nudged_min, nudged_max) - nudged_min) / scale)
        return q.astype(qtype), scale, nudged_min
    lo, hi, s = np.float32(nudged_min), np.float32(nudged_max), np.float32(scale)
    q = np.round((np.clip(data, lo, hi) - lo) / s).astype(qtype)
    return q, scale, nudged_min


def _stored(name: str, value: object) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind in "iu" and arr.dtype != np.int32:
        arr = arr.astype(np.int32)
    if arr.dtype not in (np.float32, np.int32, np.bool_):
        raise ValueError(f"weight {name!r}: dtype {arr.dtype} cannot be written (float32, int32 or bool)")
    return arr


def build_weights(weights: Mapping[str, np.ndarray], quantize: str | None = None
                  ) -> tuple[list[dict], bytes]:
    """Manifest entries and the concatenated little-endian bytes for one group of weights (converter order)."""
    entries, chunks = [], []
    for name, value in weights.items():
        arr = _stored(name, value)
        dtype = {np.dtype(np.float32): "float32", np.dtype(np.int32): "int32", np.dtype(np.bool_): "bool"}[arr.dtype]
        entry = {"name": name, "shape": list(arr.shape), "dtype": dtype}
        if quantize is not None and dtype != "bool":
            q, scale, qmin = quantize_affine(arr, quantize)
            entry["quantization"] = {"min": qmin, "scale": scale, "dtype": quantize}
            chunks.append(q.astype(q.dtype.newbyteorder("<")).tobytes())
        else:
            stored = arr.astype(STORED_DTYPES[dtype]) if dtype != "bool" else arr.astype(np.uint8)
            chunks.append(stored.tobytes())
        entries.append(entry)
    return entries, b"".join(chunks)


def shard_names(total_bytes: int, shard_bytes: int | None, suffix: str = "", group: int = 1) -> list[str]:
    """The converter's shard file names for ``total_bytes`` split into ``shard_bytes`` pieces."""
    n = 1 if not shard_bytes else max(1, math.ceil(total_bytes / shard_bytes))
    return [f"group{group}-shard{i + 1}of{n}{suffix}" for i in range(n)]


def write_shards(directory: Path, data: bytes, names: list[str], shard_bytes: int | None) -> None:
    """Write ``data`` split into the named shard files."""
    step = shard_bytes or max(1, len(data))
    for i, name in enumerate(names):
        (directory / name).write_bytes(data[i * step:(i + 1) * step])


def write_layers_checkpoint(directory: str | os.PathLike, weights: Mapping[str, np.ndarray],
                            quantize: str | None = None, shard_bytes: int = DEFAULT_SHARD_BYTES,
                            config: dict | None = None) -> list:
    """Write weights as a TensorFlow.js layers checkpoint, in the layout of Magenta's hosted checkpoints.

    Parameters
    ----------
    directory : str or Path
        Created if missing.
    weights : mapping of str to array
        Written in this order as one group; float64 becomes float32 and int64 int32, like the converter.
    quantize : {None, "uint8", "uint16"}
        Store the weights quantized like the tfjs converter Magenta used: every float32 and int32 weight (see
        :func:`quantize_affine`); manifest entry ``quantization: {"min", "scale", "dtype"}``.
    shard_bytes : int
        Shard size (4 MiB, the converter's default); files ``group1-shard{i}of{N}`` without extension.
    config : dict, optional
        Written as ``config.json``.

    Returns
    -------
    list
        The manifest written to ``weights_manifest.json``.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    entries, data = build_weights(weights, quantize)
    names = shard_names(len(data), shard_bytes)
    write_shards(d, data, names, shard_bytes)
    manifest = [{"paths": names, "weights": entries}]
    (d / MANIFEST_NAME).write_text(json.dumps(manifest))
    if config is not None:
        (d / CONFIG_NAME).write_text(json.dumps(config))
    return manifest
