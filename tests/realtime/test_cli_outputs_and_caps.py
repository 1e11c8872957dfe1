"""Session 8 clean-ups outside the voice path: the shipped transcriber's name has one home, MIDI-writing commands
refuse a non-MIDI output name before any work, and the MusicRNN/MusicVAE size caps are shared by the CLI and the
API."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tonehost.exports.checkpoints.shipped import PIANO_TRANSCRIBER, transcriber_source
from tonehost.realtime.cli import main


def test_the_shipped_transcriber_by_name_maps_to_the_default_in_one_place():
    assert transcriber_source(PIANO_TRANSCRIBER) is None and transcriber_source(None) is None
    assert transcriber_source(Path(PIANO_TRANSCRIBER)) is None
    assert transcriber_source("onsets_frames_uni") == "onsets_frames_uni"
    import inspect

    from tonehost.realtime.cli import transcribe
    from tonehost.realtime.pipelines import transcriber

    for mod in (transcribe, transcriber):  # neither compares with the name itself any more
        assert "PIANO_TRANSCRIBER" not in inspect.getsource(mod) and "transcriber_source" in inspect.getsource(mod)


# ------------------------------------------------------------------------ outputs named for what they hold


@pytest.mark.parametrize("argv, option, fix", [
    (["transcribe", "{wav}", "-o", "{out}/x.wav"], "-o", "x.mid"),
    (["transcribe", "{wav}", "-o", "{out}/x"], "-o", "x.mid"),
    (["transcribe", "{wav}", "--notes", "{out}/x.mid"], "--notes", "x.tsv"),
    (["transcribe", "--recover", "{out}/x.wav"], "--recover", "x.mid"),
    (["transcribe", "--live", "--input-file", "{wav}", "-o", "{out}/x.wav"], "-o", "x.mid"),
    (["continue", "{mid}", "-o", "{out}/x.wav"], "-o", "x.mid"),
    (["vae", "sample", "-o", "{out}/x.wav"], "-o", "x.mid"),
    (["vae", "similar", "{mid}", "-o", "{out}/x.json"], "-o", "x.mid"),
    (["vae", "interpolate", "{mid}", "{mid}", "-o", "{out}/x.wav", "--split"], "-o", "x.mid"),
    (["vae", "decode", "{mid}", "-o", "{out}/x.npy"], "-o", "x.mid"),
    (["vae", "encode", "{mid}", "-o", "{out}/x.txt"], "-o", "x.json or x.npy"),
    (["groove", "{mid}", "-o", "{out}/x.wav"], "-o", "x.mid"),
    (["export", "onsets-frames", "onsets_frames_small", "-o", "{out}/x.mid"], "-o", "x.onnx"),
])
def test_an_output_not_named_for_what_the_command_writes_is_refused_first(argv, option, fix, wav, mid, tmp_path,
                                                                           capsys):
    """`transcribe take.wav -o out.wav` (and continue, vae, groove) wrote MIDI bytes into a file named .wav: now one
    line naming the option, the file and the name to give, while parsing (exit 2, before anything runs: not even
    the missing folder is made)."""
    out = tmp_path / "new"
    before = {p: p.read_bytes() for p in (wav, mid)}
    argv = [a.format(wav=wav, mid=mid, out=out) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    value = argv[argv.index(option) + 1]
    assert err.count("\n") == 0 and err.startswith(f"tonehost: error: argument {option}"), err
    assert f"{value}: this command writes " in err and f"; name it {fix}" in err, err
    assert not out.exists() and {p: p.read_bytes() for p in (wav, mid)} == before


def test_the_misnamed_output_is_said_before_the_overwritten_input(wav, capsys):
    """Both faults at once (`transcribe take.wav -o take.wav`): the name is refused while parsing, so that is the
    line; the input is untouched (an input named like the output, audio.mid, gets the overwrite refusal:
    tests/realtime/test_cli_user_faults.py::test_no_command_writes_over_its_input)."""
    before = wav.read_bytes()
    assert main(["transcribe", str(wav), "-o", str(wav)]) == 2
    assert "name it take.mid" in capsys.readouterr().err and wav.read_bytes() == before


@pytest.mark.parametrize("name", ["x.midi", "X.MID"])
def test_midi_names_in_any_case_are_taken(name, tmp_path, capsys):
    out = tmp_path / "sub" / name
    assert main(["vae", "sample", "-n", "1", "--seed", "1", "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"MThd"


def test_two_outputs_naming_one_file_are_still_refused(tmp_path):
    from tonehost.exports.errors import UsageError
    from tonehost.realtime.cli.outputs import refuse_same_file

    out = tmp_path / "x.mid"
    with pytest.raises(UsageError, match="name the same file"):
        refuse_same_file([], [("-o", out), ("--notes", tmp_path / "." / "x.mid")])


# ------------------------------------------------------------------------ one set of size caps, API and CLI

@pytest.fixture(scope="module")
def vae():
    from tonehost.realtime.pipelines.music_vae import MusicVAE

    return MusicVAE(seed=1)


@pytest.fixture(scope="module")
def rnn():
    from tonehost.realtime.pipelines.music_rnn import MusicRNN

    return MusicRNN()


def _melody():
    from tonehost.exports.note_sequence import Note, NoteSequence

    return NoteSequence(notes=[Note(pitch=60 + 2 * k, velocity=80, start_time=0.5 * k, end_time=0.5 * k + 0.4)
                               for k in range(4)]).quantize(4)


@pytest.mark.parametrize("call, words", [
    (lambda m, s: m.sample(10**9), "the number of samples must be a whole number from 1 to 1000, got 1000000000"),
    (lambda m, s: m.sample(1001), "from 1 to 1000, got 1001; decode in several calls of at most 1000"),
    (lambda m, s: m.sample(0), "from 1 to 1000, got 0"),
    (lambda m, s: m.sample(float("nan")), "got nan"),
    (lambda m, s: m.similar(s, 10**9, 0.5), "the number of variations must be a whole number from 1 to 1000"),
    (lambda m, s: m.interpolate([s, s], 10**6), "the number of interpolated sequences must be"),
    (lambda m, s: m.interpolate([s, s, s, s], (40, 40)), "got 1600"),  # a 40 x 40 grid
    (lambda m, s: m.decode(np.zeros((1001, m.z_dims), np.float32)), "latent vectors (rows of z)"),
    (lambda m, s: m.streamed_encoder(10**9), "batch must be a whole number from 1 to 1000"),
])
def test_musicvae_sizes_are_bounded_with_one_clear_error(vae, call, words):
    """`MusicVAE().sample(10**9)` ended in a MemoryError after allocating z (954 GiB); decode/similar/interpolate
    took any size. One UsageError naming the value and the bound, before any work."""
    from tonehost.exports.errors import UsageError

    with pytest.raises(UsageError) as e:
        call(vae, _melody())
    assert words in str(e.value), str(e.value)


@pytest.mark.parametrize("steps, words", [(-5, "got -5"), (0, "got 0"), (10**9, "from 1 to 4096, got 1000000000"),
                                          (4097, "continue a continuation"), (2.5, "got 2.5")])
def test_musicrnn_steps_are_bounded_with_one_clear_error(rnn, steps, words):
    from tonehost.exports.errors import UsageError

    with pytest.raises(UsageError, match="steps must be a whole number from 1 to 4096") as e:
        rnn.continue_sequence(_melody(), steps)
    assert words in str(e.value)
    stream = rnn.stream()
    stream.feed_sequence(_melody())
    with pytest.raises(UsageError, match="n must be a whole number from 1 to 4096"):
        stream.take(steps)


def test_the_bounds_have_one_home_shared_by_the_cli():
    from tonehost.realtime.cli import continue_, vae
    from tonehost.realtime.pipelines import limits

    assert continue_.MAX_STEPS is limits.MAX_STEPS and vae.MAX_RESULTS is limits.MAX_BATCH
    assert main(["continue", "x.mid", "-o", "y.mid", f"--steps={limits.MAX_STEPS + 1}"]) == 2
    assert main(["vae", "sample", "-o", "y.mid", f"-n={limits.MAX_BATCH + 1}"]) == 2


def test_the_largest_sizes_still_run(vae, rnn):
    assert rnn.continue_sequence_and_return_probabilities(_melody(), 4096, temperature=0.0).events.shape == (4096,)
    assert len(vae.sample(3)) == 3 and len(vae.interpolate([_melody(), _melody()], 2)) == 2


def test_a_jam_answer_is_bounded_as_a_continuation(rnn):
    """An answer is drawn in one continuation: --answer-bars 300 (4800 steps) would have failed in the generation
    thread; one line while parsing, and the same bound in CallAndResponse."""
    from tonehost.exports.errors import UsageError
    from tonehost.realtime.pipelines.jam import CallAndResponse
    from tonehost.realtime.pipelines.limits import MAX_ANSWER_BARS, MAX_STEPS

    assert MAX_ANSWER_BARS * 16 == MAX_STEPS
    assert main(["jam", f"--answer-bars={MAX_ANSWER_BARS + 1}"]) == 2
    with pytest.raises(UsageError, match=f"--answer-bars must be at most {MAX_ANSWER_BARS}"):
        CallAndResponse(rnn, answer_bars=MAX_ANSWER_BARS + 1)
    assert CallAndResponse(rnn, answer_bars=MAX_ANSWER_BARS).answer_bars == MAX_ANSWER_BARS


def test_vae_and_groove_keep_a_drum_models_notes_the_same_way(capsys):
    """vae (drum models) and groove had each their own copy of the drum-note filter: now keep_kit_drums."""
    import inspect
    from types import SimpleNamespace

    from tonehost.exports.note_sequence import Note, NoteSequence
    from tonehost.realtime.cli import groove, vae

    model = SimpleNamespace(converter=SimpleNamespace(pitch_to_class={36: 0, 38: 1}))
    seq = NoteSequence(notes=[Note(pitch=p, velocity=90, start_time=0.1 * k, end_time=0.1 * k + 0.05, is_drum=d)
                              for k, (p, d) in enumerate([(36, True), (38, True), (99, True), (60, False)])])
    vae.keep_kit_drums(seq, model, "beat.mid")
    assert [n.pitch for n in seq.notes] == [36, 38]
    assert "beat.mid: drum pitches 99 are not in the model's kit; skipped" in capsys.readouterr().err
    unmarked = NoteSequence(notes=[Note(pitch=38, velocity=90, start_time=0.0, end_time=0.1)])
    vae.keep_kit_drums(unmarked, model, "taps.mid")  # no note marked as drums: all are taken
    assert [n.pitch for n in unmarked.notes] == [38]
    assert "keep_kit_drums" in inspect.getsource(groove) and "pitch_to_class" not in inspect.getsource(groove)


def test_train_instrument_output_must_be_an_onnx_name(tmp_path, capsys):
    # it wrote an ONNX model into whatever -o said (mine.wav); now one argparse line before anything is read
    from tonehost.realtime.cli import main
    assert main(["train-instrument", str(tmp_path / "a.wav"), "-o", str(tmp_path / "mine.wav")]) == 2
    err = capsys.readouterr().err
    assert "mine.onnx" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "mine.wav").exists()
