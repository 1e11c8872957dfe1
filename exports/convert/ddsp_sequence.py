"""Sequence and batched variants of a DDSP controls model, derived from its one-frame step graph.

The contract (:mod:`tonehost.exports.contracts.ddsp`) is a step model: one control frame per call, the recurrent
state in and out. Run that way, ONNX Runtime's per-call overhead and one matrix-vector product per layer per
frame dominate an offline render (250 calls per second of audio) and a polyphonic instrument (one call per
voice per frame). Two variants are built here from *any* step graph in the contract (the tfjs and tflite
converters', the project's trained ones, the random test models), with no knowledge of its layers:

:func:`build_batched_model` - the step with a symbolic batch: ``f0_scaled`` ``[N, 1]``, ``pw_scaled`` ``[N, 1]``,
``state`` ``[N, R]`` -> outputs with ``N`` rows: N independent voices (each with its own state) in one call.
The step graph's ops are batch-polymorphic when every tensor's leading size-1 axis is a batch axis (MatMul,
LayerNormalization, Concat/Split on the last axis, GRU with its batch axis, ...); this is checked numerically
against the step model. A graph that is not (a hard-coded reshape to ``[1, ...]``) gets a ``Scan`` over the
voices instead (the step graph as its body), which is always correct.

:func:`build_sequence_model` - T frames of ONE stream in one call: ``f0_scaled`` ``[T, 1]``, ``pw_scaled``
``[T, 1]``, ``state`` ``[1, R]`` -> ``amplitude`` ``[T, 1]``, ``harmonic_distribution`` ``[T, K]``,
``noise_magnitudes`` ``[T, B]``, ``state_out`` ``[1, R]`` (the state after the last frame). The step graph is
split in three:

- *pre*: the nodes that do not depend on ``state`` (input layers, the GRU's input projection when the graph
  spells it out): run once over all T frames as a batch (a matrix-matrix product instead of T matrix-vector ones);
- *core*: the nodes on a path from ``state`` to ``state_out`` (the recurrence): an ONNX ``Scan`` over the T
  frames, the state carried, the pre tensors it reads sliced along their batch axis;
- *post*: everything else (output stacks and heads on each frame's new state): again one batch over T frames.

When the core is a single ONNX ``GRU`` node (our ``ddsp_onnx`` converter's graphs), the Scan is replaced by that
GRU run over the whole sequence (ONNX Runtime computes its input projection for all frames as one product).
Batch axes are found by running the batched graph with two batch sizes and seeing which axis of each tensor
follows it (no shape inference needed). Every variant is checked against the step model stepped frame by frame
on random controls before it is used (:func:`check_against_step`); the order of float32 sums inside a matrix
product changes with its shape, so the variants agree with the step model to about 1e-6 relative, not bit for
bit. If the split fails or disagrees, the sequence model is the step graph as the body of one ``Scan`` over time.

:func:`sequence_model_path` / :func:`batched_model_path` build them once per step file and keep them in the
export cache (:func:`tonehost.exports.convert.export_cache.cached_derived`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tonehost.exports.contracts import ddsp as C

__all__ = ["build_batched_model", "build_sequence_model", "check_against_step", "sequence_model_path",
           "batched_model_path", "SEQUENCE_VERSION", "BATCHED_VERSION", "TOLERANCE"]

SEQUENCE_VERSION = 2
BATCHED_VERSION = 1
#: Largest difference between a variant's outputs and the step model's, relative to the output's scale
#: (max |x| over the check, at least 1e-3) - float32 products summed in another order, nothing more.
TOLERANCE = 2e-5

_T_DIM = "frames"
_N_DIM = "voices"


# ------------------------------------------------------------------------------------------------ helpers

def _load(model):
    import onnx
    if isinstance(model, onnx.ModelProto):
        return model
    return onnx.load(str(model))


def _session(model):
    from tonehost.exports.onnx_session import make_session
    return make_session(model, 1)


def _copy_meta(src, dst, kind: str) -> None:
    del dst.metadata_props[:]
    for p in src.metadata_props:
        e = dst.metadata_props.add()
        e.key, e.value = p.key, p.value
    e = dst.metadata_props.add()
    e.key, e.value = "tonehost.variant", kind


def _opset(model) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    return 17


def _value_info(name, dims, elem=None):
    from onnx import TensorProto, helper
    return helper.make_tensor_value_info(name, TensorProto.FLOAT if elem is None else elem, dims)


def _io_dims(model, name):
    for v in list(model.graph.input) + list(model.graph.output):
        if v.name == name:
            return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                    for d in v.type.tensor_type.shape.dim]
    raise KeyError(name)


def _state_size(model) -> int:
    return int(_io_dims(model, C.INPUT_STATE)[-1])


def _step_reference(step_sess, f0, pw, state0):
    """Step the step model over frames (state fed back): stacked outputs and the final state."""
    state = state0
    outs = {k: [] for k in C.OUTPUT_NAMES[:3]}
    for t in range(len(f0)):
        r = step_sess.run(list(C.OUTPUT_NAMES), {C.INPUT_F0: f0[t:t + 1], C.INPUT_PW: pw[t:t + 1],
                                                  C.INPUT_STATE: state})
        for k, v in zip(C.OUTPUT_NAMES[:3], r[:3]):
            outs[k].append(v.reshape(1, -1))
        state = r[3]
    return {k: np.concatenate(v, 0) for k, v in outs.items()}, state


def _random_controls(n, seed=0):
    rng = np.random.default_rng(seed)
    # f0 from 40 to 90 MIDI (scaled by 127) with a few zeros, loudness across the whole range
    f0 = (rng.uniform(40, 90, (n, 1)) / 127.0).astype(np.float32)
    f0[rng.random(n) < 0.1] = 0.0
    pw = rng.uniform(0.0, 1.0, (n, 1)).astype(np.float32)
    return f0, pw


def _close(a, b) -> bool:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    scale = max(1e-3, float(np.max(np.abs(b))) if b.size else 1.0)
    return float(np.max(np.abs(a - b))) <= TOLERANCE * scale if a.size else True


def check_against_step(variant, step, kind: str, frames: int = 96, seed: int = 0) -> float:
    """Largest relative difference of a variant against the step model (``kind``: "sequence" or "batched").

    ``sequence``: the variant over ``frames`` random control frames in two calls (the state carried between
    them) against the step model stepped frame by frame. ``batched``: 5 voices with random states and controls
    over 8 frames, each voice against its own step loop. Raises ``ValueError`` when it exceeds
    :data:`TOLERANCE`; returns it otherwise.
    """
    step_sess = _session(step)
    var_sess = _session(variant)
    R = _state_size(_load(step))
    worst = 0.0

    def rel(a, b):
        a = np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
        if a.shape != b.shape or not np.all(np.isfinite(a)):
            return np.inf
        return float(np.max(np.abs(a - b))) / max(1e-3, float(np.max(np.abs(b))))

    if kind == "sequence":
        f0, pw = _random_controls(frames, seed)
        ref, ref_state = _step_reference(step_sess, f0, pw, np.zeros((1, R), np.float32))
        cut = frames // 3
        state = np.zeros((1, R), np.float32)
        got = {k: [] for k in C.OUTPUT_NAMES[:3]}
        for a, b in ((0, cut), (cut, frames)):
            r = var_sess.run(list(C.OUTPUT_NAMES), {C.INPUT_F0: f0[a:b], C.INPUT_PW: pw[a:b], C.INPUT_STATE: state})
            for k, v in zip(C.OUTPUT_NAMES[:3], r[:3]):
                got[k].append(v)
            state = r[3]
        for k in got:
            worst = max(worst, rel(np.concatenate(got[k], 0), ref[k]))
        worst = max(worst, rel(state, ref_state))
    elif kind == "batched":
        rng = np.random.default_rng(seed)
        V, F = 5, 8
        states = (rng.standard_normal((V, R)) * 0.5).astype(np.float32)
        f0, pw = _random_controls(V * F, seed + 1)
        f0, pw = f0.reshape(F, V, 1), pw.reshape(F, V, 1)
        refs = []
        for v in range(V):
            r, s = _step_reference(step_sess, f0[:, v], pw[:, v], states[v:v + 1])
            refs.append((r, s))
        st = states.copy()
        got = {k: [] for k in C.OUTPUT_NAMES[:3]}
        for t in range(F):
            r = var_sess.run(list(C.OUTPUT_NAMES), {C.INPUT_F0: f0[t], C.INPUT_PW: pw[t], C.INPUT_STATE: st})
            for k, val in zip(C.OUTPUT_NAMES[:3], r[:3]):
                got[k].append(val)
            st = r[3]
        for k in got:
            g = np.stack(got[k], 0)  # [F, V, ...]
            for v in range(V):
                worst = max(worst, rel(g[:, v], refs[v][0][k]))
        for v in range(V):
            worst = max(worst, rel(st[v:v + 1], refs[v][1]))
    else:
        raise ValueError(kind)
    if not worst <= TOLERANCE:
        raise ValueError(f"{kind} variant differs from the step model by {worst:.2e} (relative) > {TOLERANCE}")
    return worst


# ----------------------------------------------------------------------------------------- batched step

def _with_batch_dims(step, dim: str):
    """A copy of the step graph whose inputs and outputs have a symbolic leading (batch) axis."""
    import onnx
    m = onnx.ModelProto()
    m.CopyFrom(step)
    for v in list(m.graph.input) + list(m.graph.output):
        dims = v.type.tensor_type.shape.dim
        if len(dims):
            dims[0].Clear()
            dims[0].dim_param = dim
    del m.graph.value_info[:]  # stale shapes with the batch fixed at 1
    return m


def _prefixed(graph, prefix: str):
    """A copy of ``graph`` with every name it defines (inputs, initializers, node outputs, node names) prefixed,
    so it can be a Scan body without shadowing the enclosing graph's names."""
    import onnx
    g = onnx.GraphProto()
    g.CopyFrom(graph)
    defined = {i.name for i in g.input} | {t.name for t in g.initializer}
    defined |= {o for n in g.node for o in n.output if o}
    ren = {k: prefix + k for k in defined}
    for v in list(g.input) + list(g.output) + list(g.value_info):
        if v.name in ren:
            v.name = ren[v.name]
    for t in g.initializer:
        t.name = ren[t.name]
    for j, n in enumerate(g.node):
        n.name = f"{prefix}{n.name or n.op_type}#{j}"
        for k, x in enumerate(n.input):
            if x in ren:
                n.input[k] = ren[x]
        for k, x in enumerate(n.output):
            if x in ren:
                n.output[k] = ren[x]
        if _subgraph_outer_inputs(n) & set(ren):
            raise ValueError("a node's subgraph reads the step graph's tensors")
    return g


