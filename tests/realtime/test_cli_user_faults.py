"""Faults found by trying tonehost as a new user would (files, options and pipes real users feed it).

Each test fails on the code before its fix: the command line wrote over its own input, tracebacks on a closed pipe,
and so on. The commands are run in-process through :func:`tonehost.realtime.cli.main` where they stop before any
model loads, and as a subprocess where the process's own exit matters (a pipe closed by ``head``).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from tonehost.realtime.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# (argv, whether the output's name fits what the command writes): a misnamed one (MIDI into take.wav, latent
# vectors into melody.mid) is refused while parsing, before the overwrite check (exit 2, "name it ..."); the input
# must stay untouched either way
@pytest.mark.parametrize("argv, named", [
    (["transcribe", "{wav}", "-o", "{wav}"], False),
    (["transcribe", "{wav}", "-o", "{tmp}/sub/../take.wav"], False),
    (["transcribe", "{wav}", "--notes", "{wav}"], False),
    (["transcribe", "--live", "--input-file", "{wav}", "-o", "{wav}"], False),
    (["transcribe", "{wavmid}", "-o", "{wavmid}"], True),  # audio in a file named .mid: the overwrite check
    (["transcribe", "--live", "--input-file", "{wavmid}", "-o", "{wavmid}"], True),
    (["continue", "{mid}", "-o", "{mid}"], True),
    (["vae", "similar", "{mid}", "-o", "{mid}"], True),
    (["vae", "interpolate", "{mid}", "{mid}", "-o", "{mid}"], True),
    (["vae", "encode", "{mid}", "-o", "{mid}"], False),
    (["groove", "{mid}", "-o", "{mid}"], True),
])
def test_no_command_writes_over_its_input(argv, named, wav, mid, tmp_path, capsys):
    """`transcribe take.wav -o take.wav` replaced the recording by a 74-byte MIDI file (and `vae similar`,
    `vae encode`, `continue` and `groove` did the same to their MIDI input): every command now refuses an output
    that names one of its inputs, in one line, before anything runs."""
    (tmp_path / "sub").mkdir()
    wavmid = tmp_path / "audio.mid"
    wavmid.write_bytes(wav.read_bytes())
    before = {p: _digest(p) for p in (wav, mid, wavmid)}
    argv = [a.format(wav=wav, mid=mid, tmp=tmp_path, wavmid=wavmid) for a in argv]
    err = None
    if named:
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert "is the input file" in err and "give another output name" in err, err
    else:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "this command writes" in err and "; name it " in err, err
    assert err.count("\n") == 0, err
    assert {p: _digest(p) for p in (wav, mid, wavmid)} == before


def test_two_outputs_naming_one_file_are_refused(wav, tmp_path, capsys):
    out = tmp_path / "x.mid"
    # --notes must now be named .tsv/.txt, so that line comes first (refuse_same_file's own two-outputs refusal:
    # tests/realtime/test_cli_outputs_and_caps.py::test_two_outputs_naming_one_file_are_still_refused)
    assert main(["transcribe", str(wav), "-o", str(out), "--notes", str(out)]) == 2
    assert "name it x.tsv" in capsys.readouterr().err
    assert not out.exists()


def test_an_input_symlinked_to_the_output_is_refused(wav, tmp_path, capsys):
    target = tmp_path / "take.mid"  # audio in a file named .mid, so -o passes the name check (MIDI is .mid)
    target.write_bytes(wav.read_bytes())
    link = tmp_path / "link.wav"
    link.symlink_to(target)
    before = _digest(target)
    assert main(["transcribe", str(link), "-o", str(target)]) == 1
    assert "is the input file" in capsys.readouterr().err
    assert _digest(target) == before


@pytest.mark.parametrize("cmd", [["checkpoints", "list"], ["--help"], ["checkpoints", "list", "--json"]])
def test_a_closed_pipe_is_no_traceback(cmd):
    """`tonehost checkpoints list | head -2` ended in a BrokenPipeError traceback."""
    script = (f"import sys; sys.argv = ['tonehost'] + {cmd!r}; from tonehost.realtime.cli import main; "
              "sys.exit(main())")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    proc.stdout.close()  # the reader goes away (as `head` does once it has its lines): every write fails
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert rc in (0, 2), (rc, err)  # --help exits 0 (argparse); list 0


# ------------------------------------------------------------- option values of the generative commands

@pytest.mark.parametrize("argv", [
    ["continue", "{mid}", "-o", "{tmp}/o.mid", "--temperature", "1e308"],
    ["vae", "sample", "-o", "{tmp}/o.mid", "--temperature", "1e308"],
    ["groove", "{mid}", "-o", "{tmp}/o.mid", "--temperature", "1e300"],
    ["jam", "--temperature", "1e9"],
    ["jam", "--drums-temperature", "101"],
    ["tap2drum", "--temperature", "1e9"],
    ["continue", "{mid}", "-o", "{tmp}/o.mid", "--qpm", "1e-9"],
    ["continue", "{mid}", "-o", "{tmp}/o.mid", "--qpm", "1e9"],
    ["vae", "sample", "-o", "{tmp}/o.mid", "--qpm", "3"],
    ["jam", "--qpm", "0.001"],
    ["continue", "{mid}", "-o", "{tmp}/o.mid", "--steps", "100000000"],
    ["continue", "{mid}", "-o", "{tmp}/o.mid", "--checkpoint", ""],
    ["vae", "sample", "-o", "{tmp}/o.mid", "--checkpoint", " "],
    ["transcribe", "{mid}", "-o", "{tmp}/o.mid", "--checkpoint", ""],
    ["groove", "{mid}", "-o", "{tmp}/o.mid", "--checkpoint", ""],
    ["continue", "{mid}", "-o", "{tmp}/o.mid", "--chords", ""],
    ["vae", "sample", "-o", "{tmp}/o.mid", "--chords", " "],
    ["jam", "--chords", ""],
    ["jam", "--instrument", "kazoo"],
    ["transcribe", "{mid}", "-o", "{tmp}/o.mid", "--threads", "100000"],
    ["continue", "{mid}", "-o", "{tmp}/o.mid", "--threads", "100000"],
    ["vae", "sample", "-o", "{tmp}/o.mid", "--threads", "100000"],
    ["groove", "{mid}", "-o", "{tmp}/o.mid", "--threads", "100000"],
    ["transcribe", "{mid}", "--out-dir", "{tmp}/out", "--jobs", "100000"],
    ["checkpoints", "fetch", "basic_rnn", "--retries", "1000000"],
    ["continue", "{mid}", "-o", "-"],
    ["transcribe", "{mid}", "-o", "-"],
    ["vae", "sample", "-o", "-"],
])
def test_generative_option_values_are_checked_while_parsing(argv, mid, tmp_path, capsys):
    """--temperature 1e308 leaked numpy's overflow warning, --qpm 1e-9 ended in mido's traceback, --steps 1e8 ran
    for hours without a word, --checkpoint '' read the working directory as a checkpoint: each is now one line
    naming the option and its range, exit 2, before any model loads."""
    argv = [a.format(mid=mid, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tonehost: error: argument -") and "\n" not in err, err
    assert not (tmp_path / "o.mid").exists()


def test_the_samplers_share_one_temperature_check():
    from tonehost.exports.errors import UsageError
    from tonehost.exports.tfjs.random import MAX_TEMPERATURE, check_temperature
    from tonehost.realtime.pipelines import music_rnn, music_vae

    assert music_rnn.check_temperature is check_temperature and music_vae.check_temperature is check_temperature
    for check in (check_temperature,):
        assert check(None) is None and check(0) is None and check(0.5) == 0.5 and check(MAX_TEMPERATURE) == 100
        for bad in (1e308, float("inf"), float("nan"), -1, "1.0", True):
            with pytest.raises(UsageError, match="temperature must be"):
                check(bad)


def test_a_large_temperature_samples_without_warnings(mid):
    import warnings

    from tonehost import MusicRNN, NoteSequence

    primer = NoteSequence.from_midi(mid).quantize(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = MusicRNN().continue_sequence(primer, 16, temperature=100.0, rng=1)
    assert out.total_quantized_steps == 16


@pytest.mark.parametrize("change", ["pitch200", "pitch-1", "program128", "nan", "inf", "qpm1e-9", "qpm1e12"])
def test_to_midi_refuses_what_midi_cannot_hold_and_leaves_no_temporary_file(change, tmp_path):
    """`NoteSequence.to_midi` raised mido's ValueError (or wrote a file no reader opens, at 1e12 qpm) and left a
    ``tmp*.mid.tmp`` beside the target at every failure."""
    from tonehost.exports.note_sequence import Note, NoteSequence, SequenceError, Tempo

    note = Note(pitch=60, velocity=80, start_time=0.0, end_time=1.0)
    seq = NoteSequence(notes=[note])
    if change.startswith("pitch"):
        note.pitch = int(change[5:])
    elif change.startswith("program"):
        note.program = int(change[7:])
    elif change.startswith("qpm"):
        seq.tempos = [Tempo(0.0, float(change[3:]))]
    else:
        note.end_time = float(change)
    (tmp_path / "old.mid").write_bytes(b"old")
    with pytest.raises(SequenceError, match="cannot write .*old.mid"):
        seq.to_midi(tmp_path / "old.mid")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.mid"]
    assert (tmp_path / "old.mid").read_bytes() == b"old"


# ------------------------------------------------------------------------------------------ checkpoints

@pytest.mark.parametrize("source", ["", "   ", "{tmp}"])
def test_checkpoints_fetch_refuses_a_folder_that_holds_no_checkpoint(source, tmp_path, monkeypatch, capsys):
    """`tonehost checkpoints fetch ""` printed the working directory and exited 0 (any folder passed as a
    checkpoint); now one line, exit 1."""
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "cache"))
    assert main(["checkpoints", "fetch", source.format(tmp=tmp_path)]) == 1
    cap = capsys.readouterr()
    assert cap.out == "" and ("is empty" in cap.err or "holds no checkpoint" in cap.err), cap.err


def test_a_checkpoint_url_with_a_space_is_fetched(tmp_path, monkeypatch, capsys):
    """`checkpoints fetch "http://host/sp ace"` was retried 4 times and blamed the network (urllib: "URL can't
    contain control characters"); the path is percent-encoded now, the same checkpoint as ``sp%20ace``."""
    import functools
    import http.server
    import shutil
    import threading

    from tonehost.exports.checkpoints.shipped import shipped_checkpoint

    served = tmp_path / "srv"
    shutil.copytree(shipped_checkpoint("basic_rnn_folk"), served / "sp ace")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path / "cache"))
    try:
        base = f"http://127.0.0.1:{server.server_port}/"
        assert main(["checkpoints", "fetch", base + "sp ace", "--retries", "0", "-q"]) == 0
        first = capsys.readouterr().out.strip()
        assert main(["checkpoints", "fetch", base + "sp%20ace", "--retries", "0", "-q"]) == 0
        assert capsys.readouterr().out.strip() == first
    finally:
        server.shutdown()
    got = Path(first)
    assert (got / "weights_manifest.json").read_bytes() == (served / "sp ace" / "weights_manifest.json").read_bytes()


