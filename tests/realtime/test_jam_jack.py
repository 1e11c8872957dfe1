"""``tonehost jam`` and ``tonehost tap2drum`` end to end on a JACK server, as a musician would use them.

Each command runs as a subprocess on a private JACK dummy server. The test plays the musician through a JACK MIDI
port (``feeder:keys``) and listens on another (``sink:notes``) that receives the notes and the MIDI clock the
command sends: the clock gives the grid (24 ticks per beat from MIDI Start), so the test plays its phrase or taps
on the beats the command counts, and checks that the answer (or groove) comes back on the grid, on the bar the
command promised. Random-weight checkpoints in the hosted formats stand in for the trained models.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time

import numpy as np
import pytest

rtmidi = pytest.importorskip("rtmidi")

QPM = 120.0
BEAT = 60.0 / QPM
STEP = BEAT / 4


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tonehost.exports.convert.music_rnn import write_random_checkpoint
    from tonehost.exports.convert.music_vae_standins import write_standin
    from tonehost.realtime.testing.models import make_random_controls_onnx

    root = tmp_path_factory.mktemp("jam_models")
    return {"melody": write_random_checkpoint(root / "basic_rnn", "basic_rnn", seed=3, layers=(32, 32)),
            "drums": write_random_checkpoint(root / "drum_kit_rnn", "drum_kit_rnn", seed=4, layers=(32, 32, 32)),
            "tap2drum": write_standin(root / "tap2drum_1bar", "tap2drum_1bar", seed=5),
            "vae": write_standin(root / "mel_2bar_small", "mel_2bar_small", seed=6),
            "instrument": make_random_controls_onnx(root / "inst.onnx")}


class Sink:
    """A JACK MIDI input port ``sink:notes`` recording what arrives: ``(monotonic arrival time, bytes)``, read from
    rtmidi's queue like tonehost's own MIDI input (:class:`~tonehost.realtime.midi.input.QueueReader`: every
    message of a JACK cycle arrives once, a note and the clock tick sent with it carry the same time).

    The received MIDI clock is the command's own audio clock: tick k (the k-th after Start) is due at its sample,
    and the command sends every message from its worker in the order of the samples they are due on. Where a note
    lies on that clock is therefore read from the message order (:meth:`clocked`: how many ticks came before it),
    not from arrival times: on a loaded machine the worker catches up on late blocks and sends a burst of ticks
    and notes in one JACK cycle, and the dummy server's cycles run late of wall time by a varying amount. Arrival
    times serve only to play along (:meth:`grid`); the server's own frame counter (``jack_last_frame_time``, read
    through :class:`~tonehost.realtime.testing.jack.FrameClock`) gives its speed against wall time in the same run
    (:meth:`server_speed`)."""

    def __init__(self):
        from tonehost.realtime.midi.input import QueueReader
        from tonehost.realtime.testing.jack import FrameClock

        self.rt = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="sink")
        self.rt.open_virtual_port("notes")
        self.messages: list[tuple[float, list[int]]] = []
        self.reader = QueueReader(self.rt, lambda data, t: self.messages.append((t, data)), name="sink")
        self.frames = FrameClock("sink_clock").__enter__()
        self.frames_at_start = (time.monotonic(), self.frames.frames())

    def close(self):
        self.reader.stop()
        self.rt.close_port()
        self.rt.delete()
        self.frames.__exit__()

    def server_speed(self) -> float:
        """Seconds of audio the server has run per second of wall time since this sink was made (1.0 when it
        keeps time; less when its cycles run late)."""
        t0, f0 = self.frames_at_start
        return (self.frames.frames() - f0) / self.frames.samplerate / (time.monotonic() - t0)

    def wait_start(self, timeout: float, proc) -> float | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end and proc.poll() is None:
            for t, m in list(self.messages):
                if m and m[0] == 0xFA:
                    return t
            time.sleep(0.01)
        return None

    def grid(self) -> tuple[float, float]:
        """``(t0, tick)``: a robust straight line through the ticks so far, tick k at ``t0 + k * tick`` (the slope
        is the median over pairs of ticks half the ticks apart, ``t0`` the median offset: a late wake-up does not
        bend it). For what lies beyond the last tick received (when to play); :meth:`clocked` for where things
        landed."""
        ticks = self.ticks()
        k = np.arange(len(ticks))
        h = len(ticks) // 2
        tick = float(np.median((ticks[h:] - ticks[:-h]) / h)) if h >= 12 else BEAT / 24
        return float(np.median(ticks - tick * k)), tick

    def ticks(self) -> np.ndarray:
        """Arrival times of the clock ticks since MIDI Start (tick k is the k-th after Start)."""
        t_start = next(t for t, m in self.messages if m[0] == 0xFA)
        return np.array([t for t, m in self.messages if m[0] == 0xF8 and t >= t_start])

    def at_tick(self, position: float) -> float:
        """Arrival time of tick ``position`` (fractional: between the two ticks around it); past the last tick
        received, on :meth:`grid`'s line. For when to play."""
        ticks = self.ticks()
        if position <= len(ticks) - 1:
            return float(np.interp(position, np.arange(len(ticks)), ticks))
        t0, tick = self.grid()
        return t0 + position * tick

    def clocked(self, channel: int) -> list[tuple[float, int, int, float]]:
        """Note-ons ``(time, pitch, velocity, position)`` on ``channel``, ``position`` in ticks since Start on the
        command's clock: a note sent after tick k and before tick k + 1 is at k + 0.5 (ticks counted in message
        order; a note due on tick k's own sample is sent just before or after it: k - 0.5 or k + 0.5)."""
        out, count = [], None
        for t, m in self.messages:
            if not m:
                continue
            if m[0] == 0xFA:
                count = 0
            elif m[0] == 0xF8 and count is not None:
                count += 1
            elif len(m) == 3 and m[0] == 0x90 | channel and m[2] > 0 and count is not None:
                out.append((t, m[1], m[2], count - 0.5))
        return out

    @staticmethod
    def on_step(position: float) -> bool:
        """True when a note at ``position`` (:meth:`clocked`) was sent with the tick of a sixteenth step (a
        multiple of 6 ticks after Start), just before or just after it: due on that step."""
        return abs(position - 6 * round(position / 6)) == 0.5

    @staticmethod
    def near_tick(position: float, due: float) -> bool:
        """True when a note at ``position`` (:meth:`clocked`) was sent within one tick of tick ``due``
        (fractional): on time on the command's own audio clock."""
        return abs(position - due) <= 1.0


