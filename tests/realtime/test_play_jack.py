"""``tonehost play`` end to end on a real JACK server: a C client's sine into tonehost's input, the instrument out.

The CLI runs as a user would run it (a subprocess), on the GIL-free engine; the test routes
``jack_simple_client`` (a 240 Hz sine: a 200-sample table at 48 kHz) into its input and reads the status line
and summary it prints: the tracked f0, a live output meter, and the engine's counters.
"""
import re
import subprocess
import sys

from tonehost.realtime.testing import jack


def test_play_tracks_and_synthesises_through_jack(jack_server, tmp_path):
    from tonehost.realtime.testing.models import make_random_controls_onnx

    model = tmp_path / "inst.onnx"
    make_random_controls_onnx(model)
    with jack.ReferenceClient("tone240") as ref:
        before = set(jack.ports().split())
        proc = subprocess.Popen([sys.executable, "-m", "tonehost", "play", "--checkpoint", str(model),
                                 "--duration", "6"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            port = jack.wait_new_port(r"tonehost[^:]*:in_0$", before, alive=lambda: proc.poll() is None)
            assert port, "tonehost play never registered its input port:\n" + jack.ports()
            jack.connect(f"{ref.name}:output1", port)
            out, _ = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, out
    lines = [l for l in out.replace("\r", "\n").splitlines() if l.startswith("in ")]
    assert lines, out
    last = lines[-1]
    f0 = float(re.search(r"you\s+([\d.]+) Hz", last).group(1))  # the readout: you F Hz -> instrument G Hz
    out_db = float(re.search(r"out\s+(-?[\d.]+) dB", last).group(1))
    assert abs(f0 - 240.0) < 3.0, last
    assert out_db > -40.0, last
    summary = re.search(r"xruns (\d+), output underruns (\d+) blocks, input dropped (\d+)", out)
    assert summary, out
    xruns, underruns, dropped = (int(g) for g in summary.groups())
    assert underruns <= 5 and dropped == 0, out