# ----------------------------------------------------------------------------------------------- --help

def _parsers():
    import argparse

    from tonehost.realtime.cli import build_parser

    def walk(p, name):
        yield name, p
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for n, sp in a.choices.items():
                    yield from walk(sp, f"{name} {n}")

    return list(walk(build_parser(), "tonehost"))


@pytest.mark.parametrize("name,parser", _parsers(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_help_shows_an_example_command_line(name, parser, monkeypatch):
    """`tonehost --help`, `checkpoints [list|info|fetch] --help`, `export [onsets-frames|ddsp|transkun] --help`
    and `train-instrument --help` had no example; every parser now shows at least one runnable line of its own
    command, kept as written (not re-wrapped) at any terminal width."""
    import re

    monkeypatch.setenv("COLUMNS", "60")
    text = parser.format_help()
    lines = [ln.strip() for ln in text.splitlines() if re.match(r"^\s+tonehost \S", ln)]
    assert any(ln.startswith(name) for ln in lines), f"{name} --help has no example of itself:\n{text}"


# ------------------------------------------------------------------------- the Python API's audio arrays

@pytest.fixture(scope="module")
def piano():
    from tonehost import OnsetsAndFrames

    return OnsetsAndFrames()


@pytest.mark.parametrize("audio,sr,match", [
    ("take.wav", 16000, "is a file name"),
    (np.zeros((2, 16000), np.float32), 16000, r"\[channels, n\] pass audio.T"),
    (np.zeros((2, 2, 100), np.float32), 16000, "numeric array"),
    (np.array(["a", "b"]), 16000, "numeric array"),
    (np.zeros(1600, np.float32), float("nan"), "sample_rate must be a whole number"),
    (np.zeros(1600, np.float32), 10 ** 9, "sample_rate must be a whole number"),
    (np.zeros(1600, np.float32), 0, "sample_rate must be a whole number"),
])
def test_transcribe_refuses_what_is_not_audio_in_one_sentence(piano, audio, sr, match):
    """A file name gave numpy's "could not convert string to float", librosa's [2, n] was averaged over the wrong
    axis (2 samples, no notes, no error), a 3-D array was flattened silently, NaN or 1e9 Hz ended in ValueErrors
    from the resampler."""
    from tonehost import TonehostError

    with pytest.raises(TonehostError, match=match):
        piano.transcribe(audio, sr)


def test_transcribe_of_no_samples_is_an_empty_sequence(piano):
    """0 samples raised an IndexError from the mel filterbank."""
    seq = piano.transcribe(np.zeros(0, np.float32), 44100)
    assert seq.notes == [] and seq.total_time == 0.0


def test_whole_number_pcm_is_scaled_like_soundfile_and_nan_is_warned(piano, data_dir):
    """int16 samples were fed as floats of +-32767 (no error); NaN samples were not reported (files were)."""
    x, _ = sf.read(data_dir / "piano" / "stereo_sample.wav", dtype="float32", frames=3 * 44100)
    x = resample_poly(x.mean(axis=1), 160, 441).astype(np.float32)
    as_float = [(n.pitch, round(n.start_time, 2)) for n in piano.transcribe(x, 16000).notes]
    pcm = np.round(x * 32767).astype(np.int16)
    assert [(n.pitch, round(n.start_time, 2)) for n in piano.transcribe(pcm, 16000).notes] == as_float
    assert as_float, "the test tone should give a note"
    bad = x.copy()
    bad[100:200] = np.nan
    from tonehost.exports.errors import NonFiniteAudioWarning

    with pytest.warns(NonFiniteAudioWarning, match="100 non-finite"):
        piano.transcribe(bad, 16000)
    assert np.isnan(bad[150])  # the caller's array is not modified
    s = piano.stream(sample_rate=16000)
    with pytest.raises(Exception, match="sample_rate"):
        piano.stream(sample_rate=-5)
    s.push(np.zeros((1, 2), np.float32))  # a last block of one stereo frame is [n=1, channels=2]


def _run_on_a_small_disk(argv, limit: int, env=None):
    """``tonehost ARGV`` in a child whose files cannot grow past ``limit`` bytes (RLIMIT_FSIZE: a full disk)."""
    import resource
    import signal

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    script = "import sys; from tonehost.realtime.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True,
                          preexec_fn=small_disk, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


@pytest.mark.parametrize("name", ["z.npy", "z.json"])
def test_vae_encode_never_leaves_half_a_file(name, mid, tmp_path):
    """`vae encode -o z.json` wrote with np.save / Path.write_text straight into the target: a disk that filled
    part way left a truncated file under the final name (the old one gone) and a traceback. Now the write goes
    through write_atomic: one line, exit 1, the old file kept. The full disk is RLIMIT_FSIZE (1 kB: the vectors
    of one sequence are ~2.5 kB of JSON, 640 bytes of .npy + header ... so z.npy gets 1 sequence x 2)."""
    out = tmp_path / name
    out.write_bytes(b"old")
    inputs = [str(mid)] * (1 if name.endswith(".json") else 4)

    proc = _run_on_a_small_disk(["vae", "encode", *inputs, "-o", str(out)], 1024)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("tonehost: error: cannot write"), proc.stderr
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_transcribe_notes_tsv_on_a_full_disk_is_one_line(wav, tmp_path):
    """`transcribe --notes out.tsv` on a full disk ended in an OSError traceback (batch._atomic_text, a second copy
    of write_atomic without its error handling); the TSV now goes through write_notes_tsv / write_atomic."""
    out = tmp_path / "notes.tsv"
    out.write_text("old")
    proc = _run_on_a_small_disk(["transcribe", str(wav), "--notes", str(out)], 0)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("tonehost: error: cannot write") and out.read_text() == "old"


def test_checkpoints_fetch_on_a_full_disk_is_one_line(tmp_path):
    """`checkpoints fetch` onto a full disk ended in an OSError traceback from the downloader's .part file."""
    import functools
    import http.server
    import shutil
    import threading

    from tonehost.exports.checkpoints.shipped import shipped_checkpoint

    shutil.copytree(shipped_checkpoint("mel_2bar_folk"), tmp_path / "srv" / "vae")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "srv"))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = _run_on_a_small_disk(["checkpoints", "fetch", f"http://127.0.0.1:{server.server_port}/vae",
                                     "--retries", "0", "-q"], 0, env={"TONEHOST_CACHE": str(tmp_path / "cache")})
    finally:
        server.shutdown()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("tonehost: error: cannot write") and "free some space" in proc.stderr


