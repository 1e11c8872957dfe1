"""Faults found by trying ``import tonehost`` as a developer building on it would (outside the voice path).

Each test fails on the code before its fix: a user's mistake used to end in a traceback from inside numpy, pathlib
or difflib, a hang, or a silently wrong result; it is now one :class:`tonehost.TonehostError` naming the argument
and the fix, before any model loads where the argument alone decides.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import tonehost
from tonehost.exports import errors
from tonehost.exports.note_sequence import Note, NoteSequence


@pytest.fixture(scope="module")
def piano():
    return tonehost.OnsetsAndFrames()


@pytest.fixture(scope="module")
def vae():
    return tonehost.MusicVAE(seed=1)


@pytest.fixture(scope="module")
def rnn():
    return tonehost.MusicRNN()


@pytest.fixture
def melody():
    """Eight rising sixteenths-ish notes, quantized per quarter (a MusicRNN/MusicVAE primer)."""
    return NoteSequence(notes=[Note(60 + k, 80, 0.25 * k, 0.25 * k + 0.2) for k in range(8)],
                        total_time=4.0).quantize(4)


# -- Onsets and Frames -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_chunk", [0, -1, 1.5, "8", None])
def test_stream_max_chunk_is_checked(piano, max_chunk):
    """``stream(sr, max_chunk=0)`` looped for ever at the first push (no model call, no progress); -1 was numpy's
    "negative dimensions are not allowed", 1.5 a TypeError from slicing the mel frames."""
    with pytest.raises(errors.UsageError, match="max_chunk must be a whole number from 1"):
        piano.stream(16000, max_chunk=max_chunk)
    assert len(piano.stream(16000, max_chunk=np.int64(4)).push(np.zeros(16000, np.float32))) == 0


@pytest.mark.parametrize("rate", [1, 100, 999])
def test_transcription_refuses_rates_it_would_upsample_into_gigabytes(piano, rate):
    """``transcribe(x, 1)`` upsampled 16000-fold (100 000 samples: 1.6e9 at 16 kHz, gigabytes of memory) and
    ``stream(1)`` was accepted; the floor is read_audio's (1000 Hz)."""
    with pytest.raises(errors.UsageError, match="sample_rate must be a whole number of Hz from 1000"):
        piano.transcribe(np.zeros(100_000, np.float32), rate)
    with pytest.raises(errors.UsageError, match="from 1000"):
        piano.stream(rate)
    assert piano.transcribe(np.zeros(1000, np.float32), 1000).total_time == pytest.approx(1.0)


def test_decoding_is_checked_before_the_model_loads():
    from tonehost.realtime.pipelines.transcriber import MAGENTA_DECODING, Decoding

    with pytest.raises(errors.UsageError, match="decoding must be a .*Decoding"):
        tonehost.OnsetsAndFrames(decoding="magenta")  # an AttributeError inside session_for
    with pytest.raises(errors.UsageError, match="velocity must be 'model' or 'loudness'"):
        Decoding(velocity="midi")  # ran without the velocity head: every note velocity 10
    with pytest.raises(errors.UsageError, match="onset_threshold must be a probability"):
        Decoding(onset_threshold=1.5)  # no onset can pass it: no notes, no word
    with pytest.raises(errors.UsageError, match="ghost_frames"):
        Decoding(ghost_frames=-1)
    assert Decoding(onset_threshold=np.float32(0.4), ghost_frames=np.int64(1)).ghost_frames == 1
    assert tonehost.OnsetsAndFrames(decoding=MAGENTA_DECODING).decoding is MAGENTA_DECODING


# -- checkpoints: the argument's type, everywhere a checkpoint is taken -------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: tonehost.OnsetsAndFrames(3),
    lambda: tonehost.MusicRNN(3),
    lambda: tonehost.MusicVAE(["mel_2bar_small"]),
    lambda: tonehost.checkpoints.info(None),
    lambda: tonehost.checkpoints.fetch(3),
    lambda: tonehost.checkpoints.fetch(b"mel_2bar_small"),
], ids=["OnsetsAndFrames", "MusicRNN", "MusicVAE", "info", "fetch", "fetch-bytes"])
def test_a_checkpoint_that_is_not_a_name_is_one_usage_error(make):
    """A TypeError from pathlib (``Path(3)``), difflib (``info(None)``) or os.fspath."""
    with pytest.raises(errors.UsageError, match="an index id .*an http\\(s\\) URL or a checkpoint folder"):
        make()


