"""``tonehost render --live`` renders what ``tonehost play`` plays: play's live instrument
(:class:`~tonehost.realtime.pipelines.live_voice.LiveInstrument`) block by block at D = 0, streamed from the file."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import soundfile as sf

from tonehost.dsp.features import voice_like
from tonehost.realtime.cli import render as render_cmd
from tonehost.realtime.cli.options import instrument_from_args
from tonehost.realtime.pipelines.live_voice import LiveInstrument
from tonehost.realtime.pipelines.offline import input_at_rate, render_live_stream
from tonehost.realtime.testing.models import VIOLIN_SETTINGS, make_random_controls_onnx


def _parse(*argv):
    parser = argparse.ArgumentParser(prog="tonehost")
    render_cmd.register(parser.add_subparsers(dest="command"))
    return parser.parse_args([str(a) for a in argv])


def _voice(sr, seconds, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    notes = np.repeat(rng.uniform(50, 62, 6), n // 6 + 1)[:n]
    t = np.arange(n) / sr
    gate = (np.sin(2 * np.pi * t / 1.0) > -0.5).astype(float)  # note starts from silence: the onset path
    return (voice_like(440 * 2 ** ((notes - 69) / 12), sr, 0.2) * gate).astype(np.float32)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_random_controls_onnx(tmp_path_factory.mktemp("m") / "violin.onnx", settings=VIOLIN_SETTINGS, seed=3)


@pytest.mark.parametrize("block", [128, 64])
def test_render_live_equals_the_live_instrument(tmp_path, model, block):
    sr = 16000
    x = _voice(sr, 3.0)
    wav, out = tmp_path / "voice.wav", tmp_path / "out.wav"
    sf.write(wav, x, sr, subtype="FLOAT")
    args = _parse("render", wav, "--checkpoint", model, "-o", out, "--live", "--block-size", block, "--tail", 0.1)
    assert args.func(args) == 0
    y, sr_out = sf.read(out, dtype="float32")
    # the reference: play's instrument over the same input at 48 kHz (+ the tail), block by block
    x48 = np.concatenate(list(input_at_rate([x], sr, 48000, 0.1)))
    ref = LiveInstrument(instrument_from_args(args).pipeline()).render(x48, block)
    assert sr_out == 48000 and len(y) == len(ref) == 3 * 48000 + 4800
    assert np.sqrt(np.mean(ref ** 2)) > 1e-3
    np.testing.assert_array_equal(y, ref)


def test_live_stream_in_pieces_equals_one_piece(model):
    """The file's blocks do not matter: the input is re-cut into play's blocks across them."""
    from tonehost.realtime.pipelines.instrument import ControlsModel, InstrumentPipeline, PipelineConfig
    x = _voice(22050, 1.5, seed=1)
    runs = []
    for pieces in ([x], [x[i:i + 1000] for i in range(0, len(x), 1000)]):
        live = LiveInstrument(InstrumentPipeline(ControlsModel(model), PipelineConfig()))
        runs.append(np.concatenate(list(render_live_stream(live, pieces, 22050, 0.05, 128, out_block=3000))))
    assert len(runs[0]) == int(np.ceil(len(x) * 48000 / 22050)) + 2400
    np.testing.assert_array_equal(runs[0], runs[1])
