"""TensorFlow.js graph models (the DDSP instruments): ``model.json`` + weight shards + ``settings.json``.

``model.json`` holds ``modelTopology`` (a TensorFlow GraphDef as JSON: ``node`` list of ``{name, op, input,
attr}``, plus ``library``/``versions``) and ``weightsManifest`` (the same weights manifest as layers checkpoints,
shards named ``group1-shard1of1.bin``). Magenta's DDSP checkpoints add ``settings.json`` (loudness/pitch
normalisation constants).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tonehost.exports.errors import CheckpointFormatError
from tonehost.exports.tfjs.manifest import (DEFAULT_SHARD_BYTES, REFETCH, build_weights, file_loader, read_json_file,
                            read_weights_manifest, shard_names, write_shards)

MODEL_NAME = "model.json"
SETTINGS_NAME = "settings.json"


@dataclass
class GraphModel:
    """A loaded TensorFlow.js graph model.

    Attributes
    ----------
    topology : dict
        ``modelTopology`` of model.json (GraphDef as JSON: ``node`` list with name/op/input/attr).
    weights : dict of str to numpy.ndarray
        Decoded weights (same rules as layers checkpoints).
    settings : dict or None
        ``settings.json`` when present.
    path : Path
        The checkpoint directory.
    model_json : dict
        The whole model.json (format, generatedBy, convertedBy, signature, ...).
    """

    topology: dict
    weights: dict[str, np.ndarray]
    settings: dict | None
    path: Path
    model_json: dict = field(default_factory=dict, repr=False)

    @property
    def nodes(self) -> list[dict]:
        """The GraphDef nodes (``topology['node']``)."""
        return list(self.topology.get("node", []))


def read_graph_model(path: str | os.PathLike, *, check_finite: bool = True) -> GraphModel:
    """Read a TensorFlow.js graph model from disk.

    Parameters
    ----------
    path : str or Path
        The checkpoint directory or its ``model.json``.
    check_finite : bool
        Reject NaN/inf weights (default True).

    Returns
    -------
    GraphModel

    Raises
    ------
    CheckpointError
        Missing model.json or shard, bad JSON, no ``modelTopology``/``weightsManifest``, and every weight error of
        :func:`tonehost.exports.tfjs.manifest.read_weights_manifest`.
    """
    p = Path(path)
    directory, model_file = (p, p / MODEL_NAME) if p.is_dir() else (p.parent, p)
    model = read_json_file(model_file, "graph model file")
    src = str(model_file)
    if not isinstance(model, dict):
        raise CheckpointFormatError(f"{src}: is not a JSON object; {REFETCH}", src)
    topology = model.get("modelTopology")
    if not isinstance(topology, dict):
        raise CheckpointFormatError(f"{src}: has no 'modelTopology' object; {REFETCH}", src)
    nodes = topology.get("node", [])
    if not isinstance(nodes, list) or not all(isinstance(n, dict) and isinstance(n.get("name"), str)
                                              for n in nodes):
        raise CheckpointFormatError(f"{src}: 'modelTopology.node' is not a list of named nodes; {REFETCH}", src)
    manifest = model.get("weightsManifest")
    if manifest is None:
        raise CheckpointFormatError(f"{src}: has no 'weightsManifest'; {REFETCH}", src)
    weights = read_weights_manifest(manifest, file_loader(directory), source=src, check_finite=check_finite)
    settings = None
    sfile = directory / SETTINGS_NAME
    if sfile.exists():
        settings = read_json_file(sfile, "settings file")
        if not isinstance(settings, dict):
            raise CheckpointFormatError(f"{sfile}: is not a JSON object; {REFETCH}", sfile)
    return GraphModel(topology=topology, weights=weights, settings=settings, path=directory, model_json=model)


def write_graph_model(directory: str | os.PathLike, topology: dict, weights: dict, settings: dict | None = None,
                      *, quantize: str | None = None, shard_bytes: int | None = None) -> dict:
    """Write a TensorFlow.js graph model: ``model.json`` + ``group1-shard1of1.bin`` (+ ``settings.json``).

    Parameters
    ----------
    directory : str or Path
        Created if missing.
    topology : dict
        The ``modelTopology`` (GraphDef as JSON).
    weights : dict of str to array
        Weights in manifest order.
    settings : dict, optional
        Written as ``settings.json``.
    quantize : {None, "uint8", "uint16"}
        Quantize float32 weights like the converter.
    shard_bytes : int, optional
        Split into shards of this size (``group1-shard{i}of{N}.bin``); default one shard, as the DDSP files.

    Returns
    -------
    dict
        The model.json content.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    entries, data = build_weights(weights, quantize)
    names = shard_names(len(data), shard_bytes, suffix=".bin")
    write_shards(d, data, names, shard_bytes)
    model = {"format": "graph-model", "generatedBy": "tonehost", "convertedBy": "tonehost",
             "modelTopology": topology, "weightsManifest": [{"paths": names, "weights": entries}]}
    (d / MODEL_NAME).write_text(json.dumps(model))
    if settings is not None:
        (d / SETTINGS_NAME).write_text(json.dumps(settings))
    return model


__all__ = ["GraphModel", "read_graph_model", "write_graph_model", "DEFAULT_SHARD_BYTES"]