def test_an_id_in_the_wrong_case_gets_its_suggestion():
    with pytest.raises(errors.CheckpointNotFoundError, match="Did you mean onsets_frames_uni"):
        tonehost.checkpoints.info("ONSETS_FRAMES_UNI")


# -- MusicRNN / MusicVAE: seeds and generators -----------------------------------------------------------------

@pytest.mark.parametrize("bad", ["x", 1.5, -1, True])
def test_a_bad_seed_or_rng_is_one_usage_error(bad, rnn, vae, melody):
    """numpy's ``SeedSequence expects int or sequence of ints`` / ``expected non-negative integer``, from four
    places: MusicVAE(seed=), its rng= per call, MusicRNN.continue_sequence(rng=) and MusicRNN.stream(rng=)."""
    with pytest.raises(errors.UsageError, match="seed must be None, a whole number >= 0"):
        tonehost.MusicVAE(seed=bad)
    with pytest.raises(errors.UsageError, match="rng must be None, a whole number >= 0"):
        vae.decode(np.zeros((1, vae.z_dims), np.float32), temperature=1.0, rng=bad)
    with pytest.raises(errors.UsageError, match="rng must be None"):
        vae.sample(1, rng=bad)
    with pytest.raises(errors.UsageError, match="rng must be None"):
        rnn.continue_sequence(melody, 4, temperature=1.0, rng=bad)
    with pytest.raises(errors.UsageError, match="rng must be None"):
        rnn.stream(temperature=1.0, rng=bad)


def test_seeds_still_reproduce(rnn, vae, melody):
    def key(seq):
        return [(n.pitch, n.quantized_start_step, n.quantized_end_step) for n in seq.notes]

    a = rnn.continue_sequence(melody, 16, 1.0, rng=np.int64(3))
    assert key(a) == key(rnn.continue_sequence(melody, 16, 1.0, rng=3))
    assert [key(s) for s in tonehost.MusicVAE(seed=[5, 1]).sample(2)] == \
        [key(s) for s in tonehost.MusicVAE(seed=[5, 1]).sample(2)]
    z = vae.encode([melody])
    assert [key(s) for s in vae.decode(z, 1.0, rng=np.random.default_rng(2))] == \
        [key(s) for s in vae.decode(z, 1.0, rng=2)]


# -- NoteSequence ------------------------------------------------------------------------------------------------

def test_from_json_reads_proto_field_names_as_well_as_camel_case():
    """Magenta's Python ``MessageToDict(seq, preserving_proto_field_name=True)`` writes ``start_time``: those keys
    were ignored, so every note started and ended at 0 and ``total_time`` was 0, without a word."""
    snake = {"notes": [{"pitch": 60, "velocity": 80, "start_time": 0.5, "end_time": 1.0, "is_drum": False}],
             "total_time": 1.0, "quantization_info": {"steps_per_quarter": 4}, "total_quantized_steps": "4"}
    seq = NoteSequence.from_json(snake)
    assert (seq.notes[0].start_time, seq.notes[0].end_time, seq.total_time) == (0.5, 1.0, 1.0)
    assert seq.quantization_info.steps_per_quarter == 4 and seq.total_quantized_steps == 4
    camel = NoteSequence.from_json({"notes": [{"pitch": 60, "velocity": 80, "startTime": 0.5, "endTime": 1.0}],
                                    "totalTime": 1.0})
    assert camel.notes == seq.notes


@pytest.mark.parametrize("doc, words", [
    ({"notes": [{"pitch": 60.5, "startTime": 0, "endTime": 1}]}, "notes[0] pitch must be a whole number"),
    ({"notes": [{"pitch": 60, "startTime": float("nan"), "endTime": 1}]}, "notes[0] startTime must be a finite"),
    ({"notes": [{"pitch": "C4"}]}, "notes[0] pitch must be a whole number, got 'C4'"),
    ({"notes": [60, 62]}, "notes[0] must be an object"),
    ({"notes": 5}, "notes must be a list"),
    ({"notes": [{"pitch": 60, "isDrum": "no"}]}, "isDrum must be true or false"),
    ([1, 2], "a JSON object (dict) is needed"),
])
def test_from_json_names_the_field_it_cannot_read(doc, words):
    """``pitch: 60.5`` became 60 and ``startTime: NaN`` passed (then broke quantize); ``notes: [60, 62]`` said
    "'int' object has no attribute 'get'"."""
    with pytest.raises(errors.TonehostError, match=re.escape(words)):
        NoteSequence.from_json(doc)


