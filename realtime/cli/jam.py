"""``tonehost jam``: a live partner -- play a phrase, pause, and MusicRNN answers on the next bar; or --vae A B."""
from __future__ import annotations

import argparse
import sys

from tonehost.exports.errors import UsageError
from tonehost.realtime.pipelines.limits import MAX_ANSWER_BARS
from tonehost.realtime.cli.live_music import (add_live_music_args, close_unstarted, open_midi_in, open_outputs,
                                              run_session)
from tonehost.realtime.cli.options import (MAX_GAIN, checkpoint_ref, chord_progression, float_range, instrument_name,
                                           int_range, non_negative_float, non_negative_int, positive_float, positive_int,
                                           temperature)

HELP = "live: play a phrase and MusicRNN answers it in time (MIDI, piano or hum in); --drums; --vae A.mid B.mid"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "jam", help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=HELP + ".\n\nexamples:\n"
        "  tonehost jam --midi-in 0                       # keyboard in, the violin answers (basic_rnn_folk)\n"
        "  tonehost jam --midi-in keys --midi-out synth --qpm 100 --drums --fluidsynth\n"
        "  tonehost jam --listen hum --instrument flute   # hum a phrase into the mic\n"
        "  tonehost jam --listen piano --pause-beats 4 --answer-bars 4\n"
        "  tonehost jam --midi-in 0 --checkpoint ./my_melody_rnn --temperature 0.8 --seed 3\n"
        "  tonehost jam --vae a.mid b.mid --bars 16       # MusicVAE from melody A to melody B\n\n"
        "After a count-in (a click, and MIDI clock on --midi-out) the partner listens. Play a phrase; when no "
        "note has sounded\nfor --pause-beats beats, the phrase (from the bar it started in) is quantized to "
        "sixteenth notes, folded into the\nmodel's range by octaves, and continued by the model; the answer "
        "(--answer-bars bars) starts on the next bar line,\nplayed by the DDSP instrument (--sound) and sent to "
        "--midi-out, then the partner listens again. Generation runs on\nits own thread and starts at your "
        "last note-off: the answer is drawn while you pause, step by step, and the\naudio never waits "
        "for it. An answer that is not ready by its bar line is counted late and starts\na bar later. --drums "
        "keeps a drum_kit_rnn groove going, each bar generated during the bar before (to --midi-out\nchannel 10, "
        "and to FluidSynth with --fluidsynth). q + Enter or Ctrl-C stops with a summary (exit 0).\n\n"
        "--drums needs the hosted drum_kit_rnn: tonehost ships no drums model (no registry package offers real "
        "drum\nperformances to train one offline), so fetch it once with `tonehost checkpoints fetch "
        "drum_kit_rnn`, or pass\n--drums-checkpoint DIR (a checkpoint directory in drum_kit_rnn's format).")
    p.add_argument("--listen", choices=["midi", "piano", "hum"], help="what to listen to: a MIDI keyboard "
                   "(--midi-in), a piano at the mic (live Onsets and Frames), or a hummed voice (the voice tracker); "
                   "default: midi with --midi-in, else hum")
    p.add_argument("--checkpoint", metavar="ID|DIR", type=checkpoint_ref, help="the answering model: a MusicRNN melody checkpoint id, "
                   "URL or directory (default: basic_rnn_folk, shipped with tonehost, offline; basic_rnn for the "
                   "hosted one); with --vae a MusicVAE melody checkpoint (default: the shipped mel_2bar_folk)")
    p.add_argument("--temperature", type=temperature, help="sampling temperature: answers default to "
                   "1.0, --vae windows to 0 (the most likely event at every step)")
    p.add_argument("--seed", type=non_negative_int, help="random seed (default: fresh)")
    p.add_argument("--chords", metavar="\"C G Am F\"", type=chord_progression, help="chord progression for a chord-conditioned "
                   "checkpoint (chord_pitches_improv)")
    p.add_argument("--pause-beats", type=positive_float, default=2.0, help="beats of silence that end a phrase "
                   "(default 2)")
    p.add_argument("--answer-bars", type=int_range(1, MAX_ANSWER_BARS), default=2,
                   help=f"length of an answer in bars, 1..{MAX_ANSWER_BARS} (default 2)")
    p.add_argument("--sound", choices=["instrument", "fluidsynth", "none"], default="instrument",
                   help="what plays the answers: the DDSP instrument (default), FluidSynth (with --fluidsynth), "
                   "or nothing (MIDI out only)")
    p.add_argument("--instrument", default="violin", type=instrument_name, help="DDSP instrument: violin (shipped), flute, trumpet, "
                   "tenor_saxophone (hosted, fetched once)")
    p.add_argument("--instrument-checkpoint", metavar="PATH", help="instead of --instrument: a DDSP checkpoint "
                   "directory, index id or .onnx controls model")
    p.add_argument("--reverb", action="store_true", help="add reverb to the instrument")
    p.add_argument("--gain", type=float_range(0.0, MAX_GAIN), default=1.0,
                   help=f"instrument output gain, 0..{MAX_GAIN:g} (default 1)")
    p.add_argument("--portamento", type=non_negative_float, default=0.03, help="glide between notes, s "
                   "(default 0.03)")
    p.add_argument("--no-monitor", action="store_true", help="with --midi-in: don't play the keyboard through "
                   "the instrument (by default you hear what you play)")
    p.add_argument("--drums", action="store_true", help="keep a drum groove going (drum_kit_rnn), a bar ahead")
    p.add_argument("--drums-checkpoint", metavar="ID|DIR", default="drum_kit_rnn", type=checkpoint_ref,
                   help="drums model (default drum_kit_rnn, hosted: fetched once, or `tonehost checkpoints fetch "
                   "drum_kit_rnn`; nothing shipped)")
    p.add_argument("--drums-temperature", type=temperature, default=1.0, help="(default 1.0)")
    p.add_argument("--vae", nargs=2, metavar=("A.mid", "B.mid"), help="play a MusicVAE interpolation from "
                   "melody A to melody B instead of answering (their first window: 2 bars for the 2-bar models)")
    p.add_argument("--bars", type=positive_int, default=8, help="with --vae: bars from A to B (default 8)")
    p.add_argument("--loop", action="store_true", help="with --vae: go back and forth until stopped")
    p.add_argument("--offline", action="store_true", help="never download a checkpoint")
    add_live_music_args(p)
    p.set_defaults(func=cmd_jam)