def _scan_over_batch(step, dim: str):
    """Fallback batched model: the step graph as the body of a Scan over the voices (axis 0 of every input)."""
    import onnx
    from onnx import helper
    R = _state_size(step)
    body = _prefixed(step.graph, "b/")
    body.name = "voice_step"
    # Scan slices away the batch axis: restore it with Unsqueeze and remove it from the outputs with Squeeze.
    ren_in = {i.name: f"{i.name}@row" for i in body.input}
    axes = helper.make_tensor("b/axes0", onnx.TensorProto.INT64, [1], [0])
    body.initializer.append(axes)
    pre = [helper.make_node("Unsqueeze", [ren_in[i.name], "b/axes0"], [i.name], name=f"b/unsq_{i.name}")
           for i in body.input]
    post, new_outs = [], []
    for o in body.output:
        post.append(helper.make_node("Squeeze", [o.name, "b/axes0"], [f"{o.name}@row"], name=f"b/sq_{o.name}"))
    new_in = []
    for i in body.input:
        dims = [d.dim_value for d in i.type.tensor_type.shape.dim][1:]
        new_in.append(_value_info(ren_in[i.name], dims))
    for o in body.output:
        dims = [d.dim_value if d.HasField("dim_value") else None for d in o.type.tensor_type.shape.dim][1:]
        new_outs.append(_value_info(f"{o.name}@row", dims))
    nodes = pre + list(body.node) + post
    del body.node[:]
    body.node.extend(nodes)
    del body.input[:]
    body.input.extend(new_in)
    del body.output[:]
    body.output.extend(new_outs)
    del body.value_info[:]
    ins = [i.name for i in step.graph.input]
    outs = [o.name for o in step.graph.output]
    scan = helper.make_node("Scan", ins, outs, name="voices_scan", body=body, num_scan_inputs=len(ins))
    K = int(_io_dims(step, C.OUTPUT_HARMONICS)[-1])
    B = int(_io_dims(step, C.OUTPUT_NOISE)[-1])
    graph = helper.make_graph(
        [scan], "ddsp_controls_batched",
        [_value_info(C.INPUT_F0, [dim, 1]), _value_info(C.INPUT_PW, [dim, 1]), _value_info(C.INPUT_STATE, [dim, R])],
        [_value_info(C.OUTPUT_AMPLITUDE, [dim, 1]), _value_info(C.OUTPUT_HARMONICS, [dim, K]),
         _value_info(C.OUTPUT_NOISE, [dim, B]), _value_info(C.OUTPUT_STATE, [dim, R])])
    m = helper.make_model(graph, opset_imports=list(step.opset_import), producer_name="tonehost")
    m.ir_version = step.ir_version
    return m


