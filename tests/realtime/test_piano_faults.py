"""The two faults of the shipped streaming model (issue 14), on FluidSynth renders with three soundfonts: the
two the model was trained on and MuseScore_General_Lite, which neither the model nor the velocity calibration saw.

- velocities barely followed loudness: D4+A4 pairs struck at velocities 20..125 in shuffled order came out at
  70-84 with rank correlation 0.43 (A4); velocity 120 was transcribed below velocity 80. Target: rank correlation
  >= 0.9 and the order of loud and soft strikes kept.
- ghost notes: a two-octave C major scale at 10 notes/s (60 ms notes) gave the 29 notes plus one-frame (32 ms)
  notes on partials of loud onsets. Target: no note that is not in the scale (and at most one of the 29 missed).
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from scipy.stats import spearmanr

from test_transcribe_file import write_midi
from tonehost.realtime.pipelines.transcriber import (CALIBRATED_DECODING, MAGENTA_DECODING, OnsetsAndFrames,
                                                     loudness_velocity)

SOUNDFONTS = {"FluidR3_GM": "/usr/share/sounds/sf2/FluidR3_GM.sf2", "TimGM6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2",
              "MuseScore_General_Lite (held out)": "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"}
pytestmark = pytest.mark.skipif(shutil.which("fluidsynth") is None or not all(map(os.path.exists,
                                SOUNDFONTS.values())), reason="fluidsynth and the soundfonts of scripts/setup.sh")

VELOCITIES = np.random.default_rng(0).permutation(np.arange(20, 126, 7))  # 16 strikes, shuffled
SCALE = [48, 50, 52, 53, 55, 57, 59, 60, 62, 64, 65, 67, 69, 71, 72]
SCALE = SCALE + SCALE[-2::-1]  # C3..C5..C3: 29 notes


@pytest.fixture(scope="module")
def shipped():
    return OnsetsAndFrames()


def render(tmp_path, name, notes, soundfont, sr=44100):
    from tonehost.exports.training.fluidsynth import render_midi

    write_midi(tmp_path / f"{name}.mid", notes)
    return render_midi(tmp_path / f"{name}.mid", tmp_path / f"{name}.wav", soundfont, sr, mono=False)


def strike_velocities(seq, pitch):
    """(true, transcribed) velocity of each pair's ``pitch`` (strikes at 0.5 + i s)."""
    got = {}
    for n in seq.notes:
        i = int(round(n.start_time - 0.5))
        if n.pitch == pitch and abs(n.start_time - 0.5 - i) < 0.08 and 0 <= i < len(VELOCITIES):
            got.setdefault(i, n.velocity)
    return [(int(VELOCITIES[i]), v) for i, v in sorted(got.items())]


@pytest.mark.parametrize("sf_name", SOUNDFONTS)
def test_velocities_follow_how_hard_the_keys_were_struck(shipped, tmp_path, sf_name):
    notes = [(0.5 + i, 1.1 + i, p, int(v)) for i, v in enumerate(VELOCITIES) for p in (62, 69)]
    seq = shipped.transcribe(render(tmp_path, "pairs", notes, SOUNDFONTS[sf_name]), 44100)
    for pitch in (62, 69):
        pairs = strike_velocities(seq, pitch)
        assert len(pairs) >= 14, pairs
        rho = spearmanr([t for t, _ in pairs], [v for _, v in pairs]).correlation
        print(f"{sf_name} pitch {pitch}: rank correlation {rho:.3f}; {sorted(pairs)}")
        assert rho >= 0.9, (rho, sorted(pairs))
        loud = dict(pairs)
        if 118 in loud and 83 in loud:  # a strike at 118 comes out louder than one at 83 (it was the reverse)
            assert loud[118] > loud[83]
        assert max(v for _, v in pairs) - min(v for _, v in pairs) >= 40  # the range is used, not 70-84