def _instrument(args, session):
    from tonehost.realtime.pipelines.instrument import DDSP
    from tonehost.realtime.pipelines.jam import InstrumentVoice

    ddsp = DDSP(args.instrument_checkpoint, instrument=args.instrument, sample_rate=args.sample_rate,
                offline=args.offline, reverb=args.reverb, output_gain=args.gain)
    session.instrument = InstrumentVoice(ddsp.pipeline(), portamento_s=args.portamento)
    return ddsp


def _drums_model(args):
    """The --drums model, or one line saying how to get it (tonehost ships no drums model)."""
    from tonehost.exports.errors import CheckpointDownloadError, CheckpointOfflineError
    from tonehost.realtime.pipelines.music_rnn import MusicRNN

    try:
        return MusicRNN(args.drums_checkpoint, offline=args.offline)
    except (CheckpointOfflineError, CheckpointDownloadError) as exc:
        raise type(exc)(f"--drums: {exc.user_message.rstrip('.')}; or pass --drums-checkpoint DIR (a checkpoint "
                        "directory in drum_kit_rnn's format): tonehost ships no drums model") from None


def cmd_jam(args) -> int:
    from tonehost.exports.note_sequence import NoteSequence
    from tonehost.realtime.cli.live import StatusLine
    from tonehost.realtime.pipelines.jam import (DRUMS, MELODY, CallAndResponse, DrumGroove, Interpolation,
                                                 LiveSession)

    if args.sound == "fluidsynth" and args.fluidsynth is None:
        raise UsageError("--sound fluidsynth needs --fluidsynth [SF2]")
    if args.sound == "none" and not args.midi_out and args.fluidsynth is None:
        raise UsageError("--sound none without --midi-out or --fluidsynth: nothing would be heard; add --midi-out "
                         "PORT")
    listen = args.listen or ("midi" if args.midi_in else "hum")
    if listen == "midi" and not args.midi_in and not args.vae:
        raise UsageError("--listen midi needs --midi-in PORT (see `tonehost devices --midi`)")
    status = StatusLine(sys.stderr)
    session = LiveSession(args.sample_rate, args.qpm, args.count_in, args.click, say=status.message)
    said = []
    if args.sound == "instrument":
        ddsp = _instrument(args, session)
        said.append(f"instrument: {ddsp.controls.name}")
    fluid_voices = [DRUMS] + ([MELODY] if args.sound == "fluidsynth" else [])
    midi_in = None
    try:
        said += open_outputs(session, args, fluid_voices)
        if args.vae:
            from tonehost.realtime.pipelines.music_vae import MusicVAE

            a, b = (NoteSequence.from_midi(path) for path in args.vae)
            for path, seq in zip(args.vae, (a, b)):
                if not seq.notes:
                    raise UsageError(f"{path} has no notes")
            model = MusicVAE(args.checkpoint, seed=args.seed, offline=args.offline)
            session.add_part(Interpolation(model, a, b, args.bars, args.temperature or None, args.seed, args.loop))
            said.append(f"{model.name}: {args.vae[0]} -> {args.vae[1]} over {session.parts[-1].windows} windows")
        else:
            from tonehost.exports.sequences import parse_chord_progression
            from tonehost.realtime.pipelines.music_rnn import MusicRNN

            model = MusicRNN(args.checkpoint, offline=args.offline)
            chords = parse_chord_progression(args.chords) if args.chords else None
            answer_t = 1.0 if args.temperature is None else args.temperature
            session.add_part(CallAndResponse(model, args.pause_beats, args.answer_bars, answer_t or None,
                                             args.seed, chords))
            name = model.checkpoint_dir.name if model.checkpoint_dir else str(model.model_path)
            said.append(f"answers: {name}, {args.answer_bars} bars after a {args.pause_beats:g}-beat pause")
            if listen == "piano":
                from tonehost.realtime.pipelines.listen import PianoListener, ThreadedListener
                from tonehost.realtime.pipelines.transcriber import OnsetsAndFrames

                # its own thread: ONNX Runtime releases the GIL, so a transcriber chunk never delays the output
                session.listeners.append(ThreadedListener(PianoListener(OnsetsAndFrames(offline=args.offline),
                                                                        args.sample_rate), "jam-piano"))
            elif listen == "hum":
                from tonehost.realtime.pipelines.listen import HumListener

                # inline: the tracker is mostly Python, a thread would only trade it for waits on the GIL
                session.listeners.append(HumListener(args.sample_rate))
        if args.drums:
            from tonehost.realtime.pipelines.music_rnn import MusicRNN

            drums = _drums_model(args)
            session.add_part(DrumGroove(drums, args.drums_temperature or None, args.seed))
            said.append(f"drums: {drums.checkpoint_dir.name if drums.checkpoint_dir else args.drums_checkpoint}")
        if args.midi_in:
            also = session.instrument.voice.handle if (session.instrument is not None and not args.no_monitor) \
                else None
            midi_in = open_midi_in(session, args.midi_in, also)
            said.append(f"MIDI in: {midi_in.describe()}")
        elif not args.vae:
            said.append(f"listening to the mic ({listen})")
        status.message("jam: " + "; ".join(said))
    except BaseException:
        close_unstarted(session, midi_in)
        raise
    run_session(session, args, status, "jammed", closers=[midi_in])
    return 0