def build_batched_model(step) -> "onnx.ModelProto":
    """The step model with a batch of N independent voices per call (see the module docstring).

    Parameters
    ----------
    step : onnx.ModelProto or path
        A controls model in the contract.

    Returns
    -------
    onnx.ModelProto
        Inputs ``f0_scaled`` ``[N, 1]``, ``pw_scaled`` ``[N, 1]``, ``state`` ``[N, R]``; the contract's outputs
        with N rows; metadata copied, plus ``tonehost.variant`` = ``batched`` (the step graph made batch-symbolic)
        or ``batched-scan`` (a Scan over the voices).
    """
    step = _load(step)
    m = _with_batch_dims(step, _N_DIM)
    try:
        check_against_step(m, step, "batched")
        _copy_meta(step, m, "batched")
        return m
    except Exception:  # noqa: BLE001 - any failure (ORT shape error, mismatch) -> the always-correct Scan
        pass
    m = _scan_over_batch(step, _N_DIM)
    check_against_step(m, step, "batched")
    _copy_meta(step, m, "batched-scan")
    return m


# ---------------------------------------------------------------------------------------- sequence model

def _graph_parts(step):
    """Partition the step graph's nodes: (pre, core, post) lists of node indices, in graph order."""
    g = step.graph
    nodes = list(g.node)
    producer = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            if o:
                producer[o] = i
    # descendants of the state input
    dep_state = set()
    tainted = {C.INPUT_STATE}
    for i, n in enumerate(nodes):  # nodes are topologically sorted in a valid ONNX graph
        if any(x in tainted for x in n.input if x) or _subgraph_reads(n, tainted):
            dep_state.add(i)
            tainted.update(o for o in n.output if o)
    # ancestors of state_out
    anc = set()
    stack = [C.OUTPUT_STATE]
    seen = set()
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        if t in producer:
            i = producer[t]
            if i not in anc:
                anc.add(i)
                stack.extend(x for x in nodes[i].input if x)
                stack.extend(_subgraph_outer_inputs(nodes[i]))
    core = sorted(dep_state & anc)
    pre = sorted(i for i in range(len(nodes)) if i not in dep_state)
    post = sorted(i for i in range(len(nodes)) if i in dep_state and i not in anc)
    return pre, core, post


