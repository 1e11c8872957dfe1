"""``tonehost play --instrument violin``: live, mic (or MIDI keyboard) to speakers through a DDSP instrument.

The pipeline (:class:`~tonehost.realtime.pipelines.instrument.InstrumentPipeline`) runs on a
:class:`~tonehost.realtime.audio.worker.Worker` fed by the engine (GIL-free callback, lock-free rings, woken once
per block, real-time priority where allowed); for the voice (and one MIDI voice) it publishes control frames
scheduled a constant delay after their input, which the callback synthesises sample-accurately
(:class:`~tonehost.realtime.pipelines.live_voice.LiveInstrument`); chords and ``--reverb`` return audio through
the output ring. A status
line shows input/output meters, f0, and the latency: the device's reported input+output latency plus the
pipeline's own, measured at start-up through the same code path (redrawn in place on a terminal, one line a second
in a pipe). Type another instrument name (violin, flute, ...), an index id (``ddsp_flute``), a checkpoint folder or a
.onnx path and Enter to switch instruments without restarting the stream; ``q`` + Enter or Ctrl-C stops with a
summary (exit 0). If the audio server goes away the command says so in one line and exits 1 within a second or two.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

import numpy as np

from tonehost.exports.errors import CheckpointError, DeviceError, TonehostError, UsageError
from tonehost.realtime.cli import one_line
from tonehost.realtime.cli.live import Session, StatusLine, period_note
from tonehost.realtime.cli.options import (MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, add_instrument_args, audio_device,
                                           block_size, clip_note, float_range, instrument_from_args, int_range,
                                           positive_float, sample_rate)
from tonehost.realtime.midi.ports import port_name

#: The longest ``--portamento`` glide time constant, in seconds.
MAX_PORTAMENTO_S = 10.0
#: The rate ``play`` asks for when the input device names none (its own rate is the default).
FALLBACK_RATE = 48000
#: ``--voices`` (without it: DEFAULT_VOICES); ``--portamento``'s default, in seconds.
MAX_VOICES, DEFAULT_VOICES, DEFAULT_PORTAMENTO_S = 32, 8, 0.05
#: Characters of a meter bar in the status line: 3 dB each, -60 dBFS .. 0 dBFS.
METER_WIDTH = 20
POLY_WINDOW_S = 3.0  # --midi-out: note-ons counted over this window for the polyphony warning


def _delay_changes(live) -> str:
    """The summary's note on the adaptive scheduling delay: every change (samples, at what time), or ''."""
    changes = live.adaptive.changes if live.adaptive is not None else []
    if not changes:
        return ""
    return (f"; the scheduling delay adapted {len(changes)} time{'s' if len(changes) > 1 else ''} to late frames: "
            + ", ".join(f"{v} at {t / live.sample_rate:.0f} s" for t, v in changes[:6])
            + (" ..." if len(changes) > 6 else ""))


