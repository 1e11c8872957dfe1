"""Every numeric option and every output path of the command line, fuzzed (hypothesis): a value either parses to
one the command can use, or the user gets exactly one ``tonehost: error: argument ...`` line and exit code 2;
nothing else (no traceback, no usage block) ever escapes. Plus the exact cases the issue reported, run for real.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tonehost.realtime.cli as cli
from tonehost.realtime.cli import options

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# checks shared by several commands' options (the ranges the issue asked for: a value outside them is one line)
BLOCK = lambda v: isinstance(v, int) and options.MIN_BLOCK_SIZE <= v <= options.MAX_BLOCK_SIZE  # noqa: E731
GAIN = lambda v: math.isfinite(v) and 0 <= v <= options.MAX_GAIN  # noqa: E731  (16 = +24 dB, no more)
SHIFT = lambda v: math.isfinite(v) and abs(v) <= options.MAX_PITCH_SHIFT  # noqa: E731  (+-48 semitones)
INPUT_DB = lambda v: math.isfinite(v) and abs(v) <= 60  # noqa: E731

# (argv before the option, option, check of a parsed value): every numeric option of every command
NUMERIC = [
    (["play"], "--block-size", BLOCK),
    (["play"], "--sample-rate", lambda v: isinstance(v, int) and 8000 <= v <= 384000),
    (["play"], "--portamento", lambda v: math.isfinite(v) and 0 <= v <= 10),
    (["play"], "--voices", lambda v: isinstance(v, int) and 1 <= v <= 32),
    (["play"], "--duration", lambda v: math.isfinite(v) and v > 0),   # 0 ran forever
    (["play"], "--pitch-shift", SHIFT),
    (["play"], "--input-gain", INPUT_DB),
    (["play"], "--gain", GAIN),
    (["render", "v.wav", "-o", "out.wav"], "--tail", lambda v: math.isfinite(v) and 0 <= v <= 60),  # 1e9: MemoryError
    (["render", "v.wav", "-o", "out.wav"], "--pitch-shift", SHIFT),
    (["render", "v.wav", "-o", "out.wav"], "--input-gain", INPUT_DB),
    (["render", "v.wav", "-o", "out.wav"], "--gain", GAIN),
    (["render", "v.wav", "-o", "out.wav"], "--block-size", BLOCK),
    (["transcribe", "--live"], "--block-size", BLOCK),
    (["transcribe", "--live"], "--sample-rate", lambda v: isinstance(v, int) and 8000 <= v <= 384000),
    (["transcribe", "--live"], "--seconds", lambda v: math.isfinite(v) and v > 0),
    (["transcribe", "--live"], "--lead-in", lambda v: math.isfinite(v) and v >= 0),
    (["transcribe", "x.wav"], "--threads", lambda v: isinstance(v, int) and v >= 1),
    (["transcribe", "x.wav"], "--jobs", lambda v: isinstance(v, int) and v >= 1),
    # --hop-ms 300 corrupted the heap (the tracker's history held 4096 samples), 1e9 a MemoryError: 1/16 .. 100 ms
    (["pitch", "x.wav", "-o", "f0.csv"], "--hop-ms", lambda v: math.isfinite(v) and 1 / 16 <= v <= 100),
    (["train-instrument", "x.wav", "-o", "m.onnx"], "--minutes", lambda v: math.isfinite(v) and v > 0),
    (["train-instrument", "x.wav", "-o", "m.onnx"], "--steps", lambda v: isinstance(v, int) and v >= 1),
    (["train-instrument", "x.wav", "-o", "m.onnx"], "--seed", lambda v: isinstance(v, int) and v >= 0),
    (["train-instrument", "x.wav", "-o", "m.onnx"], "--post-gain", lambda v: math.isfinite(v) and v > 0),
    (["checkpoints", "fetch", "ddsp_violin"], "--retries", lambda v: isinstance(v, int) and v >= 0),
    # the MusicRNN / MusicVAE commands (offline and live)
    (["continue", "p.mid", "-o", "o.mid"], "--steps", lambda v: isinstance(v, int) and v >= 1),
    (["continue", "p.mid", "-o", "o.mid"], "--temperature", lambda v: math.isfinite(v) and v >= 0),
    (["continue", "p.mid", "-o", "o.mid"], "--qpm", lambda v: math.isfinite(v) and v > 0),
    (["continue", "p.mid", "-o", "o.mid"], "--seed", lambda v: isinstance(v, int) and v >= 0),
    (["continue", "p.mid", "-o", "o.mid"], "--threads", lambda v: isinstance(v, int) and v >= 1),
    (["groove", "d.mid", "-o", "o.mid"], "--temperature", lambda v: math.isfinite(v) and v >= 0),
    (["groove", "d.mid", "-o", "o.mid"], "--seed", lambda v: isinstance(v, int) and v >= 0),
    (["groove", "d.mid", "-o", "o.mid"], "--threads", lambda v: isinstance(v, int) and v >= 1),
    *[(before, option, ok) for before in (["vae", "sample", "-o", "o.mid"],
                                          ["vae", "interpolate", "a.mid", "b.mid", "-o", "o.mid"],
                                          ["vae", "similar", "a.mid", "-o", "o.mid"],
                                          ["vae", "encode", "a.mid", "-o", "z.json"],
                                          ["vae", "decode", "z.json", "-o", "o.mid"])
      for option, ok in (("--temperature", lambda v: math.isfinite(v) and v >= 0),
                         ("--key", lambda v: isinstance(v, int) and 0 <= v <= 11),
                         ("--qpm", lambda v: math.isfinite(v) and v > 0),
                         ("--seed", lambda v: isinstance(v, int) and v >= 0),
                         ("--threads", lambda v: isinstance(v, int) and v >= 1))],
    (["vae", "sample", "-o", "o.mid"], "--num", lambda v: isinstance(v, int) and v >= 1),
    (["vae", "interpolate", "a.mid", "b.mid", "-o", "o.mid"], "--steps", lambda v: isinstance(v, int) and v >= 2),
    (["vae", "similar", "a.mid", "-o", "o.mid"], "--similarity", lambda v: math.isfinite(v) and 0 <= v <= 1),
    (["vae", "similar", "a.mid", "-o", "o.mid"], "--num", lambda v: isinstance(v, int) and v >= 1),
    (["jam"], "--temperature", lambda v: math.isfinite(v) and v >= 0),
    (["jam"], "--seed", lambda v: isinstance(v, int) and v >= 0),
    (["jam"], "--pause-beats", lambda v: math.isfinite(v) and v > 0),
    (["jam"], "--answer-bars", lambda v: isinstance(v, int) and v >= 1),
    (["jam"], "--gain", lambda v: math.isfinite(v) and 0 <= v <= 16),
    (["jam"], "--portamento", lambda v: math.isfinite(v) and v >= 0),
    (["jam"], "--drums-temperature", lambda v: math.isfinite(v) and v >= 0),
    (["jam"], "--bars", lambda v: isinstance(v, int) and v >= 1),
    (["jam"], "--qpm", lambda v: math.isfinite(v) and v > 0),
    (["jam"], "--count-in", lambda v: isinstance(v, int) and v >= 0),
    (["jam"], "--block-size", BLOCK),
    (["jam"], "--sample-rate", lambda v: isinstance(v, int) and 8000 <= v <= 384000),
    (["jam"], "--buffer-ms", lambda v: math.isfinite(v) and v >= 0),
    (["jam"], "--duration", lambda v: math.isfinite(v) and v > 0),
    (["tap2drum"], "--bars", lambda v: v in (1, 2, 3, 4)),
    (["tap2drum"], "--temperature", lambda v: math.isfinite(v) and v >= 0),
    (["tap2drum"], "--seed", lambda v: isinstance(v, int) and v >= 0),
    (["tap2drum"], "--tap-gate", math.isfinite),
    (["tap2drum"], "--qpm", lambda v: math.isfinite(v) and v > 0),
    (["tap2drum"], "--count-in", lambda v: isinstance(v, int) and v >= 0),
    (["tap2drum"], "--buffer-ms", lambda v: math.isfinite(v) and v >= 0),
    (["tap2drum"], "--block-size", BLOCK),
    (["tap2drum"], "--sample-rate", lambda v: isinstance(v, int) and 8000 <= v <= 384000),
    (["tap2drum"], "--duration", lambda v: math.isfinite(v) and v > 0),
]

# (argv before, option, argv after): every file or folder a command writes
OUTPUTS = [
    (["render", "v.wav"], "-o", []),
    (["pitch", "x.wav"], "-o", []),
    (["pitch", "x.wav", "-o", "f0.csv"], "--midi", []),   # was unchecked: a traceback after the whole file
    (["transcribe", "x.wav"], "-o", []),
    (["transcribe", "x.wav", "-o", "x.mid"], "--notes", []),
    (["transcribe", "--live"], "-o", []),
    (["transcribe"], "--recover", []),
    (["export", "ddsp", "ddsp_violin"], "-o", []),
    (["export", "onsets-frames", "onsets_frames_uni"], "-o", []),
    (["train-instrument", "x.wav"], "-o", []),
    (["continue", "p.mid"], "-o", []),
    (["groove", "d.mid"], "-o", []),
    (["vae", "sample"], "-o", []),
    (["vae", "interpolate", "a.mid", "b.mid"], "-o", []),
    (["vae", "similar", "a.mid"], "-o", []),
    (["vae", "encode", "a.mid"], "-o", []),
    (["vae", "decode", "z.json"], "-o", []),
]
OUTPUT_DIRS = [
    (["transcribe", "x.wav"], "--out-dir"),
    (["train-instrument", "x.wav", "-o", "m.onnx"], "--work"),
    (["checkpoints", "fetch", "ddsp_violin"], "--to"),
    (["export", "transkun"], "--output"),
]


_BUILD = cli.build_parser
_CALLS: list = []
_PARSER: list = []


def _stubbed_parser():
    """The real parser (built once) with every command's function replaced by one recording the parsed arguments."""
    if _PARSER:
        return _PARSER[0]
    parser = _BUILD()

    def stub(args):
        _CALLS.append(args)
        return 0

    def walk(p):
        p.set_defaults(func=stub)
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(parser)
    _PARSER.append(parser)
    return parser


