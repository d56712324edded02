#!/usr/bin/env bash
# Set up a virtual environment with the service, the training extra and the test tools, then run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
FONTS="fonts-kaushanscript fonts-kristi fonts-dancingscript fonts-rufscript fonts-breip fonts-dkg-handwriting fonts-bwht fonts-humor-sans fonts-femkeklaver fonts-comic-neue fonts-cabinsketch fonts-lobster fonts-leckerli-one fonts-league-spartan fonts-apropal"
# System tools the storage/GIS/UI/deploy tests drive: PostgreSQL with PostGIS, GDAL's ogrinfo/ogr2ogr,
# headless Chromium, Caddy (validates deploy/Caddyfile); the handwriting fonts the graffiti builder writes
# tags in (training/synth_tags.py FONT_PACKAGES).
if ! command -v ogrinfo >/dev/null || ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
    || ! command -v caddy >/dev/null || ! [ -f /usr/share/fonts/truetype/kristi/Kristi.ttf ] \
    || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    || ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update && apt-get install -y postgresql postgresql-15-postgis-3 gdal-bin chromium chromium-driver caddy \
            $FONTS
    else
        echo "note: install postgresql postgresql-15-postgis-3 gdal-bin chromium chromium-driver caddy $FONTS (apt)" \
            "to run every test" >&2
    fi
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[train,dev]'
.venv/bin/ruff check service training tests bench
.venv/bin/lint-imports  # layers import only downward, no cycles (pyproject.toml, docs/architecture.md)
export YOLO_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