def voice_count(text: str) -> int:
    """argparse type of ``--voices``: a whole number 1..MAX_VOICES (was ``choices=range(1, 33)``, whose error
    listed all 32 numbers)."""
    return int_range(1, MAX_VOICES)(text)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "play", help="live: sing or hum into the mic and hear a DDSP instrument (or play it from MIDI)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Full-duplex audio through a DDSP instrument. Shows input/output meters and the measured "
        "latency.\nWhile playing, type an instrument name (violin, flute, trumpet, tenor_saxophone), an index id\n"
        "(ddsp_flute), a checkpoint folder or a .onnx path and press Enter to switch; q + Enter or Ctrl-C\n"
        "stops with a summary (exit 0); a name that cannot be played is one line and the current instrument\n"
        "plays on. The status line shows CLIP when the output goes over 0 dBFS (lower --gain).\n\nexamples:\n"
        "  tonehost play                                  # the shipped violin, default device, 128 frames\n"
        "  tonehost play --instrument flute --reverb      # a hosted instrument (fetched once)\n"
        "  tonehost play --checkpoint my_instrument.onnx --device 2 --block-size 64\n"
        "  tonehost play --midi-in 0                      # from MIDI input 0 of `tonehost devices --midi`\n"
        "  tonehost play --midi-in keys                   # creates MIDI port tonehost-midi:keys\n"
        "  tonehost play --midi-out synth                 # hum -> MIDI (notes + bend) on tonehost-midi:synth\n\n"
        "Exit status: 0 after q, Ctrl-C, SIGTERM or --duration; 1 with one line when the audio server or\n"
        "device goes away (within ~1 s) or a device/model cannot be used; 2 for a bad option.")
    add_instrument_args(p)
    p.add_argument("--device", help="audio device index or name (see `tonehost devices`); default: system default")
    p.add_argument("--block-size", "--blocksize", dest="block_size", type=block_size, default=128,
                   help=f"frames per audio block, {MIN_BLOCK_SIZE}..{MAX_BLOCK_SIZE} (default 128)")
    p.add_argument("--sample-rate", "--samplerate", dest="sample_rate", type=sample_rate, default=None,
                   help="sample rate in Hz, 8000..384000 (default: the input device's own rate, e.g. the JACK "
                   f"server's; {FALLBACK_RATE} when it has none; the DDSP instruments play at 16000 and up)")
    p.add_argument("--midi-in", metavar="PORT", type=port_name,
                   help="play from this MIDI input instead of the voice (note -> pitch with portamento, velocity -> "
                   "loudness): a number or name from `tonehost devices --midi` (ALSA or JACK MIDI), or a new name to "
                   "create an input port tonehost-midi:PORT")
    p.add_argument("--voices", type=voice_count, default=None, metavar="N",
                   help=f"with --midi-in: notes at once, 1..{MAX_VOICES} (default {DEFAULT_VOICES}; each voice has "
                   "its own model state and synth, the oldest is stolen, the sustain pedal holds); 1 = monophonic "
                   "with portamento")
    p.add_argument("--midi-out", metavar="PORT", type=port_name,
                   help="send the tracked voice as MIDI notes with pitch bend (hum -> MIDI, to play any synth by "
                   "humming): a number or name from `tonehost devices --midi`, or a new name to create an output "
                   "port tonehost-midi:PORT")
    p.add_argument("--portamento", type=float_range(0.0, MAX_PORTAMENTO_S), default=None,
                   help=f"with --midi-in: glide time constant in s, 0..{MAX_PORTAMENTO_S:g} (default "
                   f"{DEFAULT_PORTAMENTO_S:g} with --voices 1, 0 with chords: each voice glides from its last note)")
    p.add_argument("--duration", type=positive_float, default=None,
                   help="stop after this many seconds, > 0 (default: run until q + Enter, Ctrl-C or SIGTERM)")
    p.set_defaults(func=run)


def _db(x: float) -> float:
    return 20.0 * np.log10(max(x, 1e-7))


def _midi_range(pipe):
    info = pipe.controls.info
    if info.db_kind == "power_db":
        return -70.0, -15.0
    s = info.settings or {}
    hi = float(s.get("averageMaxLoudness", -45.0))
    return hi - 35.0, hi


def _stdin_lines():
    """Lines typed on standard input, read from file descriptor 0 directly (a daemon thread blocked in
    ``sys.stdin`` holds its lock and can abort the interpreter's exit); ends at end of file."""
    buf = b""
    while True:
        try:
            chunk = os.read(0, 4096)
        except OSError:
            return
        if not chunk:
            if buf:
                yield buf.decode(errors="replace")
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode(errors="replace")