def test_from_json_given_a_file_name_says_how_to_read_it(tmp_path):
    p = tmp_path / "seq.json"
    p.write_text("{}")
    with pytest.raises(errors.TonehostError, match="is a file name: NoteSequence.from_json\\(pathlib.Path"):
        NoteSequence.from_json(str(p))


@pytest.mark.parametrize("call", [
    lambda tmp: NoteSequence.from_midi(None),
    lambda tmp: NoteSequence.from_midi(b"MThd\x00\x00\x00\x06"),
    lambda tmp: NoteSequence().to_midi(None),
], ids=["from_midi-None", "from_midi-bytes", "to_midi-None"])
def test_midi_paths_that_are_not_file_names(call, tmp_path):
    """A TypeError from pathlib."""
    with pytest.raises(errors.TonehostError, match="path must be a file name \\(str or pathlib.Path\\)"):
        call(tmp_path)


@pytest.mark.parametrize("note, words", [
    (Note(60, start_time=float("nan"), end_time=1.0), "start_time must be a finite number"),
    (Note(60, start_time=0.0, end_time=float("inf")), "end_time must be a finite number"),
    (Note("60", start_time=0.0, end_time=1.0), "pitch must be a number, got '60'"),
])
def test_notes_a_sequence_cannot_hold_are_named_when_quantizing_and_writing(note, words, tmp_path):
    """quantize: int()'s ValueError/OverflowError on NaN/inf times; to_midi: a TypeError from comparing '60'."""
    seq = NoteSequence(notes=[Note(62, start_time=0.0, end_time=0.5), note], total_time=1.0)
    with pytest.raises(errors.TonehostError, match=f"cannot quantize the sequence: note 1 .*{re.escape(words)}"):
        seq.quantize(4)
    with pytest.raises(errors.TonehostError, match=f"cannot write .*note 1 .*{re.escape(words)}"):
        seq.to_midi(tmp_path / "x.mid")
    assert not (tmp_path / "x.mid").exists()


def test_add_note_and_unquantize_check_their_numbers(melody):
    with pytest.raises(errors.TonehostError, match="end_time must be a finite number, got 'x'"):
        NoteSequence().add_note(60, 0.0, "x")  # float()'s ValueError
    for qpm in (0, -5, float("nan"), "fast"):  # 0 used the sequence's tempo, NaN gave NaN times
        with pytest.raises(errors.TonehostError, match="qpm must be a tempo from 4 to 1000"):
            melody.unquantize(qpm)
    assert melody.unquantize(60).notes[1].start_time == pytest.approx(0.25 * 2)


@pytest.mark.parametrize("duration", [0.0, 1e-6, 1e-3, -0.2])
def test_a_very_short_note_survives_a_midi_file(duration, tmp_path):
    """A note shorter than half a MIDI tick (2.3 ms at 120 qpm: a zero-length or 1 ms note, or one ending before
    it starts) became a note-on and note-off on one tick, which readers drop: the file had no note."""
    seq = NoteSequence(notes=[Note(60, 90, 1.0, 1.0 + duration), Note(64, 90, 0.0, 0.5)], total_time=2.0)
    back = NoteSequence.from_midi(seq.to_midi(tmp_path / "short.mid"))
    assert sorted(n.pitch for n in back.notes) == [60, 64]
    short = next(n for n in back.notes if n.pitch == 60)
    assert short.start_time == pytest.approx(1.0, abs=0.003) and 0 < short.end_time - short.start_time < 0.005



# -- MusicVAE.decode: what is written in the sequences ----------------------------------------------------------

@pytest.mark.parametrize("kw, error, words", [
    (dict(steps_per_quarter=0), errors.UsageError, "steps_per_quarter must be a whole number from 1"),
    (dict(steps_per_quarter=2.5), errors.UsageError, "steps_per_quarter must be a whole number from 1"),
    (dict(qpm=0), errors.TonehostError, "qpm must be a tempo from 4 to 1000"),
    (dict(qpm=float("nan")), errors.TonehostError, "qpm must be a tempo from 4 to 1000"),
    (dict(qpm=-5), errors.TonehostError, "qpm must be a tempo from 4 to 1000"),
    (dict(qpm="fast"), errors.TonehostError, "qpm must be a tempo from 4 to 1000"),
])
def test_decode_checks_the_grid_and_tempo_it_writes(vae, kw, error, words):
    """steps_per_quarter=0 wrote sequences quantized at 0 steps per quarter (not quantized, to magenta.js) and 2.5
    became 2; qpm 0, -5 or NaN was written as the tempo (to_midi refused it later), qpm='fast' a ValueError."""
    z = np.zeros((1, vae.z_dims), np.float32)
    with pytest.raises(error, match=words):
        vae.decode(z, **kw)
    with pytest.raises(error, match=words):
        vae.sample(1, **kw)


