"""TensorFlow Lite flatbuffers, read in pure Python (the ``tflite`` package): :mod:`~tonehost.exports.tflite.reader`."""
