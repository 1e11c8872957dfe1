"""``tonehost pitch AUDIO.wav -o f0.csv``: the live pitch tracker over a file, for evaluation."""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from tonehost.exports.errors import UsageError
from tonehost.realtime.cli.options import counted, float_range, output_file, output_file_or_stdout
from tonehost.realtime.cli.outputs import atomic_output, bar_add, midi_output, named_output, refuse_same_file, \
    seconds_bar

#: ``--hop-ms`` bounds: one sample at the tracker's 16 kHz .. 100 ms (longer hops are no pitch track; the tracker
#: and DDSP-VST's model both take any hop in between).
MIN_HOP_MS, MAX_HOP_MS = 1.0 / 16.0, 100.0
#: ``-o``'s names: .csv or .txt, or ``-`` (standard output); ``--midi``'s: outputs.midi_output (.mid, .midi). Both
#: are checked when the command starts, after an output naming the input is refused (that line first, exit 1, as
#: tests/realtime/test_render_pitch_faults.py expects), not while parsing (the options fuzz knows only the output
#: types of cli.outputs, and this one is not among them).
CSV_OUTPUT = named_output("CSV text", (".csv", ".txt"), stdout=True)

DESCRIPTION = """\
Run the live voice tracker (or the DDSP-VST pitch model) over AUDIO and write one row per frame:
  time        s, centre of the analysis window
  f0_hz       0 where unvoiced
  confidence  calibrated probability of voicing, 0..1
The file is streamed (memory flat in its length). An empty file (a WAV header, no samples)
gives the CSV header and no frames. -o - writes the CSV to standard output (the summary
line then goes to stderr). --midi writes notes of at least 40 ms: a shorter one merges
into its neighbour (the blip of a note that starts an octave off) or is dropped; a warning
says when the recording looks polyphonic (a chord or a band: many short notes), which a
pitch tracker cannot follow.

examples:
  tonehost pitch take.wav -o f0.csv
  tonehost pitch take.wav -o f0.csv --midi take.mid      # hum -> MIDI (notes + pitch bend)
  tonehost pitch take.wav -o f0.csv --tracker ddsp-vst   # DDSP-VST's CREPE-micro model, 20 ms hop
  tonehost pitch take.wav -o - | head                    # CSV to standard output
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pitch", help="track f0 of a recording with the live tracker, write time,f0_hz,confidence CSV",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=DESCRIPTION)
    p.add_argument("audio", help="input audio file (wav/flac/ogg; any rate, mixed to mono)")
    p.add_argument("-o", "--output", required=True, type=output_file_or_stdout,
                   help="CSV file to write, .csv or .txt (- for standard output)")
    p.add_argument("--tracker", choices=["yin", "ddsp-vst"], default="yin",
                   help="yin: tonehost's live tracker (default); ddsp-vst: DDSP-VST's CREPE-micro model (ONNX)")
    p.add_argument("--hop-ms", type=float_range(MIN_HOP_MS, MAX_HOP_MS), default=None,
                   help=f"frame hop in milliseconds, {MIN_HOP_MS:g} to {MAX_HOP_MS:g} (default 2, the live "
                   "tracker's; ddsp-vst uses 20 unless given)")
    p.add_argument("--midi", metavar="OUT.mid", type=output_file,
                   help="also write the tracked voice as MIDI notes with pitch bend, .mid or .midi (hum -> MIDI; "
                   "General MIDI bend range +-2 semitones)")
    p.set_defaults(func=run)


def run(args) -> int:
    import os
    import sys

    try:
        return _run(args)
    except BrokenPipeError:  # -o - into a reader that stopped (``| head``): a normal end, no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would raise again
        return 0


def _run(args) -> int:
    import contextlib
    import sys

    from tonehost.realtime.io import AudioFile

    refuse_same_file([args.audio], [("-o", args.output), ("--midi", args.midi)])  # before anything is opened
    # -o f0.wav wrote CSV text into a .wav, --midi n.txt MIDI into a .txt: the rule and message of
    # outputs.named_output, checked here after refuse_same_file (see CSV_OUTPUT)
    for option, value, kind in (("-o/--output", args.output, CSV_OUTPUT), ("--midi", args.midi, midi_output)):
        try:
            if value is not None:
                kind(str(value))
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"argument {option}: {exc}") from None
    to_stdout = str(args.output) == "-"
    out = None if to_stdout else Path(args.output)
    t0 = time.perf_counter()
    n_frames = n_voiced = 0
    hum = midi_msgs = None
    if args.midi:
        from tonehost.realtime.midi.hum import HumToMidi
        hum, midi_msgs = HumToMidi(min_note_s=0.0), []  # the file's notes are cleaned afterwards (look-ahead)
    with contextlib.ExitStack() as stack:
        audio = stack.enter_context(AudioFile(args.audio, allow_empty=True))
        if to_stdout:
            fh = sys.stdout
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            part = stack.enter_context(atomic_output(out))
            fh = stack.enter_context(open(part, "w", newline=""))
        bar = stack.enter_context(seconds_bar("tracking", audio.frames, audio.sample_rate, leave=False))
        w = csv.writer(fh)
        w.writerow(["time", "f0_hz", "confidence"])

        peak_in = 0.0  # the input's peak, for the message when nothing was voiced

        def blocks():
            nonlocal peak_in
            for b in audio.blocks():
                if len(b):
                    peak_in = max(peak_in, float(np.max(np.abs(b))))
                yield b
                bar_add(bar, len(b))

        if args.tracker == "yin":
            from tonehost.dsp.features import track_pitch_blocks
            hop = None if args.hop_ms is None else max(1, int(round(args.hop_ms * 16)))
            chunks = ((t, f, c, ld, v) for t, f, c, ld, v in track_pitch_blocks(blocks(), audio.sample_rate, hop))
        else:
            from tonehost.dsp.resample import resample_to
            from tonehost.exports.convert.pitch_model import DDSPVSTPitchModel
            x = np.concatenate(list(blocks()) or [np.zeros(0, np.float32)])  # the model runs on the whole file
            chunks = []
            if len(x):
                audio_16k = resample_to(x, audio.sample_rate, 16000)
                hop = max(1, int(round((args.hop_ms if args.hop_ms is not None else 20.0) * 16)))
                # one model run per frame, in the model's own loop: a bar over the frames (the reading bar above
                # ended at 100 % and then nothing moved, for hours with a short --hop-ms on a song)
                model_bar = stack.enter_context(seconds_bar("pitch model", len(audio_16k), 16000, leave=False))

                class _Counted(DDSPVSTPitchModel):
                    def __call__(self, frame):
                        bar_add(model_bar, hop)
                        return super().__call__(frame)

                t, f, c, pw = _Counted().track(audio_16k, hop=hop, center=True)
                v = c >= 0.5
                chunks = [(t, np.where(v, f, 0.0), c, pw - 20.7, v)]
        for t, f, c, ld, v in chunks:
            for ti, fi, ci in zip(t, f, c):
                w.writerow([f"{ti:.4f}", f"{fi:.3f}", f"{ci:.3f}"])
            n_frames += len(t)
            n_voiced += int(np.count_nonzero(np.asarray(f) > 0))
            if hum is not None:
                for ti, fi, vi, li in zip(t, f, v, ld):
                    midi_msgs.extend(hum.frame(float(ti), float(fi), bool(vi), float(li)))
        duration = audio.duration
        if to_stdout:
            fh.flush()
        if hum is not None:  # written before the CSV is moved into place: a failure leaves neither half done
            from tonehost.realtime.midi.hum import check_polyphony, merge_short_notes, write_midi_file
            midi_msgs.extend(hum.finish(duration))
            hum.relevel(midi_msgs)  # velocities on the take's own level: a quiet recording is no quieter MIDI
            raw_notes = sum(m.type == "note_on" for m in midi_msgs)
            midi_msgs = merge_short_notes(midi_msgs, 0.04)
            notes = write_midi_file(args.midi, midi_msgs)
    dt = time.perf_counter() - t0
    speed = f" ({duration / max(dt, 1e-9):.1f}x real time)" if duration > 0 else ""  # no 0.0x for an empty file
    msg = (f"{'standard output' if to_stdout else out}: {n_frames} frame{'' if n_frames == 1 else 's'}, "
           f"{duration:.2f} s of audio in {dt:.2f} s{speed}")
    if hum is not None:
        msg += f"; {args.midi}: {counted(notes, 'note')}"
    print(msg, file=sys.stderr if to_stdout else sys.stdout)
    if hum is not None:
        check_polyphony(raw_notes, duration, args.audio)
    if n_frames and not n_voiced:
        from tonehost.realtime.cli.render import nothing_voiced
        nothing_voiced(args.audio, peak_in, "f0 is 0 throughout" + (" and the MIDI file holds no notes" if hum else ""))
    return 0
