"""The feature collections the OGC API serves: what each holds and how to query it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.gis import GRAFFITI, ROAD_CONDITION, ROAD_DAMAGE
from service.gis.features import DAMAGE_PROPERTIES, SEGMENT_PROPERTIES, damage_feature, segment_feature
from service.gis.filters import FeatureQuery
from service.storage.damages import DamageRepository
from service.storage.models import MAX_ROW_ID
from service.storage.segments import SegmentRepository

_ROW_ID = re.compile(r"[0-9]{1,10}")
_SEGMENT_ID = re.compile(r"[A-Za-z0-9_.\-]{1,80}")  # <drive_id>.<seq>

Extent = tuple[tuple[float, ...] | None, tuple[datetime | None, datetime | None]]


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    properties: dict[str, dict[str, Any]]  # the features' logical schema: id, geometry, properties
    find: Callable[[Session, FeatureQuery], tuple[int, list[Any]]]
    get: Callable[[Session, str], Any | None]
    extent: Callable[[Session], Extent]
    feature: Callable[[Any, str], dict[str, Any]]  # (record, base URL) -> GeoJSON Feature


def row_id(text: str) -> int | None:
    """An integer record id from a URL, or None for anything that cannot be one (never an error)."""
    if not _ROW_ID.fullmatch(text):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ROW_ID else None


def _damage_collection(category: str, title: str, description: str) -> Collection:
    def get(session: Session, feature_id: str) -> Any | None:
        record_id = row_id(feature_id)
        return DamageRepository(session).get(category, record_id) if record_id is not None else None

    return Collection(
        id=category,
        title=title,
        description=description,
        properties=DAMAGE_PROPERTIES,
        find=lambda session, query: DamageRepository(session).find(category, query),
        get=get,
        extent=lambda session: DamageRepository(session).extent(category),
        feature=damage_feature,
    )


COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        _damage_collection(
            ROAD_DAMAGE,
            "Road damage",
            "Potholes and cracks: one feature per physical damage, merged from all frames of a drive "
            "that saw it (first/last seen, sightings, best photo).",
        ),
        _damage_collection(GRAFFITI, "Graffiti", "Graffiti, merged like road damage."),
        Collection(
            id=ROAD_CONDITION,
            title="Road condition",
            description="Graded segments of the driven tracks: school grade 1 (very good) to 5 (urgent) "
            "from the severity-weighted damage per 100 m.",
            properties=SEGMENT_PROPERTIES,
            find=lambda session, query: SegmentRepository(session).find(query),
            get=lambda session, feature_id: (
                SegmentRepository(session).get(feature_id) if _SEGMENT_ID.fullmatch(feature_id) else None
            ),
            extent=lambda session: SegmentRepository(session).extent(),
            feature=segment_feature,
        ),
    )
}
