"""What ``jam`` and ``tap2drum`` share: their tempo, MIDI, FluidSynth and audio options, and the run loop.

:func:`add_live_music_args` adds the options; :func:`run_session` opens the engine, runs a
:class:`~tonehost.realtime.pipelines.jam.LiveSession` on a :class:`~tonehost.realtime.audio.worker.Worker` until
the user stops (q + Enter, Ctrl-C, SIGTERM), ``--duration`` passes, the session finishes by itself, or the audio
server goes away, and prints the summary.
"""
from __future__ import annotations

import os
import sys
import threading

import numpy as np

from tonehost.exports.errors import DeviceError
from tonehost.realtime.cli.options import (audio_device, tempo_qpm, block_size, non_negative_float, non_negative_int,
                                           positive_float, sample_rate)

__all__ = ["add_live_music_args", "open_outputs", "open_midi_in", "run_session", "close_unstarted"]


def add_live_music_args(p, click: str = "count-in") -> None:
    """Tempo (``--qpm``, ``--count-in``, ``--click``), MIDI (``--midi-in``, ``--midi-out``, ``--no-midi-clock``),
    ``--fluidsynth``, audio (``--device``, ``--block-size``, ``--sample-rate``) and ``--duration``."""
    p.add_argument("--qpm", type=tempo_qpm, default=120.0, help="tempo in quarter notes per minute "
                   "(default 120)")
    p.add_argument("--count-in", type=non_negative_int, default=1, metavar="BARS",
                   help="bars counted in before bar 1 (default 1)")
    p.add_argument("--click", choices=["count-in", "on", "off"], default=click,
                   help=f"audible metronome: during the count-in, always, or never (default {click})")
    p.add_argument("--midi-in", metavar="PORT", help="MIDI input: a number or name from `tonehost devices --midi` "
                   "(ALSA or JACK MIDI), or a new name to create a port tonehost-midi:PORT to connect to")
    p.add_argument("--midi-out", metavar="PORT", help="send the notes (melody channel 1, drums channel 10) and "
                   "MIDI clock here: a number or name from `tonehost devices --midi`, or a new name to create one")
    p.add_argument("--no-midi-clock", action="store_true", help="don't send MIDI clock/start/stop on --midi-out "
                   "(sent by default from the count-in on, so a sequencer follows the tempo)")
    p.add_argument("--fluidsynth", nargs="?", const="", metavar="SF2", help="play through FluidSynth in the "
                   "engine with this General MIDI soundfont (default: the first one installed, e.g. "
                   "/usr/share/sounds/sf2/TimGM6mb.sf2); needs pip install 'tonehost[live]'")
    p.add_argument("--device", help="audio device index or name (see `tonehost devices`); default: system default")
    p.add_argument("--block-size", "--blocksize", dest="block_size", type=block_size, default=128,
                   help="frames per audio block (default 128)")
    p.add_argument("--sample-rate", "--samplerate", dest="sample_rate", type=sample_rate, default=48000,
                   help="sample rate (default 48000)")
    p.add_argument("--buffer-ms", type=non_negative_float, default=20.0, help="output kept queued ahead of the "
                   "sound card, ms (default 20): absorbs the worker's slow blocks (a transcriber chunk, a busy "
                   "machine) instead of dropping out; the music stays on its grid, shifted by this much")
    p.add_argument("--duration", type=positive_float, default=None, help="stop after this many seconds, > 0 "
                   "(default: run until q + Enter or Ctrl-C)")


def open_outputs(session, args, fluid_voices=None, programs=None) -> list[str]:
    """Attach ``--midi-out`` and ``--fluidsynth`` to ``session``; return what was opened, for the console.

    Raises
    ------
    DeviceError, UsageError
        A MIDI port that cannot be opened or created, FluidSynth or the soundfont missing.
    """
    from tonehost.realtime.pipelines.jam import MidiOutTarget

    said = []
    if args.midi_out:
        session.midi_out = MidiOutTarget(args.midi_out)
        session.midi_clock = not args.no_midi_clock
        said.append(f"MIDI out: {session.midi_out.describe()}")
    if args.fluidsynth is not None:
        from tonehost.realtime.pipelines.fluid import FluidVoice

        session.fluid = FluidVoice(args.sample_rate, args.fluidsynth or None, programs=programs)
        if fluid_voices is not None:
            session.fluid_voices = tuple(fluid_voices)
        said.append(f"FluidSynth: {session.fluid.soundfont}")
    return said


