"""The review states of a detection and of a damage record.

A plain module without imports: the feature filters, storage and the review workflow all use it.
"""

from __future__ import annotations

from collections.abc import Iterable

UNREVIEWED = "unreviewed"
CONFIRMED = "confirmed"  # a person saw the model's box and class and agreed
REJECTED = "rejected"  # not what the model said (a shadow, not a pothole): leaves records and grades
CORRECTED = "corrected"  # a person changed the class or moved the box
ADDED = "added"  # a box a person drew where the model found nothing

STATUSES = (UNREVIEWED, CONFIRMED, REJECTED, CORRECTED, ADDED)
#: A person stands behind these detections.
HUMAN_CONFIRMED = frozenset({CONFIRMED, CORRECTED, ADDED})
#: A damage record shows the first of these its (never rejected) detections have.
_RECORD_ORDER = (CORRECTED, ADDED, CONFIRMED)


def record_status(detection_statuses: Iterable[str]) -> str:
    """A damage record's status: unreviewed until a person confirmed, corrected or drew one of its sightings."""
    present = set(detection_statuses)
    return next((s for s in _RECORD_ORDER if s in present), UNREVIEWED)
