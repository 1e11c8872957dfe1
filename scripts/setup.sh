#!/usr/bin/env bash
# Set up tonehost on a fresh Debian/Ubuntu machine: system packages, a virtualenv in .venv, the Node references.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS="libportaudio2 jackd2 fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small libsndfile1"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "== installing system packages:$missing"
  $SUDO apt-get update -qq
  # jackd2 asks whether to enable real-time priority: answer for it
  echo "jackd2 jackd/tweak_rt_limits boolean true" | $SUDO debconf-set-selections || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
echo "== installing tonehost into .venv"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"

if command -v npm >/dev/null 2>&1; then
  if [ ! -d tests/node/node_modules ]; then
    echo "== installing the Node references (@magenta/music, @tensorflow/tfjs) for parity tests"
    npm ci --prefix tests/node --no-audit --no-fund --loglevel=error >/dev/null
  fi
else
  echo "== npm not found: the Node parity tests will be skipped"
fi
echo "== set up"
