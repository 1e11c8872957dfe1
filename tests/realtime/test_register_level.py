"""Issue 15's register and level cases, with their right values: the octave shift changes only between phrases
and keeps the instrument in its range; the same input gives the same output level (steady, repeated, with a DC
offset). Normaliser cases run on exact f0 sequences; the level and predominant-pitch cases run the shipped
violin through the whole pipeline (tracker, normaliser, controls model, synth)."""
from __future__ import annotations

import numpy as np
import pytest

from tonehost.dsp.features import TrackerConfig, track_pitch, voice_like
from tonehost.dsp.normalize import LiveNormalizer, NormalizerSettings

FPS = 500.0  # the tracker's frame rate (hop 32 at 16 kHz)
HOSTED_VIOLIN = NormalizerSettings.from_settings({"averageMaxLoudness": -48.6, "meanLoudness": -68.5,
                                                  "meanPitch": 62.0, "loudnessThreshold": -100}, "violin")
# the shipped violin's settings (the renders): meanPitch 70.83
SHIPPED_VIOLIN = NormalizerSettings.from_settings({"averageMaxLoudness": -43.77, "meanLoudness": -64.75,
                                                   "meanPitch": 70.83, "loudnessThreshold": -100}, "violin")


def midi(f):
    return 69.0 + 12.0 * np.log2(np.asarray(f, float) / 440.0)


def hz(m):
    return 440.0 * 2.0 ** ((np.asarray(m, float) - 69.0) / 12.0)


def normalise(f0, voiced, settings=SHIPPED_VIOLIN, db=-40.0, whole_file=False):
    """The normaliser over one f0 sequence: live, or preset with the sequence's own statistics (offline render)."""
    norm = LiveNormalizer(settings, frame_rate=FPS)
    if whole_file:
        norm.preset(float(np.mean(midi(np.asarray(f0)[np.asarray(voiced)]))), db)
    out = np.array([norm(float(f), db, bool(v))[0] for f, v in zip(f0, voiced)])
    return out


def magentajs_shift(settings, f0):
    """magenta.js's whole-file register shift: round((meanPitch - mean MIDI pitch) / 12)."""
    return int(round((settings.mean_pitch - np.mean(midi(f0))) / 12.0))


def test_pickup_phrase_gets_one_shift_live():
    """Live (no whole-file statistics), the pickup phrase is still played with one shift from start to end."""
    notes = [48, 64, 67, 72, 67, 64]
    n_on, n_gap = int(0.48 * FPS), int(0.02 * FPS)
    f0 = np.concatenate([np.full(n_on + n_gap, hz(m)) for m in notes])
    voiced = np.tile(np.r_[np.ones(n_on, bool), np.zeros(n_gap, bool)], len(notes))
    out = normalise(f0, voiced)
    shifts = np.round(midi(out) - midi(f0)).astype(int).reshape(len(notes), -1)[:, :n_on]
    assert set(shifts.ravel()) == {12}, shifts[:, [0, -1]]  # magenta.js's +1 for the phrase, from its C3


