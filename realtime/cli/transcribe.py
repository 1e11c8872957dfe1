"""``tonehost transcribe``: piano transcription with Onsets and Frames, from a file or live from a microphone."""
from __future__ import annotations

import argparse
import sys
import time

from tonehost.exports.errors import UsageError
from tonehost.realtime.pipelines.transcriber import OnsetsAndFrames
from tonehost.realtime.io import read_audio

HELP = "transcribe piano audio to MIDI with Onsets and Frames (a file, or --live from the microphone)"
NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "transcribe", help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=HELP + ".\n\nexamples:\n"
        "  tonehost transcribe take.wav -o take.mid --notes take.tsv\n"
        "  tonehost transcribe --live --midi-out tonehost -o live.mid\n"
        "  tonehost transcribe --live --input-file take.wav      # a file played in real time, as from a mic\n\n"
        "Any common sample rate and channel count is accepted (mixed down and resampled to 16 kHz). The model is "
        "tonehost's own shipped onsets_frames_small (Onsets and Frames trained by the project on rendered piano; "
        "works offline), or a hosted checkpoint with --checkpoint onsets_frames_uni; exported to ONNX once and "
        "cached. Notes come out as "
        "soon as they are known: 3 frames of receptive field plus half a window after their onset (160 ms).")
    p.add_argument("audio", nargs="?", help="audio file to transcribe (wav, flac, ogg, ...)")
    p.add_argument("-o", "--output", metavar="OUT.mid", help="MIDI file to write (live: rewritten after every "
                   "note, so an interrupt loses only the notes still sounding)")
    p.add_argument("--notes", metavar="OUT.tsv", help="also write notes as TSV: onset, offset, pitch, velocity (- for standard output)")
    p.add_argument("--checkpoint", default=None, metavar="ID|DIR",
                   help="checkpoint id, URL or directory (default: the shipped onsets_frames_small; "
                   "onsets_frames_uni / onsets_frames_uni_q2 are the hosted magenta.js checkpoints)")
    p.add_argument("--model", metavar="MODEL.onnx", help="use this exported stream-form model instead")
    p.add_argument("--offline", action="store_true", help="never download the checkpoint")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    live = p.add_argument_group("live")
    live.add_argument("--live", action="store_true", help="transcribe the microphone until Ctrl-C")
    live.add_argument("--device", metavar="N", help="input device (index or name; see `tonehost devices`)")
    live.add_argument("--sample-rate", "--samplerate", dest="sample_rate", type=int, default=48000, help="audio device rate (default 48000)")
    live.add_argument("--block-size", "--blocksize", dest="block_size", type=int, default=128, help="audio device block size (default 128)")
    live.add_argument("--midi-out", metavar="PORT", help="send notes to this MIDI output (an existing port's name "
                      "or index; otherwise a virtual port of that name is created)")
    live.add_argument("--input-file", metavar="AUDIO", help="live mode fed from this file in real time "
                      "instead of the microphone")
    live.add_argument("--seconds", type=float, help="stop after this many seconds")
    live.add_argument("--quiet", "-q", action="store_true", help="do not print notes")
    p.set_defaults(func=cmd_transcribe)


def load_session(args):
    """The onnxruntime session of the stream-form model for ``--model`` or ``--checkpoint``."""
    model = OnsetsAndFrames(args.model or args.checkpoint, threads=args.threads, offline=args.offline)
    return model.session


def note_name(pitch: int) -> str:
    return f"{NAMES[pitch % 12]}{pitch // 12 - 1}"


