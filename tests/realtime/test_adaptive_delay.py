"""The live instrument's adaptive scheduling delay D (a jitter buffer in whole blocks): one stall leaves D alone,
repeated late frames make it grow by one block, only between notes, a clean stretch gives the block back, and
frames are never scheduled before one already sent."""
import numpy as np
import pytest

from conftest import ROOT
from tonehost.dsp.scheduled import M_DUE, Q_LATE, Q_LATE_SUM
from tonehost.realtime.audio.engine import Engine, EngineConfig
from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig
from tonehost.realtime.pipelines.live_voice import AdaptiveDelay, LiveInstrument, event_signal

SR = 48000
B = 128


def test_one_stall_leaves_the_delay_alone():
    a = AdaptiveDelay(B, B, SR)
    a.update(2 * SR, 0, True)
    assert a.update(3 * SR, 40, True, 4000) == B  # one episode (a stall: many frames late at once)
    assert a.update(3 * SR + B, 55, True, 5000) == B  # the same episode (no gap)
    assert a.update(20 * SR, 60, True, 6000) == B  # the next one, outside the 10 s window
    assert a.changes == []


def test_frames_a_few_samples_late_or_late_while_warming_up_do_not_count():
    a = AdaptiveDelay(B, B, SR)
    assert a.update(SR // 2, 30, True, 9000) == B  # warming up (first second)
    for i in range(2, 8):  # one frame 10 samples late every second: inaudible
        a.update(i * SR, 30 + i, True, 9000 + 10 * i)
    assert a.changes == []


def test_repeated_late_frames_grow_one_block_between_notes_only():
    a = AdaptiveDelay(B, B, SR)
    a.update(2 * SR, 0, True)
    a.update(3 * SR, 3, False, 300)
    assert a.update(4 * SR, 5, False, 600) == B  # two episodes, but a note sounds: wait
    assert a.update(4 * SR + B, 5, False, 600) == B
    assert a.update(5 * SR, 5, True, 600) == 2 * B  # the first silent moment
    assert a.changes == [(5 * SR, 2 * B)]
    # frames late just after the change were scheduled under the old D: not counted
    assert a.update(5 * SR + B, 9, True, 1000) == 2 * B
    assert a.update(5 * SR + 2 * B, 12, True, 1400) == 2 * B
    assert a.episodes == []


def test_growth_is_bounded_and_a_clean_stretch_gives_blocks_back():
    a = AdaptiveDelay(B, B, SR, relax_s=5.0, settle_s=0.0, grow_after=1, warmup_s=0.0)
    late = 0
    for i in range(10):  # keeps being late: at most minimum + 3 blocks
        late += 1
        a.update(i * SR, late, True, 100 * late)
    assert a.value == 4 * B
    assert a.update(10 * SR, late, True, 100 * late) == 4 * B
    assert a.update(14 * SR, late, False, 100 * late) == 4 * B  # 5 s since the last late frame, but a note sounds
    assert a.update(14 * SR + B, late, True, 100 * late) == 3 * B  # >= 5 s clean and silent: one block back
    assert a.update(15 * SR, late, True, 100 * late) == 3 * B
    for t in range(20, 60, 5):
        a.update(t * SR, late, True, 100 * late)
    assert a.value == B  # never below the floor
    # the engine's stats were reset: the count restarts, nothing is late
    assert a.update(61 * SR, 0, True, 0) == B


def test_bad_settings_raise():
    with pytest.raises(ValueError):
        AdaptiveDelay(B, 0, SR)
    with pytest.raises(ValueError):
        AdaptiveDelay(B, B, SR, grow_after=0)


def test_live_instrument_grows_d_on_late_frames_and_keeps_frames_in_order():
    """The real engine (not started: frames stay in its ring) and its callback's late counter."""
    pipe = InstrumentPipeline(ControlsModel(ROOT / "exports" / "shipped" / "violin.onnx"),
                              PipelineConfig(sample_rate=SR))
    live = LiveInstrument(pipe)
    settings = {**live.engine_settings(), "frame_capacity": 8192}
    eng = Engine(EngineConfig(sample_rate=SR, block_size=B, in_channels=1, out_channels=2, **settings))
    live.attach(eng)
    assert live.delay == B and live.adaptive is not None
    sig, onsets, _ = event_signal(SR, 4, seed=2)
    stalls = [int(onsets[1] * SR) + 40 * B, int(onsets[1] * SR) + 80 * B]  # two stalls in the second note
    pos = 0
    marks = []  # (block start, frames written before it)
    while pos + B <= len(sig):
        eng.last_input_position = pos  # what read_input sets
        if stalls and pos >= stalls[0]:
            stalls.pop(0)
            eng._sched[Q_LATE] += 7  # what the callback counts: 7 frames, 300 samples late in all
            eng._sched[Q_LATE_SUM] += 300
        marks.append((pos, int(eng._fidx[0])))
        live.process(sig[pos:pos + B])
        pos += B
    marks.append((pos, int(eng._fidx[0])))
    changes = live.adaptive.changes
    assert len(changes) == 1 and changes[0][1] == 2 * B, changes
    assert int(onsets[1] * SR) + 80 * B < changes[0][0] < int(onsets[2] * SR), (changes, onsets)  # in the silence
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
