"""``tonehost render --live`` gives what ``tonehost play`` plays: the same register and level for the same input.

A new-user trial found a 220 Hz tone played at 440 Hz (+1 oct) by ``play`` (jack_metro's tone, 219.887 Hz) and at
220 Hz (+0) by ``render --live`` (a 220.000 Hz sine), and the first note after silence 16 dB over the rest. The
causes, each covered here:

- the first phrase's register decision hung on a fraction of a cent: 220 Hz on the violin (top E6 = MIDI 88) has
  exactly the octave and a fifth of room above A4 the decision keeps, so a tracker reading 57.001 played at 220 Hz
  and one reading 56.993 at 440 Hz. The register now counts as its nearest note (README: +1, magenta.js's
  ``round((70.8 - 57) / 12)`` too);
- a note start heard before the tracker (the live instrument's onset path) went to the model unnormalised while no
  level statistic existed: the first note after silence started up to 20 dB loud;
- ``play`` measures its latency on one pipeline and plays another of the same instrument, and both stepped the
  same controls model: play's model started from the state the measurement left, render's from zero.

Remaining difference (not a fault): the filtered noise's random sequence runs from the stream's start, so two
streams that begin at different times differ in the noise of their attacks (relative error ~0.03-0.1 in the first
100 ms of a note, ~1e-4 inside it), as ``render --live`` itself does with more or less leading silence.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT
from tonehost.dsp.normalize import LiveNormalizer, NormalizerSettings
from tonehost.dsp.scheduled import ScheduledSynth
from tonehost.realtime.pipelines.instrument import DDSP
from tonehost.realtime.pipelines.live_voice import LiveInstrument, measure_live_latency
from tonehost.realtime.pipelines.offline import render_live_stream

SR = 48000
VIOLIN_NORM = NormalizerSettings(-48.6, -68.5, 70.8, -100.0, 55.0, 88.0)  # the shipped violin's, rounded


def tone(f0: float, seconds: float = 4.0, lead: float = 1.2, sr: int = SR) -> np.ndarray:
    """jack_metro's test tone (``-f F -A 0.3 -b 60 -D 950 -a 2 -d 2``): a 0.3 sine in 950 ms beats with 19 ms
    linear attack and decay and 50 ms gaps, after ``lead`` seconds of silence."""
    beat, on, ramp = sr, int(0.95 * sr), int(0.019 * sr)
    env1 = np.zeros(beat)
    env1[:on] = 1.0
    env1[:ramp] = np.arange(ramp) / ramp
    env1[on - ramp:on] = np.arange(ramp, 0, -1) / ramp
    n = int(seconds * sr)
    env = np.resize(env1, n)
    x = 0.3 * env * np.sin(2 * np.pi * f0 * np.arange(n) / sr)
    return np.concatenate([np.zeros(int(lead * sr)), x])


def fundamental(y: np.ndarray, sr: int = SR) -> float:
    """The output's pitch (Hz): the autocorrelation's highest peak between 80 and 1500 Hz."""
    y = np.asarray(y, np.float64)
    ac = np.correlate(y, y, "full")[len(y) - 1:]
    lo, hi = int(sr / 1500), int(sr / 80)
    return sr / (lo + int(np.argmax(ac[lo:hi])))


@pytest.mark.parametrize("f0", [219.887, 220.0, 220.05, 221.0, 218.5])
def test_the_first_phrases_register_does_not_hang_on_a_fraction_of_a_cent(f0):
    # frame by frame and in one Numba call (offline render): 220 Hz +- a few cents is A3, and A4 leaves exactly an
    # octave and a fifth below E6: +1 (before: 220.0 and 220.05 Hz gave 0, 219.887 Hz +1)
    for frames in (False, True):
        n = LiveNormalizer(VIOLIN_NORM)
        T = 200
        f = np.full(T, f0)
        db = np.full(T, -30.0)
        v = np.ones(T, bool)
        if frames:
            n.frames(f, db, v)
        else:
            for i in range(T):
                n(f0, -30.0, True)
        assert n.octave_shift == 1, (f0, frames)


def test_a_note_start_before_anything_was_voiced_plays_at_the_mean_loudness():
    import copy
    n = LiveNormalizer(VIOLIN_NORM)
    _, db = n(0.0, -25.0, False, onset=True)  # a loud note start, the tracker has not voiced it yet
    assert db == pytest.approx(VIOLIN_NORM.mean_loudness)  # before: -25 dB clipped to averageMaxLoudness -48.6
    # the onset window over, the tracker still unvoiced (DDSP-VST's 40 ms): the mask ramps down from that level
    # (before: from -48.6 dB, and the first note after silence peaked 2x over the tone with --tracker ddsp-vst)
    m = copy.deepcopy(n)
    _, db = n(0.0, -25.0, False)
    assert db == pytest.approx(VIOLIN_NORM.mean_loudness - 25.0 / n.release_frames)
    f0s, dbs = m.frames(np.zeros(3), np.full(3, -25.0), np.zeros(3, bool))  # the Numba path carries it too
    assert dbs[0] == db and dbs[2] < dbs[1] < db
    # the first voiced frame's level statistic takes over
    n(220.0, -30.0, True)
    assert n.level_db == -30.0


class ScheduledEngine:
    """An engine as :meth:`LiveInstrument.attach` uses it (frames pushed with their due sample, float32 rows as
    the callback's ring) whose callback is :class:`~tonehost.dsp.scheduled.ScheduledSynth`, rendered in blocks."""

    class config:  # noqa: N801 - the attribute attach() reads
        synth_schedule = True
        block_size = 128

    server_period = (128,)
    sample_rate = SR

    def __init__(self, live: LiveInstrument):
        s = live.engine_settings()
        self.synth = ScheduledSynth(s["synth_harmonics"], s["synth_noise_bands"], SR, capacity=4096,
                                    seed=s["noise_seed"], dtype=np.float32)
        self.last_input_position = 0
        self.out: list[np.ndarray] = []

    def synth_late(self):
        return 0, 0

    def push_frame(self, f0, amp, dist, noise=None, due=0, ramp=0):
        self.synth.push(int(due), int(ramp), float(f0), float(amp), np.asarray(dist, np.float32),
                        None if noise is None else np.asarray(noise, np.float32))
        return True

    def play(self, live: LiveInstrument, x: np.ndarray, chunks) -> np.ndarray:
        """The worker reads ``chunks`` (sizes: multiples of the block when it falls behind) and the callback
        renders each block once the worker handed over its frames."""
        i = 0
        for n in chunks:
            if i >= len(x):
                break
            self.last_input_position = i
            live.process(x[i:i + n].astype(np.float32))
            h, z = np.zeros(n), np.zeros(n)
            self.synth.render(h, z, n, i)
            self.out.append((h + z)[:len(x) - i])
            i += n
        return np.concatenate(self.out)


def test_play_plays_what_render_live_renders():
    """play's order of events: one instrument, a pipeline for the latency measurement and one to play (attached,
    D = one block, input read in lumps of 1-3 blocks); its output equals ``render --live``'s (float32 frame rounding,
    the delay D). Before: the played pipeline's model started from the measurement's state (max diff 5e-3 on a
    0.03 peak)."""
    x = tone(220.0, seconds=2.0, lead=0.5)
    ins = DDSP(None, sample_rate=SR)
    pipe = ins.pipeline()
    measure_live_latency(ins.pipeline(), 128)  # play.py: measured on a throwaway pipeline of the same instrument
    live = LiveInstrument(pipe)
    eng = ScheduledEngine(live)
    live.attach(eng)
    D = live.delay
    rng = np.random.default_rng(0)
    y_play = eng.play(live, np.concatenate([x, np.zeros(D)]), (128 * int(rng.choice([1, 1, 2, 3])) for _ in
                                                                range(10 ** 6)))[D:D + len(x)]
    y_render = np.concatenate(list(render_live_stream(LiveInstrument(DDSP(None, sample_rate=SR).pipeline()), [x],
                                                      SR, block_size=128)))
    assert len(y_play) == len(y_render) == len(x)
    assert np.abs(y_render).max() > 0.01
    np.testing.assert_allclose(y_play, y_render, atol=2e-5)
    assert pipe.normalizer.octave_shift == 1


@pytest.mark.parametrize("f0", [219.887, 220.0])
def test_render_live_of_a_220_hz_tone_plays_440_at_a_steady_level(f0):
    """The trial's inputs (jack_metro's 219.887 Hz and a 220.000 Hz sine, 1.2 s of silence first): +1 oct at the
    start and to the end, and the first note's start no louder than the rest (before: 220.0 Hz played at 220 Hz,
    and the first note's first 5 ms peaked 12-16 dB over the steady tone)."""
    x = tone(f0)
    live = LiveInstrument(DDSP(None, sample_rate=SR).pipeline())
    y = np.concatenate(list(render_live_stream(live, [x], SR, block_size=128)))
    assert live.pipe.normalizer.octave_shift == 1
    on = int(1.2 * SR)
    for a in (on + SR // 5, len(y) - SR // 2):
        assert abs(fundamental(y[a:a + 4800]) - 2 * f0) < 3.0
    steady = np.abs(y[on + SR // 5:on + SR // 5 + SR // 2]).max()
    # measured 1.49x (the model's attack and the seed's first, sharp frames; later notes 1.1-1.3x); before 3.95x
    assert np.abs(y[on:on + SR // 10]).max() <= 2.0 * steady


# -- through JACK: play's recorded output against render --live of the same samples ---------------------------

def _record_play(wav, seconds: float, env: dict) -> np.ndarray:
    """Start ``tonehost play`` on the private server, play ``wav`` once into tonehost:in_0 and record
    tonehost:out_0 on the same cycles (the output's first ``seconds`` after the input starts), from a JACK client
    in a CHILD process (:func:`_record_play_here`): a JACK client closed inside the pytest process beside
    rtmidi's clients has segfaulted it (testing.jack.FrameClock has the same reason)."""
    out = os.path.join(os.path.dirname(str(wav)), "play_recording.npy")
    here = os.path.dirname(os.path.abspath(__file__))
    code = (f"import sys; sys.path[:0] = [{here!r}, {os.path.dirname(here)!r}]; "
            f"import test_play_equals_render_live as t; t._record_play_here({str(wav)!r}, {float(seconds)!r}, "
            f"{out!r})")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    return np.load(out)


def _record_play_here(wav, seconds: float, out_path: str) -> None:
    """:func:`_record_play`'s work, in the child process (the server from the environment); saves the recording
    to ``out_path`` (.npy)."""
    import jack

    env = dict(os.environ)
    x, sr = sf.read(str(wav), dtype="float32")
    proc = subprocess.Popen([sys.executable, "-m", "tonehost", "play", "--duration", str(seconds + 40)],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    client = jack.Client("tonehost_trial", no_start_server=True)
    try:
        out = client.outports.register("out")
        inp = client.inports.register("in")
        n = int(seconds * SR)
        sig = np.concatenate([x, np.zeros(n + 8192, np.float32)])
        rec = np.zeros(n + 8192, np.float32)
        st = {"go": False, "pos": 0}

        @client.set_process_callback
        def process(frames):
            if st["go"] and st["pos"] + frames <= n + 8192:
                p = st["pos"]
                out.get_array()[:] = sig[p:p + frames]
                rec[p:p + frames] = inp.get_array()
                st["pos"] = p + frames
            else:
                out.get_array()[:] = 0.0

        client.activate()
        end = time.monotonic() + 120
        while not (client.get_ports("tonehost:in_0") and client.get_ports("tonehost:out_0")):
            assert proc.poll() is None and time.monotonic() < end, proc.stdout.read() if proc.poll() else "timeout"
            time.sleep(0.1)
        for cap in ("system:capture_1", "system:capture_2"):
            try:
                client.disconnect(cap, "tonehost:in_0")
            except jack.JackError:
                pass
        client.connect(out, "tonehost:in_0")
        client.connect("tonehost:out_0", inp)
        time.sleep(1.0)
        st["go"] = True
        while st["pos"] < n:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.05)
        st["go"] = False
        client.deactivate()
    finally:
        client.close()
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
    np.save(out_path, rec[:n])


def test_play_through_jack_plays_what_render_live_renders(private_jack, tmp_path):
    """The trial: a 220 Hz tone after 1.2 s of silence into ``play`` (private JACK dummy server, 48 kHz / 128)
    and through ``render --live``: both at +1 oct (440 Hz) from the first note to the last, the same steady level
    (within 1 dB) and no loud first note. Before: both at 220 Hz (the tracker read 220.000 Hz 0.1 cent sharp)
    and both started 16 dB loud. (The waveforms differ in their noise: its random sequence runs from the stream's
    start.)"""
    wav = tmp_path / "tone.wav"
    x = tone(220.0, seconds=3.0)
    sf.write(str(wav), x, SR, subtype="FLOAT")
    env = {**private_jack.env, "OMP_NUM_THREADS": "1"}
    rec = _record_play(wav, len(x) / SR + 0.2, env).astype(np.float64)
    live = LiveInstrument(DDSP(None, sample_rate=SR).pipeline())
    ren = np.concatenate(list(render_live_stream(live, [x], SR, block_size=128))).astype(np.float64)
    lag = int(np.argmax(np.abs(rec) > 1e-4)) - int(np.argmax(np.abs(ren) > 1e-4))  # D + JACK's cycle
    assert 0 <= lag <= 2048, lag
    rec = rec[lag:lag + len(ren)]
    on = int(1.2 * SR)
    for y in (rec, ren):
        for a in (on + SR // 5, len(ren) - SR // 2):
            assert abs(fundamental(y[a:a + 4800]) - 440.0) < 3.0
    rms = [20 * np.log10(np.sqrt(np.mean(y[on + SR // 5:len(ren) - SR // 5] ** 2))) for y in (rec, ren)]
    assert abs(rms[0] - rms[1]) <= 1.0, rms
    for y in (rec, ren):
        assert np.abs(y[on:on + SR // 10]).max() <= 2.0 * np.abs(y[on + SR // 5:on + SR]).max()
