"""Option groups several commands share (public: commands import nothing private from one another)."""
from __future__ import annotations

__all__ = ["add_instrument_args", "instrument_from_args", "audio_device"]


def add_instrument_args(p) -> None:
    """The DDSP instrument options of ``render`` and ``play``."""
    p.add_argument("--instrument", default="violin", help="DDSP instrument: violin (default; the violin "
                   "shipped with tonehost, no download), flute, trumpet, tenor_saxophone (hosted checkpoints, "
                   "index id ddsp_<name>)")
    p.add_argument("--checkpoint", help="instead of --instrument: an index id (e.g. ddsp_violin for the hosted "
                   "violin), a checkpoint directory (model.json + settings.json) or a .onnx controls model")
    p.add_argument("--tracker", choices=["yin", "ddsp-vst"], default="yin",
                   help="pitch tracker: yin (tonehost's low-latency tracker, default) or ddsp-vst (its model)")
    p.add_argument("--pitch-shift", type=float, default=0.0, help="transpose, in semitones (default 0)")
    p.add_argument("--input-gain", type=float, default=0.0, help="input gain in dB (default 0)")
    p.add_argument("--no-auto-register", action="store_true",
                   help="don't shift by octaves toward the instrument's register (settings.json meanPitch)")
    p.add_argument("--reverb", action="store_true", help="add magenta.js-style reverb (3 s, 30%% wet)")
    p.add_argument("--gain", type=float, default=1.0, help="output gain (linear, default 1)")


def instrument_from_args(args, sample_rate: int = 48000):
    """A :class:`~tonehost.realtime.pipelines.instrument.DDSP` from :func:`add_instrument_args`' options."""
    from tonehost.realtime.pipelines.instrument import DDSP

    return DDSP(args.checkpoint, instrument=args.instrument, sample_rate=sample_rate, tracker=args.tracker,
                input_gain_db=args.input_gain, pitch_shift=args.pitch_shift,
                auto_register=not args.no_auto_register, reverb=args.reverb, output_gain=args.gain)


def audio_device(arg):
    """``--device`` as PortAudio wants it: an index (digits) or a name (substring), None for the default."""
    if arg is None:
        return None
    return int(arg) if str(arg).isdigit() else arg