def test_decode_of_what_is_not_numbers(vae):
    with pytest.raises(errors.UsageError, match="z must be numbers"):
        vae.decode("abc")  # numpy's "could not convert string to float"
    seqs = vae.decode(np.zeros(vae.z_dims), steps_per_quarter=np.int64(4), qpm=np.float32(90))
    assert seqs[0].qpm == 90 and seqs[0].quantization_info.steps_per_quarter == 4


# -- Engine / EngineConfig: every setting checked when it is made (no audio device needed) -----------------------

@pytest.mark.parametrize("field, value", [
    ("sample_rate", "x"), ("sample_rate", float("nan")), ("block_size", 10 ** 9), ("block_size", 1.5),
    ("in_channels", -1), ("out_channels", 3.5), ("latency", "fast"), ("latency", -1.0),
    ("input_ring_seconds", 1e9), ("input_ring_seconds", 0), ("output_ring_seconds", -1),
    ("synth_harmonics", -1), ("synth_hop", 0), ("frame_capacity", 0), ("max_frame_backlog", 0),
    ("max_output_backlog", -1), ("noise_seed", "x"), ("client_name", ""), ("input_gain", float("nan")),
    ("output_gain", -1), ("monitor", 1e9), ("watchdog_s", 0), ("close_timeout_s", -1), ("device", 3.5),
    ("synth_schedule", "yes"),
])
def test_engine_config_names_the_bad_setting(field, value):
    """Before: ``in_channels=-1``, ``out_channels=3.5``, ``latency="fast"``, ``synth_hop=0``, NaN gains and the
    rest made an Engine without a word (the stream failed or misbehaved later); ``input_ring_seconds=1e9`` was
    numpy's MemoryError for 256 TiB, ``sample_rate="x"`` a ValueError from float()."""
    from tonehost.realtime.audio.engine import Engine, EngineConfig

    with pytest.raises(errors.UsageError, match=f"EngineConfig {field} must be "):
        EngineConfig(**{field: value})
    with pytest.raises(errors.UsageError, match=f"EngineConfig {field} must be "):
        Engine(**{field: value})
    cfg = EngineConfig()
    setattr(cfg, field, value)  # a field set after the config was made
    with pytest.raises(errors.UsageError, match=f"EngineConfig {field} must be "):
        Engine(cfg)


def test_engine_refuses_what_is_not_a_config():
    from tonehost.realtime.audio.engine import Engine, EngineConfig

    with pytest.raises(errors.UsageError, match="Engine has no setting blocksize; EngineConfig's fields are "):
        Engine(blocksize=256)  # dataclasses.replace's TypeError
    with pytest.raises(errors.UsageError, match="Engine takes an EngineConfig"):
        Engine({"sample_rate": 48000})  # "replace() should be called on dataclass instances"
    with pytest.raises(errors.UsageError, match="at least one input or output channel"):
        EngineConfig(in_channels=0, out_channels=0)
    eng = Engine(EngineConfig(sample_rate=44100.0, block_size=np.int64(64), device=("hw:0", 1), latency=0.01))
    try:
        assert eng.config.block_size == 64 and eng.stream is None  # made, never opened
    finally:
        eng.close()


# -- MusicRNN's step-wise stream: event codes -------------------------------------------------------------------

@pytest.mark.parametrize("event", [1000, -1, 1.5, "x"])
def test_a_stream_takes_only_event_codes_of_the_model(rnn, event):
    """``feed(1000)`` or ``feed(-1)`` was fed as an all-zero row and ``feed(1.5)`` as 1, without a word;
    ``to_note_sequence([1000])`` decoded to no notes."""
    stream = rnn.stream()
    with pytest.raises(errors.UsageError, match="event must be a whole number from 0 to 37"):
        stream.feed(event)
    with pytest.raises(errors.UsageError, match="events\\[1\\] must be a whole number from 0 to 37"):
        stream.to_note_sequence([3, event])
    with pytest.raises(errors.UsageError, match="steps_per_quarter"):
        stream.to_note_sequence([3, 4], steps_per_quarter=0)


