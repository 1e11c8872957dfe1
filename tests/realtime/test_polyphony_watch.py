"""play --midi-out's polyphony warning (realtime.midi.hum.PolyphonyWatch): note salad from a chord is named once."""
import warnings

import pytest

from tonehost.exports.errors import TonehostWarning
from tonehost.realtime.midi.hum import PolyphonyWatch


def test_a_chord_rate_warns_once_and_a_melody_never():
    w = PolyphonyWatch(3.0)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        # a sung melody: 3 notes a second for 20 s
        assert not any(w.note_on(k / 3.0) for k in range(60))
        # then a chord's note salad: 25 note-ons a second
        fired = [w.note_on(20.0 + k / 25.0) for k in range(100)]
    assert sum(fired) == 1 and fired.index(True) < 40  # within about a second and a half of the salad
    lines = [r for r in rec if issubclass(r.category, TonehostWarning)]
    assert len(lines) == 1 and "polyphonic" in str(lines[0].message)


def test_old_note_ons_leave_the_window():
    w = PolyphonyWatch(3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # 29 fast notes, then a pause: the next burst starts counting again from zero
        for k in range(29):
            w.note_on(k * 0.1)
        for k in range(20):
            w.note_on(100.0 + k * 0.2)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_window_must_be_positive(bad):
    with pytest.raises(ValueError, match="window_s"):
        PolyphonyWatch(bad)
