"""``tonehost transcribe --live`` on a real JACK server, through the GIL-free engine (input-only stream).

A C client's tone is routed into tonehost's input; the CLI (a subprocess, as a user runs it) must capture it
without dropping input, run the model, print note events and leave a valid MIDI file when it stops.
With random weights the notes are arbitrary: this checks the live plumbing, not accuracy.
"""
import re
import subprocess
import sys

import mido

from tonehost.exports.convert.onsets_frames import random_weights
from tonehost.exports.tfjs import write_layers_checkpoint
from tonehost.realtime.testing import jack


def test_live_transcription_through_jack(jack_server, tmp_path):
    ckpt = tmp_path / "onsets_frames_test"
    write_layers_checkpoint(ckpt, random_weights(0))
    out_mid = tmp_path / "take.mid"
    with jack.ReferenceClient("tone_live") as ref:
        before = set(jack.ports().split())
        proc = subprocess.Popen([sys.executable, "-m", "tonehost", "transcribe", "--live", "--checkpoint",
                                 str(ckpt), "--seconds", "5", "-o", str(out_mid)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            port = jack.wait_new_port(r"tonehost[^:]*:in_0$", before, timeout=60, alive=lambda: proc.poll() is None)
            assert port, jack.ports()
            jack.connect(f"{ref.name}:output1", port)
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, out
    assert "transcribing the microphone at 48000 Hz" in out, out
    m = re.search(r"(\d+) notes -> ", out)
    assert m and int(m.group(1)) > 0, out
    assert re.search(r"\bon\s+\S+\s+\(\s*\d+\)\s+vel", out), out   # events printed as they came
    midi = mido.MidiFile(out_mid)
    assert sum(1 for msg in midi.tracks[-1] if msg.type == "note_on" and msg.velocity > 0) == int(m.group(1))