@pytest.mark.parametrize("bad", [10 ** 6, "a", -1])
def test_a_sampler_that_returns_no_event_code_is_named(rnn, melody, bad):
    """A sampler (``rng=callable``) returning 10**6 continued with rests (an empty continuation), "a" was int()'s
    ValueError."""
    with pytest.raises(errors.UsageError, match="the event the sampler \\(rng\\) returned must be a whole number"):
        rnn.continue_sequence(melody, 4, temperature=1.0, rng=lambda probs: bad)
    assert len(rnn.continue_sequence(melody, 4, temperature=1.0, rng=lambda probs: np.int64(30)).notes) >= 1


def test_step_and_continuation_results_as_documented(rnn, melody):
    with pytest.raises(errors.UsageError, match="x must be float32 \\[batch, 38\\]"):
        rnn.step(np.zeros((1, 3), np.float32), rnn.initial_state())  # ONNX Runtime's InvalidArgument
    with pytest.raises(errors.UsageError, match="state must be initial_state\\(2\\)"):
        rnn.step(np.zeros((2, 38), np.float32), rnn.initial_state(1))
    result = rnn.continue_sequence_and_return_probabilities(melody, 4)
    seq, probs = result
    assert result[0] is seq and result[1].shape == (4, 38) and len(result) == 2  # result[1] was a TypeError


# -- checkpoints.fetch / list: options ----------------------------------------------------------------------------

@pytest.mark.parametrize("kw, words", [
    (dict(retries=10 ** 9, backoff=0, timeout=0.01), "retries must be a whole number from 0 to 100"),
    (dict(retries="x"), "retries must be a whole number from 0 to 100"),
    (dict(timeout=-1), "timeout must be more than 0 and at most 3600 seconds"),
    (dict(backoff=-1), "backoff must be at least 0 and at most 3600 seconds"),
    (dict(to=3), "to must be a folder name"),
    (dict(cache_dir=3), "cache_dir must be a folder name"),
    (dict(extra_index=3), "extra_index must be the name of a JSON index file"),
    (dict(retry=3), "checkpoints.fetch has no option retry"),
])
def test_fetch_options_are_checked_before_any_download(kw, words, tmp_path, monkeypatch):
    """``retries=10**9`` retried for ever against a server that refuses; ``retries="x"`` was a TypeError from a
    comparison, ``timeout=-1`` the socket's ValueError, ``backoff=-1`` time.sleep's, ``to=3`` pathlib's TypeError,
    ``retry=3`` fetch_checkpoint's "unexpected keyword argument"."""
    import socket

    def no_network(*a, **k):
        raise AssertionError("a download was tried")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("TONEHOST_CACHE", str(tmp_path))
    with pytest.raises(errors.UsageError, match=re.escape(words)):
        tonehost.checkpoints.fetch("http://127.0.0.1:9/ckpt", **kw)


def test_list_with_an_index_that_is_not_a_file_name():
    with pytest.raises(errors.UsageError, match="extra_index must be the name of a JSON index file"):
        tonehost.checkpoints.list(3)  # "'int' object is not iterable"


def test_transcription_arguments_of_the_wrong_kind(piano, tmp_path):
    import soundfile as sf

    wav = tmp_path / "take.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    with pytest.raises(errors.UsageError, match="progress must be a function"):
        piano.transcribe_file(wav, progress=5)  # a TypeError after the first block
    with pytest.raises(errors.UsageError, match="session must be the ONNX Runtime session"):
        tonehost.TranscriptionStream(None, 16000)  # an AttributeError inside Transcriber
    with pytest.raises(errors.UsageError, match="read_audio's mono must be True or False"):
        tonehost.read_audio(wav, 2)  # read one channel, not two
    seen = []
    assert piano.transcribe_file(wav, progress=seen.append).total_time == pytest.approx(1.0)
    assert seen and tonehost.read_audio(wav, np.bool_(False))[0].shape == (16000, 1)


