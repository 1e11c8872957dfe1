"""Faults of the voice path found by trying it as a new user would (session 8's trial): ``tonehost render``,
``tonehost pitch``, ``tonehost play``'s options and the Python API (``DDSP``, ``track_pitch``, ``read_audio``) fed
odd rates, odd arrays, odd settings and odd output names.

Each test fails on the code before its fix. Everything runs in this process on short synthetic inputs the test
writes itself; ``play`` is only driven up to its option checks (no audio server is needed).
"""
from __future__ import annotations

import argparse
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import tonehost
from conftest import one_error_line
from conftest import run_main as main
from tonehost.dsp.features import track_pitch, track_pitch_blocks, voice_like
from tonehost.exports.errors import UsageError

SR = 16000


def tone(sr: int, seconds: float = 0.5, f0: float = 220.0) -> np.ndarray:
    return voice_like(np.full(int(sr * seconds), f0), sr, 0.3)


@pytest.fixture(scope="module")
def violin():
    return tonehost.DDSP()


@pytest.fixture
def hum(tmp_path) -> Path:
    p = tmp_path / "hum.wav"
    sf.write(p, tone(SR), SR)
    return p


# ----------------------------------------------------------------------------- track_pitch (the Python API)

def test_one_nan_sample_does_not_silence_the_rest_of_the_track():
    """``track_pitch`` of a hum with one NaN sample at 0.25 s: no voiced frame after it, and no word (the CLI's
    reader zeroed NaNs, the API did not). Now the NaN is silence with one warning and the hum is tracked on."""
    x = tone(SR, 1.0)
    x[SR // 4] = np.nan
    x[SR // 4 + 10] = np.inf
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t, f0, conf = track_pitch(x, SR)
    assert np.isfinite(f0).all() and np.isfinite(conf).all()
    later = t > 0.35
    assert (f0[later] > 0).mean() > 0.95, (f0[later] > 0).mean()
    assert abs(1200 * np.log2(np.median(f0[later][f0[later] > 0]) / 220.0)) < 5
    msgs = [str(w.message) for w in caught if "non-finite" in str(w.message)]
    assert len(msgs) == 1 and "2 non-finite samples" in msgs[0], [str(w.message) for w in caught]


def test_int16_samples_are_scaled_as_read_audio_scales_them():
    """int16 samples went into the tracker as +-32767 (its loudness 90 dB too high: a quiet hiss above the energy
    gate); they are scaled to [-1, 1) as ``read_audio`` and ``DDSP.render`` scale them."""
    x = tone(SR, 0.3)
    pcm = np.round(x * 32767).astype(np.int16)
    ref = [np.concatenate(a) for a in zip(*track_pitch_blocks([pcm.astype(np.float64) / 32768], SR))]
    got = [np.concatenate(a) for a in zip(*track_pitch_blocks([pcm], SR))]
    np.testing.assert_allclose(got[3], ref[3], atol=1e-3)   # loudness_db
    np.testing.assert_array_equal(got[1], ref[1])             # f0


@pytest.mark.parametrize("rate", [8000, 11025, 44100, 96000, 192000])
def test_every_rate_gives_the_same_frames_and_f0(rate):
    """The same 0.5 s tone at any rate: the same frame count and end (a 96 kHz file lost its last frame and a
    192 kHz file two: the flush padding was counted in input samples) and the same f0 within 2 cents."""
    t0, f0_ref, _ = track_pitch(tone(SR), SR)
    t, f0, _ = track_pitch(tone(rate), rate)
    assert len(t) == len(t0) and abs(t[-1] - t0[-1]) < 2.5e-3, (len(t), len(t0), t[-1], t0[-1])
    v = f0 > 0
    assert v.mean() > 0.95
    assert abs(1200 * np.log2(np.median(f0[v]) / 220.0)) < 2


@pytest.mark.parametrize("rate", [1, 7, 999])
def test_a_rate_too_low_for_a_voice_is_one_error(violin, rate):
    """``track_pitch(x, 1)`` asked for 61 GiB (MemoryError); the voice path takes 1000 Hz and up (as files)."""
    x = np.zeros(2000, np.float32)
    with pytest.raises(ValueError, match="sample_rate must be a whole number from 1000"):
        track_pitch(x, rate)
    with pytest.raises(UsageError, match="from 1000"):
        violin.render(x, rate)


# ----------------------------------------------------------------------------- DDSP (the Python API)

@pytest.mark.parametrize("rate", [8000, 11025, 1])
def test_an_output_rate_under_the_models_is_one_error(rate):
    """``DDSP(sample_rate=8000).render(...)`` and ``play --sample-rate 8000`` ended in ``ValueError: could not
    broadcast input array from shape (65,) into shape (33,)`` inside the synth (the noise bands reach the model's
    8 kHz Nyquist); now one UsageError naming both rates, at construction."""
    with pytest.raises(UsageError, match="plays at 16000 Hz or more"):
        tonehost.DDSP(sample_rate=rate)


def test_play_at_a_rate_under_the_models_is_one_line():
    rc, out, err = main("play", "--sample-rate", "8000", "--duration", "1")
    assert rc == 1
    one_error_line(err, "16000 Hz or more", "8000 Hz")


@pytest.mark.parametrize("rate", [float("nan"), "48000", 10 ** 9, 44100.5])
def test_a_bad_output_rate_type_is_one_usage_error(rate):
    """``DDSP(sample_rate=nan)`` raised ``ValueError: cannot convert float NaN to integer``; ``"48000"`` was
    reported as ``got 48000`` (unquoted, as if the number were wrong); ``10**9`` was taken."""
    with pytest.raises(UsageError, match=r"sample_rate must be a whole number of Hz") as exc:
        tonehost.DDSP(sample_rate=rate)
    assert repr(rate) in str(exc.value)


@pytest.mark.parametrize("settings, words", [
    ({"pitch_shift": float("nan")}, "pitch_shift"),
    ({"pitch_shift": 100}, "pitch_shift"),
    ({"output_gain": -1.0}, "output_gain"),
    ({"input_gain_db": 1e9}, "input_gain_db"),
    ({"reverb": "yes"}, "reverb must be True or False"),
    ({"auto_register": None}, "auto_register must be True or False"),
    ({"tracker": "crepe"}, "tracker must be"),
    ({"foo": 1}, "unknown DDSP setting foo"),
])
def test_ddsp_settings_are_checked_as_the_command_line_checks_them(settings, words):
    """``DDSP(pitch_shift=nan)``, ``output_gain=-1`` (an inverted output), ``input_gain_db=1e9`` and
    ``reverb="yes"`` were taken; ``tracker="crepe"`` failed only at the first render; an unknown name was
    ``TypeError: PipelineConfig.__init__() got an unexpected keyword argument``. Now one UsageError each, at
    construction, with the command line's ranges."""
    with pytest.raises(UsageError, match=words):
        tonehost.DDSP(**settings)


def test_good_ddsp_settings_still_render(violin):
    y = tonehost.DDSP(pitch_shift=-12, output_gain=0.5, input_gain_db=-6, reverb=np.bool_(False)).render(
        tone(SR, 0.2), SR)
    assert y.dtype == np.float32 and len(y) == int(np.ceil(0.2 * 48000)) and np.isfinite(y).all()


# ----------------------------------------------------------------------------- read_audio

def test_read_audio_takes_a_bytes_name_and_refuses_samples(hum):
    """``read_audio(b"take.wav")`` and ``read_audio(samples)`` were TypeErrors from pathlib; the bytes name is read
    as the OS names it, samples (or None) are one UsageError saying what is expected."""
    x, sr = tonehost.read_audio(bytes(hum))
    assert sr == SR and len(x) == SR // 2
    with pytest.raises(UsageError, match="already samples"):
        tonehost.read_audio(x)
    with pytest.raises(UsageError, match="file name"):
        tonehost.read_audio(None)


# ----------------------------------------------------------------------------- tonehost pitch / render

@pytest.mark.parametrize("option, name, fix", [
    ("-o", "f0.wav", "f0.csv"),
    ("-o", "f0", "f0.csv"),
    ("--midi", "notes.txt", "notes.mid"),
    ("--midi", "notes.wav", "notes.mid"),
])
def test_pitch_outputs_are_named_for_what_they_hold(hum, tmp_path, option, name, fix):
    """``pitch take.wav -o f0.wav`` wrote CSV text into a .wav file and ``--midi notes.txt`` a MIDI file into a
    .txt: one line naming the fix, before any work, and nothing written."""
    out = tmp_path / name
    argv = ["pitch", hum, "-o", out] if option == "-o" else ["pitch", hum, "-o", tmp_path / "f0.csv", "--midi", out]
    rc, _, err = main(*argv)
    assert rc == 1
    one_error_line(err, option, fix)
    assert not out.exists() and not (tmp_path / "f0.csv").exists()


def test_pitch_still_writes_csv_and_midi(hum, tmp_path):
    rc, out, err = main("pitch", hum, "-o", tmp_path / "f0.txt", "--midi", tmp_path / "n.MIDI")
    assert rc == 0, err
    assert (tmp_path / "f0.txt").read_text().startswith("time,f0_hz,confidence") and (tmp_path / "n.MIDI").is_file()


def test_pitch_summary_of_an_empty_file_has_no_speed(tmp_path):
    """An empty WAV's summary said ``0 frames, 0.00 s of audio in 1.03 s (0.0x real time)``."""
    p = tmp_path / "empty.wav"
    sf.write(p, np.zeros(0, np.float32), SR)
    rc, out, err = main("pitch", p, "-o", tmp_path / "f0.csv")
    assert rc == 0, err
    assert "0 frames" in out and "real time" not in out, out


def test_render_of_silence_says_silent(tmp_path):
    """A render that came out all zeros (a one-sample file) said ``peak -180.0 dBFS``."""
    p = tmp_path / "one.wav"
    sf.write(p, np.full(1, 0.1, np.float32), SR)
    rc, out, err = main("render", p, "-o", tmp_path / "out.wav")
    assert rc == 0, err
    assert "silent" in out and "-180" not in out, out


def test_render_does_not_report_a_register_shift_it_did_not_apply(tmp_path):
    """``render whistle.wav --no-auto-register`` said "register shift -2 oct" over an output at the whistle's own
    1500 Hz (the whole-file statistics compute a shift that is then not applied)."""
    p = tmp_path / "whistle.wav"
    sf.write(p, tone(SR, 0.5, 1500.0), SR)
    rc, out, err = main("render", p, "-o", tmp_path / "out.wav", "--no-auto-register")
    assert rc == 0, err
    assert "register shift off" in out and "-2 oct" not in out, out
    y, sr = sf.read(tmp_path / "out.wav")
    _, f0, _ = track_pitch(y, sr)
    assert abs(1200 * np.log2(np.median(f0[f0 > 0]) / 1500.0)) < 20


def test_render_block_size_without_live_is_refused(hum, tmp_path):
    """``render --block-size 64`` without ``--live`` was taken and ignored (the file came out the same)."""
    rc, _, err = main("render", hum, "-o", tmp_path / "out.wav", "--block-size", "64")
    assert rc == 1
    one_error_line(err, "--block-size", "--live")
    assert not (tmp_path / "out.wav").exists()


# ----------------------------------------------------------------------------- tonehost play's options

@pytest.mark.parametrize("argv, words", [
    (["--voices", "4"], "--voices"),
    (["--portamento", "0.5"], "--portamento"),
    (["--midi-in", "keys", "--midi-out", "synth"], "use one or the other"),
])
def test_play_midi_options_that_would_be_ignored_are_one_line(argv, words):
    """``play --voices 4`` / ``--portamento`` without ``--midi-in`` played the voice as if they were not given;
    ``--midi-in X --midi-out Y`` sent nothing on Y. One line each, before any device or model is opened."""
    rc, _, err = main("play", *argv, "--duration", "1")
    assert rc == 1
    one_error_line(err, words)


@pytest.mark.parametrize("argv, words", [
    (["--midi-in", ""], "--midi-in"),
    (["--midi-in", "   "], "--midi-in"),
    (["--midi-out", ""], "--midi-out"),
    (["--midi-in", "keys", "--voices", "0"], "from 1 to 32"),
])
def test_play_blank_port_names_and_voice_counts_are_one_short_line(argv, words):
    """``--midi-in ""`` ran the voice path without a word; ``--voices 0`` listed all 32 allowed numbers."""
    rc, _, err = main("play", *argv)
    assert rc == 2
    line = one_error_line(err, words)
    assert "choose from" not in line and len(line) < 200, line


def test_play_portamento_reaches_chords_and_defaults_stay():
    """``--midi-in keys --voices 4 --portamento 0.2`` dropped the glide (the chords got 0); defaults unchanged:
    0.05 s for one voice, none for chords."""
    from tonehost.realtime.cli.play import check_midi_options

    def ns(**kw):
        base = dict(midi_in="keys", midi_out=None, voices=None, portamento=None)
        return argparse.Namespace(**{**base, **kw})

    a = ns(voices=4, portamento=0.2)
    check_midi_options(a)
    assert (a.voices, a.portamento) == (4, 0.2)
    a = ns()
    check_midi_options(a)
    assert (a.voices, a.portamento) == (8, 0.0)
    a = ns(voices=1)
    check_midi_options(a)
    assert (a.voices, a.portamento) == (1, 0.05)


# ----------------------------------------------------------------------------- tonehost devices --midi

def test_devices_midi_does_not_ask_whether_a_running_jack_server_runs(private_jack):
    """With a JACK server up (no MIDI ports: the dummy backend) ``devices --midi`` said "no JACK MIDI ports (is a
    JACK server running?)". It runs in a child process (JACK clients only there)."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "tonehost", "devices", "--midi"], capture_output=True, text=True,
                       timeout=60, env=private_jack.env)
    assert r.returncode == 0, r.stderr
    assert "is a JACK server running?" not in r.stdout and "the JACK server has no MIDI ports" in r.stdout, r.stdout


def record_bars(monkeypatch, module) -> list:
    """The progress bars ``module`` opens through ``outputs.seconds_bar``, kept (enabled, drawn into a string)."""
    from tonehost.realtime.cli.outputs import seconds_bar

    bars = []

    def recorded(desc, frames, sample_rate, **kw):
        bar = seconds_bar(desc, frames, sample_rate, **{**kw, "disable": False, "file": io.StringIO()})
        bars.append(bar)
        return bar

    monkeypatch.setattr(module, "seconds_bar", recorded)
    return bars


def test_pitch_with_the_ddsp_vst_model_shows_its_progress(tmp_path, monkeypatch):
    """``pitch --tracker ddsp-vst`` runs the model once per frame after reading the file: its bar stood at 100 %
    while the model ran (about 1 s per 0.02 s of audio at --hop-ms 0.0625: hours for a song, without a sign).
    Now a "pitch model" bar counts the frames to the end."""
    import tonehost.realtime.cli.pitch as pitch_cli
    bars = record_bars(monkeypatch, pitch_cli)
    p = tmp_path / "short.wav"
    sf.write(p, tone(SR, 0.1), SR)
    rc, out, err = main("pitch", p, "-o", tmp_path / "f0.csv", "--tracker", "ddsp-vst")
    assert rc == 0, err
    model = [b for b in bars if b.desc == "pitch model"]
    assert len(model) == 1 and model[0].n == model[0].total == SR // 10, [(b.desc, b.n, b.total) for b in bars]


def test_render_with_the_ddsp_vst_model_shows_the_analysis_pass(tmp_path, monkeypatch):
    """``render --tracker ddsp-vst`` measured the whole file (a first pass through the model) without a bar; the
    default tracker's render had one ("analysing"). Now both do, and it reaches the end."""
    import tonehost.realtime.cli.render as render_cli
    bars = record_bars(monkeypatch, render_cli)
    p = tmp_path / "short.wav"
    sf.write(p, tone(SR, 0.2), SR)
    rc, out, err = main("render", p, "-o", tmp_path / "out.wav", "--tracker", "ddsp-vst")
    assert rc == 0, err
    first = [b for b in bars if b.desc == "analysing"]
    assert len(first) == 1 and first[0].n == first[0].total == SR // 5, [(b.desc, b.n, b.total) for b in bars]


def test_one_nan_sample_does_not_silence_the_live_instrument(violin):
    """``DDSP().pipeline().process(block)`` (the live worker of the API map) with one NaN sample: the tracker's
    DC blocker kept the NaN and the instrument was silent from then on (-135 dB while the voice went on); now the
    NaN is silence and the instrument plays on as without it."""
    x = voice_like(np.full(48000 * 3 // 2, 220.0), 48000, 0.3).astype(np.float32)
    bad = x.copy()
    bad[12000] = np.nan

    def last_rms(sig):
        pipe = violin.pipeline()
        y = np.concatenate([pipe.process(sig[i:i + 1024]) for i in range(0, len(sig), 1024)])
        assert np.isfinite(y).all()
        return float(np.sqrt(np.mean(y[-24000:] ** 2))), pipe

    clean, _ = last_rms(x)
    got, pipe = last_rms(bad)
    assert abs(20 * np.log10(got / clean)) < 1.0, (got, clean)
    assert pipe.non_finite == 1


def test_one_nan_sample_does_not_silence_the_voice_tracker():
    """:class:`VoiceTracker` itself (``LiveInstrument`` feeds it directly): one NaN and no voiced frame after it."""
    from tonehost.dsp.features import VoiceTracker

    x = tone(SR, 1.0)
    x[SR // 4] = np.nan
    vt = VoiceTracker()
    fr = vt.process(x)
    later = np.arange(len(fr)) * vt.cfg.hop / SR > 0.4
    assert fr.voiced[later].mean() > 0.95 and vt.non_finite == 1


def test_the_polyphony_warning_does_not_tell_a_speaker_to_record_a_single_voice():
    """``pitch --midi`` of one person speaking (FDA rl001: 17 notes in 1.5 s) said "it looks polyphonic ... or
    noisy; ... record a single voice", which that recording is. Speech is named, and the fix is to hum or sing."""
    from tonehost.realtime.midi.hum import check_polyphony

    with pytest.warns(UserWarning, match="polyphonic") as caught:
        assert check_polyphony(17, 1.5, "speech.wav")
    msg = str(caught[0].message)
    assert "spoken" in msg and "record a single voice" not in msg and "hum or sing" in msg, msg


def test_play_takes_the_sound_servers_rate_by_default(tmp_path):
    """``tonehost play`` asked for 48000 Hz whatever ran: with JACK at 44100 Hz a first run was one error line
    ("pass --samplerate 44100"). It now opens the device at its own rate (a child process, JACK clients only there;
    a JACK dummy server of its own at 44.1 kHz)."""
    import shutil
    import subprocess
    import sys

    from tonehost.realtime.testing import jack

    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed")
    with jack.private_server(44100, 128, log_path=str(tmp_path / "jackd.log")) as server:
        r = subprocess.run([sys.executable, "-m", "tonehost", "play", "--duration", "0.5"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120, env=server.env)
    assert r.returncode == 0, r.stderr
    assert "playing violin at 44100 Hz" in r.stderr, r.stderr


@pytest.mark.parametrize("checkpoint, words", [("", "checkpoint is empty"), ("   ", "checkpoint is empty"),
                                               (123, "got int")])
def test_an_empty_or_non_path_checkpoint_is_one_usage_error(checkpoint, words):
    """``DDSP(checkpoint="")`` went to download the hosted violin (7 s of retries offline; the CLI refused ""
    already) and ``checkpoint=123`` was pathlib's TypeError."""
    with pytest.raises(UsageError, match=words):
        tonehost.DDSP(checkpoint=checkpoint)


def test_flags_of_the_api_must_be_bools(violin):
    """``render(..., live="no")`` rendered live; ``track_pitch(..., unvoiced_guess="no")`` returned guesses;
    ``track_pitch(..., config=123)`` was an AttributeError from inside."""
    x = np.zeros(1600, np.float32)
    with pytest.raises(UsageError, match="live must be True or False"):
        violin.render(x, SR, live="no")
    with pytest.raises(ValueError, match="unvoiced_guess must be True or False"):
        track_pitch(x, SR, unvoiced_guess="no")
    with pytest.raises(ValueError, match="config must be a TrackerConfig"):
        track_pitch(x, SR, config=123)


def test_play_with_reverb_measures_its_pitch_latency():
    """``play --reverb`` said "pitch step nan ms" at start (the step drowned in the first tone's reverb) and left it
    out of the readout's latency. The measurement runs on the dry pipeline (the reverb's dry path adds no delay)."""
    from tonehost.realtime.cli.play import _ms, dry_pipeline
    from tonehost.realtime.pipelines.instrument import measure_latency

    wet = tonehost.DDSP(reverb=True)
    got = measure_latency(dry_pipeline(wet), 128)
    dry = measure_latency(tonehost.DDSP().pipeline(), 128)
    assert np.isfinite(got["pitch_step_ms"]) and got == dry, (got, dry)
    assert _ms(float("nan")) == "not measured" and _ms(12.34) == "12.3 ms"


@pytest.mark.parametrize("command", ["play", "devices"])
def test_play_and_devices_help_fit_a_terminal(command):
    """``play --help`` had description lines of 127 and 170 characters (hard-wrapped by hand), ``devices --help``
    of 148: they ran past a 100-column terminal (render's and pitch's are checked in test_render_pitch_faults)."""
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "tonehost", command, "--help"], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "COLUMNS": "100"})
    assert r.returncode == 0
    long = [ln for ln in r.stdout.splitlines() if len(ln) > 100]
    assert long == [], long
