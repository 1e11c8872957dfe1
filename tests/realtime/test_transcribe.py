"""Streaming transcription (realtime/transcriber.py): the magenta.js note decoder, streaming == offline,
resampled/multichannel input, and the worker thread."""
from __future__ import annotations

import numpy as np
import pytest

from tonehost.exports.convert.onsets_frames import build_model, random_weights
from tonehost.exports.onnx_session import make_session
from tonehost.exports.note_sequence import Note
from tonehost.realtime.audio.worker import ArraySource
from tonehost.realtime.pipelines.transcriber import (AudioTo16k, LiveTranscriber, NoteDecoder, Transcriber,
                                                    latency_floor_s, midi_velocity, transcribe_array)


def _roll(T, entries):
    a = np.zeros((T, 88), np.float32)
    for p, f0, f1, v in entries:
        a[f0:f1, p - 21] = v
    return a


def test_decoder_follows_magenta_rules():
    T = 12
    onset = _roll(T, [(60, 1, 3, 0.9), (60, 6, 7, 0.9), (64, 2, 3, 0.8), (70, 4, 5, 0.7)])
    frame = _roll(T, [(60, 1, 9, 0.9), (64, 3, 5, 0.6), (72, 0, 4, 0.9)])  # 70: onset without frame
    vel = _roll(T, [(60, 0, T, 0.5), (64, 0, T, 2.0), (70, 0, T, -1.0)])
    d = NoteDecoder()
    events = d.push(onset[:5], frame[:5], vel[:5]) + d.push(onset[5:], frame[5:], vel[5:]) + d.finish()
    f = 0.032
    # 60: starts at 1 (consecutive onset at 2 does not restart), restarted at 6, ends at 9;
    # 64: onset forces frame at 2, frame on to 5; 70: a one-frame note; 72: frame without onset -> no note
    assert [(round(n.start_time / f), round(n.end_time / f), n.pitch, n.velocity) for n in d.notes] == [
        (2, 5, 64, 90), (4, 5, 70, 10), (1, 6, 60, 50), (6, 9, 60, 50)]
    ons = [(e.frame, e.pitch) for e in events if e.kind == "on"]
    assert ons == [(1, 60), (2, 64), (4, 70), (6, 60)]
    # each note-off is emitted in the push that decodes its frame, before later note-ons
    kinds = [(e.kind, e.pitch, e.frame) for e in events]
    assert kinds.index(("off", 60, 6)) < kinds.index(("on", 60, 6))


def test_velocity_mapping_truncates_like_toInt():
    assert midi_velocity(np.array([-1, 0, 0.5, 0.99999, 1, 3])).tolist() == [10, 10, 50, 89, 90, 90]


def test_latency_floor():
    assert latency_floor_s() == pytest.approx((3 * 512 + 1024) / 16000)  # 160 ms


@pytest.fixture(scope="module")
def session():
    return make_session(build_model(random_weights(0), "stream").SerializeToString())


def _tones(seconds, sr, seed=5):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    x = np.zeros_like(t)
    for _ in range(14):
        f0 = 440 * 2 ** (int(rng.integers(-24, 24)) / 12)
        t0 = rng.uniform(0.05, seconds - 0.4)
        x += 0.2 * np.sin(2 * np.pi * f0 * t) * np.exp(-(t - t0) * 4) * (t > t0) * (t < t0 + 0.4)
    return x.astype(np.float32)


def test_streaming_equals_offline(session):
    x = _tones(3.0, 16000)
    whole = make_session(build_model(random_weights(0), "whole").SerializeToString())
    from tonehost.dsp.mel import log_mel
    ref = whole.run(None, {"mel": log_mel(x)[None]})
    offline = transcribe_array(session, x, 16000, keep_probs=True)
    assert len(offline.notes) > 10
    for got, r in zip(offline.probs(), ref):
        np.testing.assert_allclose(got, r[0], atol=1e-5)
    for block in (128, 512, 2049):
        tr = transcribe_array(session, x, 16000, block=block, keep_probs=True)
        for a, b in zip(tr.probs(), offline.probs()):
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
        assert tr.notes == offline.notes


