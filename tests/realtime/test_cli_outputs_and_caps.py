"""Session 8 clean-ups outside the voice path: the shipped transcriber's name has one home, MIDI-writing commands
refuse a non-MIDI output name before any work, and the MusicRNN/MusicVAE size caps are shared by the CLI and the
API."""
from __future__ import annotations

from pathlib import Path

from tonehost.exports.checkpoints.shipped import PIANO_TRANSCRIBER, transcriber_source


def test_the_shipped_transcriber_by_name_maps_to_the_default_in_one_place():
    assert transcriber_source(PIANO_TRANSCRIBER) is None and transcriber_source(None) is None
    assert transcriber_source(Path(PIANO_TRANSCRIBER)) is None
    assert transcriber_source("onsets_frames_uni") == "onsets_frames_uni"
    import inspect

    from tonehost.realtime.cli import transcribe
    from tonehost.realtime.pipelines import transcriber

    for mod in (transcribe, transcriber):  # neither compares with the name itself any more
        assert "PIANO_TRANSCRIBER" not in inspect.getsource(mod) and "transcriber_source" in inspect.getsource(mod)
