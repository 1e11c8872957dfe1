"""MIDI in and out: :mod:`~tonehost.realtime.midi.input` (a keyboard driving an instrument) and
:mod:`~tonehost.realtime.midi.output` (MIDI files that survive interrupts, rtmidi output ports)."""