def run_main(argv, cwd=None):
    """main(argv) with stubbed commands, in ``cwd``: (exit code, stderr, the parsed Namespace or None)."""
    _CALLS.clear()
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "build_parser", _stubbed_parser)
        if cwd is not None:
            mp.chdir(cwd)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = cli.main(argv)
    return rc, err.getvalue(), (_CALLS[0] if _CALLS else None)


def _option_exists(before, option) -> bool:
    parser = _stubbed_parser()
    for word in before:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and word in subs[0].choices:
            parser = subs[0].choices[word]
    return any(option in a.option_strings for a in parser._actions)


def _option_type(before, option):
    parser = _stubbed_parser()
    for word in before:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and word in subs[0].choices:
            parser = subs[0].choices[word]
    return next(a.type for a in parser._actions if option in a.option_strings)


def _need(before, option):
    if not _option_exists(before, option):
        pytest.skip(f"{' '.join(before)} has no {option} in this tree")


def _assert_one_line(rc, err, option):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tonehost: error: argument "), err
    assert option in lines[0] and "--help" in lines[0], err


NUMBERS = st.one_of(
    st.integers(min_value=-10**12, max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "0", "-0", "0.0", "1e3", "1e-3", "-1", "1_000", "0x10", "nan", "inf", "-inf",
                     "128", "17", "48000", "44.1k", "ten", "--", "-", "1/2", "\u0661\u0662\u0668", " 64 ",
                     # the new-user trial's values: out +28 dB, arbitrary pitches, 1-frame blocks
                     "1", "15", "16", "1000", "1e6", "-100", "48", "-48", "48.5", "16.0", "16.5"]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12),
)


