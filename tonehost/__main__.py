"""``python -m tonehost`` runs the command line (the same as the ``tonehost`` script)."""
import sys

from tonehost.realtime.cli import main

sys.exit(main())
