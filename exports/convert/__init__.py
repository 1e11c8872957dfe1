"""Converters from hosted checkpoint formats to ONNX models in tonehost's contracts (no TensorFlow needed).

- :mod:`~tonehost.exports.convert.onsets_frames` -- Onsets and Frames layers checkpoints -> stream/whole ONNX.
- :mod:`~tonehost.exports.convert.ddsp_export` -- DDSP instruments (magenta.js graph models, DDSP-VST ``.tflite``)
  -> the controls contract, through :mod:`~tonehost.exports.convert.ddsp_decoder` (a format-neutral graph),
  :mod:`~tonehost.exports.convert.ddsp_graph`, :mod:`~tonehost.exports.convert.ddsp_tflite` (readers) and
  :mod:`~tonehost.exports.convert.ddsp_onnx` (the builder).
- :mod:`~tonehost.exports.convert.pitch_model` -- DDSP-VST's CREPE-micro pitch model -> ONNX, and its runner.
"""
