"""bench.pitch_errors' re-run of the offline tracker (:func:`bench.pitch_errors.fall_prior_tracker`): without its
prior it must be ``track_pitch(..., unvoiced_guess=True)`` frame for frame (its fda-dev figures compare against
that), and the prior may only lower the guesses of unvoiced, aperiodic frames right after a voiced stretch."""
from __future__ import annotations

import numpy as np

from bench.pitch_errors import fading_end, fall_prior_tracker
from tonehost.dsp.features import track_pitch

SR = 16000


def test_without_the_prior_it_is_track_pitch():
    for f0, fall in ((110.0, 200), (240.0, 0)):
        x, _ = fading_end(f0, fall, jitter_cents=30, seed=1)
        t0, f0_ref, _ = track_pitch(x, SR, unvoiced_guess=True)
        t1, f1 = fall_prior_tracker(0.0)(x, SR)
        np.testing.assert_array_equal(t0, t1)
        np.testing.assert_array_equal(f0_ref, f1.astype(np.float32))
    # another rate goes through the resampler the same way
    x44 = np.interp(np.arange(int(0.46 * 44100)) / 44100, np.arange(len(x)) / SR, x)
    t0, f0_ref, _ = track_pitch(x44, 44100, unvoiced_guess=True)
    t1, f1 = fall_prior_tracker(0.0)(x44, 44100)
    np.testing.assert_array_equal(t0, t1)
    np.testing.assert_array_equal(f0_ref, f1.astype(np.float32))


def test_the_prior_only_lowers_unvoiced_guesses_after_voicing():
    x, _ = fading_end(140.0, 0, seed=2)
    t0, a = fall_prior_tracker(0.0)(x, SR)
    t1, b = fall_prior_tracker(5.0, cap=100.0)(x, SR)
    np.testing.assert_array_equal(t0, t1)
    voiced = a > 0
    np.testing.assert_array_equal(a[voiced], b[voiced])  # voiced frames untouched
    drop = 1200 * np.log2(np.abs(a) / np.abs(b))  # cents the guess was lowered (unvoiced frames: negative values)
    # at most the cap, give or take the alignment: a lower guess is a longer period, so its frame's analysis centre
    # (where the aligner reads it) lies a little further back
    assert np.all(drop >= -1e-3) and np.all(drop <= 105), drop.max()
    assert np.any(drop[~voiced] > 10)  # the fading end's aperiodic frames were lowered
    assert np.all(drop[t1 < 0.25] == 0)  # nothing before the note's end
