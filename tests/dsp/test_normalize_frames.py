"""LiveNormalizer.frames (offline render: many frames in one Numba call) equals calling the normaliser frame by
frame: the same values bit for bit and the same state afterwards, through phrase starts, seeding, the register's
hysteresis, the level statistic's seed and exponential mean, the mask ramp and the histogram's rescale."""
from __future__ import annotations

import numpy as np
import pytest

from tonehost.dsp.normalize import LiveNormalizer, NormalizerSettings

VIOLIN = NormalizerSettings(-48.6, -68.5, 62.0, -100.0, 55.0, 88.0)


def _frames(T, seed):
    rng = np.random.default_rng(seed)
    # notes over three octaves with octave-wrong frames (the register and the seed median move), voiced and
    # unvoiced runs of random lengths (gaps around the phrase gap), f0 = 0 before the first note
    runs = np.cumsum(rng.integers(1, 160, T))
    notes = rng.uniform(36, 84, T + 1)[np.searchsorted(runs, np.arange(T), side="right")]
    notes += 12.0 * rng.choice([-1, 0, 0, 0, 1], T) + 0.3 * rng.standard_normal(T)
    f0 = (440 * 2 ** ((notes - 69) / 12)).astype(np.float32)
    f0[: T // 50] = 0.0
    vruns = np.cumsum(rng.integers(1, 120, T))
    voiced = (np.searchsorted(vruns, np.arange(T), side="right") % 3 != 0) & (f0 > 0)
    db = np.where(voiced, rng.uniform(-95, -20, T), rng.uniform(-120, -60, T)).astype(np.float32)
    return f0, db, voiced


def _state(n):
    return (n._ld_mean, n._ld_seed, n._hist, n._hist_total, n._gain, n._seed_pitch, n._octaves, n._has_shift,
            n._in_phrase, n._gap, n._phrase_decided, n._mask_db, n._was_voiced)


@pytest.mark.parametrize("kw", [dict(), dict(db_kind="power_db"), dict(pitch_shift=-12.0, input_gain_db=-6.0),
                                dict(auto_register=False), dict(register_seconds=0.05)],
                         ids=["violin", "power", "shifts", "no-register", "rescale"])
@pytest.mark.parametrize("preset", [False, True])
def test_frames_equal_frame_by_frame(kw, preset):
    f0, db, voiced = _frames(6000, seed=len(kw) + preset)
    a, b = LiveNormalizer(VIOLIN, **kw), LiveNormalizer(VIOLIN, **kw)
    if preset:
        a.preset(57.3, -40.0)
        b.preset(57.3, -40.0)
    got_f, got_d = [], []
    for lo, hi in ((0, 1), (1, 700), (700, 701), (701, 6000)):  # chunks carry the state on, as render's do
        f, d = a.frames(f0[lo:hi], db[lo:hi], voiced[lo:hi])
        got_f.append(f)
        got_d.append(d)
    ref = np.array([b(float(f0[i]), float(db[i]), bool(voiced[i])) for i in range(len(f0))])
    np.testing.assert_array_equal(np.concatenate(got_f), ref[:, 0])
    np.testing.assert_array_equal(np.concatenate(got_d), ref[:, 1])
    assert _state(a) == _state(b)
    assert len({round(x) for x in ref[voiced, 0] / f0[voiced]}) > 1 or kw.get("auto_register") is False \
        or kw.get("db_kind") == "power_db"  # the register moved at least once (the path is exercised)



def test_no_octave_shift_reported_with_auto_register_off():
    # preset() measures the register either way; with auto_register off none is applied, so none is reported
    # (render's summary and play's readout read octave_shift: '-2 oct' over a whistle rendered at its own pitch)
    on, off = LiveNormalizer(VIOLIN), LiveNormalizer(VIOLIN, auto_register=False)
    for n in (on, off):
        n.preset(mean_pitch=91.0)  # a 1400 Hz whistle: two octaves over the violin's meanPitch
    assert on.octave_shift < 0
    assert off.octave_shift == 0