@pytest.mark.parametrize("argv,match", [
    (["vae", "sample", "-o", "{tmp}/o.mid", "-n", "1000000000"], "argument -n/--num"),
    (["vae", "similar", "{mid}", "-o", "{tmp}/o.mid", "-n", "100000000"], "argument -n/--num"),
    (["vae", "interpolate", "{mid}", "{mid}", "-o", "{tmp}/o.mid", "--steps", "100000000"], "argument --steps"),
    (["vae", "interpolate", "{mid}", "{mid}", "{mid}", "{mid}", "-o", "{tmp}/o.mid", "--grid", "100000x100000"],
     "at most 1000"),
    (["vae", "interpolate", "{mid}", "{mid}", "{mid}", "{mid}", "-o", "{tmp}/o.mid", "--steps", "40"],
     "at most 1000"),
])
def test_vae_counts_are_bounded(argv, match, mid, tmp_path, capsys):
    """`vae sample -n 1000000000` (and similar -n, interpolate --steps / --grid) ended in numpy's MemoryError
    traceback after allocating; -n 100000 ran for hours. Now one line before any model loads."""
    rc = main([a.format(mid=mid, tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc in (1, 2) and match in err and "\n" not in err, err
    assert not (tmp_path / "o.mid").exists()


@pytest.mark.parametrize("bad", [float("nan"), 2.5, "4", 0, 10 ** 9])
def test_quantize_and_continue_want_whole_numbers(bad, mid):
    """`seq.quantize(float("nan"))` and `continue_sequence(seq, float("nan"))` ended in int()'s ValueError; 2.5
    was truncated and "8" accepted. Now a TonehostError naming the argument."""
    from tonehost import MusicRNN, NoteSequence, TonehostError

    seq = NoteSequence.from_midi(mid)
    with pytest.raises(TonehostError, match="steps_per_quarter must be a whole number"):
        seq.quantize(bad)
    if bad != 10 ** 9:
        with pytest.raises(TonehostError, match="steps must be a whole number"):
            MusicRNN().continue_sequence(seq.quantize(4), bad)


def test_a_file_given_as_a_checkpoint_is_named_as_a_file(mid, monkeypatch):
    """`MusicRNN("melody.mid")` (a file in the working directory) said "unknown checkpoint id 'melody.mid'"."""
    from tonehost import MusicRNN, TonehostError

    monkeypatch.chdir(mid.parent)
    with pytest.raises(TonehostError, match="melody.mid is a file; a checkpoint source is a directory"):
        MusicRNN(mid.name)


def test_live_summary_counts_the_notes_sounding_at_the_stop(data_dir, capsys):
    """`transcribe --live --input-file take.wav --seconds 2 -q` printed "0 notes" while two notes had started
    (it counted only notes that had ended); the summary now counts those still sounding, which the take closes."""
    wav = data_dir / "piano" / "stereo_sample.wav"
    assert main(["transcribe", "--live", "--input-file", str(wav), "--seconds", "2", "-q"]) == 0
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert summary.startswith("2 notes"), summary  # C5 at 0.13 s and F2 at 1.57 s (the offline run's first two)


@pytest.mark.parametrize("kind,match", [("folder", "is a folder, not a MIDI file"), ("empty", "is empty (0 bytes)"),
                                        ("truncated", "truncated")])
@pytest.mark.parametrize("cmd", [["continue"], ["vae", "similar"], ["groove"]])
def test_bad_midi_inputs_are_named_for_what_they_are(cmd, kind, match, mid, tmp_path, capsys):
    """A folder was "no such MIDI file" (vae, groove) or "not found" (continue), a 0-byte or cut-off file
    "cannot read ... (EOFError)": from_midi (the one reader) now says which."""
    if kind == "folder":
        bad = tmp_path / "takes"
        bad.mkdir()
    else:
        bad = tmp_path / "bad.mid"
        data = mid.read_bytes()
        bad.write_bytes(b"" if kind == "empty" else data[:-10])
    # groove's default checkpoint is hosted: point it at a folder, the input is read before the model loads
    extra = ["--checkpoint", str(tmp_path)] if cmd == ["groove"] else []
    assert main([*cmd, str(bad), "-o", str(tmp_path / "o.mid"), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err, err


def test_a_folder_without_out_dir_points_at_out_dir(tmp_path, capsys):
    """`transcribe recordings/ -o x.mid` said "give a file inside it"; a folder is a corpus: --out-dir."""
    assert main(["transcribe", str(tmp_path), "-o", str(tmp_path / "x.mid")]) == 1
    assert "--out-dir DIR" in capsys.readouterr().err


def test_download_retries_are_announced(tmp_path):
    """A server that never answers kept `checkpoints fetch` silent for 5 x 30 s (timeouts, retries): each retry is
    now a DownloadRetryWarning naming the URL, the failure, the pause and the attempt."""
    import socket

    from tonehost.exports.checkpoints.download import fetch_checkpoint
    from tonehost.exports.errors import CheckpointDownloadError, DownloadRetryWarning

    with socket.socket() as s:  # a port nobody listens on: connection refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.warns(DownloadRetryWarning) as got, pytest.raises(CheckpointDownloadError):
        fetch_checkpoint(f"http://127.0.0.1:{port}/ckpt", cache_dir=tmp_path, progress=False, retries=2,
                         backoff=0.01, timeout=2.0)
    msgs = [str(w.message) for w in got if issubclass(w.category, DownloadRetryWarning)]
    assert len(msgs) == 2 and "retry 1 of 2" in msgs[0] and "retry 2 of 2" in msgs[1], msgs
    assert f"127.0.0.1:{port}/ckpt/weights_manifest.json" in msgs[0]


def test_a_host_that_does_not_resolve_is_not_retried(tmp_path):
    """On a machine without a network, `render --instrument flute` took 8 s and `vae sample --checkpoint
    mel_2bar_small` 15 s to fail: every mirror retried a host name that cannot resolve 4 times with back-off. A
    name that is not found (``.invalid`` never resolves, RFC 2606) now fails at once and says so; a server that
    refuses the connection is still retried (and announced) as before."""
    import socket
    import time
    import warnings

    from tonehost.exports.checkpoints.download import fetch_checkpoint
    from tonehost.exports.errors import CheckpointDownloadError, DownloadRetryWarning

    t0 = time.monotonic()
    with warnings.catch_warnings(record=True) as got, pytest.raises(CheckpointDownloadError) as err:
        warnings.simplefilter("always")
        fetch_checkpoint("http://no-such-host.invalid/ckpt", cache_dir=tmp_path, progress=False, retries=3,
                         backoff=1.0, timeout=5.0)
    assert time.monotonic() - t0 < 5.0  # (3 retries at 1, 2, 4 s back-off: 7 s and more)
    assert not [w for w in got if issubclass(w.category, DownloadRetryWarning)]
    assert "no-such-host.invalid was not found" in str(err.value), err.value
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.warns(DownloadRetryWarning) as got, pytest.raises(CheckpointDownloadError):
        fetch_checkpoint(f"http://127.0.0.1:{port}/ckpt", cache_dir=tmp_path, progress=False, retries=1,
                         backoff=0.01, timeout=2.0)
    assert len([w for w in got if issubclass(w.category, DownloadRetryWarning)]) == 1


def test_render_and_play_take_offline(tmp_path, monkeypatch, capsys):
    """`render` and `play` had no --offline (transcribe, continue and vae do): a hosted instrument that is not
    cached was always looked for on the network. With it, one line says how to fetch it; a typed instrument in
    `play` is not fetched either."""
    from tonehost.exports.errors import CheckpointError
    from tonehost.realtime.cli.play import typed_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    hum = tmp_path / "hum.wav"
    sf.write(hum, (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32), 16000)
    assert main(["render", str(hum), "-o", str(tmp_path / "x.wav"), "--instrument", "flute", "--offline"]) == 1
    err = capsys.readouterr().err
    assert "ddsp_flute" in err and "offline" in err and "checkpoints fetch ddsp_flute" in err, err
    with pytest.raises(CheckpointError, match="--offline downloads nothing"):
        typed_model("flute", None, offline=True)
    assert main(["render", str(hum), "-o", str(tmp_path / "x.wav"), "--offline"]) == 0  # the shipped violin


@pytest.mark.parametrize("name", ["-", "/dev/stdin", "/dev/zero"])
def test_standard_input_and_devices_are_named_as_such(name, tmp_path, capsys):
    """`cat take.wav | tonehost transcribe - -o x.mid` (or /dev/stdin) said "audio file - not found"."""
    assert main(["transcribe", name, "-o", str(tmp_path / "x.mid")]) == 1
    err = capsys.readouterr().err
    assert "not a regular file" in err and "save the audio to a file" in err, err


def test_vae_latent_files_are_checked(mid, tmp_path, capsys):
    """`vae decode big.npy` (100000 vectors) decoded for minutes without a word; `vae encode -o z.mid` wrote JSON
    into a .mid file; a folder given to decode was "no such file"."""
    big = tmp_path / "big.npy"
    np.save(big, np.zeros((1001, 128), np.float32))
    assert main(["vae", "decode", str(big), "-o", str(tmp_path / "d.mid")]) == 1
    assert "decode at most 1000" in capsys.readouterr().err
    assert main(["vae", "encode", str(mid), "-o", str(tmp_path / "z.mid")]) == 2  # refused while parsing now
    assert "not .mid; name it z.json or z.npy" in capsys.readouterr().err
    assert not (tmp_path / "z.mid").exists()
    assert main(["vae", "decode", str(tmp_path), "-o", str(tmp_path / "d.mid")]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_vae_split_never_writes_over_an_input(mid, tmp_path, capsys):
    """`vae similar riff_01.mid -o riff.mid --split` wrote riff_01.mid (its own input) first."""
    riff = tmp_path / "riff_01.mid"
    riff.write_bytes(mid.read_bytes())
    before = _digest(riff)
    assert main(["vae", "similar", str(riff), "-o", str(tmp_path / "riff.mid"), "--split", "-n", "2"]) == 1
    assert "is the input file" in capsys.readouterr().err
    assert _digest(riff) == before and not (tmp_path / "riff_02.mid").exists()


def test_batch_never_replaces_a_midi_file_it_did_not_write(wav, mid, tmp_path, capsys):
    """`transcribe corpus/ --out-dir corpus/` replaced corpus/take.mid (the user's own MIDI beside take.wav) by
    its transcription. A file no manifest line accounts for is now refused (--force replaces it); a rerun over
    tonehost's own outputs still skips / redoes as before."""
    own = tmp_path / "take.mid"
    own.write_bytes(mid.read_bytes())
    before = _digest(own)
    argv = ["transcribe", str(tmp_path), "--out-dir", str(tmp_path), "--jobs", "1", "--no-progress"]
    assert main(argv) == 1
    assert "already exists and is not in" in capsys.readouterr().err and _digest(own) == before
    assert main(argv + ["--force"]) == 0 and _digest(own) != before   # asked for: replaced
    assert main(argv) == 0 and "1 skipped" in capsys.readouterr().out  # its own output: a resumable rerun


def test_a_take_without_notes_keeps_the_earlier_take(mid, tmp_path):
    """A live take that failed to start (no audio device) or heard nothing replaced the earlier take of the same
    name by an empty MIDI file (MidiFileWriter wrote its empty take at once). The earlier file now stays until this
    take's first note; a take with notes replaces it as before."""
    from tonehost.realtime.midi.output import MidiFileWriter, journal_path

    take = tmp_path / "live.mid"
    take.write_bytes(mid.read_bytes())
    before = _digest(take)
    w = MidiFileWriter(take, start="first_note")
    assert w.kept_earlier and _digest(take) == before
    w.mark(1.0)
    w.close(2.0)
    assert _digest(take) == before and w.kept_earlier and not journal_path(take).exists()
    w = MidiFileWriter(take)
    w.note_on(60, 90, 0.5)
    assert _digest(take) == before  # nothing finished yet: the journal holds the note, the old file stays
    w.note_off(60, 1.0)
    assert _digest(take) != before and not w.kept_earlier
    w.close()
    from tonehost import NoteSequence

    assert [(n.pitch, n.start_time) for n in NoteSequence.from_midi(take).notes] == [(60, 0.5)]


def test_live_session_that_cannot_open_its_device_keeps_the_earlier_take(mid, tmp_path):
    take = tmp_path / "live.mid"
    take.write_bytes(mid.read_bytes())
    before = _digest(take)
    env = {**os.environ, "JACK_DEFAULT_SERVER": f"tonehost_absent_{os.getpid()}", "JACK_NO_START_SERVER": "1",
           "OMP_NUM_THREADS": "1"}
    script = "import sys; from tonehost.realtime.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", script, "transcribe", "--live", "--device", "987654", "--seconds",
                           "1", "-o", str(take)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1 and "987654" in proc.stderr, proc.stderr
    assert _digest(take) == before


def test_the_shipped_piano_model_by_name_is_the_default(data_dir, tmp_path):
    """`transcribe --checkpoint onsets_frames_small` (the name --help gives the default) was an unknown checkpoint
    id; `export onsets-frames onsets_frames_small` too. By name it is now the default, notes and velocities alike."""
    wav = data_dir / "piano" / "stereo_sample.wav"
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    assert main(["transcribe", str(wav), "--notes", str(a)]) == 0
    assert main(["transcribe", str(wav), "--notes", str(b), "--checkpoint", "onsets_frames_small"]) == 0
    assert a.read_text() == b.read_text() and a.read_text().count("\n") > 2
    from tonehost import OnsetsAndFrames

    assert OnsetsAndFrames("onsets_frames_small").decoding == OnsetsAndFrames().decoding


def test_a_wrong_checkpoint_for_the_transcriber_is_named(tmp_path, capsys):
    """A MusicRNN folder given to transcribe/export onsets-frames said "checkpoint is not an Onsets and Frames
    checkpoint" without saying which."""
    from tonehost.exports.checkpoints.shipped import default_music_rnn_dir

    rnn = default_music_rnn_dir()
    assert main(["export", "onsets-frames", str(rnn), "-o", str(tmp_path / "p.onnx")]) == 1
    assert f"{rnn} is not an Onsets and Frames checkpoint" in capsys.readouterr().err


def test_an_unknown_instrument_lists_the_instruments():
    """`tonehost.DDSP(instrument="kazoo")` said "unknown checkpoint id 'ddsp_kazoo'"."""
    from tonehost import DDSP, TonehostError

    with pytest.raises(TonehostError, match="unknown instrument 'kazoo': one of violin, flute"):
        DDSP(instrument="kazoo")


def test_download_pauses_stop_doubling_at_30_s(tmp_path, monkeypatch):
    """The pause before retry n was 0.5 * 2**(n-1) s without bound: 12 days before the 22nd try."""
    import socket

    from tonehost.exports.checkpoints import download
    from tonehost.exports.errors import CheckpointDownloadError

    pauses = []
    monkeypatch.setattr(download.time, "sleep", pauses.append)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.warns(Warning), pytest.raises(CheckpointDownloadError):
        download.fetch_checkpoint(f"http://127.0.0.1:{port}/x", cache_dir=tmp_path, progress=False, retries=25,
                                  timeout=1.0)
    assert len(pauses) == 25 and max(pauses) == download.MAX_BACKOFF_S == 30.0 and pauses[0] == 0.5


def test_a_file_name_the_console_cannot_encode_is_escaped(wav, tmp_path):
    """With an ASCII console (PYTHONIOENCODING=ascii) the summary naming `ü ♪.mid` was a UnicodeEncodeError
    traceback after the file was written."""
    out = tmp_path / "ü ♪.mid"
    script = "import sys; from tonehost.realtime.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", script, "transcribe", str(wav), "-o", str(out)],
                          capture_output=True, timeout=300,
                          env={**os.environ, "PYTHONIOENCODING": "ascii", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr
    assert b"\\xfc \\u266a.mid" in proc.stdout and out.is_file(), proc.stdout


@pytest.mark.parametrize("rate", [1, 999, 5_000_000])
def test_a_wav_header_with_an_absurd_rate_is_one_line(rate, tmp_path, capsys):
    """A WAV whose header says 1 Hz made 16000 samples 4.4 hours of audio (transcribe ran for hours); 5 MHz ended
    in the resampler's ValueError traceback."""
    import struct

    data = (np.sin(np.arange(16000) / 10) * 10000).astype("<i2").tobytes()
    hdr = (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
           + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", len(data)))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(hdr + data)
    assert main(["transcribe", str(bad), "-o", str(tmp_path / "x.mid")]) == 1
    err = capsys.readouterr().err
    assert f"says its sample rate is {rate} Hz" in err and "\n" == err[-1] and err.count("\n") == 1, err



@pytest.mark.parametrize("command", ["render", "pitch", "transcribe-folder"])
def test_a_disk_that_fills_while_writing_is_one_line(command, tmp_path, data_dir):
    """A disk that filled while ``render`` wrote its WAV (a traceback of libsndfile's "System error."), ``pitch``
    its CSV or a folder ``transcribe`` its manifest (OSError tracebacks, the manifest's chained) now says which file
    could not be written, exit 1, and leaves no part of it (the full disk: RLIMIT_FSIZE, writes fail with EFBIG)."""
    hum = tmp_path / "hum.wav"
    sf.write(hum, (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32), 16000)
    if command == "transcribe-folder":
        (tmp_path / "in").mkdir()
        x, sr = sf.read(data_dir / "piano" / "stereo_sample.wav", frames=3 * 44100)
        sf.write(tmp_path / "in" / "take.wav", x, sr)
        argv, limit, out = ["transcribe", str(tmp_path / "in"), "--out-dir", str(tmp_path / "out")], 300, None
    else:
        out = tmp_path / ("out.wav" if command == "render" else "out.csv")
        argv, limit = [command, str(hum), "-o", str(out)], 4096
    proc = _run_on_a_small_disk(argv, limit)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("tonehost: error: cannot write ") and "free some space" in line, proc.stderr
    if out is not None:
        assert str(out) in line and not out.exists(), line
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("address", ["foo", "tcp://127.0.0.1", "127.0.0.1:99999", "tcp://:8786"])
def test_a_scheduler_address_without_a_port_is_one_line(address, tmp_path, capsys, data_dir):
    """`transcribe corpus --out-dir out --scheduler foo` was a 30-line traceback from inside distributed ("missing
    port number in address 'foo'") and left an empty manifest; now it is refused while parsing."""
    assert main(["transcribe", str(data_dir / "piano"), "--out-dir", str(tmp_path / "out"), "--scheduler",
                 address]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --scheduler: expected a Dask scheduler address" in err, err
    assert not (tmp_path / "out" / "manifest.jsonl").exists()
    from tonehost.realtime.cli.options import scheduler_address
    assert scheduler_address("10.0.0.5:8786") == "10.0.0.5:8786"
    assert scheduler_address("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
