"""tap2drum streamed: the encoder's forward pass advanced while the window is played, the decoder one step at a time
with each step's hits scheduled as soon as it is decoded -- and the same notes as ``MusicVAE.groove``, bit for bit.

The live timing (time to the first step against its half-step budget, late hits under real-time pacing) is
``bench/jam_timing.py``'s; the JACK test (``test_jam_jack.py``) runs the command end to end.
"""
from __future__ import annotations

import collections
import time

import numpy as np
import pytest

from tonehost.exports.note_sequence import NoteSequence, Tempo
from tonehost.realtime.pipelines.jam import DRUMS, LiveSession, Result, TapToDrums
from tonehost.realtime.pipelines.listen import PlayedEvent, ReplayRecorder
from tonehost.realtime.pipelines.music_vae import MusicVAE

SR = 48000
BLOCK = 128


@pytest.fixture(scope="module")
def tap_models(tmp_path_factory):
    from tonehost.exports.convert.music_vae_standins import write_standin

    root = tmp_path_factory.mktemp("tap2drum")
    # hosted widths: the standins' weights are random, their cost and arithmetic are the real ones
    return {n: MusicVAE(write_standin(root / f"tap2drum_{n}bar", f"tap2drum_{n}bar", scale=False, seed=n), seed=0)
            for n in (1, 2, 4)}


def _notes(seq: NoteSequence):
    return [(n.pitch, n.start_time, n.end_time, n.velocity, n.is_drum) for n in seq.notes]


def _taps(rng, steps: int, qpm: float, n: int) -> NoteSequence:
    step = 15.0 / qpm
    seq = NoteSequence(tempos=[Tempo(0.0, qpm)])
    for k in sorted(rng.choice(steps, size=n, replace=False)):
        t = max(0.0, (k + rng.uniform(-0.45, 0.45)) * step)
        seq.add_note(38, t, t + 0.05, int(rng.integers(40, 127)))
    seq.total_time = steps * step
    return seq


def _batch_groove(vae: MusicVAE, seq: NoteSequence, temperature, rng) -> NoteSequence:
    """``groove`` as it was before the stream: encode every window, decode them whole, place the notes."""
    from tonehost.realtime.pipelines.music_vae import _place_window_notes

    g = vae._groove_windows(seq)
    outs = vae.decode(vae.encode_tensors(g.x), temperature, qpm=g.qpm, rng=rng)
    result = NoteSequence(tempos=[Tempo(0.0, g.qpm)], total_time=g.total_steps * g.step_len)
    for k, o in enumerate(outs):
        result.notes.extend(_place_window_notes(o.notes, k * g.n * g.step_len, g.total_steps * g.step_len))
    return result


@pytest.mark.parametrize("bars", [1, 2, 4])
def test_groove_stream_is_the_whole_window_decode_bit_for_bit(tap_models, bars):
    vae = tap_models[bars]
    rng = np.random.default_rng(bars)
    for windows, temperature, qpm in ((1, None, 120.0), (1, 0.8, 97.0), (3, None, 150.0), (2, 1.0, 120.0)):
        seq = _taps(rng, windows * vae.num_steps, qpm, 5 * windows * bars)
        want = _batch_groove(vae, seq, temperature, np.random.default_rng(7))
        stream = vae.groove_stream(seq, temperature, np.random.default_rng(7))
        per_step = []
        while not stream.done:
            per_step.append(stream.next())
        got = stream.result()
        assert _notes(got) == _notes(want) and got.total_time == want.total_time
        assert len(per_step) == vae.num_steps and len(want.notes) > 0
        # each step's notes belong to that step: never earlier than half a step before it
        for t, step_notes in enumerate(per_step):
            for w, notes in enumerate(step_notes):
                for n in notes:
                    assert n.start_time >= (w * vae.num_steps + t - 0.5) * stream.step_length - 1e-9 or t == 0
        assert _notes(vae.groove(seq, temperature, np.random.default_rng(7))) == _notes(want)


