"""MIDI -> audio with the ``fluidsynth`` command line: the one place that builds its command.

The training recipes (:mod:`~tonehost.exports.training.recipes.make_piano_data`,
:mod:`~tonehost.exports.training.recipes.make_violin_data`), the benches and the tests render General MIDI
soundfonts through :func:`render_midi`. Each passes the options it has always used, so its audio is what it was.
No torch here: the tests import this module.
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tonehost.exports.errors import TonehostError

__all__ = ["FluidSynthError", "render_midi"]


class FluidSynthError(TonehostError):
    """FluidSynth is not installed, a soundfont or MIDI file is missing, or the render failed."""


def render_midi(midi_path, wav_path, soundfont, sample_rate: int, *, gain: float | None = None,
                reverb: bool | None = None, chorus: bool | None = None,
                settings: Mapping[str, object] | None = None, mono: bool = True) -> np.ndarray:
    """Render a MIDI file with FluidSynth to a WAV file and return its samples.

    Runs ``fluidsynth -ni [-g GAIN] -r RATE [-o synth.reverb.active=0|1] [-o synth.chorus.active=0|1]
    [-o KEY=VALUE ...] -F WAV -T wav SOUNDFONT MIDI`` (FluidSynth's own defaults for everything not given), then
    reads the WAV back with soundfile.

    Parameters
    ----------
    midi_path : str or Path
        The Standard MIDI File to play (its program changes choose the instruments; General MIDI).
    wav_path : str or Path
        Where FluidSynth writes the rendered audio (a WAV file, 16-bit, 2 channels); left in place.
    soundfont : str or Path
        The ``.sf2``/``.sf3`` soundfont, e.g. ``/usr/share/sounds/sf2/FluidR3_GM.sf2`` (Debian
        ``fluid-soundfont-gm``).
    sample_rate : int
        Output sample rate in Hz (``-r``).
    gain : float, optional
        FluidSynth's master gain (``-g``, linear, 0..10); ``None``: FluidSynth's default (0.2).
    reverb, chorus : bool, optional
        Turn FluidSynth's reverb / chorus on or off (``synth.reverb.active``, ``synth.chorus.active``);
        ``None``: FluidSynth's default (on).
    settings : mapping, optional
        Further FluidSynth settings, each passed as ``-o KEY=VALUE`` (e.g. ``{"synth.polyphony": 512}``).
    mono : bool, default True
        Return the mean of the channels (shape ``[n]``) rather than every channel (shape ``[n, channels]``).

    Returns
    -------
    numpy.ndarray
        float32 samples in [-1, 1] at ``sample_rate``: shape ``[n]`` when ``mono``, else ``[n, channels]``.

    Raises
    ------
    FluidSynthError
        When ``fluidsynth`` is not on ``PATH`` (``apt-get install fluidsynth``), the soundfont or MIDI file does
        not exist, FluidSynth exits with an error or writes no ``wav_path`` (its last output lines are in the
        message), or the WAV it wrote is not at ``sample_rate``.
    """
    import soundfile as sf

    exe = shutil.which("fluidsynth")
    if exe is None:
        raise FluidSynthError("fluidsynth is not installed: apt-get install fluidsynth (Debian/Ubuntu)")
    for kind, path in (("soundfont", soundfont), ("MIDI file", midi_path)):
        if not Path(path).is_file():
            hint = (" (Debian: apt-get install fluid-soundfont-gm, timgm6mb-soundfont or "
                    "musescore-general-soundfont-small)") if kind == "soundfont" else ""
            raise FluidSynthError(f"{kind} {path} not found{hint}", path)
    cmd = [exe, "-ni"]
    if gain is not None:
        cmd += ["-g", repr(float(gain))]
    cmd += ["-r", str(int(sample_rate))]
    if reverb is not None:
        cmd += ["-o", f"synth.reverb.active={int(bool(reverb))}"]
    if chorus is not None:
        cmd += ["-o", f"synth.chorus.active={int(bool(chorus))}"]
    for key, value in (settings or {}).items():
        cmd += ["-o", f"{key}={value}"]
    cmd += ["-F", str(wav_path), "-T", "wav", str(soundfont), str(midi_path)]
    wav_path = Path(wav_path)
    wav_path.unlink(missing_ok=True)  # so a stale file is never read back as this render
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not wav_path.is_file():
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        what = f"exit {proc.returncode}" if proc.returncode else f"no {wav_path} written"
        raise FluidSynthError(f"fluidsynth failed ({what}) rendering {midi_path}: {tail}", midi_path)
    x, sr = sf.read(str(wav_path), dtype="float32", always_2d=True)
    if sr != int(sample_rate):
        raise FluidSynthError(f"fluidsynth wrote {wav_path} at {sr} Hz, not {sample_rate} Hz", wav_path)
    return x.mean(axis=1) if mono else x