@pytest.mark.parametrize("sr", [44100, 48000])
def test_resampled_stereo_stream_equals_offline(session, sr):
    mono = _tones(2.0, sr, seed=9)
    stereo = np.stack([mono * 0.5, mono * 1.5], axis=1)
    offline = transcribe_array(session, stereo, sr, keep_probs=True)
    streamed = transcribe_array(session, stereo, sr, block=441, keep_probs=True)
    assert offline.frames_done == 1 + int(np.ceil(len(mono) * 16000 / sr)) // 512
    for a, b in zip(streamed.probs(), offline.probs()):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
    assert streamed.notes == offline.notes
    # the resampler is delay compensated: a 16 kHz-rate view lines up with the original (correlation peak at 0)
    rs = AudioTo16k(sr)
    y = np.concatenate([rs.process(mono), rs.flush()])
    ref = mono[(np.arange(len(y)) * sr) // 16000]
    lags = [np.dot(y[50:-50], np.roll(ref, k)[50:-50]) for k in range(-3, 4)]
    assert int(np.argmax(lags)) - 3 == 0


def test_worker_thread_gives_the_offline_events(session):
    x = _tones(2.0, 48000, seed=3)
    rs, tr = AudioTo16k(48000), Transcriber(session)
    ref = tr.push_audio(rs.process(x)) + tr.push_audio(rs.flush()) + tr.finish()
    events = []
    live = LiveTranscriber(session, ArraySource(x, 48000), 48000, on_event=events.append).start()
    live.join(timeout=60)
    assert not live.running
    assert len(ref) > 10
    assert [(e.kind, e.pitch, e.velocity, e.frame) for e in events] == \
        [(e.kind, e.pitch, e.velocity, e.frame) for e in ref]
    assert live.transcriber.notes == tr.notes and isinstance(tr.notes[0], Note)
    # events leave in frame order, each note-on before its note-off
    assert [e.frame for e in events] == sorted(e.frame for e in events)


def test_live_realtime_source_emits_during_playback(session):
    x = _tones(1.5, 16000, seed=4)
    src = ArraySource(x, 16000, realtime=True)
    events = []
    live = LiveTranscriber(session, src, 16000, on_event=events.append).start()
    live.join(timeout=30)
    ons = [e for e in events if e.kind == "on"]
    assert ons
    # a note-on leaves before the input is over (not only at the end), and never before its frame + 160 ms
    t0 = src.t0
    assert min(e.emitted - t0 for e in ons) < 1.5
    assert all(e.emitted - t0 >= e.time + latency_floor_s() - 0.005 for e in ons if e.frame < 40)


def _reference_decode(onsets, frames, vels, ghost_frames):
    """The decoder's rules as the plain per-frame Python loop they were written as (before the compiled
    version): [(kind, key, velocity, frame)]."""
    from tonehost.realtime.pipelines.transcriber import PARTIAL_INTERVALS

    P = onsets.shape[1]
    start, shown, last = np.full(P, -1), np.zeros(P, bool), np.full(P, -10)
    vel, prev, out = np.zeros(P, int), np.zeros(P, bool), []
    wait = ghost_frames + 1

    def end(p, f):
        ghost = any(p - i >= 0 and abs(last[p - i] - start[p]) <= 1 for i in PARTIAL_INTERVALS)
        if not shown[p] and not ghost:
            shown[p] = True
            out.append(("on", p, vel[p], start[p]))
        if shown[p]:
            out.append(("off", p, 0, f))
        start[p], shown[p] = -1, False

    for f in range(len(onsets)):
        on, fr = onsets[f], frames[f]
        for p in np.flatnonzero(on | (~fr & (start >= 0))):
            if on[p]:
                if start[p] >= 0:
                    if prev[p]:
                        continue
                    end(p, f)
                start[p], last[p], vel[p] = f, f, vels[f, p]
                if wait == 1:
                    shown[p] = True
                    out.append(("on", p, vel[p], f))
            else:
                end(p, f)
        if wait > 1:
            for p in np.flatnonzero((start >= 0) & ~shown & (f - start + 1 >= wait)):
                shown[p] = True
                out.append(("on", p, vel[p], start[p]))
        prev = on
    for p in np.flatnonzero(start >= 0):
        end(p, len(onsets))
    return [(k, int(p) + 21, int(v), int(f)) for k, p, v, f in out]


@pytest.mark.parametrize("ghost_frames", [0, 1, 2])
def test_compiled_decoder_equals_the_per_frame_rules(ghost_frames):
    """The compiled frame loop gives the events of the plain rules, in the same order, however the frames are
    cut into pushes (random rolls with repeated onsets, short notes and onsets an octave above others)."""
    from tonehost.realtime.pipelines.transcriber import Decoding

    rng = np.random.default_rng(ghost_frames)
    for _ in range(40):
        K = int(rng.integers(1, 300))
        on = rng.random((K, 88)) < rng.uniform(0.005, 0.08)
        on[1:] |= on[:-1] & (rng.random((K - 1, 88)) < 0.3)
        on[:, 12:] |= on[:, :-12] & (rng.random((K, 76)) < 0.3)
        fr = np.zeros((K, 88), bool)
        held = np.zeros(88, bool)
        for k in range(K):
            held = on[k] | (held & (rng.random(88) > 0.3))
            fr[k] = held & (rng.random(88) > 0.02)
        vel = rng.random((K, 88)).astype(np.float32)
        want = _reference_decode(on, fr | on, midi_velocity(vel), ghost_frames)
        d = NoteDecoder(decoding=Decoding(ghost_frames=ghost_frames))
        cuts = sorted(set(rng.integers(1, K, size=int(rng.integers(0, 5))).tolist())) if K > 1 else []
        events = []
        for a, b in zip([0] + cuts, cuts + [K]):
            events += d.push(on[a:b].astype(np.float32), fr[a:b].astype(np.float32), vel[a:b])
        events += d.finish()
        assert [(e.kind, e.pitch, e.velocity, e.frame) for e in events] == want
        assert len(d.notes) == sum(k == "off" for k, *_ in want)


def test_session_without_velocity_head_gives_the_same_onsets_and_frames(tmp_path):
    """Loudness-velocity decodings run the model without its velocity head: the same onset and frame
    probabilities bit for bit; a decoding that needs the head refuses that session."""
    import onnx

    from tonehost.exports.errors import UsageError
    from tonehost.realtime.pipelines.transcriber import CALIBRATED_DECODING, without_velocity_head

    path = tmp_path / "stream.onnx"
    onnx.save(build_model(random_weights(0), "stream"), str(path))
    full, cut = make_session(path), make_session(without_velocity_head(path))
    assert "velocities" not in [o.name for o in cut.get_outputs()]
    x = _tones(3.0, 16000)
    a = Transcriber(full, keep_probs=True, decoding=CALIBRATED_DECODING)
    b = Transcriber(cut, keep_probs=True, decoding=CALIBRATED_DECODING)
    ea, eb = a.push_audio(x) + a.finish(), b.push_audio(x) + b.finish()
    for i in range(2):
        assert np.array_equal(a.probs()[i], b.probs()[i])
    assert [(e.kind, e.pitch, e.velocity, e.frame) for e in ea] == [(e.kind, e.pitch, e.velocity, e.frame) for e in eb]
    with pytest.raises(UsageError, match="velocity head"):
        Transcriber(cut)
    assert without_velocity_head(tmp_path / "missing.onnx") == tmp_path / "missing.onnx"