def _subgraph_outer_inputs(node):
    """Names a node's subgraphs (If/Loop/Scan bodies) read from the enclosing scope."""
    import onnx
    names = set()
    for a in node.attribute:
        graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
        for sg in graphs:
            local = {i.name for i in sg.input} | {t.name for t in sg.initializer}
            for n in sg.node:
                local.update(o for o in n.output)
            for n in sg.node:
                names.update(x for x in n.input if x and x not in local)
                names.update(_subgraph_outer_inputs(n) - local)
    return names


def _subgraph_reads(node, names) -> bool:
    return bool(_subgraph_outer_inputs(node) & names)


def _probe_batch_axes(step, tensors):
    """For each tensor name: the axis that follows the batch size in the batch-symbolic graph (None: none).

    Runs the batched graph with every tensor exposed as an output, for batch sizes 2 and 3.
    """
    import onnx
    m = _with_batch_dims(step, _N_DIM)
    have = {o.name for o in m.graph.output}
    for t in tensors:
        if t not in have:
            m.graph.output.append(onnx.ValueInfoProto(name=t))
    sess = _session(m)
    R = _state_size(step)
    res = {}
    shapes = []
    for n in (2, 3):
        f0, pw = _random_controls(n, n)
        st = np.zeros((n, R), np.float32)
        vals = sess.run(list(tensors), {C.INPUT_F0: f0, C.INPUT_PW: pw, C.INPUT_STATE: st})
        shapes.append([v.shape for v in vals])
    for k, t in enumerate(tensors):
        a, b = shapes[0][k], shapes[1][k]
        axes = [i for i in range(len(a)) if len(a) == len(b) and a[i] == 2 and b[i] == 3
                and all(a[j] == b[j] for j in range(len(a)) if j != i)]
        res[t] = axes[0] if len(axes) == 1 else None
    return res