@pytest.fixture
def midi_ports(private_jack):
    feeder = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="feeder")
    feeder.open_virtual_port("keys")
    sink = Sink()
    yield feeder, sink
    sink.close()
    feeder.close_port()
    feeder.delete()


def _launch(args, env):
    from tonehost.realtime.testing.proc import Lines

    proc = subprocess.Popen([sys.executable, "-m", "tonehost", *map(str, args)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return proc, Lines(proc.stderr)


def _sleep_until(t: float) -> None:
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)


def _bar(bar: int, count_in: int = 2) -> int:
    """The tick bar ``bar`` (0 = the first bar after the count-in) starts on (96 ticks a bar)."""
    return (bar + count_in) * 96


def test_jam_answers_a_midi_phrase_on_the_next_bar_with_drums(models, midi_ports, private_jack):
    feeder, sink = midi_ports
    proc, lines = _launch(["jam", "--midi-in", "feeder:keys", "--midi-out", "sink:notes", "--checkpoint",
                           models["melody"], "--instrument-checkpoint", models["instrument"], "--drums",
                           "--drums-checkpoint", models["drums"], "--qpm", QPM, "--count-in", 2, "--seed", 3,
                           "--pause-beats", 1, "--answer-bars", 1, "--duration", 11], private_jack.env)
    try:
        assert sink.wait_start(90, proc) is not None, lines.text()
        time.sleep(2.0)                                            # half the count-in: enough ticks to fit
        bar0 = sink.at_tick(_bar(0))                               # ahead of the ticks: on their line
        phrase = [(0, 60), (1, 64), (2, 67), (3, 72)]          # four quarter notes on the beats of bar 1
        for beat, pitch in phrase:
            _sleep_until(bar0 + beat * BEAT)
            feeder.send_message([0x90, pitch, 90])
            _sleep_until(bar0 + beat * BEAT + 0.35)
            feeder.send_message([0x80, pitch, 0])
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = lines.text()
    assert proc.returncode == 0, err
    tick = sink.grid()[1]                                      # 24 clocks per beat of the server's time at --qpm
    assert tick * sink.server_speed() == pytest.approx(BEAT / 24, rel=0.02), (tick, sink.server_speed())
    # pause detected 1 beat after the last note-off (bar 1 beat 4 + 0.35 s): the answer starts on bar 3
    m = re.search(r"answer 1: (\d+) notes over 1 bars from bar 3; phrase 4 notes; generated in ([\d.]+) ms, "
                  r"margin (-?\d+) ms; output peak (-?[\d.]+) dB", err)
    assert m, err
    n_notes, gen_ms, margin_ms, peak_db = int(m.group(1)), float(m.group(2)), int(m.group(3)), float(m.group(4))
    assert n_notes > 0 and margin_ms > 0 and gen_ms < 1000
    assert peak_db > -40.0, err                                # the DDSP instrument played the answer
    assert re.search(r"answers 1, answers late 0, .*drum bars late 0", err), err
    answer = sink.clocked(0)
    assert len(answer) == n_notes, (answer, err)
    assert all(_bar(2) <= x < _bar(3) for _, _, _, x in answer), answer        # on bar 3 (index 2)
    assert all(sink.on_step(x) for _, _, _, x in answer), answer
    assert all(48 <= p <= 83 for _, p, _, _ in answer)
    assert {v for _, _, v, _ in answer} == {90}              # the phrase's velocity
    drums = sink.clocked(9)
    first_bar = sorted(p for _, p, _, x in drums if abs(x - _bar(0)) < 3)
    assert first_bar == [36, 42], drums[:6]                    # bar 1 plays the primer: kick + hi-hat on beat 1
    later = [x for _, _, _, x in drums if x > _bar(1) - 3]
    assert later and all(sink.on_step(x) for x in later), later   # generated bars, on the grid
    assert max(later) > _bar(3)                                # the groove kept going


def test_tap2drum_plays_the_taps_as_a_groove_on_the_next_bar(models, midi_ports, private_jack):
    from tonehost.exports.note_sequence import NoteSequence, Tempo
    from tonehost.realtime.pipelines.music_vae import MusicVAE

    feeder, sink = midi_ports
    proc, lines = _launch(["tap2drum", "--midi-in", "feeder:keys", "--midi-out", "sink:notes", "--checkpoint",
                           models["tap2drum"], "--qpm", QPM, "--count-in", 2, "--click", "off", "--duration", 11],
                          private_jack.env)
    taps = [0, 3, 6, 8, 12]                                     # sixteenth steps of bar 1
    try:
        assert sink.wait_start(90, proc) is not None, lines.text()
        time.sleep(2.0)                                            # half the count-in: enough ticks to fit
        bar0 = sink.at_tick(_bar(0))                               # ahead of the ticks: on their line
        for step in taps:
            _sleep_until(bar0 + step * STEP)
            feeder.send_message([0x99, 38, 100])     # a tap: note-on and note-off in the same JACK cycle
            feeder.send_message([0x89, 38, 0])
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = lines.text()
    assert proc.returncode == 0, err
    m = re.search(r"bar 1: 5 taps \(steps 0 3 6 8 12\) -> (\d+) hits on bar 2; decoded in ([\d.]+) ms, margin (-?[\d.]+) ms$", err, re.M)
    assert m, err
    hits, margin = int(m.group(1)), float(m.group(3))
    assert margin > 0 and "LATE" not in err
    assert re.search(r"groove windows 1, groove windows late 0, groove held [12]", err), err
    # what the library makes of the same taps: the hits the command must send on bar 2, at their times
    seq = NoteSequence(tempos=[Tempo(0.0, QPM)])
    for step in taps:
        seq.add_note(38, step * STEP, step * STEP + 0.05, 100)
    seq.total_time = 16 * STEP
    want = sorted((n.start_time, n.pitch) for n in MusicVAE(models["tap2drum"]).groove(seq).notes)
    bar1, bar2, bar3 = (_bar(b) for b in (1, 2, 3))
    got = sorted((x, p) for _, p, _, x in sink.clocked(9) if bar1 - 1.5 <= x < bar2 - 1.5)
    assert hits == len(want) == len(got) > 0, (got, want)
    assert [p for _, p in got] == [p for _, p in want] or sorted(p for _, p in got) == sorted(p for _, p in want)
    nominal = BEAT / 24
    for (x, p), (start, _) in zip(got, want):
        assert sink.near_tick(x, bar1 + start / nominal), (x, p, start)
    # no taps in bar 2: bar 3 repeats the groove, at the same places
    held = sorted((x, p) for _, p, _, x in sink.clocked(9) if bar2 - 1.5 <= x < bar3 - 1.5)
    # (hits a fraction of a millisecond apart may arrive in one JACK cycle in one bar and in two in the other)
    assert [p for _, p in held] == [p for _, p in got] or sorted(p for _, p in held) == sorted(p for _, p in got)
    for (x, p), (start, _) in zip(held, want):
        assert sink.near_tick(x, bar2 + start / nominal), (x, p, start)


def test_jam_vae_moves_from_a_to_b_and_stops(models, midi_ports, private_jack, tmp_path):
    from tonehost.exports.convert.music_vae_standins import random_sequences
    from tonehost.realtime.pipelines.music_vae import MusicVAE

    feeder, sink = midi_ports
    rng = np.random.default_rng(1)
    a, b = random_sequences("mel_2bar_small", rng, n=2)
    pa, pb = tmp_path / "a.mid", tmp_path / "b.mid"
    a.unquantize().to_midi(pa)
    b.unquantize().to_midi(pb)
    proc, lines = _launch(["jam", "--vae", pa, pb, "--bars", 4, "--checkpoint", models["vae"], "--sound", "none",
                           "--midi-out", "sink:notes", "--temperature", 0, "--qpm", QPM, "--count-in", 2, "--duration", 30],
                          private_jack.env)
    try:
        assert sink.wait_start(90, proc) is not None, lines.text()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = lines.text()
    assert proc.returncode == 0, err
    assert "window 1/2" in err and "window 2/2" in err and "windows late 0" in err, err
    m = re.search(r"jammed ([\d.]+) s", err)
    assert m and float(m.group(1)) < 15, err                  # ended by itself after 4 bars, not --duration
    vae = MusicVAE(models["vae"])
    want = []
    for w, seq in enumerate(vae.interpolate([NoteSequence_from(pa), NoteSequence_from(pb)], 2)):
        want += [(w * 32 + n.quantized_start_step, n.pitch) for n in seq.notes]
    got = [(round((x - _bar(0)) / 6), p) for _, p, _, x in sink.clocked(0)]   # steps from bar 0
    assert got == sorted(want, key=lambda x: x[0]) or sorted(got) == sorted(want), (got, want)


def NoteSequence_from(path):
    from tonehost.exports.note_sequence import NoteSequence

    return NoteSequence.from_midi(path).quantize(4)