def test_streamed_encoder_gives_the_encoders_z_bit_for_bit(tap_models):
    vae = tap_models[4]
    rng = np.random.default_rng(3)
    T, D = vae.num_steps, vae.arch.input_depth
    for trial in range(4):
        x = ((rng.random((1, T, D)) < 0.15) * rng.standard_normal((1, T, D))).astype(np.float32)
        want = vae.encode_tensors(x)
        enc = vae.streamed_encoder()
        cut = int(rng.integers(0, T))
        for a, b in ((0, cut // 2), (cut // 2, cut)):  # rows fed in pieces as they become final
            enc.feed(x[:, a:b])
        if trial == 3:  # a row fed earlier changed: finish starts the forward pass over
            x[0, max(cut - 1, 0), 0] += 1.0
            want = vae.encode_tensors(x)
        z = enc.finish(x)
        assert np.array_equal(z, want), trial
        assert enc.refeeds == (1 if trial == 3 and cut > 0 else 0)
    # a speculation: z of the input as it stands, returned by finish when nothing changed, ignored otherwise
    x = ((rng.random((1, T, D)) < 0.15) * rng.standard_normal((1, T, D))).astype(np.float32)
    for changed in (False, True):
        enc = vae.streamed_encoder()
        enc.feed(x[:, :T - 1])
        assert np.array_equal(enc.speculate(x), vae.encode_tensors(x)) and enc.rows == T - 1
        y = x.copy()
        if changed:
            y[0, T - 1, 3] = 1.0
        assert np.array_equal(enc.finish(y), vae.encode_tensors(y))
        assert enc.speculated == (0 if changed else 1) and enc.refeeds == 0


class InlineGenerator:
    """The generator thread made synchronous: a job runs inside ``submit`` (the test then knows exactly when)."""

    def __init__(self):
        self.done = collections.deque()
        self.jobs = []

    def submit(self, tag, fn, *args):
        self.jobs.append(tag)
        t0 = time.perf_counter()
        try:
            value, error = fn(*args), None
        except BaseException as exc:  # noqa: BLE001
            value, error = None, exc
        self.done.append(Result(tag, value, error, t0, t0, time.perf_counter()))

    def results(self):
        out = list(self.done)
        self.done.clear()
        return out

    def close(self, timeout=2.0):
        pass


@pytest.mark.parametrize("bars,last", [(1, -0.2), (2, -0.2), (4, -0.2), (1, 0.3), (4, 0.3)])
def test_tap2drum_streams_the_grooves_notes_in_time(tap_models, bars, last):
    """Taps in window 0 (one on its last step: early, or late after the speculative z), none in window 1:
    window 1 plays the groove of window 0's taps, each hit on the sample ``MusicVAE.groove`` puts it at, none
    dropped; window 2 repeats it (hold)."""
    vae = tap_models[bars]
    qpm = 120.0
    s = LiveSession(SR, qpm, count_in_bars=1, click="off")
    part = TapToDrums(vae, seed=0)
    assert part.streamed
    part.gen = InlineGenerator()
    s.add_part(part)
    g = s.grid
    T = vae.num_steps
    steps = [0, 3, 6, 8, 11, T - 1]
    jitter = [0.0, 0.2, -0.3, 0.1, 0.4, last]
    taps = [g.origin + int(round((k + j) * g.step_samples)) for k, j in zip(steps, jitter)]
    s.recorder = ReplayRecorder([PlayedEvent("on", 38, 100, t) for t in taps] +
                                [PlayedEvent("off", 38, 0, t + 1000) for t in taps])
    hits = []
    original = s._apply
    s._apply = lambda e: (hits.append(e) if e.kind == "on" and e.voice == DRUMS else None, original(e))
    end = part.window_line(g, 3) + int(g.step_samples)
    x = np.zeros(BLOCK, np.float32)
    while s.pos < end:
        s.process(x)
    st = s.stats()
    assert st["groove_windows"] == 1 and st["groove_windows_late"] == 0 and st["groove_hits_dropped"] == 0
    assert st["groove_held"] >= 1 and s.late_events == 0
    # the forward pass was fed row by row while window 0 was played: at the close only the last row was left
    feeds = [t for t in part.gen.jobs if isinstance(t, tuple) and t[1] == 0]
    assert len(feeds) == T - 1
    # what the library makes of the same taps
    seq = part._seq([(t, 100) for t in taps], g.origin, SR, qpm)
    want = vae.groove(seq, rng=np.random.default_rng(0))
    assert want.notes
    line1, line2 = part.window_line(g, 1), part.window_line(g, 2)
    expect = sorted((line1 + int(round(n.start_time * SR)), n.pitch, n.velocity) for n in want.notes)
    got = sorted((e.sample, e.pitch, e.velocity) for e in hits if e.sample < line2)
    assert got == expect
    held = sorted((e.sample - (line2 - line1), e.pitch, e.velocity) for e in hits
                  if line2 <= e.sample < part.window_line(g, 3))
    assert held == expect
    w0 = part.windows[0]
    assert w0["first_budget_ms"] > 0 and "first_ms" in w0 and w0["margin_ms"] <= w0["first_budget_ms"]
    # half a step before the close z was computed from the taps so far: used unless the last tap came after it
    assert w0["speculated"] == (last < 0) and w0["refeeds"] == 0