def test_sequence_fields_a_json_or_midi_writer_cannot_hold():
    """to_json wrote NaN (which JSON.parse refuses); to_pretty_midi made an object with pitch 200 that failed only
    when written, in mido's words; quantize of a NaN total_time or a "120" tempo was int()'s ValueError or a
    TypeError; from_pretty_midi("x.mid") "'str' object has no attribute 'resolution'"."""
    from tonehost.exports.note_sequence import Tempo

    with pytest.raises(errors.TonehostError, match="cannot write the sequence as JSON: note 0 .*end_time must be"):
        NoteSequence(notes=[Note(60, 80, 0.0, float("nan"))]).to_json()
    with pytest.raises(errors.TonehostError, match="cannot make a MIDI file of the sequence: a note has pitch 200"):
        NoteSequence(notes=[Note(200, 80, 0.0, 1.0)]).to_pretty_midi()
    with pytest.raises(errors.TonehostError, match="total_time must be a finite number"):
        NoteSequence(notes=[Note(60, 80, 0.0, 1.0)], total_time=float("nan")).quantize()
    with pytest.raises(errors.TonehostError, match="its tempo is '120' qpm"):
        NoteSequence(notes=[Note(60, 80, 0.0, 1.0)], tempos=[Tempo(0.0, "120")]).quantize()
    with pytest.raises(errors.TonehostError, match="for a MIDI file use NoteSequence.from_midi"):
        NoteSequence.from_pretty_midi("x.mid")


def test_notes_given_as_a_tuple_or_as_json():
    """A tuple of notes had no ``append`` (add_note's AttributeError), a generator no ``len``; magenta.js JSON
    dicts as notes failed later inside whatever read them."""
    seq = NoteSequence(notes=(Note(60, 80, 0.0, 0.5),))
    seq.add_note(62, 0.5, 1.0)
    assert len(seq) == 2 and len(NoteSequence(notes=(Note(60) for _ in range(3)))) == 3
    with pytest.raises(errors.TonehostError, match="notes\\[0\\] must be a Note .*use NoteSequence.from_json"):
        NoteSequence(notes=[{"pitch": 60, "startTime": 0, "endTime": 1}])
    with pytest.raises(errors.TonehostError, match="notes must be a list of Note"):
        NoteSequence(notes=5)


def test_vae_similarity_and_interpolation_inputs(vae, melody):
    """similar(seq, n, "0.5") was read as 0.5 and True as 1.0 (every other number argument refuses them);
    interpolate(None, 3) was "'NoneType' object is not iterable"."""
    for bad in ("0.5", True, float("nan"), 2.0):
        with pytest.raises(errors.UsageError, match="similarity must be a number between 0 and 1"):
            vae.similar(melody, 2, bad)
    with pytest.raises(errors.UsageError, match="interpolate takes a list of 2 or 4 NoteSequences"):
        vae.interpolate(None, 3)
    with pytest.raises(errors.UsageError, match="interpolate takes a list of 2 or 4 NoteSequences"):
        vae.interpolate(melody, 3)
    assert len(vae.similar(melody, 2, np.float32(0.5))) == 2 and len(vae.interpolate((melody, melody), 3)) == 3


@pytest.mark.parametrize("seconds", [1.5, 2.01])
def test_a_finished_stream_is_as_long_as_its_input(piano, data_dir, seconds):
    """TranscriptionStream.note_sequence.total_time was the last mel frame's end (up to 32 ms past the input:
    3.008 s for 3 s), where transcribe gives the input's length; the notes were already equal."""
    audio, sr = tonehost.read_audio(data_dir / "piano" / "stereo_sample.wav")
    x = audio[:int(sr * seconds)]
    whole = piano.transcribe(x, sr)
    stream = piano.stream(sr)
    for i in range(0, len(x), 1000):
        stream.push(x[i:i + 1000])
        assert stream.note_sequence.total_time <= i / sr + 1000 / sr + 1e-9
    stream.finish()
    assert stream.note_sequence.total_time == whole.total_time == len(x) / sr
    assert stream.note_sequence.notes == whole.notes


def test_a_list_of_ints_is_refused_not_heard_as_silence(piano):
    """A list of Python ints becomes int64, which was scaled as PCM by 2**63: transcribe found no notes where the
    same samples as int16 gave notes, and track_pitch / DDSP.render heard silence."""
    x = (np.sin(np.arange(16000) * 0.1) * 10000).astype(np.int16)
    with pytest.raises(errors.UsageError, match="int64 samples.*np.int16"):
        piano.transcribe(x.tolist(), 16000)
    with pytest.raises(errors.UsageError, match="int64 samples"):
        piano.stream(16000).push(x.astype(np.int64))
    with pytest.raises(ValueError, match="int64 samples"):
        tonehost.track_pitch(x.tolist(), 16000)
    assert np.mean(tonehost.track_pitch(x, 16000)[1] > 0) > 0.5  # the int16 samples themselves are heard


