"""TensorFlow.js checkpoint formats in one import: weights manifests (layers checkpoints) and graph models.

See :mod:`tonehost.exports.tfjs.manifest` and :mod:`tonehost.exports.tfjs.graph`; every error is a
:class:`tonehost.exports.errors.CheckpointError`.
"""
from __future__ import annotations

from tonehost.exports.errors import CheckpointError
from tonehost.exports.tfjs.graph import GraphModel, read_graph_model, write_graph_model
from tonehost.exports.tfjs.manifest import (DEFAULT_SHARD_BYTES, MANIFEST_NAME, manifest_paths, parse_manifest,
                            parse_manifest_json, quantize_affine, read_checkpoint_config, read_layers_checkpoint,
                            read_weights_manifest, write_layers_checkpoint)

__all__ = [
    "CheckpointError", "GraphModel", "read_graph_model", "write_graph_model", "DEFAULT_SHARD_BYTES",
    "MANIFEST_NAME", "manifest_paths", "parse_manifest", "parse_manifest_json", "quantize_affine",
    "read_checkpoint_config", "read_layers_checkpoint", "read_weights_manifest", "write_layers_checkpoint",
]
