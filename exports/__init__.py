"""Model files in and out: everything between a checkpoint on a server and a session tonehost runs.

- :mod:`~tonehost.exports.errors` -- the one error root, :class:`TonehostError`;
- :mod:`~tonehost.exports.paths` -- the cache, shipped-model and shared-data folders;
- :mod:`~tonehost.exports.checkpoints` -- the index, verified downloads, shipped models;
- :mod:`~tonehost.exports.resolve` -- what the user names -> the ``.onnx`` tonehost runs;
- :mod:`~tonehost.exports.tfjs`, :mod:`~tonehost.exports.tflite` -- checkpoint format readers and writers;
- :mod:`~tonehost.exports.convert` -- converters to ONNX; :mod:`~tonehost.exports.contracts` -- model contracts;
- :mod:`~tonehost.exports.onnx_session` -- the one ONNX Runtime session factory;
- :mod:`~tonehost.exports.note_sequence` -- NoteSequence, the score type;
- :mod:`~tonehost.exports.training` -- torch training, apart (nothing at run time imports it).
"""
