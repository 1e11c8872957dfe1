"""MIDI in and out: :mod:`~tonehost.realtime.midi.ports` (every ALSA and JACK MIDI port, listed and opened one way,
as ``tonehost devices --midi`` shows them), :mod:`~tonehost.realtime.midi.input` (a keyboard driving an
instrument, through a parser that never raises) and :mod:`~tonehost.realtime.midi.output` (MIDI files that survive
interrupts and kills: a journal beside live takes, :func:`~tonehost.realtime.midi.output.recover_take`; output
ports)."""
