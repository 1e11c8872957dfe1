"""Sub-commands of the ``tonehost`` CLI, one module each (see :mod:`realtime.cli`)."""