@pytest.mark.parametrize("before,option,ok", NUMERIC, ids=[f"{' '.join(b[:2] if b[0] == 'vae' else b[:1])} {o}"
                                                           for b, o, _ in NUMERIC])
@FUZZ
@given(value=NUMBERS)
def test_numeric_options_parse_or_say_one_line(before, option, ok, value):
    _need(before, option)
    with tempfile.TemporaryDirectory() as tmp:
        rc, err, args = run_main([*before, f"{option}={value}"], tmp)
    if rc == 0:
        dest = option.lstrip("-").replace("-", "_")
        assert ok(getattr(args, dest)), (value, getattr(args, dest))
    else:
        _assert_one_line(rc, err, option.split("=")[0])


NAME = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00/"), min_size=1,
            max_size=20),
    st.sampled_from([".", "..", "-", " ", "a" * 300, "take.mid", "é ü", "$HOME", "*", "a\\b", "\n",
                     "~0", "~no-such-user-x"]),   # ~name of no user: kept as written, as a shell does
)
KIND = st.sampled_from(["plain", "nested", "in_a_file", "a_folder", "unwritable", "absolute_proc", "empty"])


def _make_path(tmp: Path, kind: str, names: list[str]) -> str:
    if kind == "plain":
        return names[0]
    if kind == "nested":
        return "/".join(names)
    if kind == "in_a_file":
        (tmp / "afile").write_text("x")
        return "afile/" + names[0]
    if kind == "a_folder":
        (tmp / "afolder").mkdir(exist_ok=True)
        return "afolder"
    if kind == "unwritable":
        return "/proc/tonehost-cannot-write/" + names[0]
    if kind == "absolute_proc":
        return "/proc/" + names[0]
    return ""