def _split_sequence_model(step):
    """The pre / Scan(core) / post sequence model (or the GRU-over-time one); raises when the graph won't split."""
    import onnx
    from onnx import helper, numpy_helper
    g = step.graph
    nodes = list(g.node)
    pre, core, post = _graph_parts(step)
    if not core:
        raise ValueError("no recurrent core")

    def reads(idx):
        r = set()
        for i in idx:
            r.update(x for x in nodes[i].input if x)
            r.update(_subgraph_outer_inputs(nodes[i]))
        return r

    pre_out = {o for i in pre for o in nodes[i].output if o}
    core_out = {o for i in core for o in nodes[i].output if o}
    if C.OUTPUT_STATE not in core_out:
        raise ValueError("state_out is not computed from state")
    graph_outs = [o.name for o in g.output]
    # tensors entering the core from outside that may vary per frame (pre tensors and the f0/pw inputs) ...
    entering = sorted(x for x in reads(core) if x in pre_out or x in (C.INPUT_F0, C.INPUT_PW))
    # ... and core tensors read after it (by post, or contract outputs other than the state)
    export = sorted(x for x in (reads(post) | (set(graph_outs) - {C.OUTPUT_STATE}))
                    if x in core_out or x == C.INPUT_STATE)
    axes = _probe_batch_axes(step, entering + export)
    if any(axes[t] is None for t in export):
        raise ValueError("a tensor leaving the recurrence has no batch axis")
    # an entering tensor without a batch axis is the same for every frame: the body reads it from outside
    boundary_in = [t for t in entering if axes[t] is not None]
    gru_seq = _gru_over_time(step, core, boundary_in, export, axes)
    R = _state_size(step)
    if gru_seq is None:
        # Scan body: the core with every name it defines prefixed (no shadowing of the outer scope); its
        # per-frame inputs sliced along their batch axis and restored to size 1, its outputs squeezed back
        local = {C.INPUT_STATE: "b/" + C.INPUT_STATE}
        local.update({t: "b/" + t for t in boundary_in})
        local.update({o: "b/" + o for o in core_out})
        bn, body_inits, ax_names = [], [], {}
        for a in sorted(set(axes[t] for t in boundary_in + export)):
            ax_names[a] = f"b/axis{a}"
            body_inits.append(numpy_helper.from_array(np.array([a], np.int64), ax_names[a]))
        body_in = [_value_info("b/state_in", None)]
        bn.append(helper.make_node("Identity", ["b/state_in"], [local[C.INPUT_STATE]], name="b/state_id"))
        for t in boundary_in:
            body_in.append(_value_info(f"b/{t}@t", None))
            bn.append(helper.make_node("Unsqueeze", [f"b/{t}@t", ax_names[axes[t]]], [local[t]], name=f"b/unsq_{t}"))
        for i in core:
            n = onnx.NodeProto()
            n.CopyFrom(nodes[i])
            n.name = f"b/{n.name or n.op_type}#{i}"
            for k, x in enumerate(n.input):
                if x in local:
                    n.input[k] = local[x]
            for k, x in enumerate(n.output):
                if x:
                    n.output[k] = local[x]
            if _subgraph_outer_inputs(n) & set(local):
                raise ValueError("a core node has a subgraph reading core tensors")
            bn.append(n)
        body_out = [_value_info("b/state_next", None)]
        bn.append(helper.make_node("Identity", [local[C.OUTPUT_STATE]], ["b/state_next"], name="b/state_next_id"))
        for t in export:
            body_out.append(_value_info(f"b/{t}@out", None))
            bn.append(helper.make_node("Squeeze", [local[t], ax_names[axes[t]]], [f"b/{t}@out"], name=f"b/sq_{t}"))
        body = helper.make_graph(bn, "frame_step", body_in, body_out, initializer=body_inits)
        seq_names = {t: f"{t}@frames" for t in export}
        if not boundary_in:
            raise ValueError("nothing per frame enters the recurrence")
        attrs = {"scan_input_axes": [axes[t] for t in boundary_in]}
        if export:
            attrs["scan_output_axes"] = [axes[t] for t in export]
        scan = helper.make_node(
            "Scan", [C.INPUT_STATE] + boundary_in, ["state@final"] + [seq_names[t] for t in export],
            name="frames_scan", body=body, num_scan_inputs=len(boundary_in), **attrs)
        core_nodes, final_state = [scan], "state@final"
    else:
        core_nodes, final_state, seq_names = gru_seq
    out_nodes = [nodes[i] for i in pre] + core_nodes
    for i in post:
        n = onnx.NodeProto()
        n.CopyFrom(nodes[i])
        for k, x in enumerate(n.input):
            if x in seq_names:
                n.input[k] = seq_names[x]
        if _subgraph_outer_inputs(n) & set(seq_names):
            raise ValueError("a post node has a subgraph reading core tensors")
        out_nodes.append(n)
    out_nodes.append(helper.make_node("Identity", [final_state], [C.OUTPUT_STATE], name="final_state"))
    for name in graph_outs:
        if name != C.OUTPUT_STATE and name in seq_names:
            out_nodes.append(helper.make_node("Identity", [seq_names[name]], [name], name=f"out_{name}"))
    K = int(_io_dims(step, C.OUTPUT_HARMONICS)[-1])
    B = int(_io_dims(step, C.OUTPUT_NOISE)[-1])
    used = set()
    for n in out_nodes:
        used.update(n.input)
        used.update(_subgraph_outer_inputs(n))
    graph = helper.make_graph(
        out_nodes, "ddsp_controls_sequence",
        [_value_info(C.INPUT_F0, [_T_DIM, 1]), _value_info(C.INPUT_PW, [_T_DIM, 1]),
         _value_info(C.INPUT_STATE, [1, R])],
        [_value_info(C.OUTPUT_AMPLITUDE, [_T_DIM, 1]), _value_info(C.OUTPUT_HARMONICS, [_T_DIM, K]),
         _value_info(C.OUTPUT_NOISE, [_T_DIM, B]), _value_info(C.OUTPUT_STATE, [1, R])],
        initializer=[t for t in g.initializer if t.name in used])
    m = helper.make_model(graph, opset_imports=list(step.opset_import), producer_name="tonehost")
    m.ir_version = step.ir_version
    return m


