"""``tonehost pitch AUDIO.wav -o f0.csv``: the live pitch tracker over a file, for evaluation."""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from tonehost.realtime.cli.options import output_file, positive_float


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pitch", help="track f0 of a recording with the live tracker, write time,f0_hz,confidence CSV",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the live voice tracker (or the DDSP-VST pitch model) over AUDIO and write one row per "
        "frame: time (s, centre of the analysis window), f0_hz (0 where unvoiced), confidence (calibrated\n"
        "probability of voicing, 0..1). The file is streamed (memory flat in its length); an empty file gives a "
        "header and no frames.\n\nexamples:\n"
        "  tonehost pitch take.wav -o f0.csv\n"
        "  tonehost pitch take.wav -o f0.csv --midi take.mid      # hum -> MIDI (notes + pitch bend)\n"
        "  tonehost pitch take.wav -o f0.csv --tracker ddsp-vst   # DDSP-VST's CREPE-micro model, 20 ms hop")
    p.add_argument("audio", help="input audio file (wav/flac/ogg; any rate, mixed to mono)")
    p.add_argument("-o", "--output", required=True, type=output_file, help="CSV file to write")
    p.add_argument("--tracker", choices=["yin", "ddsp-vst"], default="yin",
                   help="yin: tonehost's live tracker (default); ddsp-vst: DDSP-VST's CREPE-micro model (ONNX)")
    p.add_argument("--hop-ms", type=positive_float, default=None, help="frame hop in milliseconds (default 2, the live tracker's; "
                   "ddsp-vst uses 20 unless given)")
    p.add_argument("--midi", metavar="OUT.mid", help="also write the tracked voice as MIDI notes with pitch bend "
                   "(hum -> MIDI; General MIDI bend range +-2 semitones)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from tonehost.realtime.io import AudioFile

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    n_frames = 0
    hum = midi_msgs = None
    if args.midi:
        from tonehost.realtime.midi.hum import HumToMidi
        hum, midi_msgs = HumToMidi(), []
    with AudioFile(args.audio, allow_empty=True) as audio, open(out, "w", newline="") as fh, \
            tqdm(total=round(audio.duration, 1), unit="s", desc="tracking", disable=None, leave=False) as bar:
        w = csv.writer(fh)
        w.writerow(["time", "f0_hz", "confidence"])

        def blocks():
            for b in audio.blocks():
                yield b
                bar.update(round(len(b) / audio.sample_rate, 1))

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
                hop = int(round((args.hop_ms if args.hop_ms is not None else 20.0) * 16))
                t, f, c, pw = DDSPVSTPitchModel().track(audio_16k, hop=hop, center=True)
                v = c >= 0.5
                chunks = [(t, np.where(v, f, 0.0), c, pw - 20.7, v)]
        for t, f, c, ld, v in chunks:
            for ti, fi, ci in zip(t, f, c):
                w.writerow([f"{ti:.4f}", f"{fi:.3f}", f"{ci:.3f}"])
            n_frames += len(t)
            if hum is not None:
                for ti, fi, vi, li in zip(t, f, v, ld):
                    midi_msgs.extend(hum.frame(float(ti), float(fi), bool(vi), float(li)))
        duration = audio.duration
    dt = time.perf_counter() - t0
    msg = (f"{out}: {n_frames} frames, {duration:.2f} s of audio in {dt:.2f} s "
           f"({duration / max(dt, 1e-9):.0f}x real time)")
    if hum is not None:
        from tonehost.realtime.midi.hum import write_midi_file
        midi_msgs.extend(hum.finish(duration))
        notes = write_midi_file(args.midi, midi_msgs)
        msg += f"; {args.midi}: {notes} notes"
    print(msg)
    return 0
