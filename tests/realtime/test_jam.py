"""The live partner's pipeline without a sound card: LiveSession driven block by block as the audio worker does.

What the JACK tests cannot force: a generation that comes back late (counted, the answer moved a bar, the worker
never waiting), the phrase-to-primer rules, the hum and tap listeners on known signals, FluidSynth in the engine.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from tonehost.realtime.pipelines.jam import (DRUMS, MELODY, CallAndResponse, Grid, LiveSession, Schedule,
                                             prepare_melody)
from tonehost.realtime.pipelines.listen import (HumListener, PlayedEvent, ReplayRecorder, SampleClock,
                                               TapListener)

SR = 48000
BLOCK = 128


@pytest.fixture(scope="module")
def melody_model(tmp_path_factory):
    from tonehost.exports.convert.music_rnn import write_random_checkpoint
    from tonehost.realtime.pipelines.music_rnn import MusicRNN

    return MusicRNN(write_random_checkpoint(tmp_path_factory.mktemp("jam") / "basic_rnn", "basic_rnn", seed=1,
                                            layers=(16, 16)))


def _phrase(g: Grid, pitches, bar=0):
    ev = []
    for i, p in enumerate(pitches):
        a = g.sample_of_step(bar * 16 + 4 * i)
        ev += [PlayedEvent("on", p, 80, a), PlayedEvent("off", p, 0, a + int(0.3 * SR))]
    return ev


def _run(session, seconds, applied):
    """Blocks at the pace of a sound card (the generator thread works in real time); returns each block's cost."""
    original = session._apply
    session._apply = lambda e: (applied.append(e), original(e))
    costs = []
    t0 = time.perf_counter()
    for k in range(int(seconds * SR / BLOCK)):
        wait = t0 + k * BLOCK / SR - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        t = time.perf_counter()
        session.process(np.zeros(BLOCK, np.float32))
        costs.append(time.perf_counter() - t)
    return costs


def test_grid_and_schedule():
    g = Grid(SR, 120.0, origin=1000)
    assert g.step_samples == 6000 and g.bar_samples == 96000
    assert g.bar_start(1) == 97000 and g.bar_at(96999) == 0 and g.next_bar_start(1001) == 97000
    assert g.next_bar_start(97000) == 97000 and g.bar_start(-1) == 1000 - 96000
    s = Schedule()
    s.note(10, 20, 60, 90)
    s.note(20, 30, 60, 90)
    ev = s.due(21)
    assert [(e.sample, e.kind) for e in ev] == [(10, "on"), (20, "off"), (20, "on")]   # off before on
    assert [e.kind for e in s.due(100)] == ["off"] and len(s) == 0


def test_prepare_melody_keeps_one_voice_in_range_and_says_the_shift():
    # a chord at beat 1 (highest kept), notes two octaves too low, one overlapping the next
    notes = [(0.0, 0.5, 24, 80), (0.0, 0.5, 28, 80), (0.5, 1.2, 31, 70), (1.0, 1.5, 26, 90)]
    q, shift = prepare_melody(notes, 120.0, 48, 83)
    assert shift == 2
    assert [(n.pitch, n.quantized_start_step, n.quantized_end_step) for n in q.notes] == \
        [(52, 0, 4), (55, 4, 8), (50, 8, 12)]
    assert q.total_quantized_steps == 12


def test_sample_clock_maps_wall_time_to_input_samples():
    c = SampleClock(SR)
    assert c.sample_at(5.0) is None
    c.mark(48000, t=10.0)           # a late wake-up: read 1 s of input 10 ms after it was there
    c.mark(96000, t=10.99)          # a prompt one
    assert c.sample_at(11.0) == 96480   # the prompt read defines the map


def test_answer_on_the_next_bar_in_range_shifted_back(melody_model):
    s = LiveSession(SR, 240.0, count_in_bars=1, click="off")
    part = CallAndResponse(melody_model, pause_beats=2, answer_bars=1, seed=3)
    s.add_part(part)
    g = s.grid
    s.recorder = ReplayRecorder(_phrase(g, [36, 38, 40, 41]))       # four quarter notes an octave below the range
    applied = []
    _run(s, g.origin / SR + 3.1, applied)
    assert part.stats()["answers"] == 1 and part.answers[0]["late"] is False
    # last note-off at beat 4 + 0.3 s (bar 0), 2 beats of pause -> detected in bar 1 (index), answer from bar 2
    a = part.answers[0]
    assert a["start"] == g.bar_start(2) and a["shift"] == 1 and a["margin_ms"] > 0
    ons = [e for e in applied if e.kind == "on" and e.voice == MELODY]
    assert len(ons) == a["notes"] > 0
    assert all(g.bar_start(2) <= e.sample < g.bar_start(3) for e in ons)
    assert all((e.sample - g.origin) % 3000 == 0 for e in ons)        # on the sixteenth grid
    assert all(36 <= e.pitch <= 71 for e in ons)                       # shifted back an octave
    s.stop()


