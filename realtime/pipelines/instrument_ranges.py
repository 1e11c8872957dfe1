"""The ranges of the instrument's settings, one home for the command line's options
(:mod:`tonehost.realtime.cli.options`: ``--gain``, ``--pitch-shift``, ``--input-gain``) and the Python API's
:class:`~tonehost.realtime.pipelines.instrument.PipelineConfig` (``DDSP(output_gain=..., pitch_shift=...,
input_gain_db=...)``), which took any value until session 8 (a NaN shift, an inverted output). Imports nothing, so
both can import it (the options module is loaded for every command, the pipeline only when one runs)."""
from __future__ import annotations

__all__ = ["MAX_GAIN", "MAX_PITCH_SHIFT", "MAX_INPUT_GAIN_DB"]

#: The largest output gain (linear): 16 = +24 dB. Beyond it any input clips at the sound card or in the file.
MAX_GAIN = 16.0
#: The largest pitch shift either way, in semitones (4 octaves).
MAX_PITCH_SHIFT = 48.0
#: The largest input gain either way, in dB.
MAX_INPUT_GAIN_DB = 60.0
