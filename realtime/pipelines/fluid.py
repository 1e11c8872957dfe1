"""FluidSynth as a live voice of the engine: note events in, audio blocks out, rendered by the audio worker.

:class:`FluidVoice` wraps one ``fluidsynth.Synth`` (the pyfluidsynth binding of libfluidsynth; ``pip install
'tonehost[live]'`` and the Debian package ``fluidsynth``) with a General MIDI soundfont. The worker calls
:meth:`FluidVoice.render` for every block; libfluidsynth renders in C through ctypes, which releases the GIL, and
the engine's callback never waits for it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tonehost.exports.errors import DeviceError, UsageError

__all__ = ["FluidVoice", "default_soundfont", "SOUNDFONT_PLACES"]

#: Where Debian's General MIDI soundfonts live (``fluid-soundfont-gm``, ``timgm6mb-soundfont``); small first.
SOUNDFONT_PLACES = ("/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
                    "/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/default.sf2")


def default_soundfont() -> Path:
    """The first General MIDI soundfont found on this machine (:data:`SOUNDFONT_PLACES`).

    Raises
    ------
    UsageError
        None installed (the message names the Debian packages and the option to pass one).
    """
    for place in SOUNDFONT_PLACES:
        if os.path.isfile(place):
            return Path(place)
    raise UsageError("no General MIDI soundfont found in /usr/share/sounds/sf2; apt-get install "
                     "timgm6mb-soundfont (or fluid-soundfont-gm), or pass --fluidsynth FILE.sf2")


class FluidVoice:
    """A FluidSynth synthesizer the audio worker renders block by block.

    Parameters
    ----------
    sample_rate : int
        Hz (the engine's).
    soundfont : path, optional
        ``.sf2``/``.sf3`` (default :func:`default_soundfont`).
    gain : float
        FluidSynth's master gain (0.2 is its own default).
    programs : dict, optional
        ``{channel: program}`` General MIDI programs to select (channel 9 always plays the drum kit).

    Raises
    ------
    UsageError
        The soundfont is missing or FluidSynth cannot load it.
    DeviceError
        The pyfluidsynth package or libfluidsynth is not installed.
    """

    def __init__(self, sample_rate: int, soundfont: str | os.PathLike | None = None, gain: float = 0.4,
                 programs: dict | None = None):
        try:
            import fluidsynth
        except (ImportError, OSError) as exc:
            raise DeviceError(f"FluidSynth is not available ({exc}); pip install 'tonehost[live]' and apt-get "
                              "install fluidsynth, or drop --fluidsynth") from None
        path = Path(soundfont).expanduser() if soundfont else default_soundfont()
        if not path.is_file():
            raise UsageError(f"{path}: no such soundfont; pass an existing .sf2 to --fluidsynth")
        self.sample_rate = int(sample_rate)
        self.synth = fluidsynth.Synth(gain=float(gain), samplerate=float(self.sample_rate))
        self.soundfont = path
        self._sfid = self.synth.sfload(str(path))
        if self._sfid < 0:
            raise UsageError(f"{path}: FluidSynth cannot load this soundfont; pass another .sf2 to --fluidsynth")
        for channel, program in (programs or {0: 0}).items():
            self.synth.program_select(int(channel), self._sfid, 0, int(program))
        self.synth.program_select(9, self._sfid, 128, 0)

    def note_on(self, pitch: int, velocity: int, channel: int = 0) -> None:
        """Start a note (channel 9: drums)."""
        self.synth.noteon(int(channel), int(pitch), max(1, min(127, int(velocity))))

    def note_off(self, pitch: int, channel: int = 0) -> None:
        """End a note."""
        self.synth.noteoff(int(channel), int(pitch))

    def all_off(self) -> None:
        """Silence every channel (CC 123, all notes off)."""
        for channel in range(16):
            self.synth.cc(channel, 123, 0)

    def render(self, n: int) -> np.ndarray:
        """The next ``n`` samples, mono float32 (the mean of FluidSynth's stereo pair, scaled to +-1)."""
        if n <= 0:
            return np.zeros(0, np.float32)
        s = self.synth.get_samples(int(n)).astype(np.float32).reshape(-1, 2)
        return (s.mean(axis=1) / 32768.0).astype(np.float32)

    def close(self) -> None:
        """Free the synthesizer."""
        self.synth.delete()
