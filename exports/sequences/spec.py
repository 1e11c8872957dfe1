"""Data converters from their config.json spec: magenta.js ``converterFromSpec``.

A spec is ``{"type": <name>, "args": {...}}`` with magenta.js's camelCase argument names (``numSteps``,
``minPitch``, ``pitchClasses``, ``melArgs``, ...); snake_case names are accepted too. MUSICGEN.md section 1
lists the arguments of each type.
"""
from __future__ import annotations

from tonehost.exports.sequences.base import ConverterError, DataConverter, camel_kwargs, melody_kwargs
from tonehost.exports.sequences.drums import DrumRollConverter, DrumsConverter, DrumsOneHotConverter
from tonehost.exports.sequences.groove import GrooveConverter
from tonehost.exports.sequences.melody import MelodyConverter, MelodyRhythmConverter, MelodyShapeConverter
from tonehost.exports.sequences.multitrack import MultitrackConverter
from tonehost.exports.sequences.trio import TrioConverter, TrioRhythmConverter

__all__ = ["CONVERTERS", "converter_from_spec", "camel_kwargs", "melody_kwargs"]

#: ``dataConverter.type`` -> class.
CONVERTERS = {
    "MelodyConverter": MelodyConverter, "MelodyRhythmConverter": MelodyRhythmConverter,
    "MelodyShapeConverter": MelodyShapeConverter, "DrumsConverter": DrumsConverter,
    "DrumRollConverter": DrumRollConverter, "DrumsOneHotConverter": DrumsOneHotConverter,
    "TrioConverter": TrioConverter, "TrioRhythmConverter": TrioRhythmConverter,
    "MultitrackConverter": MultitrackConverter, "GrooveConverter": GrooveConverter,
}

def converter_from_spec(spec: dict) -> DataConverter:
    """Build the converter of a ``dataConverter`` spec.

    Parameters
    ----------
    spec : dict
        ``{"type": "MelodyConverter", "args": {"minPitch": 48, "maxPitch": 83}}``.

    Returns
    -------
    DataConverter

    Raises
    ------
    ConverterError
        Unknown type, missing ``args``, or arguments the converter does not take.
    """
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConverterError(f"a data converter spec is {{'type': ..., 'args': {{...}}}}, got {spec!r:.80}")
    cls = CONVERTERS.get(spec["type"])
    if cls is None:
        raise ConverterError(f"unknown data converter {spec['type']!r} (known: {', '.join(CONVERTERS)})")
    args = spec.get("args")
    if not isinstance(args, dict):
        raise ConverterError(f"the {spec['type']} spec needs an 'args' object (may be empty)")
    try:
        return cls(**camel_kwargs(args))
    except TypeError as exc:
        raise ConverterError(f"bad arguments for {spec['type']}: {exc}") from None
