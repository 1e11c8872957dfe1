"""The streaming ONNX contract every tonehost DDSP instrument (controls model) follows.

One ``.onnx`` file = one instrument's *controls* model: it runs ONE control frame per call and carries its own
recurrent state in and out (the shape of DDSP-VST's ``.tflite`` controls model). Synthesis happens outside the
model, in :mod:`dsp` (harmonic oscillator bank + filtered noise).

Inputs (all float32)
    ``f0_scaled``  [1, 1]          ``hz_to_midi(f0_hz) / 127`` (see :func:`scale_f0_hz`)
    ``pw_scaled``  [1, 1]          ``db / db_range + 1`` (see :func:`scale_db`; ``db_range`` is in the metadata:
                                   80 for DDSP-VST power, and what the magenta.js graph divides its
                                   ``loudness_db`` input by for hosted checkpoints)
    ``state``      [1, state_size] recurrent (GRU) state; zeros at the start of a stream

Outputs (all float32)
    ``amplitude``              [1, 1]            overall harmonic amplitude, exp-sigmoid already applied
    ``harmonic_distribution``  [1, n_harmonics]  per-harmonic weights as ddsp's ``Harmonic.get_controls``
                                                 returns them: exp-sigmoid applied, harmonics with
                                                 ``k * f0 >= sample_rate / 2`` zeroed (f0 from ``f0_scaled``),
                                                 normalised to sum 1 (DDSP-VST's model does the same). A synth
                                                 may re-apply mask + normalisation (idempotent), then multiplies
                                                 by ``amplitude``
    ``noise_magnitudes``       [1, n_noise_bands] filtered-noise band magnitudes, exp-sigmoid applied
    ``state_out``              [1, state_size]   feed back as ``state`` on the next call

exp-sigmoid is ddsp's ``core.exp_sigmoid``: ``2 * sigmoid(x) ** log(10) + 1e-7`` (see :func:`exp_sigmoid`).

Timing: one call per control frame; a frame covers ``hop_size = sample_rate / frame_rate`` output samples
(hosted magenta.js models: 250 frames/s, hop 64 at 16 kHz; DDSP-VST: 50 frames/s, hop 320 at 16 kHz). The
synth interpolates f0 and amplitudes across the hop (see REFERENCE.md section 3).

Metadata (``model.metadata_props``, all values strings; read them with :func:`read_metadata`)
    ``tonehost.contract``  ``"ddsp-controls/1"``
    ``source_format``      ``"tfjs-graph"`` (hosted magenta.js checkpoint) or ``"tflite"`` (DDSP-VST)
    ``sample_rate``, ``frame_rate``, ``hop_size``, ``n_harmonics``, ``n_noise_bands``, ``state_size`` (ints/floats)
    ``f0_range``           127 (MIDI range of ``f0_scaled``)
    ``db_range``           dB range of ``pw_scaled`` (float)
    ``db_kind``            ``"loudness_db"`` (A-weighted loudness, magenta.js) or ``"power_db"`` (DDSP-VST)
    ``settings_json``      the checkpoint's ``settings.json`` verbatim (magenta.js: averageMaxLoudness,
                           meanLoudness, meanPitch, postGain, loudnessThreshold...), ``"{}"`` when none
    ``post_gain``          output gain the original player applies to the audio (settings ``postGain``, else 1)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

CONTRACT_VERSION = "ddsp-controls/1"

# ONNX input/output names.
INPUT_F0 = "f0_scaled"
INPUT_PW = "pw_scaled"
INPUT_STATE = "state"
OUTPUT_AMPLITUDE = "amplitude"
OUTPUT_HARMONICS = "harmonic_distribution"
OUTPUT_NOISE = "noise_magnitudes"
OUTPUT_STATE = "state_out"
INPUT_NAMES = (INPUT_F0, INPUT_PW, INPUT_STATE)
OUTPUT_NAMES = (OUTPUT_AMPLITUDE, OUTPUT_HARMONICS, OUTPUT_NOISE, OUTPUT_STATE)

# Defaults shared by every known DDSP instrument.
SAMPLE_RATE = 16000
N_HARMONICS = 60
N_NOISE_BANDS = 65
STATE_SIZE = 512
F0_RANGE = 127.0

# Per source format.
TFJS_FRAME_RATE = 250  # magenta.js hosted checkpoints: 250 frames/s, hop 64
VST_FRAME_RATE = 50  # DDSP-VST: 50 frames/s, hop 320
VST_DB_RANGE = 80.0  # DDSP-VST: pw_scaled = pw_db / 80 + 1
VST_PW_FLOOR_DB = -80.0


@dataclass
class ContractInfo:
    """What a consumer needs to drive one exported controls model.

    Attributes mirror the metadata keys listed in the module docstring.
    """

    source_format: str
    sample_rate: int = SAMPLE_RATE
    frame_rate: float = TFJS_FRAME_RATE
    n_harmonics: int = N_HARMONICS
    n_noise_bands: int = N_NOISE_BANDS
    state_size: int = STATE_SIZE
    f0_range: float = F0_RANGE
    db_range: float = VST_DB_RANGE
    db_kind: str = "loudness_db"
    post_gain: float = 1.0
    settings: dict = field(default_factory=dict)

    @property
    def hop_size(self) -> int:
        """Output samples per control frame (``sample_rate / frame_rate``)."""
        return int(round(self.sample_rate / self.frame_rate))

    def to_metadata(self) -> dict[str, str]:
        """Metadata props (str -> str) to store in the ONNX model."""
        return {
            "tonehost.contract": CONTRACT_VERSION,
            "source_format": self.source_format,
            "sample_rate": str(int(self.sample_rate)),
            "frame_rate": repr(float(self.frame_rate)),
            "hop_size": str(self.hop_size),
            "n_harmonics": str(int(self.n_harmonics)),
            "n_noise_bands": str(int(self.n_noise_bands)),
            "state_size": str(int(self.state_size)),
            "f0_range": repr(float(self.f0_range)),
            "db_range": repr(float(self.db_range)),
            "db_kind": self.db_kind,
            "post_gain": repr(float(self.post_gain)),
            "settings_json": json.dumps(self.settings),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> "ContractInfo":
        """Inverse of :meth:`to_metadata`; raises ``ValueError`` if ``meta`` is not this contract."""
        if meta.get("tonehost.contract") != CONTRACT_VERSION:
            raise ValueError(
                f"not a tonehost DDSP controls model (contract {meta.get('tonehost.contract')!r}, "
                f"expected {CONTRACT_VERSION!r}); re-export it with `tonehost export ddsp`"
            )
        return cls(
            source_format=meta["source_format"],
            sample_rate=int(meta["sample_rate"]),
            frame_rate=float(meta["frame_rate"]),
            n_harmonics=int(meta["n_harmonics"]),
            n_noise_bands=int(meta["n_noise_bands"]),
            state_size=int(meta["state_size"]),
            f0_range=float(meta["f0_range"]),
            db_range=float(meta["db_range"]),
            db_kind=meta["db_kind"],
            post_gain=float(meta.get("post_gain", "1.0")),
            settings=json.loads(meta.get("settings_json", "{}") or "{}"),
        )

    def scale_inputs(self, f0_hz, db):
        """Map f0 in Hz and loudness/power in dB to the model's ``(f0_scaled, pw_scaled)`` (float32)."""
        return scale_f0_hz(f0_hz, self.f0_range), scale_db(db, self.db_range)


