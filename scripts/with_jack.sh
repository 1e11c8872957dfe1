#!/usr/bin/env bash
# Run a command with a JACK server: reuse a running one, or start `jackd -R -d dummy -r 48000 -p 128`
# (no sound card needed) with its log in $TONEHOST_JACKD_LOG, and stop it afterwards.
set -uo pipefail
export TONEHOST_JACKD_LOG=${TONEHOST_JACKD_LOG:-$(mktemp -d)/jackd.log}
started=""
if ! JACK_NO_START_SERVER=1 jack_lsp >/dev/null 2>&1; then
  jackd -R -d dummy -r "${JACK_RATE:-48000}" -p "${JACK_PERIOD:-128}" >"$TONEHOST_JACKD_LOG" 2>&1 &
  started=$!
  # up to 60 s: a loaded CI machine can take seconds to start it
  for _ in $(seq 300); do JACK_NO_START_SERVER=1 jack_lsp >/dev/null 2>&1 && break; sleep 0.2; done
  echo "== started jackd (dummy backend, pid $started, log $TONEHOST_JACKD_LOG)"
fi
"$@"
rc=$?
if [ -n "$started" ]; then
  kill "$started" 2>/dev/null; wait "$started" 2>/dev/null
  echo "== stopped jackd"
fi
exit $rc
