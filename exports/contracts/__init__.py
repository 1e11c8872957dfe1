"""Model contracts: the single home of each model family's constants, input/output names and scalings.

- :mod:`~tonehost.exports.contracts.ddsp` -- the streaming DDSP controls contract (``f0_scaled``, ``pw_scaled``,
  state in; amplitude, harmonic distribution, noise magnitudes, state out) and its ONNX metadata.
"""