def open_midi_in(session, port: str, also=None):
    """Record ``--midi-in`` into ``session`` (a :class:`~tonehost.realtime.pipelines.listen.MidiRecorder` on the
    session's clock; ``also`` hears every message too). Returns the open input (close it when done)."""
    from tonehost.realtime.midi.input import open_midi_input
    from tonehost.realtime.pipelines.listen import MidiRecorder

    session.recorder = MidiRecorder(session.clock, also=also)
    return open_midi_input(port, session.recorder)


def close_unstarted(session, *closers) -> None:
    """Close what a command opened for ``session`` when it fails before :func:`run_session` (ports, synth,
    generator threads)."""
    session.stop()
    for c in (*closers, session.midi_out, session.fluid):
        if c is not None:
            c.close()


def _stdin_quit(session_ctl) -> None:
    buf = b""
    while True:
        try:
            chunk = os.read(0, 4096)
        except OSError:
            return
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip() in (b"q", b"quit", b"exit"):
                session_ctl.request_stop()
                return


def run_session(session, args, status, what: str, closers=(), in_channels: int = 1) -> dict:
    """Run ``session`` on the engine until stopped; print the summary; return the session's and engine's stats.

    Parameters
    ----------
    session : LiveSession
    args : argparse.Namespace
        With :func:`add_live_music_args`' options.
    status : StatusLine
    what : str
        The verb of the summary (``jammed``).
    closers : iterable
        Objects with ``close()`` closed at the end (MIDI inputs).
    in_channels : int
        Input channels to open (the input is the session's clock; it is read even when nobody listens to it).

    Raises
    ------
    DeviceError
        The audio server or device went away (after the summary).
    """
    from tonehost.realtime.audio.engine import Engine, EngineConfig
    from tonehost.realtime.audio.worker import Worker
    from tonehost.realtime.cli.live import Session, period_note

    engine = worker = None
    ctl = None
    stats = None
    try:
        session.warm_up(args.block_size)
        prefill = int(round(args.buffer_ms * args.sample_rate / 1000.0))
        engine = Engine(EngineConfig(device=audio_device(args.device), sample_rate=args.sample_rate,
                                     block_size=args.block_size, in_channels=in_channels, out_channels=2,
                                     max_output_backlog=prefill + 2 * args.block_size))
        if prefill:
            engine.write_output(np.zeros(prefill, np.float32))  # the queue the worker's output joins
        engine.start()
        worker = Worker(engine, session.process, output=engine.write_output, name="jam-worker").start()
        ctl = Session(duration=args.duration, failure=engine.failure,
                      alive=lambda: worker.running and not session.finished)
        if sys.stdin is not None and not sys.stdin.closed:
            threading.Thread(target=_stdin_quit, args=(ctl,), daemon=True, name="jam-console").start()
        note = period_note(engine, args.block_size)
        if note:
            status.message(note)
        status.message(f"{session.count_in_bars} bar count-in at {session.grid.qpm:g} qpm; q + Enter or Ctrl-C "
                       "to stop")
        with ctl:
            ctl.run(None, every=1.0)
            worker.stop()  # re-raises a bug in the session: it keeps its traceback
    finally:
        if worker is not None and worker.running:
            worker.stop(timeout=1.0)
        session.stop()
        # a server that went away or hangs: JACK MIDI ports are left to the OS (closing one blocks inside libjack,
        # for good where the server hangs), as play and transcribe --live do
        lost = bool(engine is not None and engine.failure())
        if engine is not None:
            stats = engine.stats()
            engine.close()
        for c in closers:
            if c is not None:
                c.close(abandon=lost)
        if session.midi_out is not None:
            session.midi_out.close(abandon=lost)
        if session.fluid is not None:
            session.fluid.close()
        status.done()
    s = session.stats()
    scalars = {k: v for k, v in s.items() if not isinstance(v, list)}
    parts = ", ".join(f"{k.replace('_', ' ')} {v:.0f}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
                      for k, v in scalars.items() if k not in ("blocks",) and v is not None)
    print(f"{what} {ctl.elapsed if ctl else 0.0:.1f} s ({'stopped: the audio stream was lost' if ctl and ctl.lost else 'stopped'}); "
          f"{parts}; xruns {stats['xruns']}, output underruns {stats['output_underrun_blocks']} blocks, "
          f"input dropped {stats['input_dropped']} samples, callback p99 {stats['callback_us_p99']:.0f} us",
          file=sys.stderr)
    if ctl is not None and ctl.lost:
        raise DeviceError(ctl.lost)
    return {**s, **stats}
