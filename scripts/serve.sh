#!/usr/bin/env bash
# Set up a slim virtual environment (no torch) and run the service with the shipped weights.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/stadtblick serve "$@"
