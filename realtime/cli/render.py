"""``tonehost render VOICE.wav --instrument violin -o out.wav``: the live pipeline, offline."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tonehost.exports.errors import UsageError
from tonehost.realtime.cli.options import add_instrument_args, block_size, float_range, instrument_from_args
from tonehost.realtime.cli.outputs import atomic_output, audio_format, audio_output, bar_add, refuse_same_file, \
    seconds_bar

#: ``--live``'s audio block without ``--block-size`` (play's default).
DEFAULT_LIVE_BLOCK = 128
#: The longest ``--tail`` in seconds (the reverb rings 3 s; a minute is more than any tail needs).
MAX_TAIL_S = 60.0
#: An input peaking under this (dBFS) is called too quiet when nothing in it was voiced.
QUIET_INPUT_DBFS = -50.0
#: An output peaking under this (-60 dBFS) played nothing (a voiced frame plays at -40..-10 dBFS; the instruments'
#: residue over noise or silence lies at -76 / -124).
SILENT_OUTPUT = 1e-3


def nothing_voiced(where, input_peak: float, what: str) -> None:
    """Warn (one :class:`~tonehost.exports.errors.TonehostWarning` line) that nothing in ``where`` was voiced,
    with the likely reason read from the input's peak: too quiet (under :data:`QUIET_INPUT_DBFS`), or no pitch.

    ``render`` wrote a silent file (``peak -123.5 dBFS``) and ``pitch --midi`` a file of 0 notes for a take 60 dB
    down, without a word on why; a user took the instrument, the file or the model for broken.

    Parameters
    ----------
    where : str or os.PathLike
        The input, as the user named it.
    input_peak : float
        The input's largest absolute sample (full scale 1.0).
    what : str
        What came of it (``"the output is silent"``, ``"no notes"``).
    """
    import warnings

    from tonehost.exports.errors import TonehostWarning

    db = 20.0 * np.log10(input_peak) if input_peak > 0 else float("-inf")
    level = "is digital silence" if input_peak <= 0 else f"peaks at {db:.1f} dBFS"
    if db < QUIET_INPUT_DBFS:
        why = "too quiet for the voice tracker: raise the recording level (the mic's gain) and record again"
    else:
        why = ("no steady pitch was found in it (noise, percussion or a chord?): hum or sing one note at a "
               "time")
    warnings.warn(f"{where}: nothing was voiced, {what}; the input {level}, {why}", TonehostWarning, stacklevel=2)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render", help="turn a voice recording into an instrument (offline, faster than real time)",
        description="Run the same pipeline as `tonehost play` over VOICE and write the instrument at 48 kHz, mono,\n"
        "as long as VOICE (ceil(samples * 48000 / its rate) samples, any input rate) plus --tail.\n"
        "The file is streamed (memory does not grow with its length): a first pass measures its voiced\n"
        "pitch and level, so the register shift and loudness are set for the whole file as magenta.js\n"
        "does (--live: the running statistics of `play` instead). The output is written under a\n"
        "temporary name and moved into place at the end: an interrupted render leaves no partial file.\n"
        "\nexamples:\n"
        "  tonehost render take.wav -o violin.wav\n"
        "  tonehost render take.flac -o flute.wav --instrument flute --reverb\n"
        "  tonehost render take.wav -o out.wav --pitch-shift -12 --live",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("voice", help="input recording (wav/flac/ogg, any rate)")
    p.add_argument("-o", "--output", required=True, type=audio_output,
                   help="output audio file, 48 kHz mono: .wav (32-bit float; default choice), or .flac, .ogg, "
                   ".mp3, .aiff, ... (the extension picks the format); written under a temporary name and moved "
                   "into place at the end, so an interrupted render leaves no partial file")
    add_instrument_args(p)
    p.add_argument("--live", action="store_true", help="render exactly what `tonehost play` plays (its live "
                   "instrument: note starts at the exact sample, running statistics), instead of normalising over "
                   "the whole file as magenta.js does (the default)")
    p.add_argument("--block-size", "--blocksize", dest="block_size", type=block_size, default=None,
                   help="with --live: play's audio block (frames, default 128, as play's default)")
    p.add_argument("--tail", type=float_range(0.0, MAX_TAIL_S), default=None,
                   help=f"seconds of tail to render, 0 to {MAX_TAIL_S:g} (default 0, 2 with --reverb)")
    p.set_defaults(func=run)


def _counted(blocks, bar):
    """``blocks`` passed through, each one's length added to ``bar``."""
    for b in blocks:
        yield b
        bar_add(bar, len(b))


