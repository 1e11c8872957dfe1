"""DDSP instruments trained by the tonehost project and shipped inside the package (``exports/shipped/*.onnx``).

They make ``tonehost play`` and ``tonehost render`` work on a fresh machine without access to the hosted
checkpoints. Each is a controls model in the streaming ONNX contract (:mod:`exports.ddsp_contract`), built by the
same :mod:`exports.ddsp_onnx` builder as converted hosted checkpoints, so it runs through exactly the same
run-time code (:class:`realtime.instrument.ControlsModel`, :mod:`dsp.harmonic`, :mod:`dsp.noise`).

- ``violin``: trained on FluidSynth renders of the General MIDI violin (FluidR3_GM), see
  ``exports/recipes/make_violin_data.py`` and ``exports/recipes/train_violin.py``.

The hosted checkpoints stay one option away: ``--checkpoint ddsp_violin`` (an index id), a checkpoint directory
or an exported ``.onnx``.
"""
from __future__ import annotations

from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
SHIPPED_INSTRUMENTS = ("violin",)


class ShippedModelMissing(FileNotFoundError):
    """The package was installed without its data; ``user_message`` says what to do."""

    def __init__(self, msg: str):
        super().__init__(msg)
        self.user_message = msg


def default_instrument_path(name: str = "violin") -> Path | None:
    """The shipped ``.onnx`` controls model for instrument ``name``, or None when the project ships none.

    Raises
    ------
    ShippedModelMissing
        When ``name`` is a shipped instrument but its file is missing from this installation.
    """
    if name not in SHIPPED_INSTRUMENTS:
        return None
    path = SHIPPED_DIR / f"{name}.onnx"
    if not path.is_file():
        raise ShippedModelMissing(
            f"the shipped {name} model is missing from this installation ({path}); reinstall tonehost with its "
            f"package data, or pass --checkpoint ddsp_{name} for the hosted checkpoint")
    return path