def test_threads_must_be_a_whole_number():
    """threads="x" was a ValueError from int() inside the session factory (every model class takes threads=)."""
    from tonehost.exports.onnx_session import make_session
    for bad in ("x", 1.5, None, True, float("nan")):
        with pytest.raises(errors.UsageError, match="threads must be a whole number"):
            make_session(b"", bad)


def test_a_tiny_temperature_samples_as_argmax(rnn, melody):
    """temperature=1e-40 divided the float32 logits into inf and the softmax into NaN: MusicRNN and MusicVAE drew
    the last class every step. Under MIN_TEMPERATURE the samplers take argmax, the limit of sampling."""
    from tonehost.exports.tfjs.random import MIN_TEMPERATURE, check_temperature
    assert check_temperature(1e-40) is None and check_temperature(MIN_TEMPERATURE) == MIN_TEMPERATURE
    a = rnn.continue_sequence(melody, 16, temperature=1e-40, rng=np.random.default_rng(0))
    b = rnn.continue_sequence(melody, 16, temperature=None)
    assert [(n.pitch, n.quantized_start_step) for n in a.notes] == [(n.pitch, n.quantized_start_step) for n in b.notes]


def test_engine_set_param_checks_its_value():
    """Engine.set_param("bogus", 1) was a KeyError and set_param("input_gain", nan) put NaN into the callback's
    gains (silence); the values now have EngineConfig's ranges."""
    e = tonehost.Engine(tonehost.EngineConfig())
    for name, value, match in (("bogus", 1, "takes input_gain"), ("input_gain", float("nan"), "from 0 to 16"),
                               ("output_gain", -1.0, "from 0 to 16"), ("synth", 0.5, "0 .off. or 1"),
                               ("monitor", "1", "from 0 to 16")):
        with pytest.raises(errors.UsageError, match=match):
            e.set_param(name, value)
    e.set_param("output_gain", 2.0)
    e.set_param("synth", 0)


def test_track_pitch_failures_are_tonehost_errors():
    """``track_pitch(x, 0)`` raised a plain ValueError that ``except tonehost.TonehostError`` missed (transcribe and
    render raise UsageError for the same inputs), and its NaN warning was a plain RuntimeWarning that a filter on
    NonFiniteAudioWarning missed. dsp's checks now raise dsp.errors.ArgumentError: a UsageError and a ValueError."""
    x = np.zeros(1600, np.float32)
    for args, words in (((x, 0), "sample_rate"), ((x, 16000.5), "sample_rate"), (("take.wav", 16000), "file name"),
                        ((np.zeros((2, 3, 4)), 16000), "numeric"), (([1, 2, 3], 16000), "int64")):
        with pytest.raises(tonehost.TonehostError, match=words) as e:
            tonehost.track_pitch(*args)
        assert isinstance(e.value, errors.UsageError) and isinstance(e.value, ValueError), type(e.value)
    with pytest.raises(errors.UsageError, match="hop_length"):
        tonehost.track_pitch(x, 16000, hop_length=0)
    y = np.zeros(16000)
    y[5] = np.nan
    with pytest.warns(errors.NonFiniteAudioWarning, match="1 non-finite sample"):
        tonehost.track_pitch(y, 16000)


def test_a_stream_finished_before_any_audio_is_empty(piano):
    """``finish()`` with nothing pushed (a live session stopped before its first block) was an IndexError from the
    log-mel's reflect padding of no samples."""
    for sr in (16000, 44100):
        st = piano.stream(sr)
        assert st.finish() == [] and len(st.note_sequence.notes) == 0
        st = piano.stream(sr)
        st.push(np.zeros(0, np.float32))
        assert st.finish() == []
    from tonehost.dsp.mel import frame_count, log_mel
    assert log_mel(np.zeros(0, np.float32)).shape == (0, 229) and frame_count(0) == 0
    assert log_mel(np.zeros(1, np.float32)).shape == (1, 229)


def test_a_note_that_json_cannot_hold_is_named():
    """``Note(pitch="x").to_json()`` was int()'s ValueError from inside the library; a NaN time wrote JSON's
    invalid ``NaN``."""
    assert Note(60, 80, 0.0, 1.0).to_json()["pitch"] == 60
    with pytest.raises(errors.TonehostError, match="note pitch must be a whole number, got 'x'"):
        Note("x").to_json()
    with pytest.raises(errors.TonehostError, match="note start_time must be a finite number"):
        Note(60, start_time=float("nan")).to_json()