def _check_written_path(path: Path):
    folder = path if path.is_dir() else path.parent
    assert folder.is_dir()
    probe = folder / ".tonehost-test-probe"
    probe.write_text("x")   # the command can really write there
    probe.unlink()


@pytest.mark.parametrize("before,option,after", OUTPUTS, ids=[f"{' '.join(b[:2] if b[0] == 'vae' else b[:1])} {o}"
                                                              for b, o, _ in OUTPUTS])
@FUZZ
@given(kind=KIND, names=st.lists(NAME, min_size=1, max_size=4), named=st.booleans())
def test_output_files_are_checked_and_created_the_same_way(before, option, after, kind, names, named):
    _need(before, option)
    with tempfile.TemporaryDirectory() as tmp:
        value = _make_path(Path(tmp), kind, names)
        suffixes = getattr(_option_type(before, option), "suffixes", None)
        if named and suffixes and value:  # an output named for its format (-o x.mid): the other checks are reached
            value += suffixes[0]
        rc, err, args = run_main([*before, f"{option}={value}", *after], tmp)
        if rc == 0:
            dest = option.lstrip("-").replace("-", "_")
            dest = {"o": "output"}.get(dest, dest)
            got = getattr(args, dest)
            if got != "-":
                got = Path(tmp) / got   # relative to the command's working directory (absolute stays)
                assert isinstance(got, Path) and not got.is_dir(), got
                _check_written_path(got)
        else:
            _assert_one_line(rc, err, option)


@pytest.mark.parametrize("before,option", OUTPUT_DIRS, ids=[f"{b[0]} {o}" for b, o in OUTPUT_DIRS])
@FUZZ
@given(kind=KIND, names=st.lists(NAME, min_size=1, max_size=4))
def test_output_folders_are_checked_and_created_the_same_way(before, option, kind, names):
    _need(before, option)
    with tempfile.TemporaryDirectory() as tmp:
        value = _make_path(Path(tmp), kind, names)
        rc, err, args = run_main([*before, f"{option}={value}"], tmp)
        if rc == 0:
            got = Path(tmp) / getattr(args, option.lstrip("-").replace("-", "_"))
            assert got.is_dir()
            _check_written_path(got / "x")
        else:
            _assert_one_line(rc, err, option)


RAW = (int, float)


def _walk(parser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, path + (name,))
        else:
            yield path, action


def _command(before) -> tuple:
    """The (sub)command words of an argv prefix: ``("vae", "sample")`` of ``["vae", "sample", "-o", "o.mid"]``."""
    parser, path = _stubbed_parser(), []
    for word in before:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and word in subs[0].choices:
            parser = subs[0].choices[word]
            path.append(word)
    return tuple(path)


def _long(action) -> str:
    return next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])


def test_every_numeric_option_is_validated_while_parsing():
    """The kind, not the cases: no option of any command takes a bare int() or float(), every numeric option is
    fuzzed (in its own command) and every file a command writes is checked the same way."""
    raw = [f"{' '.join(path)} {'/'.join(a.option_strings)}" for path, a in _walk(_stubbed_parser())
           if a.type in RAW and not a.choices]
    assert raw == [], raw
    from tonehost.realtime.cli import outputs as out   # render -o: an output_file with an audio extension; -o
    outputs = (options.output_file, options.output_file_or_stdout, options.output_dir, out.audio_output,  # OUT.mid,
               out.midi_output, out.tsv_output, out.vectors_output, out.onnx_output)  # --notes, z.json, MODEL.onnx
    fuzzed = {(_command(b), o) for b, o, _ in NUMERIC}
    validated = {(path, _long(a)) for path, a in _walk(_stubbed_parser())
                 if getattr(a.type, "__module__", "") == options.__name__ and a.option_strings
                 and a.type not in (*outputs, options.checkpoint_ref, options.instrument_name,
                                  options.chord_progression, options.scheduler_address)}   # text options
    missing = sorted(f"{' '.join(p)} {o}" for p, o in validated if (p, o) not in fuzzed)
    assert missing == [], f"add them to NUMERIC: {missing}"
    unchecked = [f"{' '.join(path)} {'/'.join(a.option_strings)}" for path, a in _walk(_stubbed_parser())
                 if a.dest in ("output", "out_dir", "work", "to", "notes", "midi") and a.nargs != 0
                 and a.type not in outputs]   # (devices --midi is a flag)
    assert unchecked == [], f"outputs not checked while parsing: {unchecked}"


def test_parse_errors_of_any_kind_are_one_line():
    for argv, what in [(["play", "--no-such-option"], "unrecognized arguments"),
                       (["transcribe", "--threads"], "expected one argument"),
                       (["render", "v.wav"], "required"),
                       (["nosuchcommand"], "invalid choice")]:
        rc, err, _ = run_main(argv)
        assert rc == 2 and len(err.strip().splitlines()) == 1 and what in err, err
        assert err.startswith("tonehost: error: ")


