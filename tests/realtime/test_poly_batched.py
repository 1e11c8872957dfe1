"""Batched polyphony (realtime/pipelines/poly.py): one controls-model call per model frame for all sounding
voices and one synth call per block; the same sound as stepping each voice's model on its own."""
from __future__ import annotations

import mido
import numpy as np
import pytest

from tonehost.realtime.pipelines.instrument import ControlsModel, PipelineConfig
from tonehost.realtime.pipelines.poly import PolyInstrument


@pytest.fixture(scope="module")
def violin():
    from tonehost.exports.checkpoints.shipped import default_instrument_path
    return ControlsModel(default_instrument_path("violin"))


def _events():
    on = [(0.0, 60), (0.0, 64), (0.1, 67), (0.4, 71), (0.5, 74)]
    ev = [(t, mido.Message("note_on", note=n, velocity=90 + 5 * i)) for i, (t, n) in enumerate(on)]
    ev += [(0.6, mido.Message("note_off", note=64)), (0.9, mido.Message("note_off", note=60)),
           (1.0, mido.Message("pitchwheel", pitch=2048))]
    return sorted(ev, key=lambda e: e[0])


class _Counting:
    def __init__(self, sess):
        self.sess, self.calls, self.rows = sess, 0, []

    def run(self, names, feeds):
        self.calls += 1
        self.rows.append(len(next(iter(feeds.values()))))
        return self.sess.run(names, feeds)


def test_one_model_call_per_frame_for_all_voices(violin):
    poly = PolyInstrument(violin, voices=8, config=PipelineConfig())
    assert poly._batched is not None
    poly._batched = counting = _Counting(poly._batched)
    poly.render(_events(), 1.2)
    assert counting.calls == poly.model_frames > 250  # 250 model frames per second, one call each
    assert max(counting.rows) == 5 and poly.voice_frames == sum(counting.rows)


def test_batched_equals_stepping_each_voice(violin):
    a = PolyInstrument(violin, voices=8, config=PipelineConfig())
    ya = a.render(_events(), 1.2)
    b = PolyInstrument(violin, voices=8, config=PipelineConfig())
    b._batched = None  # each voice stepped by the step model with its own state
    yb = b.render(_events(), 1.2)
    assert np.sqrt(np.mean(ya ** 2)) > 0.05
    np.testing.assert_allclose(ya, yb, rtol=0, atol=1e-4 * np.abs(yb).max())
