"""Training (PyTorch; ``pip install 'tonehost[train]'``): nothing at run time imports this package.

- :mod:`~tonehost.exports.training.ddsp` -- a DDSP decoder trained through differentiable synths
  (:mod:`~tonehost.exports.training.synth`), exported through the same builder as hosted checkpoints;
  ``tonehost train-instrument`` calls it.
- :mod:`~tonehost.exports.training.onsets_frames` -- Onsets and Frames in torch, to and from layers checkpoints.
- :mod:`~tonehost.exports.training.recipes` -- the scripts that made the shipped models (data, training, export).
"""