@pytest.mark.parametrize("gain_db", [12, 24])
def test_a_hot_recording_keeps_its_dynamics(shipped, tmp_path, gain_db):
    """A recording hotter than the calibration's renders (a close mic, a normalised file) gave every note 127: the
    FMP Bach prelude (peak -1.7 dBFS) came out as 134 notes at 127, its reference 66-85. The loudest onset that
    would exceed 127 now moves the scale down: offline, the whole file's loudest onset sets it, so the strikes keep
    their order and range; live, the loudest so far (strikes before it may come out louder, never all 127)."""
    from tonehost.exports.note_sequence import NoteSequence

    notes = [(0.5 + i, 1.1 + i, p, int(v)) for i, v in enumerate(VELOCITIES) for p in (62, 69)]
    audio = render(tmp_path, "pairs", notes, SOUNDFONTS["TimGM6mb"]) * np.float32(10 ** (gain_db / 20))
    offline = strike_velocities(shipped.transcribe(audio, 44100), 69)
    live = strike_velocities(NoteSequence(notes=_live_notes(shipped, audio)), 69)
    for pairs, rho_min in ((offline, 0.95), (live, 0.6)):
        got = [v for _, v in pairs]
        rho = spearmanr([t for t, _ in pairs], got).correlation
        print(f"+{gain_db} dB: rank correlation {rho:.3f}; {sorted(pairs)}")
        assert len(pairs) >= 14 and rho >= rho_min, (rho, sorted(pairs))
        assert max(got) >= 110 and sum(v == 127 for v in got) <= 3, sorted(pairs)  # (it was 127 for most)
        assert max(got) - min(got) >= 40, sorted(pairs)
    assert sum(v == 127 for _, v in offline) <= 1  # at most the loudest strike (the loudest onset may be a D4's)


def test_the_velocity_head_alone_was_the_fault(shipped, tmp_path):
    """The same audio through magenta.js's velocity mapping (the head): what the issue measured."""
    notes = [(0.5 + i, 1.1 + i, p, int(v)) for i, v in enumerate(VELOCITIES) for p in (62, 69)]
    audio = render(tmp_path, "pairs", notes, SOUNDFONTS["TimGM6mb"])
    head = OnsetsAndFrames(decoding=MAGENTA_DECODING).transcribe(audio, 44100)
    pairs = strike_velocities(head, 69)
    rho = spearmanr([t for t, _ in pairs], [v for _, v in pairs]).correlation
    assert rho < 0.9  # 0.39 here: the fault this calibration fixes


@pytest.mark.parametrize("sf_name", SOUNDFONTS)
@pytest.mark.parametrize("start", [0.5, 0.7])
def test_fast_scale_has_no_ghost_notes(shipped, tmp_path, sf_name, start):
    notes = [(start + 0.1 * i, start + 0.06 + 0.1 * i, p, 90) for i, p in enumerate(SCALE)]
    seq = shipped.transcribe(render(tmp_path, "scale", notes, SOUNDFONTS[sf_name]), 44100)
    got = [(n.pitch, round(n.start_time, 3)) for n in sorted(seq.notes, key=lambda n: n.start_time)]
    extra = [(p, t) for p, t in got if not any(p == q and abs(t - a) <= 0.05 for a, _, q, _ in notes)]
    missed = [(q, a) for a, _, q, _ in notes if not any(p == q and abs(t - a) <= 0.05 for p, t in got)]
    print(f"{sf_name} from {start} s: {len(got)} notes, extra {extra}, missed {missed}")
    assert not extra, extra  # no ghost: every note is one of the scale's
    assert len(missed) <= 1, missed  # (the held-out piano's descending A4 at 10 notes/s is sometimes missed)


def test_ghosts_were_one_frame_notes(tmp_path):
    """Without the calibrated decoding the held-out soundfont's scale has extra 32 ms notes (the fault)."""
    notes = [(0.5 + 0.1 * i, 0.56 + 0.1 * i, p, 90) for i, p in enumerate(SCALE)]
    audio = render(tmp_path, "scale", notes, SOUNDFONTS["MuseScore_General_Lite (held out)"])
    seq = OnsetsAndFrames(decoding=MAGENTA_DECODING).transcribe(audio, 44100)
    extra = [n for n in seq.notes if n.end_time - n.start_time < 0.04]
    assert len(seq.notes) > len(SCALE) and extra


def test_loudness_velocity_is_monotonic_and_bounded():
    levels = np.linspace(-60, 40, 201)
    for pitch in (21, 60, 108):
        v = loudness_velocity(levels, np.full_like(levels, pitch))
        assert (np.diff(v) >= 0).all() and v.min() >= 1 and v.max() <= 127
    assert CALIBRATED_DECODING.velocity == "loudness" and CALIBRATED_DECODING.ghost_frames == 1


