"""Pure numeric kernels (Numba): synthesizers, analysis, resampling.

Nothing in here touches threads, devices or files, and nothing imports the rest of tonehost. Per-block kernels are
``@njit(nogil=True, cache=True)``, write into caller-owned arrays and allocate nothing, so the audio callback
(a ``cfunc``) can call them.

- :mod:`~tonehost.dsp.harmonic`, :mod:`~tonehost.dsp.noise` -- DDSP's harmonic and filtered-noise synthesizers;
- :mod:`~tonehost.dsp.resample` -- streaming rational resampler and offline ``resample_to``;
- :mod:`~tonehost.dsp.mel` -- magenta.js's Onsets-and-Frames log-mel front end, offline and streaming;
- :mod:`~tonehost.dsp.yin` -- YIN, the one period estimator; :mod:`~tonehost.dsp.loudness` -- the one home of
  the power and loudness formulas (DDSP-VST, magenta.js, DDSP A-weighted);
- :mod:`~tonehost.dsp.features` -- the streaming voice tracker (f0, confidence, loudness) and ``track_pitch``;
- :mod:`~tonehost.dsp.normalize` -- magenta.js's feature normalisation, live;
- :mod:`~tonehost.dsp.reverb`, :mod:`~tonehost.dsp.fft` -- a reverb and an in-place FFT for kernels.
"""