def test_offline_render_uses_magentajs_whole_file_shift(violin):
    """``render`` (whole-file statistics) plays the pickup phrase at magenta.js's +1 from its first note."""
    sr = 16000
    notes = [48, 64, 67, 72, 67, 64]
    f = np.concatenate([np.r_[np.full(int(0.48 * sr), hz(m)), np.zeros(int(0.02 * sr))] for m in notes])
    x = np.r_[np.zeros(sr // 10), voice_like(f, sr, 0.2), np.zeros(sr // 10)]
    _, pipe = _render(violin, x, whole_file=True)
    assert pipe.normalizer.octave_shift == 1
    f0n = np.array([row[1] for row in pipe.trace])
    # every model frame while a note sounds is one of the notes + 12
    t = np.arange(1, len(f0n) + 1) / 250.0
    sounding = np.array([row[3] for row in pipe.trace]) > 0.01
    got = np.round(midi(np.maximum(f0n[sounding & (t > 0.2)], 1)))
    assert np.isin(got, np.array(notes) + 12).mean() > 0.97


@pytest.mark.parametrize("settings", [SHIPPED_VIOLIN], ids=["shipped"])
def test_pickup_phrase_gets_one_shift(settings):
    """C3 pickup then E4 G4 C5 G4 E4 (0.5 s each, 20 ms between notes): the old running mean gave
    +2 +2 +2 +1 +1 +1 with the shipped violin (G4 -> C5 came out falling); one shift for the phrase, magenta.js's
    +1: C4 E5 G5 C6 G5 E5."""
    notes = [48, 64, 67, 72, 67, 64]
    n_on, n_gap = int(0.48 * FPS), int(0.02 * FPS)
    f0 = np.concatenate([np.full(n_on + n_gap, hz(m)) for m in notes])
    voiced = np.tile(np.r_[np.ones(n_on, bool), np.zeros(n_gap, bool)], len(notes))
    right = magentajs_shift(settings, np.repeat(hz(notes), 10))
    assert right == 1  # the right value (with the hosted violin's meanPitch 62 it is 0, and C3 would
    # fall under the violin's G3: the range rule then lifts those frames an octave)
    out = normalise(f0, voiced, settings, whole_file=True)
    got = np.round(midi(out)).astype(int).reshape(len(notes), -1)[:, :n_on]
    assert np.all(got == (np.array(notes) + 12 * right)[:, None]), got[:, [0, -1]]


@pytest.mark.parametrize("settings", [SHIPPED_VIOLIN], ids=["shipped"])
def test_glide_keeps_magentajs_shift(settings):
    """A 3 s hum gliding 130 -> 735 Hz, tracked live: the old normaliser kept the +2 chosen at its first frame
    (shipped violin) and ended at 2834 Hz, far above the violin's range; magenta.js shifts the file by
    round((meanPitch - mean pitch) / 12) = +1, so it ends at 1470 Hz."""
    sr = 16000
    n = 3 * sr
    f_in = 130.0 * (735.0 / 130.0) ** (np.arange(n) / (n - 1))
    x = np.r_[np.zeros(sr // 10), voice_like(f_in, sr, 0.2), np.zeros(sr // 10)]
    t, f, c = track_pitch(x, sr)
    v = f > 0
    right = magentajs_shift(settings, f[v])
    assert right == 1
    out = normalise(np.where(v, f, 0.0), v, settings, whole_file=True)
    shifts = np.round((midi(np.maximum(out[v], 1)) - midi(f[v])) / 12).astype(int)
    assert set(shifts) == {right}
    assert out[v][-1] == pytest.approx(735.0 * 2 ** right, rel=0.02)
    # live, the shift is held from the first note to the end of the glide (no mid-phrase jump), and the first
    # decision leaves the phrase room to rise: +1 again, the glide ends at 1470 Hz inside the violin's range
    live = normalise(np.where(v, f, 0.0), v, settings)
    assert set(np.round((midi(np.maximum(live[v], 1)) - midi(f[v])) / 12).astype(int)) == {1}
    assert midi(live[v][-1]) <= 88 + 2


def test_octave_error_at_a_note_start_does_not_move_the_register():
    """A male voice, phrases at 140-180 Hz with 0.4 s breaths between them; each phrase starts with one
    octave-low tracker frame (72 Hz for 144 Hz). The register shift is the same for every voiced frame after
    the very first few of the first phrase, and the pitch class is always right."""
    rng = np.random.default_rng(0)
    f0, voiced = [], []
    for phrase in range(8):
        notes = rng.uniform(midi(140), midi(180), 4)
        seq = np.repeat(hz(notes), int(0.6 * FPS))
        seq[0] = seq[0] / 2  # the octave-low first frame
        f0 += list(seq) + [seq[-1]] * int(0.4 * FPS)
        voiced += [True] * len(seq) + [False] * int(0.4 * FPS)
    f0, voiced = np.array(f0), np.array(voiced)
    out = normalise(f0, voiced)
    shift = np.round((midi(out) - midi(f0)) / 12.0).astype(int)[voiced]
    mode = np.bincount(shift - shift.min()).argmax() + shift.min()
    off = np.mean(shift != mode)
    assert off <= 0.01, off
    # after the first phrase's seed: every voiced frame the same shift, except the wrong frames themselves,
    # which keep the phrase's shift (and so come out an octave low, as the tracker said)
    target = midi(f0)[voiced] + 12 * mode
    wrong_frames = np.abs(midi(out)[voiced] - target) > 0.5
    assert wrong_frames.sum() <= 8 + 3


def test_violin_stays_in_its_range():
    """A low C3 that a tracker reports (or a voice an octave down) with meanPitch far above: never below G3."""
    settings = NormalizerSettings.from_settings({"meanPitch": 62.0, "meanLoudness": -68.5,
                                                 "averageMaxLoudness": -48.6}, "violin")
    # first phrase at A4 (shift 0), then one very low frame inside the phrase
    f0 = np.r_[np.full(200, 440.0), np.full(5, 130.8), np.full(200, 440.0)]
    out = normalise(f0, np.ones(len(f0), bool), settings)
    assert np.all(midi(out) >= 55 - 1e-6)
    # a whistle at G6 (1568 Hz) on the violin is brought down inside G3-E6
    out = normalise(np.full(300, 1568.0), np.ones(300, bool), settings)
    assert 55 <= midi(out[-1]) <= 88


def test_register_on_real_singing(data_dir):
    """MDB-stem-synth male singing (exact f0), tracked live, normalised: share of voiced frames off the modal
    shift <= 1%, share with the right pitch class >= 97%."""
    import soundfile as sf
    base = data_dir / "voice" / "mdb_stem_synth" / "AClassicEducation_NightOwl_STEM_08.RESYN"
    x, sr = sf.read(str(base) + ".wav")
    ref = np.loadtxt(str(base) + ".csv", delimiter=",")
    # a breathy, creaky onset: breath noise before the first note, then its first 80 ms period-doubled
    # (every other period louder: vocal fry's subharmonic, which halves YIN's f0)
    t0 = ref[np.flatnonzero(ref[:, 1] > 0)[0], 0]
    i0 = int(t0 * sr)
    rng = np.random.default_rng(0)
    x = x.copy()
    x[max(0, i0 - int(0.15 * sr)):i0] += 0.02 * rng.standard_normal(min(i0, int(0.15 * sr)))
    tt = np.arange(int(0.08 * sr)) / sr
    f_first = np.interp(t0 + tt, ref[:, 0], ref[:, 1])
    creak = 1.0 + 0.7 * np.sign(np.sin(np.pi * np.cumsum(f_first) / sr))
    x[i0:i0 + len(tt)] *= creak
    t, f, c = track_pitch(x, sr)
    voiced = f > 0
    out = normalise(np.where(voiced, f, np.maximum.accumulate(f)), voiced)
    shift = np.round((midi(np.maximum(out, 1)) - midi(np.maximum(f, 1))) / 12.0).astype(int)[voiced]
    mode = np.bincount(shift - shift.min()).argmax() + shift.min()
    assert np.mean(shift != mode) <= 0.01
    rf = np.interp(t, ref[:, 0], ref[:, 1])
    both = voiced & (rf > 0)
    err = (midi(np.maximum(out[both], 1)) - midi(np.maximum(rf[both], 1))) % 12.0
    err = np.minimum(err, 12.0 - err)
    assert np.mean(err < 0.5) >= 0.97


# ------------------------------------------------------------------------------------- through the pipeline

@pytest.fixture(scope="module")
def violin():
    from tonehost.exports.checkpoints.shipped import default_instrument_path
    from tonehost.realtime.pipelines.instrument import ControlsModel
    return ControlsModel(default_instrument_path("violin"))


def _render(controls, x, sr=16000, whole_file=False):
    """The live path (``whole_file=False``: what ``play`` does) or offline ``render`` (whole-file statistics)."""
    from tonehost.realtime.pipelines.instrument import InstrumentPipeline, PipelineConfig
    pipe = InstrumentPipeline(controls, PipelineConfig(sample_rate=48000))
    pipe.trace = []
    y = pipe.render(x, sr, whole_file=whole_file)
    return y, pipe


def _levels_db(y, sr=48000, win=0.25):
    n = int(win * sr)
    k = len(y) // n
    r = np.sqrt(np.mean(y[:k * n].reshape(k, n).astype(np.float64) ** 2, axis=1))
    return 20 * np.log10(np.maximum(r, 1e-9))


def _hum(seconds, f0=220.0, amp=0.2, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f = f0 * 2 ** (0.2 * np.sin(2 * np.pi * 5.0 * t) / 12)  # vibrato
    return voice_like(f, sr, amp) + 1e-4 * rng.standard_normal(n)


@pytest.mark.parametrize("whole_file", [False, True], ids=["live", "offline"])
def test_steady_hum_gives_steady_level(violin, whole_file):
    """A steady 220 Hz hum: the old live normaliser rendered -15 dB falling to -24 dB within 4 s. Now the level
    after the first second stays within 2 dB."""
    y, _ = _render(violin, _hum(4.0), whole_file=whole_file)
    lv = _levels_db(y)[4:]  # after 1 s
    assert lv.max() - lv.min() <= 2.0, lv


@pytest.mark.parametrize("whole_file", [False, True], ids=["live", "offline"])
def test_repeated_phrase_gives_the_same_level(violin, data_dir, whole_file):
    """The same 3 s sung phrase repeated (1 s of silence between): the old normaliser drifted -19, -27, -31 dB;
    every repeat now comes out within 2 dB of the first."""
    import soundfile as sf
    x, sr = sf.read(str(data_dir / "voice" / "mdb_stem_synth" / "AClassicEducation_NightOwl_STEM_08.RESYN.wav"))
    gap = np.zeros(sr)
    reps = 6
    y, _ = _render(violin, np.concatenate([np.r_[x, gap] for _ in range(reps)]), sr, whole_file)
    per = len(y) // reps
    lv = [20 * np.log10(np.sqrt(np.mean(y[i * per:(i + 1) * per].astype(np.float64) ** 2))) for i in range(reps)]
    assert max(lv) - min(lv) <= 2.0, lv


@pytest.mark.parametrize("whole_file", [False, True], ids=["live", "offline"])
def test_dc_offset_at_the_start_changes_level_under_1_db(violin, whole_file):
    """An inaudible DC offset at the start (0.6 decaying with tau 0.1 s) made the old 4 s render 20-26 dB
    quieter; now the level changes by less than 1 dB."""
    x = _hum(4.0)
    t = np.arange(len(x)) / 16000
    a, _ = _render(violin, x, whole_file=whole_file)
    b, _ = _render(violin, x + 0.6 * np.exp(-t / 0.1), whole_file=whole_file)
    la = 20 * np.log10(np.sqrt(np.mean(a.astype(np.float64) ** 2)))
    lb = 20 * np.log10(np.sqrt(np.mean(b.astype(np.float64) ** 2)))
    assert abs(la - lb) < 1.0, (la, lb)


def test_two_tones_never_play_the_violin_under_g3(violin):
    """C5 and a quieter G4 at once: the old tracker said C3 (130.8 Hz) and the violin played below its lowest
    string. Now the violin plays the predominant C5's register and never below G3 (196 Hz)."""
    sr = 16000
    n = 2 * sr
    x = voice_like(np.full(n, 523.25), sr, 0.2) + 0.5 * voice_like(np.full(n, 392.0), sr, 0.2)
    _, pipe = _render(violin, x)
    f0n = np.array([row[1] for row in pipe.trace])
    amp = np.array([row[3] for row in pipe.trace])
    playing = f0n[20:]  # after the first 80 ms
    assert np.all(playing >= 196.0 - 1e-6)
    pcs = np.round(midi(playing)) % 12
    assert np.mean(pcs == 0) > 0.95  # a C
    assert amp[50:].mean() > 0


def test_play_readout_shows_you_and_the_instrument(violin):
    """``play``'s readout: ``you 221 Hz -> violin 884 Hz (+2 oct)``, and ``--`` while unvoiced."""
    import re

    from tonehost.realtime.cli.play import pitch_readout
    _, pipe = _render(violin, _hum(1.0, f0=221.0, amp=0.2))
    # the hum has a +-0.2 semitone vibrato: read the last frame against the tracked pitch it shows
    text = pitch_readout(pipe.last, "violin")
    m = re.fullmatch(r"you +(\d+) Hz -> violin +(\d+) Hz \(([+-]\d) oct\)", text.strip())
    assert m, text
    f_in, f_out, octs = int(m.group(1)), int(m.group(2)), int(m.group(3))
    assert abs(f_in - 221) <= 4
    assert octs == pipe.normalizer.octave_shift
    assert abs(f_out - f_in * 2 ** octs) <= 2 ** octs
    pipe.render(np.zeros(8000), 16000, whole_file=False)
    assert pitch_readout(pipe.last, "violin").split() == ["you", "--", "Hz", "->", "violin", "--", "Hz"]
