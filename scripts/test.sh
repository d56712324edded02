#!/usr/bin/env bash
# Set up a virtual environment with the service, the training extra and the test tools, then run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[train,dev]'
.venv/bin/ruff check service training tests bench
export YOLO_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
