#!/usr/bin/env bash
# Set up, then run the main job: measure where every millisecond goes (engine round trip through JACK, synth
# cost, xruns against the C reference client, with and without a GIL-hogging thread).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bash scripts/with_jack.sh .venv/bin/python -m bench.latency "$@"
