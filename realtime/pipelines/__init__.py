"""The pipelines a worker runs: audio in, models, audio or notes out; offline and live take the same code path.

- :mod:`~tonehost.realtime.pipelines.instrument` -- voice (or MIDI) -> DDSP instrument; :class:`DDSP`;
- :mod:`~tonehost.realtime.pipelines.transcriber` -- streaming Onsets and Frames; :class:`OnsetsAndFrames`.
"""
