"""A migrated database on each backend and an ingestor writing into it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from gis_helpers import CAMERA

from service.config import Settings
from service.gis.ingest import FrameIngestor, IngestConfig
from service.runtime import damage_categories, grading_rules, privacy_guard
from service.storage import Database
from service.storage.frame_images import DirectoryStore


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def ingestor(db: Database, tmp_path: Path) -> FrameIngestor:
    settings = Settings()
    config = IngestConfig(
        camera=CAMERA,
        rules=grading_rules(settings),
        dedup_radius_m=settings.dedup_radius_m,
        categories=damage_categories(settings),
        timezone=ZoneInfo("Europe/Berlin"),
    )
    return FrameIngestor(db, DirectoryStore(tmp_path / "frames"), config, privacy_guard(settings))