def test_the_answer_is_drawn_during_the_pause_and_equals_the_continuation(melody_model):
    """The plan starts at the phrase's last note-off: its first step is ready before the pause is even confirmed,
    and what plays is exactly the model's continuation of the quantized phrase (same seed per answer)."""
    s = LiveSession(SR, 240.0, count_in_bars=1, click="off")
    part = CallAndResponse(melody_model, pause_beats=2, answer_bars=1, temperature=1.0, seed=5)
    s.add_part(part)
    g = s.grid
    played = _phrase(g, [60, 62, 64, 67, 65])
    s.recorder = ReplayRecorder(played)
    applied = []
    _run(s, g.origin / SR + 3.2, applied)
    a = part.answers[0]
    pause_ms = 2 * 250.0
    assert not a["late"] and a["late_steps"] == 0
    assert a["budget_ms"] >= pause_ms and a["first_step_ms"] < pause_ms and a["margin_ms"] > 0, a
    assert a["margin_cpu_ms"] >= a["margin_ms"] - 1.0
    notes = [((e.sample - g.origin) / SR, (f.sample - g.origin) / SR, e.pitch, e.velocity)
             for e, f in zip(played[::2], played[1::2])]
    primer, shift = prepare_melody(notes, g.qpm, 48, 83)
    want = CallAndResponse.generate(melody_model, primer, 16, 1.0, None, np.random.default_rng([5, 1]))
    base = g.step_at(a["start"])
    ons = [(round(g.step_at(e.sample) - base), e.pitch) for e in applied if e.kind == "on" and e.voice == MELODY]
    offs = [(round(g.step_at(e.sample) - base), e.pitch) for e in applied if e.kind == "off" and e.voice == MELODY]
    assert ons == [(a0, p - 12 * shift) for a0, _, p in want]
    assert sorted(offs) == sorted((b0, p - 12 * shift) for _, b0, p in want)
    s.stop()


def test_a_note_in_the_pause_cancels_the_plan_and_the_answer_takes_it_in(melody_model):
    s = LiveSession(SR, 240.0, count_in_bars=1, click="off")
    part = CallAndResponse(melody_model, pause_beats=2, answer_bars=1, seed=5)
    s.add_part(part)
    g = s.grid
    late_note = g.sample_of_step(14) + int(0.1 * SR)      # 0.35 s after the last note-off: inside the pause
    s.recorder = ReplayRecorder(_phrase(g, [60, 62, 64]) + [PlayedEvent("on", 67, 80, late_note),
                                                    PlayedEvent("off", 67, 0, late_note + 2000)])
    applied = []
    _run(s, g.origin / SR + 3.5, applied)
    a = part.answers[0]
    assert a["phrase_notes"] == 4 and not a["late"] and a["margin_ms"] > 0
    assert a["start"] == g.bar_start(2)                    # pause from the fourth note: detected in bar 1
    s.stop()


def test_a_late_generation_is_counted_moved_a_bar_and_never_waited_for(melody_model, monkeypatch):
    s = LiveSession(SR, 240.0, count_in_bars=1, click="off")
    part = CallAndResponse(melody_model, pause_beats=1, answer_bars=1, seed=3)
    slow = part.plan

    def plan(*args):
        time.sleep(1.5)  # from the last note-off (bar 0 + 0.8 s) past the bar line it is due on (bar 2, 2 s)
        return slow(*args)

    monkeypatch.setattr(part, "plan", plan)
    s.add_part(part)
    g = s.grid
    s.recorder = ReplayRecorder(_phrase(g, [60, 62, 64]))
    applied = []
    costs = _run(s, g.origin / SR + 4.2, applied)
    a = part.answers[0]
    assert a["late"] is True and part.stats()["answers_late"] == 1
    assert a["start"] == a["downbeat"] + g.bar_samples              # played from the following bar line
    ons = [e for e in applied if e.kind == "on" and e.voice == MELODY]
    assert ons and min(e.sample for e in ons) >= a["start"] and s.late_events == 0
    assert a["margin_ms"] < 0 and a["late_steps"] == 0
    assert max(costs) < 0.05, max(costs)                              # the worker never waited for it
    s.stop()


