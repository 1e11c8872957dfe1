"""MIDI for live sessions: a parser that never stops the instrument, files other users can read, takes that
start at their first note and survive SIGKILL (journal + ``--recover``), ports listed and named honestly.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import mido
import pytest

from tonehost.exports.errors import DeviceError, UsageError
from tonehost.realtime.midi.input import MidiParser, MidiVoice
from tonehost.realtime.midi.output import (MidiFileWriter, journal_path, recover_take, write_midi_atomic,
                                           write_notes_tsv)

ON_LINE = re.compile(r"^\s*([\d.]+) s\s+on\s+\S+\s+\(\s*(\d+)\)\s+vel\s+(\d+)")


def _parse(*packets):
    got = []
    p = MidiParser(lambda status, data: got.append((status, *data)))
    for packet in packets:
        p.feed(packet)
    return got, p


# ------------------------------------------------------------------------------------------------- parser

def test_running_status_within_and_across_packets():
    got, _ = _parse([0x90, 60, 100, 62, 90], [64, 80], [0x80, 60, 0, 62, 0])
    assert got == [(0x90, 60, 100), (0x90, 62, 90), (0x90, 64, 80), (0x80, 60, 0), (0x80, 62, 0)]


def test_sysex_is_skipped_whole_even_across_packets_and_unterminated():
    got, _ = _parse([0xF0, 0x7E, 0x7F, 0x09], [0x01, 0x02, 0xF7, 0x90, 60, 100])
    assert got == [(0x90, 60, 100)]
    got, _ = _parse([0xF0, 1, 2, 3], [0x90, 61, 90])        # a status byte ends an unterminated SysEx
    assert got == [(0x90, 61, 90)]
    got, _ = _parse([0x90, 60], [0xF0, 1, 0xF7], [62, 100])  # SysEx cancels running status: 62 100 is stray
    assert got == []


def test_truncated_stray_realtime_and_out_of_range_bytes_never_raise():
    got, p = _parse([0x90, 60], [0x80, 60, 0], [5, 6, 7], [0x90, 0xF8, 64, 0xFE, 100], [300, -1, "x", None],
                    [0xF3, 1], [0xE0, 0, 64], [0xC0, 5], [0xB0, 123, 0])
    # [5, 6, 7] runs on the note-off status (5 6 is a message, 7 is cut short by the next status byte)
    assert got == [(0x80, 60, 0), (0x80, 5, 6), (0x90, 64, 100), (0xE0, 0, 64), (0xC0, 5), (0xB0, 123, 0)]
    assert p.dropped >= 5


def test_malformed_input_keeps_the_voice_playing():
    voice = MidiVoice(portamento_s=0.0)
    p = MidiParser(lambda s, d: voice.handle(p.message(s, d)))
    p.feed([0x90, 69, 100])
    for junk in ([0xF0, 1, 2], [0x91], [0x90, 200, 200], [0xFF], [0xF7], [0x80], [7] * 50, [0xB0, 64]):
        p.feed(junk)
    f0, db, voiced = voice(0.01)
    assert voiced and f0 == pytest.approx(440.0)
    p.feed([0x80, 69, 0])
    assert voice(0.01)[2] is False


# ----------------------------------------------------------------------------------------- files and takes

@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_midi_and_tsv_files_get_the_umask_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_midi_atomic(tmp_path / "a.mid", [(0.0, 1.0, 60, 80)])
        write_notes_tsv(tmp_path / "a.tsv", [(0.0, 1.0, 60, 80)])
        MidiFileWriter(tmp_path / "take.mid").close()
    finally:
        os.umask(old)
    for name in ("a.mid", "a.tsv", "take.mid"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_a_take_starts_at_its_first_note_with_optional_lead_in(tmp_path):
    for lead, first in ((0.0, 0.0), (2.0, 2.0), (20.0, 12.3)):
        path = tmp_path / f"take{lead}.mid"
        w = MidiFileWriter(path, start="first_note", lead_in=lead)
        w.note_on(60, 80, 12.3)
        w.note_off(60, 13.0)
        w.close(14.0)
        mf = mido.MidiFile(path)
        t, ons = 0.0, []
        for m in mf:
            t += m.time
            if m.type == "note_on":
                ons.append(round(t, 3))
        assert ons == [pytest.approx(first, abs=2e-3)], (lead, ons)
        assert w.origin == pytest.approx(12.3 - first)


def test_journal_rebuilds_a_killed_take_with_its_sounding_notes(tmp_path):
    path = tmp_path / "take.mid"
    w = MidiFileWriter(path, start="first_note")
    w.note_on(60, 80, 5.0)
    w.note_on(64, 70, 5.5)
    w.note_off(60, 6.0)
    w.note_on(67, 90, 6.5)
    w.mark(7.25)
    # "SIGKILL" here: no close(). The MIDI file holds only the finished note; the journal holds them all.
    assert len([m for m in mido.MidiFile(path) if m.type == "note_on"]) == 1
    assert journal_path(path).is_file()
    with open(journal_path(path), "a") as f:
        f.write("on 7.3 7")            # the line the kill cut short
    rec = recover_take(path)
    assert rec.closed == 2 and not journal_path(path).exists()
    assert rec.notes == [(0.0, 1.0, 60, 80), (0.5, 2.25, 64, 70), (1.5, 2.25, 67, 90)]
    mf_notes = []
    t = 0.0
    for m in mido.MidiFile(path):
        t += m.time
        if m.type == "note_on":
            mf_notes.append((round(t, 3), m.note, m.velocity))
    assert mf_notes == [(0.0, 60, 80), (0.5, 64, 70), (1.5, 67, 90)]
    with pytest.raises(UsageError, match="no journal"):
        recover_take(path)


def test_a_closed_take_leaves_no_journal(tmp_path):
    w = MidiFileWriter(tmp_path / "t.mid")
    w.note_on(60, 80, 0.1)
    w.close(1.0)
    assert not journal_path(tmp_path / "t.mid").exists()


def test_sigkilled_live_take_is_recovered_with_every_printed_note(tmp_path, data_dir):
    """The issue's case: SIGKILL mid-take used to keep 14 of 17 printed notes (the sounding ones were lost)."""
    take = tmp_path / "take.mid"
    wav = data_dir / "piano" / "FMP_C1_F12_Bach_BWV846_Sibelius-Tracks.wav"
    proc = subprocess.Popen([sys.executable, "-m", "tonehost", "transcribe", "--live", "--input-file", str(wav),
                             "-o", str(take)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed = []
    try:
        deadline = time.monotonic() + 120
        while len(printed) < 12 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            m = ON_LINE.match(line)
            if m:
                printed.append((float(m.group(1)), int(m.group(2)), int(m.group(3))))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(printed) == 12, proc.stderr.read()
    before = len([m for m in mido.MidiFile(take) if m.type == "note_on" and m.velocity > 0])
    assert journal_path(take).is_file()
    r = subprocess.run([sys.executable, "-m", "tonehost", "transcribe", "--recover", str(take)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"recovered (\d+) notes \((\d+) still sounding", r.stdout), r.stdout
    t, notes = 0.0, []
    for m in mido.MidiFile(take):
        t += m.time
        if m.type == "note_on" and m.velocity > 0:
            notes.append((round(t, 4), m.note, m.velocity))
    assert before <= len(printed) <= len(notes)   # the file had only the finished notes; now it has them all
    # every printed note is in the file with its onset (--input-file keeps the file's own times)
    for onset, pitch, vel in printed:
        assert any(abs(o - onset) < 2e-3 and p == pitch and v == vel for o, p, v in notes), (onset, pitch, notes)


def test_next_live_start_recovers_a_leftover_journal_into_a_sibling(tmp_path, data_dir):
    take = tmp_path / "take.mid"
    w = MidiFileWriter(take, start="first_note")
    w.note_on(60, 80, 1.0)
    w.mark(2.0)
    del w  # killed
    r = subprocess.run([sys.executable, "-m", "tonehost", "transcribe", "--live", "--input-file",
                        str(data_dir / "piano" / "stereo_sample.wav"), "-o", str(take), "-q", "--seconds", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    m = re.search(r"recovered 1 note into (\S+)", r.stderr)  # ("1 notes" before)
    assert m, r.stderr
    sibling = tmp_path / os.path.basename(m.group(1))
    assert sibling.name.startswith("take-recovered-") and sibling.suffix == ".mid"
    assert [(x.note, x.velocity) for x in mido.MidiFile(sibling) if x.type == "note_on"] == [(60, 80)]
    assert not journal_path(take).exists()


# ------------------------------------------------------------------------------------------------ ports

def test_no_midi_system_is_one_clear_error(monkeypatch):
    from tonehost.realtime.midi import ports

    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"tonehost-none-{os.getpid()}")
    monkeypatch.setattr(ports, "_alsa_sequencer", lambda: False)
    with pytest.raises(DeviceError, match=r"no MIDI system .*modprobe snd-seq.*start JACK"):
        ports.open_port("input", "keys")
    with pytest.raises(DeviceError, match=r"no MIDI output number 99; available: none .*devices --midi"):
        ports.open_port("output", "99")


@pytest.fixture
def jack_midi_feeder(private_jack):
    """A JACK MIDI output port another program offers (a keyboard): ``feeder:keys``."""
    import rtmidi

    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="feeder")
    out.open_virtual_port("keys")
    yield out
    out.close_port()
    out.delete()


class _Heard:
    """A voice that records what the MIDI input hands it: ``(type, note, velocity, time)``."""

    def __init__(self):
        self.got = []

    def handle(self, msg):
        self.got.append((msg.type, msg.note, msg.velocity, msg.time))


def _hog_gil(seconds: float) -> None:
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:   # pure Python: holds the GIL but for the interpreter's switch interval
        x += 1


def test_on_off_pairs_in_one_jack_cycle_arrive_once_each_in_order(jack_midi_feeder, private_jack):
    """A note-on and its note-off sent together land in one JACK period (2.7 ms). Each must arrive once, in order,
    with the same arrival time: the very first pair (once delivered as the note-on twice), pairs later on, bursts
    of pairs, and pairs sent while another thread holds the GIL (an rtmidi callback then outlasts the period)."""
    import threading

    from tonehost.realtime.midi.input import open_midi_input
    from tonehost.realtime.pipelines.listen import MidiRecorder, SampleClock

    heard = _Heard()
    clock = SampleClock(48000)
    recorder = MidiRecorder(clock, also=heard.handle)
    port = open_midi_input("feeder:keys", recorder)
    send = jack_midi_feeder.send_message
    sent = []
    send_gap = {}

    def pair(note):
        t0 = time.perf_counter()
        send([0x90, note, 100])
        send([0x80, note, 0])
        # how far apart the two sends were: on a loaded machine (or while the hog holds the GIL) this thread can
        # be held between them, and the pair then spans more JACK cycles than the one boundary it may straddle
        send_gap[note] = time.perf_counter() - t0
        sent.extend([("note_on", note, 100), ("note_off", note, 0)])

    try:
        time.sleep(0.3)                              # connected
        clock.mark(0)
        pair(60)                                     # the very first pair
        time.sleep(0.05)
        for note in (62, 64):
            pair(note)
            time.sleep(0.05)
        for note in (65, 67, 69, 71):                # a burst: four pairs in one period
            pair(note)
        time.sleep(0.05)
        hog = threading.Thread(target=_hog_gil, args=(1.0,))
        hog.start()
        time.sleep(0.05)
        for note in (72, 74, 76):                    # while the GIL is busy elsewhere
            pair(note)
            time.sleep(0.1)
        hog.join()
        deadline = time.monotonic() + 10      # the reader drains its queue; on a loaded machine that may take a while
        while len(heard.got) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)                       # and nothing more (no duplicate) arrives after the last
    finally:
        port.close()
    assert [g[:3] for g in heard.got] == sent, heard.got
    assert port.messages == len(sent) and port.parser.dropped == 0
    ons = {n: t for kind, n, _, t in heard.got if kind == "note_on"}
    offs = {n: t for kind, n, _, t in heard.got if kind == "note_off"}
    # one cycle (2.7 ms) apart at most, plus however long the sender was held between the two sends
    assert all(0 <= offs[n] - ons[n] < 0.003 + send_gap[n] for n in ons), (ons, offs, send_gap)
    events = recorder.events(10 ** 9)
    assert [(e.kind, e.pitch) for e in events] == [("on" if k == "note_on" else "off", n) for k, n, _ in sent]
    samples = [e.sample for e in events]
    assert samples == sorted(samples)


class _FakeQueue:
    """rtmidi's queue mode as either backend fills it: ``get_message() -> (bytes, delta seconds)`` or None."""

    def __init__(self):
        import collections

        self.items = collections.deque()
        self.ignored = None

    def ignore_types(self, sysex, timing, active_sense):
        self.ignored = (sysex, timing, active_sense)

    def get_message(self):
        try:
            return self.items.popleft()
        except IndexError:
            return None


def test_queue_reader_keeps_order_and_spacing_of_every_packet():
    """The reading side of both backends (ALSA and JACK fill the same rtmidi queue): every packet once, in order,
    timed by the delta stamps (a note-on and its note-off 0.2 ms apart stay 0.2 ms apart, whenever the poll ran),
    real-time and SysEx bytes reach the parser (rtmidi filters nothing: its JACK stamps skip filtered messages)."""
    from tonehost.realtime.midi.input import MidiInput

    class Port:
        name, system, created = "keys", "ALSA", False
        rt = _FakeQueue()
        closed = False

        def describe(self):
            return "ALSA MIDI port keys"

        def close(self, abandon=False):
            Port.closed = True

    heard = _Heard()
    port = MidiInput(Port(), heard, poll_s=0.0005)
    port.reader.stop()                      # poll by hand: the test decides what each poll finds
    assert Port.rt.ignored == (False, False, False)
    # packets: [note-on, clock, note-off] 0.2 ms apart, then 50 ms later a SysEx and a second pair in one packet
    for data, delta in (([0x90, 60, 100], 0.0), ([0xF8], 0.0001), ([0x80, 60, 0], 0.0001),
                        ([0xF0, 1, 2, 0xF7], 0.05), ([0x90, 62, 90, 0x80, 62, 0], 0.0)):
        Port.rt.items.append((data, delta))
    port.reader.poll()
    Port.rt.items.append(([0x90, 64, 80], 0.01))
    time.sleep(0.03)                        # this poll is 30 ms late: the time stays the stamped 10 ms later
    port.reader.poll()
    got = [(k, n) for k, n, _, _ in heard.got]
    assert got == [("note_on", 60), ("note_off", 60), ("note_on", 62), ("note_off", 62), ("note_on", 64)]
    t = [g[3] for g in heard.got]
    assert t[1] - t[0] == pytest.approx(0.0002, abs=1e-9) and t[2] - t[0] == pytest.approx(0.0502, abs=1e-9)
    assert t[3] == t[2] and t[4] - t[2] == pytest.approx(0.01, abs=1e-9) and t == sorted(t)
    assert port.reader.packets == 6 and port.parser.dropped == 0
    port.close()
    assert Port.closed


def test_devices_midi_lists_jack_midi_ports_and_index_errors(jack_midi_feeder, private_jack):
    r = subprocess.run([sys.executable, "-m", "tonehost", "devices", "--midi"], capture_output=True, text=True,
                       timeout=60, env=private_jack.env)
    assert r.returncode == 0, r.stderr
    m = re.search(r"^\s+(\d+)\s+feeder:keys\s+JACK$", r.stdout, re.M)
    assert m and r.stdout.index("MIDI inputs") < m.start() < r.stdout.index("MIDI outputs"), r.stdout
    if not os.path.exists("/dev/snd/seq"):
        assert "no ALSA sequencer" in r.stdout
    assert r.stderr == ""       # nothing from ALSA or libjack
    from tonehost.realtime.midi.output import MidiPortOut

    with pytest.raises(DeviceError, match=r"no MIDI output number 99; available: .*devices --midi"):
        MidiPortOut("99")


def test_midi_out_creates_an_honestly_named_port_and_keeps_the_audio_client_name(private_jack):
    """--midi-out NAME without ALSA: a JACK MIDI port tonehost-midi:NAME, said as such; the audio client stays
    ``tonehost`` (scripts connect to tonehost:in_0)."""
    from tonehost.realtime.testing import jack

    before = set(jack.ports().split())
    proc = subprocess.Popen([sys.executable, "-m", "tonehost", "transcribe", "--live", "--midi-out", "pianoroll",
                             "--seconds", "10"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=private_jack.env)
    try:
        port = jack.wait_new_port(r"tonehost[^:]*:in_0$", before, timeout=90, alive=lambda: proc.poll() is None)
        midi = [p for p in jack.ports().split() if p.endswith(":pianoroll")]
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert port == "tonehost:in_0", (port, err)
    assert midi and midi[0].startswith("tonehost-midi"), midi
    assert re.search(rf"MIDI out: (ALSA|JACK) MIDI port {re.escape(midi[0])} \(created; connect to it\)", err), err
    assert "virtual" not in err and "ALSA lib" not in err


def test_play_from_malformed_midi_keeps_playing(jack_midi_feeder, private_jack, tmp_path):
    """Running status, SysEx, truncated and stray bytes on --midi-in: the instrument plays on and stops cleanly."""
    from tonehost.realtime.testing.models import make_random_controls_onnx
    from tonehost.realtime.testing.proc import Lines

    model = make_random_controls_onnx(tmp_path / "inst.onnx")
    proc = subprocess.Popen([sys.executable, "-m", "tonehost", "play", "--checkpoint", str(model), "--midi-in",
                             "feeder:keys", "--duration", "6"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=private_jack.env)
    lines = Lines(proc.stderr)
    try:
        assert lines.wait_for(r"^playing ", proc=proc), lines.text()   # started, connected to feeder:keys
        send = jack_midi_feeder.send_message
        for msg in ([0xF0, 0x7E, 0x7F, 0x06, 0x01], [0x90, 69], [5, 6], [0xF0, 1, 2, 3, 0xF7], [0x90, 57, 100],
                    [69, 110], [0xFE], [0xF3, 1], [0x85], [0x90, 69, 100]):
            send(msg)
            time.sleep(0.05)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = lines.text()
    assert proc.returncode == 0, err
    assert "MIDI in: JACK MIDI port feeder:keys" in err, err
    status = [l for l in err.splitlines() if l.startswith("in ")]
    assert status, err
    last = status[-1]
    assert float(re.search(r"out\s+(-?[\d.]+) dB", last).group(1)) > -40.0, last   # still sounding
    assert "Traceback" not in err and re.search(r"played [\d.]+ s \(stopped\)", err), err


def test_midi_bytes_equal_mido_and_long_takes_stay_cheap(tmp_path):
    """The soak found live takes slowing down: every note rewrote the whole file through mido objects on the
    transcribing thread (1500 notes: 194 s, +1.6 MB RSS per 1000 notes). The direct encoder gives mido's bytes;
    with ``rewrite_every_s`` note-offs only mark the file, and flush() rewrites it from the caller's clock."""
    import io
    import random

    from tonehost.realtime.midi.output import notes_to_midi, notes_to_midi_bytes

    rng = random.Random(3)
    for trial in range(20):
        notes = [(t, t + rng.choice([0.0, 1e-4, rng.uniform(0, 3)]), rng.randint(0, 127), rng.randint(-5, 140))
                 for t in (round(rng.uniform(0, 60), trial % 3) for _ in range(rng.randint(0, 200)))]
        buf = io.BytesIO()
        notes_to_midi(notes, program=trial).save(file=buf)
        assert notes_to_midi_bytes(notes, program=trial) == buf.getvalue()
    w = MidiFileWriter(tmp_path / "long.mid", rewrite_every_s=3600)
    t0 = time.thread_time()                         # this thread's CPU: a loaded machine's waits do not count
    for i in range(2000):
        w.note_on(40 + i % 40, 80, i * 0.1)
        w.note_off(40 + i % 40, i * 0.1 + 0.05)
    assert time.thread_time() - t0 < 2.0           # no rewrite on the calling thread
    assert len(mido.MidiFile(tmp_path / "long.mid").tracks[0]) < 5   # still the empty take on disk
    assert w.flush(force=True) and not w.flush(force=True)
    assert len([m for m in mido.MidiFile(tmp_path / "long.mid") if m.type == "note_on"]) == 2000


def test_a_growing_take_is_encoded_once_and_equals_the_whole_file(tmp_path):
    """A rewrite re-encodes only the last seconds; the file equals notes_to_midi_bytes of all notes, byte for
    byte, whatever the start, lead-in, rewrite schedule; with keep_notes=False nothing grows with the take."""
    import random

    from tonehost.realtime.midi.output import notes_to_midi_bytes

    rng = random.Random(5)
    for trial in range(30):
        path = tmp_path / f"inc{trial}.mid"
        w = MidiFileWriter(path, start=rng.choice([0.0, "first_note"]), lead_in=rng.choice([0.0, 1.5]),
                           journal=False, rewrite_every_s=rng.choice([0.0, 1e9]))
        t = rng.uniform(0, 5)
        for _ in range(rng.randint(0, 400)):
            t += rng.choice([0.0, 0.032, 0.064, rng.uniform(0, 0.5)])
            p = rng.randint(21, 108)
            if rng.random() < 0.55:
                w.note_on(p, rng.randint(1, 127), round(t / 0.032) * 0.032)
            else:
                w.note_off(p, round(t / 0.032) * 0.032)
            if rng.random() < 0.05:
                w.flush(force=True)
        w.close(t + 1)
        assert path.read_bytes() == notes_to_midi_bytes(w.shifted(w.notes)), trial
    w = MidiFileWriter(tmp_path / "long.mid", journal=False, rewrite_every_s=1e9, keep_notes=False)
    for i in range(20000):
        w.note_on(40 + i % 40, 80, i * 0.1)
        w.note_off(40 + i % 40, i * 0.1 + 0.05)
    assert w.notes == [] and w.n_notes == 20000 and len(w._track.pending) <= 1024
    assert len(w._track.done) < 8 * 20000      # bytes only: a few per event