def read_metadata(onnx_path) -> ContractInfo:
    """Read the contract metadata of an exported ``.onnx`` (needs only the ``onnx`` package).

    Parameters
    ----------
    onnx_path : str or os.PathLike
        The controls model, a user-given file.

    Returns
    -------
    ContractInfo

    Raises
    ------
    ModelError
        The file is missing or unreadable, or is no ONNX model (corrupt, truncated, empty: the protobuf decoder's
        reason in parentheses), or its metadata values are malformed; the message names the file and the fix.
    ValueError
        A valid ONNX model that is not in this contract (:meth:`ContractInfo.from_metadata`).
    """
    import onnx

    from tonehost.exports.errors import ModelError

    fix = ("export it again with `tonehost export ddsp CHECKPOINT -o FILE.onnx` or pass another --checkpoint "
           "(an instrument name, an index id, a checkpoint folder or a .onnx)")
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except OSError as exc:  # missing, a folder, permission denied
        raise ModelError(f"cannot read the model {onnx_path} ({exc.strerror or exc}); {fix}", onnx_path) from None
    except Exception as exc:  # google.protobuf DecodeError (corrupt, truncated), and whatever else onnx raises
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{onnx_path} is not a valid ONNX model ({reason}); {fix}", onnx_path) from None
    if model.ByteSize() == 0:  # an empty file parses as an empty ModelProto
        raise ModelError(f"{onnx_path} is not a valid ONNX model (the file is empty); {fix}", onnx_path)
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("tonehost.contract") != CONTRACT_VERSION:
        return ContractInfo.from_metadata(meta)  # ValueError: not this contract (callers add the file name)
    try:
        return ContractInfo.from_metadata(meta)
    except (KeyError, ValueError, TypeError) as exc:  # a missing key, a value that is no number, bad settings JSON
        what = f"missing key {exc}" if isinstance(exc, KeyError) else (str(exc).splitlines() or ["?"])[0]
        raise ModelError(f"{onnx_path} has malformed tonehost metadata ({what}); {fix}", onnx_path) from None


def hz_to_midi(f0_hz):
    """ddsp ``core.hz_to_midi``: ``12 * (log2(f) - log2(440)) + 69`` with f clipped below at 0 -> MIDI 0."""
    f = np.asarray(f0_hz, dtype=np.float32)
    with np.errstate(divide="ignore"):
        midi = 12.0 * (np.log2(np.maximum(f, 0.0)) - np.log2(np.float32(440.0))) + 69.0
    return np.where(f <= 0.0, 0.0, midi).astype(np.float32)


def scale_f0_hz(f0_hz, f0_range: float = F0_RANGE):
    """``hz_to_midi(f0_hz) / f0_range`` as float32 (0 Hz -> 0)."""
    return (hz_to_midi(f0_hz) / np.float32(f0_range)).astype(np.float32)


def scale_db(db, db_range: float = VST_DB_RANGE):
    """``db / db_range + 1`` as float32."""
    return (np.asarray(db, dtype=np.float32) / np.float32(db_range) + np.float32(1.0)).astype(np.float32)


def exp_sigmoid(x, exponent: float = 10.0, max_value: float = 2.0, threshold: float = 1e-7):
    """ddsp ``core.exp_sigmoid``: ``max_value * sigmoid(x) ** log(exponent) + threshold``."""
    x = np.asarray(x, dtype=np.float32)
    return (max_value * (1.0 / (1.0 + np.exp(-x))) ** np.log(exponent) + threshold).astype(np.float32)


def zero_state(state_size: int = STATE_SIZE) -> np.ndarray:
    """The initial ``state`` input: float32 zeros ``[1, state_size]``."""
    return np.zeros((1, state_size), dtype=np.float32)