def test_hum_listener_finds_the_sung_notes_where_they_were_sung():
    from tonehost.dsp.features import voice_like

    f = np.concatenate([np.full(int(0.4 * SR), 220.0), np.zeros(int(0.2 * SR)), np.full(int(0.4 * SR), 329.63),
                        np.zeros(int(0.3 * SR))])
    x = voice_like(f, SR)
    h = HumListener(SR)
    ev = [e for i in range(0, len(x), BLOCK) for e in h.push(x[i:i + BLOCK])]
    assert [(e.kind, e.pitch) for e in ev] == [("on", 57), ("off", 57), ("on", 64), ("off", 64)]
    assert abs(ev[0].sample / SR - 0.0) < 0.02 and abs(ev[2].sample / SR - 0.6) < 0.02
    assert abs(ev[1].sample / SR - 0.4) < 0.05 and abs(ev[3].sample / SR - 1.0) < 0.05


def test_tap_listener_finds_claps_to_the_millisecond():
    rng = np.random.default_rng(0)
    y = 0.001 * rng.standard_normal(2 * SR)
    times = (0.25, 0.5, 0.875, 1.5)
    for t in times:
        k = int(t * SR)
        y[k:k + 2000] += 0.5 * rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300)
    tl = TapListener(SR)
    ons = [e for i in range(0, len(y), BLOCK) for e in tl.push(y[i:i + BLOCK]) if e.kind == "on"]
    assert len(ons) == len(times)
    assert all(abs(e.sample / SR - t) < 0.002 for e, t in zip(ons, times))


def test_fluidsynth_plays_drums_in_the_session():
    pytest.importorskip("fluidsynth")
    from tonehost.realtime.pipelines.fluid import FluidVoice, default_soundfont

    try:
        default_soundfont()
    except Exception:
        pytest.skip("no General MIDI soundfont installed")
    s = LiveSession(SR, 120.0, count_in_bars=0, click="off", lead_s=0.0)
    s.fluid = FluidVoice(SR)
    s.schedule.note(SR // 10, SR // 10 + 3000, 38, 110, DRUMS)
    out = np.concatenate([s.process(np.zeros(BLOCK, np.float32)) for _ in range(int(0.4 * SR / BLOCK))])
    onset = int(np.argmax(np.abs(out) > 0.01))
    assert np.max(np.abs(out[:SR // 10])) < 1e-3                       # silent before the hit
    assert abs(onset - SR // 10) < 0.005 * SR and np.max(np.abs(out)) > 0.05    # the snare, on its sample
    s.fluid.close()


@pytest.mark.parametrize("argv, message", [
    (["jam", "--listen", "midi"], "--listen midi needs --midi-in PORT"),
    (["jam", "--sound", "none"], "nothing would be heard"),
    (["jam", "--sound", "fluidsynth"], "--sound fluidsynth needs --fluidsynth"),
    (["tap2drum", "--fluidsynth"], "tap on a MIDI input .* or into the mic"),
    (["tap2drum", "--mic"], "nothing would play the groove"),
    (["tap2drum", "--mic", "--bars", "5"], "argument --bars: invalid choice"),
    (["jam", "--qpm", "0"], "argument --qpm: expected a number from 4 to 1000"),
])
def test_bad_use_is_one_line(argv, message, capsys):
    import re

    from tonehost.realtime.cli import main

    rc = main(argv)
    err = capsys.readouterr().err
    assert rc in (1, 2) and len(err.strip().splitlines()) == 1 and re.search(message, err), err


def test_drums_without_the_hosted_model_offline_is_one_line_naming_the_fix(tmp_path, monkeypatch, capsys):
    """tonehost ships no drums model: --drums offline without a fetched drum_kit_rnn says, in one line, how to get
    one (fetch it, or --drums-checkpoint DIR), before any audio starts."""
    from tonehost.realtime.cli import main

    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "empty-cache"))
    rc = main(["jam", "--drums", "--offline", "--duration", "1"])
    err = capsys.readouterr().err
    assert rc == 1 and len(err.strip().splitlines()) == 1, err
    assert "tonehost checkpoints fetch drum_kit_rnn" in err and "--drums-checkpoint DIR" in err, err
