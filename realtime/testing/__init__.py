"""Test and bench helpers that use the real parts: a JACK dummy server and reference clients
(:mod:`~tonehost.realtime.testing.jack`), a GIL-hogging probe (:mod:`~tonehost.realtime.testing.gil_probe`), a local
HTTP checkpoint server (:mod:`~tonehost.realtime.testing.checkpoint_server`) and random-weight models in the exact
formats (:mod:`~tonehost.realtime.testing.models`)."""
