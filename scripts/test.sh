#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite against a real JACK server (dummy backend).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bash scripts/with_jack.sh .venv/bin/python -m pytest -q "$@"