def cmd_transcribe(args) -> int:
    if args.live:
        return cmd_live(args)
    if not args.audio:
        raise UsageError("give an audio file to transcribe, or --live for the microphone")
    if not args.output and not args.notes:
        raise UsageError("say where the notes go: -o OUT.mid and/or --notes OUT.tsv")
    from tonehost.realtime.midi.output import write_midi_atomic, write_notes_tsv
    from tonehost.realtime.pipelines.transcriber import transcribe_array

    audio, sr = read_audio(args.audio, mono=False)
    sess = load_session(args)
    t0 = time.perf_counter()
    tr = transcribe_array(sess, audio, sr)
    took = time.perf_counter() - t0
    notes = sorted(tr.notes, key=lambda n: (n.start_time, n.pitch))
    if args.output:
        write_midi_atomic(args.output, notes)
    if args.notes:
        write_notes_tsv(args.notes, notes)
    dur = len(audio) / sr
    print(f"{len(notes)} notes from {dur:.1f} s of audio in {took:.2f} s ({dur / max(took, 1e-9):.0f}x real "
          f"time)" + "".join(f" -> {x}" for x in (args.output, args.notes) if x))
    return 0


def _open_source(args):
    """(source, sample_rate, closer): the engine's input, or a file played in real time."""
    from tonehost.realtime.audio.worker import ArraySource

    if args.input_file:
        audio, sr = read_audio(args.input_file, mono=False)
        src = ArraySource(audio, sr, realtime=True)
        src.start()
        return src, sr, lambda: None
    from tonehost.realtime.audio.engine import Engine, EngineConfig

    device = int(args.device) if args.device and str(args.device).isdigit() else args.device
    # input only: the GIL-free callback queues the microphone, the transcriber's worker reads it
    eng = Engine(EngineConfig(device=device, sample_rate=args.sample_rate, block_size=args.block_size,
                              in_channels=1, out_channels=0, input_ring_seconds=4.0))
    eng.start()  # a missing device / unsupported rate raises DeviceError with a user_message
    return eng, args.sample_rate, eng.close


def cmd_live(args) -> int:
    from tonehost.realtime.midi.output import MidiFileWriter, MidiPortOut, write_notes_tsv
    from tonehost.realtime.pipelines.transcriber import LiveTranscriber

    sess = load_session(args)
    port = MidiPortOut(args.midi_out) if args.midi_out else None
    writer = MidiFileWriter(args.output) if args.output else None
    from tonehost.realtime.pipelines.transcriber import Transcriber

    Transcriber(sess).warm_up()  # first-call costs before the clock starts
    source, sr, close_source = _open_source(args)
    t_start = getattr(source, "t0", None) or time.perf_counter()

    def on_event(e):
        if e.kind == "on":
            if port:
                port.note_on(e.pitch, e.velocity)
            if writer:
                writer.note_on(e.pitch, e.velocity, e.time)
            if not args.quiet:
                lag = (e.emitted - t_start) - e.time
                print(f"{e.time:8.3f} s  on   {note_name(e.pitch):>4} ({e.pitch:3d})  vel {e.velocity:3d}"
                      f"   [{lag * 1000:5.0f} ms after onset]", flush=True)
        else:
            if port:
                port.note_off(e.pitch)
            if writer:
                writer.note_off(e.pitch, e.time)

    live = LiveTranscriber(sess, source, sr, on_event=on_event).start()
    where = f", MIDI out: {port.name}{' (virtual)' if port.virtual else ''}" if port else ""
    print(f"transcribing {'from ' + args.input_file if args.input_file else 'the microphone'} at {sr} Hz"
          f"{where}{', recording to ' + args.output if args.output else ''}; Ctrl-C to stop", file=sys.stderr)
    try:
        while live.running:
            if args.seconds and time.perf_counter() - t_start > args.seconds:
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        live.stop()
        close_source()
        t_end = live.transcriber.frames_done * 0.032
        for pitch in live.sounding():
            if port:
                port.note_off(pitch)
        if writer:
            writer.close(t_end)
        if port:
            port.close()
    notes = live.transcriber.notes
    if args.notes:
        write_notes_tsv(args.notes, notes)
    print(f"{len(writer.notes) if writer else len(notes)} notes" + (f" -> {args.output}" if args.output else ""),
          file=sys.stderr)
    return 0