def run(args) -> int:
    import soundfile as sf

    from tonehost.realtime.io import AudioFile

    refuse_same_file([args.voice], [("-o", args.output)])  # before anything is opened or created
    if args.gain == 0:  # (a silent file, and a warning that blamed the voice: "no steady pitch was found")
        raise UsageError("--gain 0 renders silence; give a gain above 0 (1 plays the model's own level)")
    if args.block_size is not None and not args.live:  # was taken and ignored: the file sounded the same
        raise UsageError("--block-size is the audio block of `play`, which render imitates with --live: add --live, "
                         "or drop --block-size (the default render does not depend on it)")
    block = args.block_size or DEFAULT_LIVE_BLOCK
    fmt, subtype = audio_format(args.output)
    pipe = instrument_from_args(args).pipeline()
    sr = pipe.cfg.sample_rate
    tail = args.tail if args.tail is not None else (2.0 if args.reverb else 0.0)
    out = Path(args.output)
    t0 = time.perf_counter()
    peak, n_out = 0.0, 0
    peak_in = [0.0]
    with AudioFile(args.voice) as voice:  # a missing, empty or broken file: one AudioFileError line
        dur_in = voice.duration

        def blocks():  # the input's peak, for the message when nothing was voiced
            for b in voice.blocks():
                if len(b):
                    peak_in[0] = max(peak_in[0], float(np.max(np.abs(b))))
                yield b
        from tonehost.realtime.pipelines.offline import can_render_fast, render_live_stream, render_stream
        analysing = None
        if args.live and not pipe.cfg.reverb:
            # play's live instrument, block by block at D = 0 (play with --reverb keeps the pipeline's path)
            from tonehost.realtime.pipelines.live_voice import LiveInstrument
            outs = render_live_stream(LiveInstrument(pipe), blocks(), voice.sample_rate, tail_s=tail,
                                      block_size=block)
        elif not can_render_fast(pipe):  # (the DDSP-VST pitch model) block by block, two passes
            if not args.live:  # the first pass under a bar of its own, as the fast path's (it had none)
                with seconds_bar("analysing", voice.frames, voice.sample_rate, leave=False) as bar:
                    pipe.preset(*pipe.file_statistics(_counted(blocks(), bar), voice.sample_rate))
            outs = pipe.render_blocks(blocks(), voice.sample_rate, tail_s=tail, fast=False)
        else:
            # one pass of the voice tracker: without --live it measures the whole recording's voiced pitch and
            # level first (magenta.js normalises over the whole file) and keeps the frames for the render
            analysing = None if args.live else seconds_bar("analysing", voice.frames, voice.sample_rate,
                                                           leave=False)
            outs = render_stream(pipe, blocks(), voice.sample_rate, tail_s=tail, whole_file=not args.live,
                                 on_input=None if args.live else (lambda n: bar_add(analysing, n)))
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(out) as part, sf.SoundFile(str(part), "w", sr, 1, format=fmt, subtype=subtype) as w, \
                seconds_bar("rendering", round((dur_in + tail) * sr), sr) as bar:
            for y in outs:
                if analysing is not None:  # the first output: the analysis pass is over
                    analysing.close()
                    analysing = None
                w.write(y)
                if len(y):
                    peak = max(peak, float(np.max(np.abs(y))))
                n_out += len(y)
                bar_add(bar, len(y))
        if analysing is not None:
            analysing.close()
    dt = time.perf_counter() - t0
    dur = n_out / sr
    level = f"peak {20 * np.log10(peak):.1f} dBFS" if peak > 0 else "silent"  # not -180.0 dBFS
    # --no-auto-register: the whole-file statistics still compute a shift that is never applied (it was reported
    # as "register shift -2 oct" over an unshifted output)
    shift = f"{pipe.normalizer.octave_shift:+d} oct" if pipe.cfg.auto_register else "off (--no-auto-register)"
    print(f"{out}: {dur:.2f} s rendered in {dt:.2f} s ({dur / max(dt, 1e-9):.1f}x real time), {level}; register "
          f"shift {shift}; model {pipe.controls.path.name}")
    if dur_in > 0 and peak < SILENT_OUTPUT:
        nothing_voiced(args.voice, peak_in[0], f"so the output is silent (peak under {20 * np.log10(SILENT_OUTPUT):.0f} dBFS)")
    if peak > 1.0 and subtype not in ("FLOAT", "DOUBLE"):  # (a 16-bit FLAC at --gain 16 was clipped without a word)
        import warnings

        from tonehost.exports.errors import TonehostWarning

        over = 20 * np.log10(peak)
        warnings.warn(f"{out}: the output peaks at {over:+.1f} dBFS, over full scale, and {fmt} {subtype} holds "
                      f"nothing louder: the loudest parts are clipped; lower --gain to {args.gain / peak:.3g} or "
                      "less, or write a float WAV (-o NAME.wav keeps every level)", TonehostWarning, stacklevel=2)
    return 0
