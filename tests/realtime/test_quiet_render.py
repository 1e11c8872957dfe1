"""A quiet take plays as loud as a loud one, offline (`tonehost render`, DDSP.render) and live (`play`).

Under the tracker's fixed -60 dB gate a phrase sung 45 dB under full level (about -62 dBFS: a mic's gain turned
down) rendered silent, the live instrument too; now the gate follows the room (tests/dsp/test_quiet_input.py) and
the level normalisers bring the take to the instrument's level.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import ROOT
from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig
from tonehost.realtime.pipelines.live_voice import LiveInstrument

sys.path.insert(0, str(ROOT / "tests" / "dsp"))
from test_quiet_input import phrase  # noqa: E402

VIOLIN = ROOT / "exports" / "shipped" / "violin.onnx"


def levels(y, sr):
    """RMS dB of the first and third notes and of the last pause of :func:`phrase`."""
    def rms(a, b):
        s = np.asarray(y[int(a * sr):int(b * sr)], np.float64)
        return 20 * np.log10(np.sqrt(np.mean(s * s)) + 1e-12)
    return rms(0.4, 1.0), rms(2.4, 3.1), rms(3.35, 3.6)


@pytest.fixture(scope="module")
def takes():
    return {g: phrase(np.random.default_rng(3), g)[0] for g in (0.0, -45.0)}


def test_render_of_a_quiet_take(takes):
    import tonehost
    d = tonehost.DDSP()
    loud, quiet = (levels(d.render(takes[g], 16000), 48000) for g in (0.0, -45.0))
    assert loud[0] > -45 and loud[2] < -70
    assert abs(quiet[0] - loud[0]) < 1.0 and abs(quiet[1] - loud[1]) < 1.0 and quiet[2] < -70, (loud, quiet)


def test_live_of_a_quiet_take(takes):
    from tonehost.dsp.resample import Resampler
    out = {}
    for g, x in takes.items():
        x48 = Resampler(16000, 48000).process(x)
        live = LiveInstrument(InstrumentPipeline(ControlsModel(VIOLIN), PipelineConfig(sample_rate=48000)))
        out[g] = levels(live.render(x48, 128), 48000)
    loud, quiet = out[0.0], out[-45.0]
    assert loud[0] > -45 and loud[2] < -70
    assert abs(quiet[0] - loud[0]) < 1.5 and abs(quiet[1] - loud[1]) < 1.5 and quiet[2] < -70, (loud, quiet)