def typed_model(text: str, status=None, offline: bool = False) -> Path:
    """The controls model for what the player typed while playing: an instrument, an index id, a folder or a .onnx.

    Parameters
    ----------
    text : str
        ``violin`` (the shipped model), ``flute`` / ``ddsp_flute`` (a hosted checkpoint, fetched once without a
        progress bar, one retry), a checkpoint folder, or a ``.onnx`` controls model.
    status : StatusLine, optional
        Where to say that a download starts.
    offline : bool
        Never download: a hosted instrument must be in the cache (``play --offline``).

    Returns
    -------
    pathlib.Path
        The ``.onnx`` controls model.

    Raises
    ------
    UsageError
        An unknown name (the message lists the instruments that can be played).
    CheckpointError, ModelError
        A hosted instrument that is not cached and cannot be downloaded (the message says how to fetch it, or
        to play a local one), a bad model file.
    """
    from tonehost.exports import checkpoints
    from tonehost.exports.checkpoints.shipped import SHIPPED_INSTRUMENTS
    from tonehost.exports.resolve import INSTRUMENTS, instrument_model

    t = text.strip()
    path = Path(t).expanduser()
    if t.endswith(".onnx") or path.is_dir() or "/" in t:
        return instrument_model(checkpoint=t)
    name = t[len("ddsp_"):] if t.startswith("ddsp_") else t
    if name not in INSTRUMENTS:
        raise UsageError(f"unknown instrument {t!r}; instruments: {', '.join(INSTRUMENTS)} (or an index id such as "
                         "ddsp_flute, a checkpoint folder, or a .onnx file)")
    if t == name and name in SHIPPED_INSTRUMENTS:
        return instrument_model(name)
    ckpt_id = f"ddsp_{name}"
    cached = checkpoints.cached(ckpt_id)
    if cached is None and offline:
        raise CheckpointError(f"{ckpt_id} is not in the cache, and --offline downloads nothing; fetch it once with "
                              f"`tonehost checkpoints fetch {ckpt_id}`, or play a local one with --checkpoint DIR",
                              ckpt_id)
    if cached is None:
        if status is not None:
            status.message(f"fetching {ckpt_id} (hosted checkpoint, about 4 MB) ...")
        try:
            cached = checkpoints.fetch(ckpt_id, progress=False, retries=1, backoff=0.25, timeout=10.0)
        except CheckpointError as exc:
            reason = exc.user_message.split(". ")[0]
            raise type(exc)(f"{ckpt_id} is not in the cache and could not be downloaded ({reason}); fetch it once "
                            f"with `tonehost checkpoints fetch {ckpt_id}`, or play a local one with --checkpoint "
                            "DIR", exc.path) from None
    return instrument_model(checkpoint=str(cached))


def switch_instrument(pipe, text: str, status, offline: bool = False) -> bool:
    """Switch ``pipe`` to the instrument the player typed; any failure is one line and the current one plays on.

    The console thread calls this for every line that is not ``q``: it must outlive every typo, corrupt or
    truncated file and failed download (a :class:`~tonehost.exports.errors.TonehostError`: its sentence), and
    even a bug (any other exception: its type and first line), or ``q`` would never be read again.

    Parameters
    ----------
    pipe : InstrumentPipeline
        Receives the new :class:`~tonehost.realtime.pipelines.instrument.ControlsModel` (``set_controls``).
    text : str
        What was typed (see :func:`typed_model`).
    status : StatusLine
        Where the one line goes (``switched to ...`` or ``cannot switch to ...: <reason>``).
    offline : bool
        ``play --offline``: a hosted instrument that is not cached is not downloaded.

    Returns
    -------
    bool
        Whether the instrument changed.
    """
    from tonehost.realtime.pipelines.instrument import ControlsModel

    try:
        pipe.set_controls(ControlsModel(typed_model(text, status, offline)))
    except TonehostError as exc:  # a bad name, a corrupt or missing model, a failed download
        status.message(f"cannot switch to {one_line(text)}: {one_line(exc.user_message)}")
        return False
    except Exception as exc:  # noqa: BLE001 - a bug, but the session (and q) must go on
        reason = (str(exc).splitlines() or [""])[0]
        status.message(f"cannot switch to {one_line(text)}: unexpected {type(exc).__name__}"
                       f"{': ' + one_line(reason) if reason else ''} (please report it)")
        return False
    status.message(f"switched to {one_line(text)}")
    return True


def _note_name(note: int) -> str:
    return ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"][note % 12] + str(note // 12 - 1)


