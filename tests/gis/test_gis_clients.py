"""Real GIS clients against a running service: GDAL's OAPIF driver (ogrinfo, ogr2ogr) and OWSLib."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from gis_helpers import D2_START, along, live_server
from helpers import need

from service.gis.geodesy import degree_box


@pytest.fixture(scope="module")
def ogc_url(gis_app: FastAPI) -> Iterator[str]:
    with live_server(gis_app) as base:
        yield f"{base}/ogc"


def gdal(*args: str) -> str:
    if shutil.which(args[0]) is None:
        if os.environ.get("CI"):
            raise RuntimeError(f"{args[0]} missing: scripts/test.sh installs gdal-bin")
        pytest.skip(f"{args[0]} not installed (apt-get install gdal-bin)")
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_ogrinfo_lists_collections_and_filters_by_bbox(ogc_url: str) -> None:
    listing = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{ogc_url}")
    assert "road_damage (title: Road damage) (Point)" in listing
    assert "graffiti" in listing and "road_condition (title: Road condition) (Line String)" in listing
    box = [str(v) for v in degree_box(along(130), 20)]
    potholes = gdal("ogrinfo", "-ro", "-al", "-q", f"OAPIF:{ogc_url}", "road_damage", "-spat", *box)
    assert potholes.count("OGRFeature(road_damage)") == 3 and "class (String) = pothole" in potholes
    d2 = gdal(
        "ogrinfo", "-ro", "-al", "-q", f"OAPIF:{ogc_url}", "road_condition", "-spat", *map(str, degree_box(D2_START, 5))
    )
    assert d2.count("OGRFeature(road_condition)") == 1 and "drive_id (String) = d2" in d2


def test_ogr2ogr_copies_a_collection_to_geopackage(ogc_url: str, tmp_path: Path) -> None:
    out = tmp_path / "damage.gpkg"
    gdal("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{ogc_url}", "road_damage")
    with sqlite3.connect(out) as gpkg:
        assert gpkg.execute("SELECT count(*) FROM road_damage").fetchone() == (5,)
        assert gpkg.execute("SELECT srs_id FROM gpkg_geometry_columns").fetchone() == (4326,)
        classes = sorted(r[0] for r in gpkg.execute('SELECT "class" FROM road_damage'))
    assert classes == ["crack", "pothole", "pothole", "pothole", "pothole"]


def test_owslib_reads_collections_and_items(ogc_url: str) -> None:
    features_api = need("owslib.ogcapi.features")
    api = features_api.Features(ogc_url, timeout=30)
    assert {c["id"] for c in api.collections()["collections"]} == {"road_damage", "graffiti", "road_condition"}
    conforms = api.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conforms and len(conforms) == 4
    items = api.collection_items("road_condition", limit=100)
    assert items["numberMatched"] == 8 and {f["geometry"]["type"] for f in items["features"]} == {"LineString"}
    near = api.collection_items("road_damage", bbox=list(degree_box(along(130), 20)))
    assert near["numberReturned"] == 3
    one = api.collection_item("road_condition", "d1.2")
    assert one["properties"]["grade"] == 5
