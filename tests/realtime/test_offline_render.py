"""Offline render, many model frames per call (realtime/pipelines/offline.py), equals the live path:
``process`` block by block over the same input, after the same whole-file preset - for the shipped violin (its
GRU runs over time: bit for bit) and a random-weight model (a Scan over its spelt-out GRU)."""
from __future__ import annotations

import numpy as np
import pytest

from tonehost.dsp.features import voice_like
from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig
from tonehost.realtime.testing.models import VIOLIN_SETTINGS, make_random_controls_onnx


def _voice(sr, seconds=6.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    notes = np.repeat(rng.uniform(48, 64, 12), n // 12 + 1)[:n]
    t = np.arange(n) / sr
    f0 = 440 * 2 ** ((notes - 69 + 0.2 * np.sin(2 * np.pi * 5 * t)) / 12)
    gate = (np.sin(2 * np.pi * t / 2.0) > -0.7).astype(float)
    return voice_like(f0, sr, 0.2) * gate


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tonehost.exports.checkpoints.shipped import default_instrument_path
    d = tmp_path_factory.mktemp("offline")
    return {"violin": default_instrument_path("violin"),
            "random": make_random_controls_onnx(d / "r.onnx", settings=VIOLIN_SETTINGS, seed=1)}


@pytest.mark.parametrize("name", ["violin", "random"])
@pytest.mark.parametrize("whole_file", [False, True], ids=["live", "whole-file"])
@pytest.mark.parametrize("sr", [16000, 48000])
def test_offline_render_equals_the_live_path(models, name, whole_file, sr):
    x = _voice(sr)
    fast = InstrumentPipeline(ControlsModel(models[name]), PipelineConfig())
    y = fast.render(x, sr, whole_file=whole_file, tail_s=0.1)
    live = InstrumentPipeline(ControlsModel(models[name]), PipelineConfig())
    if whole_file:
        live.preset(*fast.file_stats)
    ref = live.render(x, sr, whole_file=False, fast=False, block_size=128, tail_s=0.1)
    assert len(y) == len(ref) == int(np.ceil(len(x) * 48000 / sr)) + 4800
    assert np.sqrt(np.mean(ref ** 2)) > 1e-3
    np.testing.assert_array_equal(y, ref)
    assert fast.normalizer.octave_shift == live.normalizer.octave_shift
    np.testing.assert_array_equal(fast.controls.state, live.controls.state)  # the state carries on alike


def test_whole_file_statistics_match_the_separate_pass(models):
    """The render's own statistics (over the frames it renders) and file_statistics (a direct 16 kHz pass)
    agree closely: same register shift, mean pitch within 0.05 semitone, level within 0.2 dB."""
    x = _voice(16000, 8.0, seed=3)
    pipe = InstrumentPipeline(ControlsModel(models["violin"]), PipelineConfig())
    pipe.render(x, 16000)
    p, db = pipe.file_stats
    p2, db2 = pipe.file_statistics([x], 16000)
    assert abs(p - p2) < 0.05 and abs(db - db2) < 0.2


def test_streamed_render_in_pieces_equals_one_piece(models):
    x = _voice(16000, 4.0, seed=2)
    a = InstrumentPipeline(ControlsModel(models["random"]), PipelineConfig())
    ya = np.concatenate(list(a.render_blocks([x], 16000)))
    b = InstrumentPipeline(ControlsModel(models["random"]), PipelineConfig())
    yb = np.concatenate(list(b.render_blocks([x[i:i + 1000] for i in range(0, len(x), 1000)], 16000)))
    np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize("sr", [22050, 44100])
def test_offline_render_with_reverb_and_other_rates_equals_the_live_path(models, sr):
    x = _voice(sr, 3.0, seed=4)
    cfg = dict(reverb=True, pitch_shift=-12.0, input_gain_db=-6.0)
    y = InstrumentPipeline(ControlsModel(models["random"]), PipelineConfig(**cfg)).render(x, sr, whole_file=False,
                                                                                         tail_s=0.5)
    ref = InstrumentPipeline(ControlsModel(models["random"]), PipelineConfig(**cfg)).render(
        x, sr, whole_file=False, tail_s=0.5, fast=False, block_size=128)
    assert len(y) == len(ref) and np.sqrt(np.mean(ref[-24000:] ** 2)) > 1e-5  # the reverb tail
    np.testing.assert_array_equal(y, ref)
