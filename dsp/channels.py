"""Channels to mono for a single source (a voice, an instrument, a piano).

The mean of the channels is the mono signal, except where the channels are in opposite polarity: a laptop's
two-capsule internal mic delivered with one channel inverted, a stereo file wired out of phase. There the mean
cancels the source (a 220 Hz hum recorded as ``[x, -x]`` mixed to silence), and the loudest channel is taken
instead. "Opposite" means the mean keeps less than half the power independent channels would leave it: under
``0.5 / c`` of the channels' mean power for ``c`` channels (two channels of equal power keep ``(1 + rho) / 2``:
a correlation under -0.5), where independent channels keep ``1 / c`` and one channel among silent ones too.
"""
from __future__ import annotations

import numpy as np

__all__ = ["mix_to_mono", "cancelled_channel"]

#: The mean keeps less than this share of the power independent channels leave it (``1 / c``): they cancel.
CANCEL_SHARE = 0.5
#: Below this mean channel power (-100 dB) there is nothing to cancel.
QUIET_POWER = 1e-10


def cancelled_channel(channels: np.ndarray, mean: np.ndarray) -> int:
    """The loudest channel's index when ``mean`` cancels ``channels``, else -1.

    Parameters
    ----------
    channels : numpy.ndarray, shape (n, c)
        The block's channels.
    mean : numpy.ndarray, shape (n,)
        Their mean.

    Returns
    -------
    int
        -1 when the mean keeps at least ``CANCEL_SHARE / c`` of the ``c`` channels' mean power (or the block is
        under :data:`QUIET_POWER`), else the index of the channel with the most power.
    """
    if channels.ndim != 2 or channels.shape[1] < 2 or channels.shape[0] == 0:
        return -1
    power = np.einsum("ij,ij->j", channels, channels, dtype=np.float64) / channels.shape[0]
    m = np.asarray(mean, np.float64)
    if power.mean() < QUIET_POWER or float(m @ m) / len(m) >= CANCEL_SHARE / len(power) * power.mean():
        return -1
    return int(np.argmax(power))


def mix_to_mono(audio: np.ndarray) -> np.ndarray:
    """``[n]`` or ``[n, channels]`` -> ``[n]`` float64: the mean of the channels, or the loudest channel where the
    mean cancels them (:func:`cancelled_channel`).

    Parameters
    ----------
    audio : numpy.ndarray, shape (n,) or (n, channels)

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        Bit for bit ``audio.mean(axis=1)`` unless the channels are in opposite polarity.
    """
    x = np.asarray(audio, np.float64)
    if x.ndim == 1:
        return x
    m = x.mean(axis=1)
    k = cancelled_channel(x, m)
    return m if k < 0 else x[:, k].copy()