def pitch_readout(last: dict, instrument: str = "instrument") -> str:
    """What the singer sees: the tracked pitch and what the instrument plays, ``you 221 Hz -> violin 884 Hz
    (+2 oct)``; ``you -- -> violin --`` while unvoiced.

    Parameters
    ----------
    last : dict
        :attr:`InstrumentPipeline.last` (``input_f0_hz``, ``f0_hz``, ``octave_shift``, ``voiced``).
    instrument : str
        The instrument's name.
    """
    if not last.get("voiced"):
        return f"you    -- Hz -> {instrument}    -- Hz         "
    f_in, f_out, octs = last.get("input_f0_hz", 0.0), last.get("f0_hz", 0.0), int(last.get("octave_shift", 0))
    return f"you {f_in:5.0f} Hz -> {instrument} {f_out:5.0f} Hz ({octs:+d} oct)"


def status_text(meter_in: float, meter_out: float, last: dict, latency_ms: float, device_latency_ms: float,
                instrument: str = "instrument") -> str:
    """The status line: input/output meters, the pitch readout (:func:`pitch_readout`) and the total latency.

    Parameters
    ----------
    meter_in, meter_out : float
        Peaks since the last line, linear (1 = 0 dBFS). Each bar is 3 dB a character from -60 dBFS, at most
        :data:`METER_WIDTH` characters (full at 0 dBFS and above, so the columns after it never move); the output's
        level is followed by ``CLIP`` while it is over 0 dBFS (the sound card clips it: lower ``--gain``).
    last : dict
        :attr:`InstrumentPipeline.last`.
    latency_ms, device_latency_ms : float
        Total and device latency, milliseconds.
    instrument : str
        The instrument's name.
    """
    def bar(x: float) -> str:
        return "#" * min(METER_WIDTH, int(max(0.0, 60.0 + _db(x)) / 3.0))

    return (f"in {_db(meter_in):6.1f} dB {bar(meter_in):<{METER_WIDTH}} out {_db(meter_out):6.1f} dB"
            f"{clip_note(meter_out) or '     '} {bar(meter_out):<{METER_WIDTH}} "
            f"{pitch_readout(last, instrument)}  latency {latency_ms:5.1f} ms (device {device_latency_ms:.1f})")


def _ms(value: float) -> str:
    """A measured latency for the start line: ``12.3 ms``, or ``not measured`` (NaN, was printed ``nan ms``)."""
    return f"{value:.1f} ms" if np.isfinite(value) else "not measured"


def dry_pipeline(instrument):
    """A throwaway pipeline of ``instrument`` without its reverb, for the latency measurement.

    With ``--reverb`` the pitch step drowned in the 220 Hz tone's reverb and the start line said ``pitch step nan
    ms`` (and the readout's latency left it out). The reverb's dry path adds no delay (:mod:`tonehost.dsp.reverb`:
    the wet path's partitions hide in its pre-delay), so the dry pipeline's delays are the played ones.
    """
    import dataclasses

    from tonehost.realtime.pipelines.instrument import InstrumentPipeline

    pipe = instrument.pipeline()
    if not pipe.cfg.reverb:
        return pipe
    return InstrumentPipeline(pipe.controls, dataclasses.replace(pipe.cfg, reverb=False))


def device_rate(device) -> int:
    """The input device's own sample rate (a JACK server's rate), for ``play`` without ``--sample-rate``.

    ``tonehost play`` asked for 48000 Hz whatever ran: with JACK at 44100 Hz a first run was an error line telling
    to pass ``--samplerate 44100``. A device that cannot be found or names no rate gives :data:`FALLBACK_RATE`
    (the stream then says what is wrong, as before).
    """
    try:
        import sounddevice as sd

        rate = float(sd.query_devices(audio_device(device), "input")["default_samplerate"])
    except Exception:  # noqa: BLE001 - no PortAudio, no device, no server: the engine's own error says which
        return FALLBACK_RATE
    return int(round(rate)) if 8000 <= rate <= 384000 else FALLBACK_RATE