def _gru_over_time(step, core, boundary_in, export, axes):
    """When the core is one forward ONNX ``GRU`` whose input X enters from outside, plus reshaping of the state
    (Unsqueeze / Squeeze / Reshape / Identity): that GRU over the whole sequence. Returns (nodes, final state
    name, {core tensor: per-frame name}) or None."""
    from onnx import helper, numpy_helper
    g = step.graph
    nodes = [g.node[i] for i in core]
    grus = [n for n in nodes if n.op_type == "GRU"]
    if len(grus) != 1 or any(n.op_type not in ("GRU", "Unsqueeze", "Squeeze", "Identity", "Reshape") for n in nodes):
        return None
    gru = grus[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in gru.attribute}
    if attrs.get("direction", b"forward") not in (b"forward", "forward") or attrs.get("layout", 0) != 0:
        return None
    x = gru.input[0]
    if boundary_in != [x] or (len(gru.input) > 4 and gru.input[4]) or axes[x] != 1:
        return None  # X is [seq=1, batch=1, in] in the step; the probe finds the frames on its batch axis
    # the core nodes before the GRU (the initial state's reshaping) run once, on the stream's state
    gru_i = nodes.index(gru)
    before = nodes[:gru_i]
    produced = {o for n in before for o in n.output}
    if any(x_ in {o for o in gru.output} for n in before for x_ in n.input):
        return None
    R = _state_size(step)
    out = list(before)
    out.append(helper.make_node("Transpose", [x], ["gru@x_time"], perm=[1, 0, 2], name="gru_x_time"))
    ins = list(gru.input)
    ins[0] = "gru@x_time"
    out.append(helper.make_node("GRU", ins, ["gru@y", "gru@y_last"], name="gru_over_time", **attrs))
    out.append(helper.make_node("Constant", [], ["gru@shape_tR"], name="gru_shape_tR",
                                value=numpy_helper.from_array(np.array([-1, R], np.int64))))
    out.append(helper.make_node("Reshape", ["gru@y", "gru@shape_tR"], ["gru@h_frames"], name="gru_h_frames"))
    out.append(helper.make_node("Reshape", ["gru@y_last", "gru@shape_tR"], ["gru@h_last"], name="gru_h_last"))
    # the exported core tensors must be the new state as a row ([1, R], batch axis 0): views of Y_h
    views = set(o for o in gru.output if o)
    for n in nodes[gru_i + 1:]:
        if n.op_type in ("Squeeze", "Reshape", "Identity") and n.input[0] in views:
            views.update(n.output)
    if C.OUTPUT_STATE not in views:
        return None
    shape_ok = {}
    for t in export:
        if t not in views or axes[t] != 0 or t in produced:
            return None
        shape_ok[t] = "gru@h_frames"
    return out, "gru@h_last", shape_ok


