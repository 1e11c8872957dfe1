"""DDSP-VST's pitch model (``extract_features_micro.tflite``) converted to ONNX, and a runner for it.

The TFLite flatbuffer is parsed in pure Python (the ``tflite`` package) and translated op by op into an ONNX
graph (NHWC convolutions are wrapped in transposes). Besides the model's four outputs (``f0_hz``, ``f0_scaled``,
``pw_db``, ``pw_scaled``) the converted graph exposes the CREPE classifier's peak activation as ``confidence``,
which the TFLite graph computes but does not output.

Nothing converted is shipped: :func:`ensure_pitch_onnx` converts at first use into the cache directory.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from tonehost.exports.errors import CheckpointError
from tonehost.exports.paths import atomic_output, cache_dir, shared_dir
from tonehost.exports.tflite.reader import Subgraph, read_model

#: Where DDSP-VST publishes the model (the same bytes as ``shared/models/ddsp_vst``).
TFLITE_URL = ("https://github.com/magenta/ddsp-vst/raw/main/models/pitch-detection/"
              "extract_features_micro.tflite")
TFLITE_SHA256 = "98ade06772f9ca6ac64789fd843f14aeddf709084bbc76f060761b141837d0a2"
#: The model's input: 1024 samples at 16 kHz.
FRAME_SIZE = 1024
SAMPLE_RATE = 16000

OUTPUT_NAMES = ("f0_hz", "f0_scaled", "pw_db", "pw_scaled", "confidence")
_OPSET = 17


class PitchModelError(CheckpointError):
    """The pitch model file is missing or cannot be converted; the message says what to do."""


def find_tflite(explicit: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Locate ``extract_features_micro.tflite``, downloading it (verified) if it is nowhere on disk.

    Looks at, in order: ``explicit``, ``$TONEHOST_DDSP_VST_PITCH``, the project's ``../shared/models/ddsp_vst/``,
    the checkpoint cache (entry ``ddsp_vst_pitch`` of the index, as ``tonehost checkpoints fetch
    ddsp_vst_pitch`` stores it); then, if ``download``, fetches that entry (size + SHA-256 checked, resumable,
    with a progress bar). Raises :class:`PitchModelError` naming the file and where to get it.
    """
    from tonehost.exports.checkpoints.download import cached_path, fetch_checkpoint
    from tonehost.exports.errors import CheckpointError
    from tonehost.exports.checkpoints.index import PITCH_MODEL_ID

    name = "extract_features_micro.tflite"
    candidates = []
    if explicit:
        candidates.append(Path(explicit))
    if os.environ.get("TONEHOST_DDSP_VST_PITCH"):
        candidates.append(Path(os.environ["TONEHOST_DDSP_VST_PITCH"]))
    candidates.append(shared_dir() / "models" / "ddsp_vst" / name)
    cached = cached_path(PITCH_MODEL_ID)
    if cached is not None:
        candidates.append(Path(cached) / name)
    for path in candidates:
        if path.is_file():
            return path
    if explicit:
        raise PitchModelError(f"DDSP-VST pitch model {explicit} not found: give the path of {name}, or leave "
                              f"it out (or set TONEHOST_DDSP_VST_PITCH) to use the cached/downloaded one.")
    problem = "not found locally"
    if download:
        try:
            return Path(fetch_checkpoint(PITCH_MODEL_ID)) / name
        except CheckpointError as exc:
            problem = f"download failed: {exc}"
    raise PitchModelError(
        f"DDSP-VST pitch model {name}: {problem} (looked in " + ", ".join(str(p) for p in candidates)
        + f"). Run `tonehost checkpoints fetch {PITCH_MODEL_ID}` on a machine that can reach {TFLITE_URL}, "
        f"or set TONEHOST_DDSP_VST_PITCH=/path/to/{name}.")


# --------------------------------------------------------------------------------------------- conversion

