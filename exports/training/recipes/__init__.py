"""The recipes behind the models tonehost ships: data rendering (FluidSynth, Salamander samples, music21), training
and export. Run as ``python -m tonehost.exports.training.recipes.NAME``; each docstring lists its commands."""