def check_midi_options(args) -> None:
    """Refuse MIDI options that would be ignored, and fill in their defaults.

    ``play --voices 4`` or ``--portamento 2`` without ``--midi-in`` played the voice as if they were not there;
    ``--portamento`` with chords (``--voices`` > 1) was dropped too (each voice now glides from its last note when
    it is given; without it chords do not glide, as before); ``--midi-in X --midi-out Y`` sent nothing on Y (with
    a MIDI keyboard there is no voice to turn into MIDI).

    Raises
    ------
    UsageError
        One line naming the option and what to add or drop.
    """
    if not args.midi_in:
        given = [o for o, v in (("--voices", args.voices), ("--portamento", args.portamento)) if v is not None]
        if given:
            raise UsageError(f"{' and '.join(given)} set{'s' if len(given) == 1 else ''} how a MIDI keyboard plays "
                             "the instrument: add --midi-in PORT, or drop it to play by voice")
    elif args.midi_out:
        raise UsageError("--midi-out sends the hummed voice as MIDI, and with --midi-in the instrument is played "
                         "from MIDI (no voice is tracked): use one or the other")
    if args.voices is None:
        args.voices = DEFAULT_VOICES
    if args.portamento is None:  # chords do not glide unless asked to (each voice from its last note)
        args.portamento = DEFAULT_PORTAMENTO_S if args.voices == 1 else 0.0