def convert_tflite_to_onnx(tflite_path: str | os.PathLike, onnx_path: str | os.PathLike | None = None):
    """Translate the DDSP-VST pitch TFLite model into an ONNX model.

    Parameters
    ----------
    tflite_path : path of ``extract_features_micro.tflite``.
    onnx_path : where to save the ONNX model; not saved when None.

    Returns
    -------
    onnx.ModelProto with input ``audio`` float32[1024] and outputs :data:`OUTPUT_NAMES`, each float32[1].
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = read_model(tflite_path)
    if model.SubgraphsLength() != 1:
        raise PitchModelError(f"{tflite_path}: expected one subgraph, found {model.SubgraphsLength()}")
    sub = Subgraph(model, 0)

    def tname(i: int) -> str:
        return f"t{i}"

    consts, shapes = sub.consts, sub.shapes

    nodes: list = []
    inits: list = []
    used_consts: set[int] = set()
    counter = [0]

    def fresh(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(arr: np.ndarray, prefix: str = "c") -> str:
        name = fresh(prefix)
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def inp(i: int) -> str:
        if i in consts:
            used_consts.add(i)
        return tname(i)

    def node(op_type: str, inputs, outputs, **attrs):
        nodes.append(helper.make_node(op_type, list(inputs), list(outputs), name=fresh(op_type), **attrs))

    def in_nchw(op_type: str, prefix: str, x_nhwc: str, more_inputs: list, **attrs) -> str:
        # TFLite's NHWC tensor through an ONNX op that works in NCHW (Conv, MaxPool): transposed in and back out
        x = fresh("nchw")
        node("Transpose", [x_nhwc], [x], perm=[0, 3, 1, 2])
        y = fresh(prefix)
        node(op_type, [x] + list(more_inputs), [y], **attrs)
        z = fresh("nhwc")
        node("Transpose", [y], [z], perm=[0, 2, 3, 1])
        return z

    def fused(out_name: str, act: int, final: str):
        # tflite ActivationFunctionType: 0 NONE, 1 RELU, 3 RELU6
        if act == 0:
            node("Identity", [out_name], [final])
        elif act == 1:
            node("Relu", [out_name], [final])
        elif act == 3:
            node("Clip", [out_name, const(np.float32(0)), const(np.float32(6))], [final])
        else:
            raise PitchModelError(f"{tflite_path}: fused activation {act} not supported")

    for kind, ins, outs, op in sub.ops:
        out = tname(outs[0])
        simple = {"ABS": "Abs", "SQRT": "Sqrt", "LOG": "Log", "LOGISTIC": "Sigmoid", "GREATER": "Greater",
                  "LESS": "Less", "LESS_EQUAL": "LessOrEqual", "MAXIMUM": "Max", "POW": "Pow",
                  "SELECT_V2": "Where"}
        if kind in simple:
            node(simple[kind], [inp(i) for i in ins], [out])
        elif kind in ("ADD", "SUB", "MUL", "DIV"):
            cls = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions", "DIV": "DivOptions"}[kind]
            act = sub.options(op, cls).FusedActivationFunction() if op.BuiltinOptions() else 0
            tmp = fresh("pre") if act else out
            node(kind.capitalize(), [inp(ins[0]), inp(ins[1])], [tmp])
            if act:
                fused(tmp, act, out)
        elif kind == "SQUARED_DIFFERENCE":
            d = fresh("diff")
            node("Sub", [inp(ins[0]), inp(ins[1])], [d])
            node("Mul", [d, d], [out])
        elif kind == "RESHAPE":
            node("Reshape", [inp(ins[0]), const(np.asarray(shapes[outs[0]], np.int64))], [out])
        elif kind in ("MEAN", "SUM"):
            keep = sub.options(op, "ReducerOptions").KeepDims()
            axes = np.atleast_1d(consts[ins[1]]).astype(np.int64)
            onnx_op = "ReduceMean" if kind == "MEAN" else "ReduceSum"
            if onnx_op == "ReduceSum":
                node(onnx_op, [inp(ins[0]), const(axes)], [out], keepdims=int(keep))
            else:  # ReduceMean takes axes as an attribute before opset 18
                node(onnx_op, [inp(ins[0])], [out], axes=[int(a) for a in axes], keepdims=int(keep))
        elif kind == "GATHER":
            opts = sub.options(op, "GatherOptions")
            idx = fresh("idx")
            node("Cast", [inp(ins[1])], [idx], to=TensorProto.INT64)
            if opts.BatchDims() == 0:
                node("Gather", [inp(ins[0]), idx], [out], axis=int(opts.Axis()))
            elif (opts.BatchDims() == 1 and opts.Axis() == 1 and len(shapes[ins[0]]) == 2
                  and len(shapes[ins[1]]) == 2):
                # params [B, N], indices [B, J]: out[b, j] = params[b, indices[b, j]]
                node("GatherElements", [inp(ins[0]), idx], [out], axis=1)
            else:
                raise PitchModelError(f"{tflite_path}: GATHER with batch_dims={opts.BatchDims()} "
                                      f"axis={opts.Axis()} is not supported")
        elif kind == "STRIDED_SLICE":
            opts = sub.options(op, "StridedSliceOptions")
            if opts.EllipsisMask() or opts.NewAxisMask():
                raise PitchModelError(f"{tflite_path}: STRIDED_SLICE ellipsis/new-axis masks not supported")
            in_shape = shapes[ins[0]]
            begin, end, stride = (consts[i].astype(np.int64) for i in ins[1:4])
            starts, ends = [], []
            for ax in range(len(begin)):
                b, e = int(begin[ax]), int(end[ax])
                if opts.BeginMask() >> ax & 1:
                    b = 0 if stride[ax] > 0 else in_shape[ax] - 1
                if opts.EndMask() >> ax & 1:
                    e = in_shape[ax] if stride[ax] > 0 else -in_shape[ax] - 1
                if opts.ShrinkAxisMask() >> ax & 1:
                    e = b + 1 if b != -1 else in_shape[ax]
                starts.append(b)
                ends.append(e)
            sliced = fresh("slice")
            node("Slice", [inp(ins[0]), const(np.asarray(starts, np.int64)), const(np.asarray(ends, np.int64)),
                           const(np.arange(len(begin), dtype=np.int64)), const(stride)], [sliced])
            node("Reshape", [sliced, const(np.asarray(shapes[outs[0]], np.int64))], [out])
        elif kind == "CONV_2D":
            opts = sub.options(op, "Conv2DOptions")
            w = consts[ins[1]]  # [O, H, W, I]
            used_consts.add(ins[1])
            w_name = const(np.ascontiguousarray(w.transpose(0, 3, 1, 2)), "w")
            args = [w_name]
            if len(ins) > 2 and ins[2] >= 0:
                args.append(const(consts[ins[2]], "b"))
            n, h, wd, _ = shapes[ins[0]]
            sh, sw = opts.StrideH(), opts.StrideW()
            dh, dw = opts.DilationHFactor(), opts.DilationWFactor()
            kh, kw = w.shape[1], w.shape[2]
            pads = _pads(opts.Padding(), (h, wd), (kh, kw), (sh, sw), (dh, dw))
            z = in_nchw("Conv", "conv", inp(ins[0]), args, strides=[sh, sw], dilations=[dh, dw], pads=pads,
                        kernel_shape=[kh, kw])
            fused(z, opts.FusedActivationFunction(), out)
        elif kind == "MAX_POOL_2D":
            opts = sub.options(op, "Pool2DOptions")
            n, h, wd, _ = shapes[ins[0]]
            kh, kw, sh, sw = opts.FilterHeight(), opts.FilterWidth(), opts.StrideH(), opts.StrideW()
            pads = _pads(opts.Padding(), (h, wd), (kh, kw), (sh, sw), (1, 1))
            z = in_nchw("MaxPool", "pool", inp(ins[0]), [], kernel_shape=[kh, kw], strides=[sh, sw], pads=pads)
            fused(z, opts.FusedActivationFunction(), out)
        elif kind == "FULLY_CONNECTED":
            opts = sub.options(op, "FullyConnectedOptions")
            w = consts[ins[1]]  # [units, in]
            used_consts.add(ins[1])
            args = [inp(ins[0]), const(w, "w")]
            if len(ins) > 2 and ins[2] >= 0:
                args.append(const(consts[ins[2]], "b"))
            y = fresh("fc")
            node("Gemm", args, [y], transB=1)
            fused(y, opts.FusedActivationFunction(), out)
        elif kind == "ARG_MAX":
            axis = int(np.atleast_1d(consts[ins[1]])[0])
            y = fresh("argmax")
            node("ArgMax", [inp(ins[0])], [y], axis=axis, keepdims=0)
            to = {2: TensorProto.INT32, 4: TensorProto.INT64}[sub.g.Tensors(outs[0]).Type()]
            node("Cast", [y], [out], to=to)
        elif kind == "CAST":
            to = {0: TensorProto.FLOAT, 2: TensorProto.INT32, 4: TensorProto.INT64,
                  6: TensorProto.BOOL}[sub.g.Tensors(outs[0]).Type()]
            node("Cast", [inp(ins[0])], [out], to=to)
        else:
            raise PitchModelError(f"{tflite_path}: TFLite op {kind} is not supported by the converter")

    # Constants actually referenced by their tflite tensor name.
    referenced = {i for n in nodes for i in _tensor_ids(n.input)}
    for i in sorted(referenced & set(consts)):
        inits.append(numpy_helper.from_array(consts[i], tname(i)))

    # Signature: output_0..3 -> f0_hz, f0_scaled, pw_db, pw_scaled (by signature, not subgraph output order).
    sig_outputs = _signature_outputs(sub)
    in_idx = sub.inputs[0]
    node("Identity", ["audio"], [tname(in_idx)])
    for name, idx in zip(OUTPUT_NAMES[:4], sig_outputs):
        node("Identity", [tname(idx)], [name])
    # confidence: the peak of the CREPE classifier's sigmoid output (the input of the ARG_MAX).
    argmax_in = _argmax_input(sub)
    peak = fresh("peak")
    node("ReduceMax", [tname(argmax_in)], [peak], axes=[-1], keepdims=0)
    node("Reshape", [peak, const(np.asarray([1], np.int64))], ["confidence"])

    g = helper.make_graph(
        nodes, "ddsp_vst_extract_features_micro",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [FRAME_SIZE])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in OUTPUT_NAMES],
        initializer=inits)
    onnx_model = helper.make_model(g, opset_imports=[helper.make_opsetid("", _OPSET)],
                                   producer_name="tonehost.exports.pitch_model")
    onnx_model.ir_version = 8
    onnx_model = _toposort(onnx_model)
    onnx.checker.check_model(onnx_model)
    if onnx_path is not None:
        Path(onnx_path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(onnx_path) as tmp:
            onnx.save(onnx_model, str(tmp))
    return onnx_model


def _pads(padding: int, in_hw, k_hw, s_hw, d_hw) -> list[int]:
    """ONNX pads [top, left, bottom, right] for TFLite padding (0 SAME, 1 VALID)."""
    if padding == 1:
        return [0, 0, 0, 0]
    before, after = [], []
    for n, k, s, d in zip(in_hw, k_hw, s_hw, d_hw):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return before + after


def _tensor_ids(names) -> list[int]:
    ids = []
    for name in names:
        if name.startswith("t") and name[1:].isdigit():
            ids.append(int(name[1:]))
    return ids


def _signature_outputs(sub: Subgraph) -> list[int]:
    named = sub.signature("outputs")
    if named:
        return [idx for _, idx in sorted(named.items())]
    return sorted(sub.outputs)


def _argmax_input(sub: Subgraph) -> int:
    for kind, ins, _, _ in sub.ops:
        if kind == "ARG_MAX":
            return ins[0]
    raise PitchModelError("pitch model has no ARG_MAX (not a CREPE-style model)")


def _toposort(model):
    """Order nodes so every input is produced before use (the graph is built out of order above)."""
    g = model.graph
    available = {i.name for i in g.initializer} | {i.name for i in g.input} | {""}
    pending = list(g.node)
    ordered = []
    while pending:
        rest = []
        for n in pending:
            if all(i in available for i in n.input):
                ordered.append(n)
                available.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise PitchModelError("pitch model graph has a cycle or a missing tensor: "
                                  + ", ".join(sorted({i for n in rest for i in n.input} - available))[:200])
        pending = rest
    del g.node[:]
    g.node.extend(ordered)
    return model


# --------------------------------------------------------------------------------------------- runtime

def ensure_pitch_onnx(tflite_path: str | os.PathLike | None = None, cache: Path | None = None) -> Path:
    """Return the path of the converted ONNX model, converting the TFLite file into the cache if needed."""
    src = find_tflite(tflite_path)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    out = (cache or cache_dir()) / "ddsp_vst" / f"extract_features_micro-{digest}.onnx"
    if not out.is_file():
        convert_tflite_to_onnx(src, out)
    return out


class DDSPVSTPitchModel:
    """Runs the converted DDSP-VST feature model on 1024-sample frames at 16 kHz.

    Parameters
    ----------
    onnx_path : the converted model; converted on first use from the TFLite file when None.
    threads : onnxruntime intra-op threads.
    """

    frame_size = FRAME_SIZE
    sample_rate = SAMPLE_RATE

    def __init__(self, onnx_path: str | os.PathLike | None = None, threads: int = 1):
        from tonehost.exports.onnx_session import make_session
        path = Path(onnx_path) if onnx_path else ensure_pitch_onnx()
        self.session = make_session(path, threads)

    def __call__(self, frame: np.ndarray) -> dict[str, float]:
        """Features of one frame: dict of f0_hz, f0_scaled, pw_db, pw_scaled, confidence."""
        x = np.ascontiguousarray(frame, dtype=np.float32).reshape(FRAME_SIZE)
        vals = self.session.run(list(OUTPUT_NAMES), {"audio": x})
        return {k: float(v.reshape(-1)[0]) for k, v in zip(OUTPUT_NAMES, vals)}

    def track(self, audio_16k: np.ndarray, hop: int = 320, center: bool = True):
        """Run over a whole 16 kHz signal.

        Parameters
        ----------
        audio_16k : mono float signal at 16 kHz.
        hop : samples between frames.
        center : when True frame i is centred on sample i*hop (zero padded), else it ends there.

        Returns
        -------
        times (s), f0_hz, confidence, pw_db : float arrays, one value per frame.
        """
        x = np.asarray(audio_16k, np.float32)
        pad_left = FRAME_SIZE // 2 if center else FRAME_SIZE
        x = np.concatenate([np.zeros(pad_left, np.float32), x, np.zeros(FRAME_SIZE, np.float32)])
        n = (len(x) - pad_left - FRAME_SIZE) // hop + 1
        f0 = np.zeros(n, np.float32)
        conf = np.zeros(n, np.float32)
        pw = np.zeros(n, np.float32)
        for i in range(n):
            start = i * hop + pad_left - (FRAME_SIZE // 2 if center else FRAME_SIZE)
            r = self(x[start:start + FRAME_SIZE])
            f0[i], conf[i], pw[i] = r["f0_hz"], r["confidence"], r["pw_db"]
        times = np.arange(n) * hop / SAMPLE_RATE
        return times, f0, conf, pw
