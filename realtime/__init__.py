"""The live side: the engine and audio I/O (:mod:`~tonehost.realtime.audio`), the pipelines
(:mod:`~tonehost.realtime.pipelines`), MIDI (:mod:`~tonehost.realtime.midi`), audio files
(:mod:`~tonehost.realtime.io`), the command line (:mod:`~tonehost.realtime.cli`) and test helpers
(:mod:`~tonehost.realtime.testing`)."""