def _scan_over_time(step):
    """Fallback sequence model: the whole step graph as the body of a Scan over the frames."""
    import onnx
    from onnx import helper
    R = _state_size(step)
    K = int(_io_dims(step, C.OUTPUT_HARMONICS)[-1])
    B = int(_io_dims(step, C.OUTPUT_NOISE)[-1])
    body = _prefixed(step.graph, "b/")
    body.name = "frame_step"
    body.initializer.append(helper.make_tensor("b/axes0", onnx.TensorProto.INT64, [1], [0]))
    nodes = [helper.make_node("Identity", ["b/state@in"], ["b/" + C.INPUT_STATE], name="b/state_id"),
             helper.make_node("Unsqueeze", ["b/f0@t", "b/axes0"], ["b/" + C.INPUT_F0], name="b/unsq_f0"),
             helper.make_node("Unsqueeze", ["b/pw@t", "b/axes0"], ["b/" + C.INPUT_PW], name="b/unsq_pw")]
    nodes += list(body.node)
    nodes += [helper.make_node("Identity", ["b/" + C.OUTPUT_STATE], ["b/state@next"], name="b/state_next_id")]
    outs = []
    for name in C.OUTPUT_NAMES[:3]:
        nodes.append(helper.make_node("Squeeze", ["b/" + name, "b/axes0"], [f"b/{name}@t"], name=f"b/sq_{name}"))
        outs.append(_value_info(f"b/{name}@t", None))
    del body.node[:]
    body.node.extend(nodes)
    del body.input[:]
    body.input.extend([_value_info("b/state@in", [1, R]), _value_info("b/f0@t", [1]), _value_info("b/pw@t", [1])])
    del body.output[:]
    body.output.extend([_value_info("b/state@next", [1, R])] + outs)
    del body.value_info[:]
    scan = helper.make_node("Scan", [C.INPUT_STATE, C.INPUT_F0, C.INPUT_PW],
                            [C.OUTPUT_STATE, C.OUTPUT_AMPLITUDE, C.OUTPUT_HARMONICS, C.OUTPUT_NOISE],
                            name="frames_scan", body=body, num_scan_inputs=2)
    graph = helper.make_graph(
        [scan], "ddsp_controls_sequence",
        [_value_info(C.INPUT_F0, [_T_DIM, 1]), _value_info(C.INPUT_PW, [_T_DIM, 1]),
         _value_info(C.INPUT_STATE, [1, R])],
        [_value_info(C.OUTPUT_AMPLITUDE, [_T_DIM, 1]), _value_info(C.OUTPUT_HARMONICS, [_T_DIM, K]),
         _value_info(C.OUTPUT_NOISE, [_T_DIM, B]), _value_info(C.OUTPUT_STATE, [1, R])])
    m = helper.make_model(graph, opset_imports=list(step.opset_import), producer_name="tonehost")
    m.ir_version = step.ir_version
    return m