# ---------------------------------------------------------------- the exact commands of the issue, run for real

def _cli(*argv, env=None, timeout=120):
    r = subprocess.run([sys.executable, "-m", "tonehost", *map(str, argv)], capture_output=True, text=True,
                       timeout=timeout, env=env)
    return r.returncode, r.stdout, r.stderr


@pytest.mark.parametrize("argv,option", [
    (["play", "--blocksize", "0"], "--block-size"),
    (["play", "--samplerate", "0"], "--sample-rate"),
    (["play", "--blocksize", "-5"], "--block-size"),
    (["transcribe", "--live", "--seconds", "nan"], "--seconds"),
])
def test_reported_numeric_cases_are_one_line(argv, option):
    rc, out, err = _cli(*argv)
    assert rc == 2, err
    assert err.strip().splitlines() == [err.strip()] and err.startswith(f"tonehost: error: argument {option}"), err


@pytest.mark.parametrize("command", [["play"], ["render", "v.wav", "-o", "out.wav"]], ids=["play", "render"])
@pytest.mark.parametrize("option,value", [
    ("--gain", "1000"), ("--gain", "1e6"), ("--gain", "16.5"),           # out +28 dB / +89 dBFS: at most +24 dB
    ("--pitch-shift", "1e6"), ("--pitch-shift", "-100"), ("--pitch-shift", "48.5"),
    ("--input-gain", "1e300"),
    ("--block-size", "1"), ("--block-size", "15"),                     # 27 s of start-up at 1 frame a block
    ("--checkpoint", ""), ("--checkpoint", "  "),                      # "" downloaded the hosted violin
    ("--instrument", ""), ("--instrument", "nosuch"), ("--instrument", "ddsp_flute"),  # reached the index
])
def test_trial_values_are_one_line(command, option, value):
    """The new-user trial's values (issue items 8, 14, 16, 17) for play and render: one line, exit 2, parsed
    before anything loads."""
    rc, err, args = run_main([*command, f"{option}={value}"])
    _assert_one_line(rc, err, option)


@pytest.mark.parametrize("value", ["0", "0.0", "-0", "-1"])
def test_play_duration_must_be_positive(value):
    """Issue item 13: ``play --duration 0`` ran forever (0 meant "until q"); now > 0 or one line; left out it
    still runs until q."""
    rc, err, _ = run_main(["play", f"--duration={value}"])
    _assert_one_line(rc, err, "--duration")
    rc, err, args = run_main(["play"])
    assert rc == 0 and args.duration is None, err


@pytest.mark.parametrize("option,value,parsed", [
    ("--gain", "16", 16.0), ("--gain", "0", 0.0), ("--pitch-shift", "-48", -48.0), ("--pitch-shift", "12", 12.0),
    ("--block-size", "16", 16), ("--block-size", "8192", 8192), ("--checkpoint", " my.onnx ", "my.onnx"),
    ("--duration", "0.5", 0.5)])
def test_play_limits_are_inclusive(option, value, parsed):
    rc, err, args = run_main(["play", f"{option}={value}"])
    assert rc == 0, err
    assert getattr(args, option.lstrip("-").replace("-", "_")) == parsed


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root bypasses permission bits: use /proc then)."""
    if os.geteuid() == 0:
        return Path("/proc")
    d = tmp_path / "readonly"
    d.mkdir()
    d.chmod(0o500)
    return d


def test_transcribe_outputs_into_missing_folders_and_refuses_unwritable_ones(tmp_path, data_dir):
    wav = data_dir / "piano" / "stereo_sample.wav"
    live = tmp_path / "missing" / "dir" / "take.mid"
    rc, out, err = _cli("transcribe", "--live", "--input-file", wav, "-o", live, "-q", "--seconds", "2")
    assert rc == 0 and live.is_file(), err
    offline = tmp_path / "missing_dir" / "x.mid"
    rc, out, err = _cli("transcribe", wav, "-o", offline)
    assert rc == 0 and offline.is_file(), err
    bad = unwritable_folder(tmp_path) / "take.mid"
    for argv in (["transcribe", "--live", "--input-file", wav, "-o", bad], ["transcribe", wav, "-o", bad]):
        rc, out, err = _cli(*argv)
        assert rc == 2 and err.strip().splitlines() == [err.strip()], err
        assert err.startswith("tonehost: error: argument -o/--output: cannot write") and "Traceback" not in err
