"""The retention rules the service's hourly job and `stadtblick retention run` apply (docs/privacy.md).

Storage runs the rules; each domain brings its own (frame images, lost items), put together here.
"""

from __future__ import annotations

from datetime import timedelta

from service.lost_property.retention import LostItemRule
from service.storage.frame_images import FrameStore
from service.storage.retention import FrameImageRule, RetentionRule


def standard_rules(images: FrameStore, frames_days: float, lost_item_photos: FrameStore) -> list[RetentionRule]:
    """The rules the service applies."""
    return [FrameImageRule(images, timedelta(days=frames_days)), LostItemRule(lost_item_photos)]