def build_sequence_model(step, split: bool = True) -> "onnx.ModelProto":
    """T frames of one stream per call, derived from the step graph (see the module docstring).

    Parameters
    ----------
    step : onnx.ModelProto or path
        A controls model in the contract.
    split : bool
        Try the pre / recurrence / post split first (False: straight to the whole-graph Scan).

    Returns
    -------
    onnx.ModelProto
        Inputs ``f0_scaled`` ``[T, 1]``, ``pw_scaled`` ``[T, 1]``, ``state`` ``[1, R]``; outputs per frame and
        the final state; metadata copied, plus ``tonehost.variant``: ``sequence-gru`` (the GRU over time),
        ``sequence-split`` (pre / Scan / post) or ``sequence-scan`` (the whole step in a Scan).

    Raises
    ------
    ValueError
        Even the whole-graph Scan disagrees with the step model (a model that is not a step in the contract).
    """
    step = _load(step)
    if split:
        try:
            m = _split_sequence_model(step)
            check_against_step(m, step, "sequence")
            kind = "sequence-gru" if any(n.name == "gru_over_time" for n in m.graph.node) else "sequence-split"
            _copy_meta(step, m, kind)
            return m
        except Exception:  # noqa: BLE001 - fall back to the always-correct form
            pass
    m = _scan_over_time(step)
    check_against_step(m, step, "sequence")
    _copy_meta(step, m, "sequence-scan")
    return m


# ------------------------------------------------------------------------------------------------ cache

def _derived_path(step_path, kind: str, version: int, build) -> Path:
    from tonehost.exports.convert.export_cache import cached_derived
    return cached_derived(step_path, f"{Path(step_path).stem}.{kind}.onnx",
                          lambda p: build(p).SerializeToString(), version)


def sequence_model_path(step_path: str | os.PathLike) -> Path:
    """The cached sequence model of a step ``.onnx`` (built and checked on first use)."""
    return _derived_path(step_path, "sequence", SEQUENCE_VERSION, build_sequence_model)


def batched_model_path(step_path: str | os.PathLike) -> Path:
    """The cached batched (N voices per call) model of a step ``.onnx`` (built and checked on first use)."""
    return _derived_path(step_path, "batched", BATCHED_VERSION, build_batched_model)