def run(args) -> int:
    from tonehost.realtime.audio.engine import Engine, EngineConfig
    from tonehost.realtime.audio.worker import Worker, below_audio_priority
    from tonehost.realtime.pipelines.instrument import measure_latency
    from tonehost.realtime.pipelines.live_voice import LiveInstrument, measure_live_latency

    check_midi_options(args)
    sr = args.sample_rate or device_rate(args.device)
    instrument = instrument_from_args(args, sr)
    pipe = instrument.pipeline()
    # The voice (or one MIDI voice) plays through the live instrument: control frames scheduled at a constant
    # delay, synthesised in the audio callback. Chords and reverb keep the pipeline's own output through the ring.
    scheduled = not (args.midi_in and args.voices > 1) and not pipe.cfg.reverb
    # Measure the delay on a throwaway copy (same code path, same settings).
    measured = measure_live_latency(instrument.pipeline(), args.block_size) if scheduled else \
        measure_latency(dry_pipeline(instrument), args.block_size)
    status = StatusLine(sys.stderr)
    midi_port = None
    hum_port = None
    poly = None
    engine = None
    worker = None
    live = LiveInstrument(pipe) if scheduled else None
    try:
        render = live.process if live is not None else pipe.process
        if args.midi_in:
            from tonehost.realtime.midi.input import MidiVoice, open_midi_input
            if args.voices > 1:
                from tonehost.realtime.pipelines.poly import PolyInstrument
                poly = PolyInstrument(pipe.controls, args.voices, pipe.cfg, portamento_s=args.portamento)
                midi_port = open_midi_input(args.midi_in, poly)
                render = poly.process
            else:
                lo, hi = _midi_range(pipe)
                voice = MidiVoice(db_low=lo, db_high=hi, portamento_s=args.portamento)
                midi_port = open_midi_input(args.midi_in, voice)
                pipe.set_external_control(voice)
        if args.midi_out:
            from tonehost.realtime.midi.hum import HumToMidi, PolyphonyWatch
            from tonehost.realtime.midi.ports import open_port
            hum_port = open_port("output", args.midi_out)
            hum = HumToMidi()
            poly_watch = PolyphonyWatch(POLY_WINDOW_S)  # one line per session, as pitch --midi says for a file

            def to_midi(t, f0, voiced, db):
                for m in hum.frame(t, f0, voiced, db):
                    hum_port.rt.send_message(m.bytes())
                    if m.type == "note_on" and m.velocity > 0:
                        poly_watch.note_on(t, where="the input (--midi-out)")
            pipe.feature_listener = to_midi

        meters = {"in": 0.0, "out": 0.0}
        lock = threading.Lock()

        def work(block: np.ndarray) -> np.ndarray | None:
            y = render(block)
            with lock:
                meters["in"] = max(meters["in"], float(np.max(np.abs(block))) if len(block) else 0.0)
                if y is not None:
                    meters["out"] = max(meters["out"], float(np.max(np.abs(y))) if len(y) else 0.0)
            return y

        engine = Engine(EngineConfig(device=audio_device(args.device), sample_rate=sr, block_size=args.block_size,
                                     in_channels=1, out_channels=2,
                                     **(live.engine_settings() if live is not None else {})))
        engine.start()  # a DeviceError names the device and the fix
        if live is not None:
            live.attach(engine)
        lat = engine.latency()
        device_latency_ms = 1000.0 * (lat["input"] + lat["output"])
        # real-time priority where allowed (the frames are due a fixed delay after their input, whatever else
        # runs), one step below the audio thread so that the callback never waits for the worker
        worker = Worker(engine, work, output=None if live is not None else engine.write_output,
                        name="play-worker", realtime_priority=below_audio_priority()).start()
        session = Session(duration=args.duration, failure=engine.failure, alive=lambda: worker.running)

        def console():
            for line in _stdin_lines():
                cmd = line.strip()
                if not cmd:
                    continue
                if cmd in ("q", "quit", "exit"):
                    session.request_stop()
                    return
                switch_instrument(pipe, cmd, status, args.offline)

        if sys.stdin is not None:
            threading.Thread(target=console, daemon=True, name="play-console").start()
        algo = float(np.nanmax([measured["onset_ms"], measured["pitch_step_ms"], 0.0]))
        status.message(f"playing {pipe.controls.name} at {sr} Hz / {args.block_size}; pipeline latency measured: "
                       f"onset {_ms(measured['onset_ms'])}, pitch step {_ms(measured['pitch_step_ms'])}"
                       + (f"; MIDI in: {midi_port.describe()}" if midi_port is not None else "")
                       + "; q + Enter or Ctrl-C to stop")
        note = period_note(engine, args.block_size)
        if note:
            status.message(note)

        def tick():
            with lock:
                mi, mo = meters["in"], meters["out"]
                meters["in"] = meters["out"] = 0.0
            if live is not None:
                mo = engine.output_peak()
            last = pipe.last
            if poly is not None:  # chords: the notes sounding instead of the voice's pitch
                names = [_note_name(n) for v, n in enumerate(poly.note) if poly.sounding[v] or poly.sustained[v]]
                last = {"voiced": False}
            text = status_text(mi, mo, last, device_latency_ms + algo, device_latency_ms, pipe.controls.name)
            if poly is not None:
                text += f"  notes {' '.join(names) or '--'}{' (pedal)' if poly.pedal else ''}"
            status.update(text)

        with session:
            session.run(tick, every=0.2)
            worker.stop()  # re-raises a pipeline error (a bug): it keeps its traceback
    finally:
        if worker is not None and worker.running:
            worker.stop(timeout=1.0)
        stats = engine.stats() if engine is not None else None
        if engine is not None:
            engine.close()  # bounded: a lost stream is left to the OS instead of blocking in PortAudio
        if midi_port is not None:  # a dead JACK server: leave its MIDI port to the OS (closing blocks ~1 s)
            midi_port.close(abandon=bool(engine is not None and engine.failure()))
        if hum_port is not None:
            hum_port.close(abandon=bool(engine is not None and engine.failure()))
        status.done()
    times = poly.block_times if poly is not None else (live.block_times if live is not None else pipe.block_times)
    bt = np.asarray(times or [0.0]) * 1e6
    print(f"played {session.elapsed:.1f} s ({'stopped: the audio stream was lost' if session.lost else 'stopped'}); "
          f"blocks {getattr(times, 'count', len(times))}, worker CPU per block p50 {np.percentile(bt, 50):.0f} us, "
          f"p99 {np.percentile(bt, 99):.0f} us; xruns {stats['xruns']}, output underruns "
          f"{stats['output_underrun_blocks']} blocks, input dropped {stats['input_dropped']} samples, callback p99 "
          f"{stats['callback_us_p99']:.0f} us"
          + (f", synth frames late {stats['synth_frames_late']} of {stats['synth_frames_applied']} (scheduled "
             f"{live.delay} samples after their input{_delay_changes(live)})" if live is not None else ""),
          file=sys.stderr)
    if session.lost:
        raise DeviceError(session.lost)
    return 0