def test_sampling_leaves_no_thread_behind():
    """``MusicVAE().sample()`` (progress off) started tqdm's monitor thread, which stayed for the rest of the
    caller's process (a disabled bar still starts it). A fresh process: no thread but the main one afterwards."""
    import subprocess
    import sys

    code = ("import threading, tonehost\nv = tonehost.MusicVAE(seed=1)\nv.sample(2)\n"
            "print(sorted(t.name for t in threading.enumerate()))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['MainThread']", r.stdout


def test_the_shipped_models_can_be_found(capsys):
    """The only models that work offline were in no list: `checkpoints list` showed the 36 hosted entries,
    `checkpoints info basic_rnn_folk` answered "unknown checkpoint id ... Did you mean basic_rnn?"."""
    from tonehost.realtime.cli import main

    import tonehost.exports.checkpoints.shipped  # noqa: F401 - the submodule of that name shadowed shipped()

    shipped = tonehost.checkpoints.shipped_models()
    assert set(shipped) == {"onsets_frames_small", "violin", "basic_rnn_folk", "mel_2bar_folk"}
    assert all(p is not None and p.exists() for p in shipped.values()), shipped
    assert tonehost.checkpoints.fetch("mel_2bar_folk") == shipped["mel_2bar_folk"]  # no download: its folder
    with pytest.raises(errors.CheckpointNotFoundError, match="basic_rnn_folk is shipped with tonehost.*basic_rnn"):
        tonehost.checkpoints.info("basic_rnn_folk")
    assert main(["checkpoints", "list"]) == 0
    out = capsys.readouterr().out
    assert "shipped with tonehost" in out and all(str(p) in out for p in shipped.values()), out
    assert main(["checkpoints", "info", "basic_rnn_folk"]) == 0
    out = capsys.readouterr().out
    assert "MusicRNN" in out and str(shipped["basic_rnn_folk"]) in out and "works offline" in out, out


def test_a_melody_vae_refuses_drums_it_would_read_as_silence(vae, melody):
    """``MusicVAE().similar(drums, ...)`` and ``decode(encode(drums))`` returned made-up melodies without a word:
    the melody converter drops drum notes, so a drum-only sequence encoded as two bars of rests (the CLI refused
    it). An empty sequence is still two bars of rests, as in magenta.js."""
    drums = NoteSequence(notes=[Note(36, 100, 0.5 * k, 0.5 * k + 0.1, is_drum=True) for k in range(8)],
                         total_time=4.0)
    for call in (lambda: vae.encode(drums), lambda: vae.similar(drums, 2, 0.9),
                 lambda: vae.interpolate([drums, melody], 3)):
        with pytest.raises(errors.UsageError, match="holds only drums and mel_2bar_folk is a melody model"):
            call()
    assert vae.encode(NoteSequence(total_time=4.0)).shape == (1, vae.z_dims)
    mixed = NoteSequence(notes=drums.notes + [Note(60, 80, 0.0, 0.5)], total_time=4.0)
    assert vae.encode(mixed).shape == (1, vae.z_dims)  # the melody notes are read, the drums dropped


def test_a_midi_file_keeps_its_tempo_map(tmp_path):
    """``to_midi`` wrote only the first tempo: a file read with 120 qpm, then 60 from 2 s, came back at 120
    throughout (note times in seconds survived, a DAW's beat grid did not)."""
    from tonehost.exports.note_sequence import Tempo

    seq = NoteSequence(notes=[Note(60, 80, t, t + 0.4) for t in (0.0, 1.0, 2.5, 3.0, 4.2)],
                       tempos=[Tempo(0.0, 120.0), Tempo(2.0, 60.0)], total_time=5.0)
    back = NoteSequence.from_midi(seq.to_midi(tmp_path / "map.mid"))
    assert [(round(t.time, 4), round(t.qpm, 3)) for t in back.tempos] == [(0.0, 120.0), (2.0, 60.0)]
    assert [round(n.start_time, 3) for n in back.notes] == [0.0, 1.0, 2.5, 3.0, 4.2]
    with pytest.raises(errors.TonehostError, match="tempo 2000.0 qpm is outside"):
        NoteSequence(notes=seq.notes, tempos=[Tempo(0.0, 120.0), Tempo(1.0, 2000.0)]).to_midi(tmp_path / "x.mid")
