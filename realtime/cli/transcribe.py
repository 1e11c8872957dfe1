"""``tonehost transcribe``: piano transcription with Onsets and Frames, from a file or live from a microphone."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tonehost.exports.errors import UsageError
from tonehost.realtime.cli.outputs import midi_output, tsv_output
from tonehost.realtime.cli.options import (block_size, checkpoint_ref, counted, non_negative_float, output_dir,
                                           positive_float, sample_rate, scheduler_address, threads)

HELP = "transcribe piano audio to MIDI with Onsets and Frames (a file, or --live from the microphone)"
NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "transcribe", help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=HELP + ".\n\nexamples:\n"
        "  tonehost transcribe take.wav -o take.mid --notes take.tsv\n"
        "  tonehost transcribe recordings/ 'more/**/*.flac' --out-dir midi/ --tsv   # a corpus, resumable\n"
        "  tonehost transcribe corpus/ --out-dir midi/ --scheduler tcp://10.0.0.5:8786   # on a Dask cluster\n"
        "  tonehost transcribe take.wav -o take.mid --model transkun   # Transkun V2 (pip install 'tonehost[transkun]')\n"
        "  tonehost transcribe --live --midi-out tonehost -o live.mid\n"
        "  tonehost transcribe --live --input-file take.wav      # a file played in real time, as from a mic\n"
        "  tonehost transcribe --recover live.mid                # rebuild a take whose process was killed\n\n"
        "Live takes: the MIDI file starts at the first note (--lead-in keeps some time before it), is rewritten "
        "after every\nnote, and a journal beside it (live.mid.journal) lets --recover (or the next --live -o "
        "live.mid) rebuild every\nnote of a take that was killed. Ctrl-C or SIGTERM stops with a summary (exit 0); "
        "if the audio server goes away the\ntake is finalised and the command exits 1 with one line.\n\n"
        "Any common sample rate and channel count is accepted (mixed down and resampled to 16 kHz). The model is "
        "tonehost's own shipped onsets_frames_small (Onsets and Frames trained by the project on rendered piano; "
        "works offline), or a hosted checkpoint with --checkpoint onsets_frames_uni; exported to ONNX once and "
        "cached. Notes come out as "
        "soon as they are known: 3 frames of receptive field plus half a window after their onset (160 ms).")
    p.add_argument("audio", nargs="*", metavar="PATH", help="audio file to transcribe (wav, flac, ogg, ...); with "
                   "--out-dir any number of files, folders (searched recursively) and globs")
    p.add_argument("-o", "--output", metavar="OUT.mid", type=midi_output, help="MIDI file to write (live: rewritten every 2 s, "
                   "with a journal beside it that keeps every note for --recover)")
    p.add_argument("--notes", metavar="OUT.tsv", type=tsv_output, help="also write notes as TSV: onset, offset, pitch, velocity (- for standard output)")
    p.add_argument("--checkpoint", default=None, metavar="ID|DIR", type=checkpoint_ref,
                   help="checkpoint id, URL or directory (default: the shipped onsets_frames_small; "
                   "onsets_frames_uni / onsets_frames_uni_q2 are the hosted magenta.js checkpoints)")
    p.add_argument("--model", metavar="MODEL.onnx|transkun", help="use this exported stream-form model instead, or "
                   "'transkun' for Transkun V2 (offline and batch only; the most accurate piano model here, needs "
                   "pip install 'tonehost[transkun]')")
    p.add_argument("--offline", action="store_true", help="never download the checkpoint")
    p.add_argument("--threads", type=threads, default=1,
                   help="onnxruntime threads, 1 .. 4x the cores (default 1)")
    batch = p.add_argument_group("many files (--out-dir)")
    batch.add_argument("--out-dir", metavar="DIR", type=output_dir, help="transcribe every PATH into DIR, mirroring the input tree "
                       "(one .mid each), with DIR/manifest.jsonl; a rerun skips the files already done")
    batch.add_argument("--tsv", action="store_true", help="also write a notes TSV beside each .mid")
    batch.add_argument("--jobs", "-j", type=threads, default=None, metavar="N",
                       help="local worker processes, 1 .. 4x the cores (default: one per core)")
    batch.add_argument("--scheduler", metavar="ADDRESS", type=scheduler_address, help="run on this Dask distributed scheduler "
                       "(tcp://host:8786) instead of local processes; workers need tonehost and the paths")
    batch.add_argument("--force", action="store_true", help="transcribe every file again, even those done")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    live = p.add_argument_group("live")
    live.add_argument("--live", action="store_true", help="transcribe the microphone until Ctrl-C")
    live.add_argument("--device", metavar="N", help="input device (index or name; see `tonehost devices`)")
    live.add_argument("--sample-rate", "--samplerate", dest="sample_rate", type=sample_rate, default=48000, help="audio device rate (default 48000)")
    live.add_argument("--block-size", "--blocksize", dest="block_size", type=block_size, default=128, help="audio device block size (default 128)")
    live.add_argument("--midi-out", metavar="PORT", help="send notes to this MIDI output (an existing port's name "
                      "or index; otherwise a virtual port of that name is created)")
    live.add_argument("--input-file", metavar="AUDIO", help="live mode fed from this file in real time "
                      "instead of the microphone")
    live.add_argument("--seconds", "--duration", type=positive_float, dest="seconds",
                      help="stop after this many seconds (--duration, as play and jam call it, is the same)")
    live.add_argument("--quiet", "-q", action="store_true", help="do not print notes")
    live.add_argument("--lead-in", type=non_negative_float, default=0.0, metavar="SECONDS",
                      help="live: keep this much time before the first note in the take (default 0: the file "
                      "starts at the first note; with --input-file the file's own times are kept)")
    live.add_argument("--recover", metavar="TAKE.mid", type=midi_output,
                      help="rebuild TAKE.mid from its journal (TAKE.mid.journal) after the take's process was "
                      "killed: every note with its onset, the sounding ones closed at the last journalled time")
    p.set_defaults(func=cmd_transcribe)


def load_session(args, decoding=None):
    """The onnxruntime session of the stream-form model for ``--model`` or ``--checkpoint`` that ``decoding``
    needs (without the velocity head when velocities come from loudness; default: the model's own decoding)."""
    from tonehost.realtime.pipelines.transcriber import OnsetsAndFrames  # on use: the CLI starts without it

    model = OnsetsAndFrames(args.model or args.checkpoint, threads=args.threads, offline=args.offline)
    return model.session_for(decoding or model.decoding)


def note_name(pitch: int) -> str:
    return f"{NAMES[pitch % 12]}{pitch // 12 - 1}"


def live_decoding(args):
    """The live decoding: the shipped model's loudness velocities and the causal ghost filter (LIVE_DECODING:
    only a note-on that coincides with an onset a partial interval below waits one 32 ms frame, every other
    leaves at once; the offline filter would hold back every note-on); magenta.js decoding for other
    checkpoints."""
    from tonehost.realtime.pipelines.transcriber import LIVE_DECODING

    return LIVE_DECODING if not (args.model or args.checkpoint) else None


def model_spec(args):
    """The :class:`~tonehost.realtime.batch.ModelSpec` of ``--model`` / ``--checkpoint`` (offline and batch)."""
    from tonehost.realtime.batch import ModelSpec

    if args.model == "transkun":
        if args.checkpoint:
            raise UsageError("--model transkun runs Transkun's own weights; drop --checkpoint")
        return ModelSpec("transkun", threads=args.threads)
    return ModelSpec("onsets_frames", args.model or args.checkpoint, threads=args.threads, offline=args.offline)


def cmd_transcribe(args) -> int:
    from tonehost.exports.checkpoints.shipped import transcriber_source

    args.checkpoint = transcriber_source(args.checkpoint)  # the default by name: the same notes, live decoding too
    if args.recover:
        return cmd_recover(args)
    if args.live:
        if args.model == "transkun":
            raise UsageError("Transkun is an offline model; use it for files (--model transkun without --live)")
        return cmd_live(args)
    if not args.audio:
        raise UsageError("give an audio file to transcribe (or files/folders with --out-dir), or --live for the "
                         "microphone")
    if args.out_dir or len(args.audio) > 1:
        return cmd_batch(args)
    if Path(args.audio[0]).is_dir():  # read_audio would say "give a file inside it": a corpus is what is meant
        raise UsageError(f"{args.audio[0]} is a folder: transcribe every audio file in it with --out-dir DIR "
                         "(one .mid each, mirroring the folder), or give one file with -o")
    if not args.output and not args.notes:
        raise UsageError("say where the notes go: -o OUT.mid and/or --notes OUT.tsv (or --out-dir DIR)")
    from tqdm import tqdm

    from tonehost.realtime.batch import load_backend, write_outputs
    from tonehost.realtime.io import AudioFile

    with AudioFile(args.audio[0]) as f:  # a missing, empty or truncated file fails before the model loads
        duration = f.duration
    model = load_backend(model_spec(args))
    t0 = time.perf_counter()
    with tqdm(total=round(duration, 2), unit="s", unit_scale=False, desc="transcribing", leave=False,
              disable=args.no_progress or not sys.stderr.isatty(),
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio [{elapsed}<{remaining}]"
              ) as bar:
        seq = model.transcribe_file(args.audio[0], progress=lambda s: bar.update(s))
    took = time.perf_counter() - t0
    write_outputs(seq.notes, args.output, args.notes)
    dur = seq.total_time
    print(f"{counted(len(seq.notes), 'note')} from {dur:.1f} s of audio in {took:.2f} s "
          f"({dur / max(took, 1e-9):.0f}x real "
          f"time)" + "".join(f" -> {x}" for x in (args.output, args.notes) if x))
    return 0


def cmd_batch(args) -> int:
    """Many files -> ``--out-dir`` (:func:`tonehost.realtime.batch.run_batch`); exit 1 when any file failed."""
    from tonehost.realtime.batch import MANIFEST, run_batch

    if not args.out_dir:
        raise UsageError("several inputs need --out-dir DIR (one .mid per input, mirroring the input tree)")
    if args.output or args.notes:
        raise UsageError("with --out-dir the outputs are named after the inputs; drop -o/--notes (--tsv adds TSVs)")
    res = run_batch(args.audio, args.out_dir, model_spec(args), jobs=args.jobs, scheduler=args.scheduler,
                    notes_tsv=args.tsv, force=args.force, progress=False if args.no_progress else None)
    print(res.summary() + f"; manifest: {Path(args.out_dir) / MANIFEST}")
    if res.failed:
        print(f"tonehost: {len(res.failed)} file(s) failed (listed in the manifest with their error); fix them and "
              "rerun the same command to do only those", file=sys.stderr)
        return 1
    return 0


def cmd_recover(args) -> int:
    """``--recover TAKE``: rebuild a killed live take from its journal (:func:`~tonehost.realtime.midi.output.recover_take`)."""
    from tonehost.realtime.midi.output import recover_take

    if args.live or args.audio:
        raise UsageError("--recover TAKE.mid works alone: it rebuilds a take from its journal")
    rec = recover_take(args.recover)
    print(f"{rec.path}: recovered {counted(len(rec.notes), 'note')} ({rec.closed} still sounding, closed at the last "
          f"journalled time) from the take started {rec.started or 'earlier'}")
    return 0


def _recover_leftover(take) -> None:
    """Before a new live take overwrites ``take`` (a path): rebuild the killed take a journal beside it still
    describes, into ``TAKE-recovered-<start time>.mid``, and say so."""
    from pathlib import Path

    from tonehost.realtime.midi.output import journal_path, recover_take

    take = Path(take)
    jp = journal_path(take)
    if not jp.is_file():
        return
    stamp = jp.stat().st_mtime
    name = f"{take.stem}-recovered-{time.strftime('%Y%m%d-%H%M%S', time.localtime(stamp))}{take.suffix or '.mid'}"
    rec = recover_take(take, out=take.with_name(name))
    print(f"found the journal of an interrupted take: recovered {counted(len(rec.notes), 'note')} into {rec.path}",
          file=sys.stderr)


#: How often the live engine wakes the transcriber's worker (seconds, whole blocks; see _open_source).
LIVE_WAKE_S = 0.010


def _open_source(args):
    """(source, sample_rate, closer): the engine's input, or a file played in real time."""
    from tonehost.realtime.audio.worker import ArraySource

    if args.input_file:
        from tonehost.realtime.io import read_audio

        audio, sr = read_audio(args.input_file, mono=False)
        src = ArraySource(audio, sr, realtime=True)
        src.start()
        return src, sr, lambda: None
    from tonehost.realtime.audio.engine import Engine, EngineConfig
    from tonehost.realtime.cli.options import audio_device

    # input only: the GIL-free callback queues the microphone, the transcriber's worker reads it. The worker is
    # woken every ~10 ms, not every block: it needs 32 ms of input per model frame, and the wake-up (an eventfd
    # write) is most of the audio thread's cost (EngineConfig.wake_interval_s; bench.soak, README "Long runs")
    eng = Engine(EngineConfig(device=audio_device(args.device), sample_rate=args.sample_rate,
                              block_size=args.block_size, in_channels=1, out_channels=0, input_ring_seconds=4.0,
                              wake_interval_s=LIVE_WAKE_S))
    eng.start()  # a missing device / unsupported rate raises DeviceError with a user_message
    return eng, args.sample_rate, eng.close


def cmd_live(args) -> int:
    """``--live``: transcribe the microphone (or ``--input-file`` in real time) until stopped; see the module."""
    from tonehost.exports.errors import DeviceError
    from tonehost.realtime.cli.live import Session, period_note
    from tonehost.realtime.midi.output import MidiFileWriter, MidiPortOut, write_notes_tsv
    from tonehost.realtime.pipelines.transcriber import LiveTranscriber, Transcriber

    if args.audio:
        raise UsageError("--live transcribes the microphone (or --input-file); drop the audio file argument")
    sess = load_session(args, live_decoding(args))
    if args.output:
        _recover_leftover(args.output)
    port = writer = live = None
    close_source = lambda: None  # noqa: E731
    session = Session(duration=args.seconds)
    still: list[int] = []  # notes sounding when the session stopped: they end there and count in the summary
    started = False  # the session ran: the take is written even if it holds no note
    try:
        port = MidiPortOut(args.midi_out) if args.midi_out else None
        # a microphone take starts at its first note; a file keeps its own times (as offline transcription does)
        start = 0.0 if args.input_file else "first_note"
        # rewritten every 2 s from this (main) thread, never on the transcribing one; the journal has every note
        writer = MidiFileWriter(args.output, start=start, lead_in=args.lead_in, rewrite_every_s=2.0,
                                keep_notes=False) if args.output else None
        finished = [0]  # notes ended so far (nothing keeps them all in memory unless --notes asks for the TSV)
        Transcriber(sess, decoding=live_decoding(args)).warm_up()  # first-call costs before the clock starts
        source, sr, close_source = _open_source(args)
        t_start = getattr(source, "t0", None) or time.perf_counter()

        def on_event(e):
            if e.kind == "on":
                if port:
                    port.note_on(e.pitch, e.velocity)
                if writer:
                    writer.note_on(e.pitch, e.velocity, e.time)  # journalled before it is printed
                if not args.quiet:
                    lag = (e.emitted - t_start) - e.time
                    print(f"{e.time:8.3f} s  on   {note_name(e.pitch):>4} ({e.pitch:3d})  vel {e.velocity:3d}"
                          f"   [{lag * 1000:5.0f} ms after onset]", flush=True)
            else:
                finished[0] += 1
                if port:
                    port.note_off(e.pitch)
                if writer:
                    writer.note_off(e.pitch, e.time)

        live = LiveTranscriber(sess, source, sr, on_event=on_event, decoding=live_decoding(args),
                               keep_notes=bool(args.notes)).start()
        session.failure = getattr(source, "failure", None) or (lambda: None)
        session.alive = lambda: live.running
        where = f", MIDI out: {port.describe()}" if port else ""
        print(f"transcribing {'from ' + str(args.input_file) if args.input_file else 'the microphone'} at {sr} Hz"
              f"{where}{', recording to ' + str(args.output) if args.output else ''}"
              f"{' (the take starts at the first note)' if writer and start == 'first_note' else ''}; "
              "Ctrl-C to stop", file=sys.stderr)
        note = period_note(source, args.block_size) if not args.input_file else None
        if note:
            print(note, file=sys.stderr)

        def tick():
            if writer:
                writer.mark(live.transcriber.frames_done * 0.032)
                writer.flush()

        started = True
        with session:
            session.run(tick, every=0.25)
            live.stop()  # re-raises a worker error (a bug)
    finally:
        if live is not None and live.running:
            live.stop()
        close_source()  # bounded: a lost stream is left to the OS instead of blocking in PortAudio
        t_end = live.transcriber.frames_done * 0.032 if live is not None else None
        still = live.sounding() if live is not None else []
        if port:
            for pitch in still:
                port.note_off(pitch)
        if writer and not started and writer.n_notes == 0:
            writer.discard()  # no device, Ctrl-C during the set-up: no empty take, no journal left to "recover"
        elif writer:
            writer.close(t_end)
        if port:
            port.close(abandon=bool(session.lost))  # a dead server: no 1-s wait
    notes = live.transcriber.notes
    if args.notes:
        write_notes_tsv(args.notes, writer.shifted(notes) if writer else notes)
    count = writer.n_notes if writer else finished[0] + len(still)  # `--seconds 2 -q` said "0 notes" for 2
    where = f" -> {args.output}" if args.output else ""
    if writer and writer.kept_earlier:
        where = f" ({args.output} not written: it keeps the earlier take)"
    starts = ""
    if writer and start == "first_note" and writer.first_onset is not None:
        starts = f"; the file starts at the first note, {writer.first_onset:.2f} s into the session"
    print(f"{counted(count, 'note')}{where} ({session.elapsed:.1f} s{starts})"
          + ("; stopped: the audio stream was lost" if session.lost else ""), file=sys.stderr)
    if session.lost:
        raise DeviceError(session.lost)
    return 0