def _live_notes(model, audio, sr=44100, block=1024):
    """Notes of the live path: the stream pushed block by block, as ``transcribe --live`` feeds it."""
    st = model.stream(sr)
    for i in range(0, len(audio), block):
        st.push(audio[i:i + block])
    st.finish()
    return st.note_sequence.notes


@pytest.mark.parametrize("sf_name", SOUNDFONTS)
@pytest.mark.parametrize("velocity", [50, 127])
def test_no_c3_in_the_decay_of_the_last_c3(shipped, tmp_path, sf_name, velocity):
    """The issue's case (a C3 at 3.58 s, 0.28 s into the decay of the scale's last C3) never appeared here, on
    three soundfonts at three velocities and two start times, offline or live: this pins the result down. Offline
    and live: C3 exactly twice (the scale's two), every note one of the scale's; the training soundfonts give
    exactly the 29 notes."""
    from tonehost.realtime.pipelines.transcriber import LIVE_DECODING

    notes = [(0.5 + 0.1 * i, 0.56 + 0.1 * i, p, velocity) for i, p in enumerate(SCALE)]
    audio = render(tmp_path, "scale", notes, SOUNDFONTS[sf_name])
    for path, got in (("offline", shipped.transcribe(audio, 44100).notes),
                      ("live", _live_notes(OnsetsAndFrames(decoding=LIVE_DECODING), audio))):
        c3 = sorted(round(n.start_time, 2) for n in got if n.pitch == 48)
        assert len(c3) == 2 and abs(c3[0] - 0.5) <= 0.05 and abs(c3[1] - 3.3) <= 0.05, (path, c3)
        extra = [(n.pitch, n.start_time) for n in got
                 if not any(n.pitch == q and abs(n.start_time - a) <= 0.05 for a, _, q, _ in notes)]
        assert not extra, (path, extra)
        if "held out" not in sf_name:
            assert len(got) == 29, (path, len(got))


def test_live_ghost_filter_drops_partials_without_delaying_other_note_ons(tmp_path):
    """Live mode used to skip the ghost filter (it holds every note-on back 32 ms): on the held-out soundfont's
    fast scale it then gave 4-8 one-frame ghosts. The causal variant (LIVE_DECODING) holds back only note-ons that
    coincide with an onset a partial interval below, and drops those that end within the frame."""
    from dataclasses import replace

    from tonehost.realtime.pipelines.transcriber import LIVE_DECODING, NoteDecoder

    notes = [(0.5 + 0.1 * i, 0.56 + 0.1 * i, p, 90) for i, p in enumerate(SCALE)]
    audio = render(tmp_path, "scale", notes, SOUNDFONTS["MuseScore_General_Lite (held out)"])

    def extra(got):
        return [n for n in got if not any(n.pitch == q and abs(n.start_time - a) <= 0.05 for a, _, q, _ in notes)]

    unfiltered = _live_notes(OnsetsAndFrames(decoding=replace(LIVE_DECODING, ghost_frames=0)), audio)
    assert len(extra(unfiltered)) >= 3  # the fault: what live mode gave without the filter
    live = _live_notes(OnsetsAndFrames(decoding=LIVE_DECODING), audio)
    assert not extra(live) and len(live) >= 28

    # latency, frame by frame: a lone note-on leaves in its onset frame; an octave struck with C4 waits a frame
    # (and keeps its onset time); a one-frame note on C4's octave is dropped
    d = NoteDecoder(decoding=LIVE_DECODING)
    on, fr, vel = np.zeros((6, 88), np.float32), np.zeros((6, 88), np.float32), np.zeros((6, 88), np.float32)
    on[1, 60 - 21] = fr[1:5, 60 - 21] = 1          # C4, frames 1-4
    on[1, 72 - 21] = fr[1:4, 72 - 21] = 1          # C5 with it, 3 frames: held one frame, kept
    on[3, 67 - 21] = fr[3:5, 67 - 21] = 1          # G4 alone: out at once
    on[1, 79 - 21] = fr[1, 79 - 21] = 1            # G5 (C4's 3rd partial), one frame: a ghost
    emitted = [[(e.kind, e.pitch, e.frame) for e in d.push(on[k:k + 1], fr[k:k + 1], vel[k:k + 1])
                if e.kind == "on"] for k in range(6)]
    assert emitted[1] == [("on", 60, 1)] and emitted[2] == [("on", 72, 1)] and emitted[3] == [("on", 67, 3)]
    assert all(p != 79 for ev in emitted for _, p, _ in ev)
