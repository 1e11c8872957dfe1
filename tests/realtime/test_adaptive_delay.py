"""The live instrument's adaptive scheduling delay D (a jitter buffer in whole blocks): rare late frames leave D
alone, a worker that keeps missing its deadline makes it grow by one block, only between notes, a clean stretch
gives the block back, and frames are never scheduled before one already sent."""
import numpy as np
import pytest

from conftest import ROOT
from tonehost.dsp.scheduled import M_DUE, Q_APPLIED, Q_LATE
from tonehost.realtime.audio.engine import Engine, EngineConfig
from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig
from tonehost.realtime.pipelines.live_voice import AdaptiveDelay, LiveInstrument, event_signal

SR = 48000
B = 128


def test_rare_late_frames_leave_the_delay_alone():
    a = AdaptiveDelay(B, B, SR)
    applied = 0
    for i in range(1, 200):  # 60 s at 1500 frames a second, a stall (12 frames late) every 2 s: 0.4%
        applied += 300
        late = 12 * (i // 10)
        assert a.update(i * SR // 5, late, applied, True) == B
    assert a.changes == []


def test_late_frames_while_warming_up_do_not_count():
    a = AdaptiveDelay(B, B, SR)
    a.update(0, 0, 0, True)
    assert a.update(SR // 2, 400, 500, True) == B  # the first second: compiling, first model runs
    for i in range(2, 14):
        a.update(i * SR, 400, 500 + 1500 * i, True)
    assert a.changes == []


def test_a_worker_that_keeps_missing_grows_one_block_between_notes_only():
    a = AdaptiveDelay(B, B, SR)
    a.update(SR, 0, 0, False)  # the window starts after the warm-up
    a.update(4 * SR, 300, 4500, False)
    assert a.update(6 * SR, 600, 7500, False) == B  # 8% late over 5 s, but a note sounds: wait
    assert a.update(6 * SR + B, 600, 7500, False) == B
    assert a.update(7 * SR, 700, 9000, True) == 2 * B  # the first silent moment
    assert a.changes == [(7 * SR, 2 * B)]
    # the window of the change is not judged; the next one, on time, leaves D where it is
    assert a.update(10 * SR, 800, 13500, True) == 2 * B
    assert a.update(16 * SR, 800, 22500, True) == 2 * B


def test_growth_is_bounded_and_a_clean_stretch_gives_blocks_back():
    a = AdaptiveDelay(B, B, SR, relax_s=20.0, window_s=1.0, warmup_s=0.0)
    late = applied = 0
    for i in range(40):  # half the frames late for 20 s: at most minimum + 3 blocks
        late, applied = late + 500, applied + 1000
        a.update(i * SR // 2, late, applied, True)
    assert a.value == 4 * B
    t = 20 * SR
    assert a.update(t + 19 * SR, late, applied + 1000, True) == 4 * B
    assert a.update(t + 21 * SR, late, applied + 2000, False) == 4 * B  # 20 s clean, but a note sounds
    assert a.update(t + 21 * SR + B, late, applied + 2000, True) == 3 * B  # >= 20 s clean and silent: one back
    assert a.update(t + 22 * SR, late, applied + 3000, True) == 3 * B
    for k in range(25, 200, 5):
        a.update(t + k * SR, late, applied + 1000 * k, True)
    assert a.value == B  # never below the floor
    # the engine's stats were reset: the counts restart, nothing is late
    assert a.update(t + 300 * SR, 0, 0, True) == B


def test_bad_settings_raise():
    with pytest.raises(ValueError):
        AdaptiveDelay(B, 0, SR)
    with pytest.raises(ValueError):
        AdaptiveDelay(B, B, SR, grow_fraction=0.0)


def test_live_instrument_grows_d_on_late_frames_and_keeps_frames_in_order():
    """The real engine (not started: frames stay in its ring) and its callback's counters."""
    pipe = InstrumentPipeline(ControlsModel(ROOT / "exports" / "shipped" / "violin.onnx"),
                              PipelineConfig(sample_rate=SR))
    live = LiveInstrument(pipe)
    settings = {**live.engine_settings(), "frame_capacity": 1 << 15}
    eng = Engine(EngineConfig(sample_rate=SR, block_size=B, in_channels=1, out_channels=2, **settings))
    live.attach(eng)
    assert live.delay == B and live.adaptive is not None
    sig, onsets, _ = event_signal(SR, 14, seed=2)
    pos = 0
    marks = []  # (block start, frames written before it)
    while pos + B <= len(sig):
        eng.last_input_position = pos  # what read_input sets
        if SR <= pos < 7 * SR:  # what the callback counts: a worker that misses 1 frame in 10 for 6 s
            eng._sched[Q_LATE] += 1
            eng._sched[Q_APPLIED] += 10
        elif pos >= 7 * SR:
            eng._sched[Q_APPLIED] += 10
        marks.append((pos, int(eng._fidx[0])))
        live.process(sig[pos:pos + B])
        pos += B
    marks.append((pos, int(eng._fidx[0])))
    changes = live.adaptive.changes
    assert live.frames_dropped == 0
    assert len(changes) == 1 and changes[0][1] == 2 * B, changes
    k = int(np.searchsorted(onsets, changes[0][0] / SR))  # in the silence before onset k
    assert 6 * SR <= changes[0][0] and changes[0][0] / SR > onsets[k - 1] + 0.6, (changes, onsets)
    assert live.delay == 2 * B
    dues = eng._fmeta[:int(eng._fidx[0]), M_DUE]
    assert len(dues) > 100 and np.all(np.diff(dues) >= 0)
    # each block's frames are due D after their input: one block before the change, two from it on
    lead = {}
    for (p0, i0), (_, i1) in zip(marks, marks[1:]):
        if i1 > i0:
            lead.setdefault(p0 >= changes[0][0], []).extend((dues[i0:i1] - p0).tolist())
    # (a frame's input sample lies inside its block, after the 48k -> 16k -> 48k resampling delay)
    assert B <= min(lead[False]) and max(lead[False]) < 2 * B, lead[False]
    assert 2 * B <= min(lead[True]) and max(lead[True]) < 3 * B, lead[True]
