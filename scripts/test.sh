#!/usr/bin/env bash
# Set up a virtual environment with the service, the training extra and the test tools, then run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# System tools the storage/GIS/UI/deploy tests drive: PostgreSQL with PostGIS, GDAL's ogrinfo/ogr2ogr,
# headless Chromium, Caddy (validates deploy/Caddyfile).
if ! command -v ogrinfo >/dev/null || ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
    || ! command -v caddy >/dev/null \
    || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    || ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update && apt-get install -y postgresql postgresql-15-postgis-3 gdal-bin chromium chromium-driver caddy
    else
        echo "note: install postgresql postgresql-15-postgis-3 gdal-bin chromium chromium-driver caddy (apt) to run every test" >&2
    fi
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[train,dev]'
.venv/bin/ruff check service training tests bench
.venv/bin/lint-imports  # layers import only downward, no cycles (pyproject.toml, docs/architecture.md)
export YOLO_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
