"""The lost-property desk's work, without HTTP: recognise a photo, register, change, delete and
search items. Photos are stored like frames (anonymised, re-encoded, no metadata), every read and
change of an item is audit-logged in the same transaction (docs/security.md)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from service.auth.keys import Principal
from service.imaging import DecodedImage, ImageLimits
from service.inference import OnnxDetector
from service.lost_property.colours import COLOURS
from service.lost_property.describe import Found, category_out, describe
from service.lost_property.embedding import ColourShapeDescriptor, Embedder, embedder_for
from service.lost_property.matching import MatchQuery, Ranked, rank
from service.lost_property.schemas import ColourOut, Description, LostItemOut, LostItemPatch
from service.lost_property.search_terms import item_index, vocabulary
from service.lost_property.taxonomy import Taxonomy, load_taxonomy
from service.pipeline import decode_upload
from service.privacy import PrivacyGuard
from service.registry.registry import ModelRegistry
from service.storage import Database, audit
from service.storage.frame_images import FrameStore, image_key
from service.storage.lost_items import LostItemQuery, LostItemRepository
from service.storage.models import LostItem, utcnow
from service.times import LATEST

log = logging.getLogger(__name__)

FALLBACK_DETECTOR = "coco"
SEARCH_CAP = 5000  # items a search ranks at most (newest first)


class InvalidItem(ValueError):
    """A category or colour that is not in the taxonomy or palette (422)."""


@dataclass(frozen=True)
class Recognition:
    image: DecodedImage
    sha256: str
    description: Description
    embedding_kind: str
    embedding: np.ndarray


@dataclass(frozen=True)
class ItemFields:
    found_at: datetime | None = None
    found_place: str | None = None
    notes: str | None = None
    category: str | None = None
    colours: list[str] | None = None


# A desk photo shows one found item, and staff confirm or correct the suggested category: a weak
# detection of the item is a better suggestion than "Sonstiges". Below the detector's card
# threshold (best F1 for finding objects), down to this floor, detections still count here.
# Main-item category on the 56 val photos (`python -m training.desk_category`): lost_property
# 1.1.0 37/56 at its card threshold 0.269, 46/56 at 0.1, 43/56 at 0.05, 42/56 at 0.02.
DESK_MIN_CONFIDENCE = 0.05


@dataclass
class LostPropertyDesk:
    registry: ModelRegistry
    database: Database
    photos: FrameStore
    detector_name: str
    retention: timedelta
    privacy: PrivacyGuard  # photos are kept only as it allows
    taxonomy: Taxonomy = field(default_factory=load_taxonomy)
    _embedders: dict[str, Embedder] = field(default_factory=dict)

    # --- recognition ---

    def detector(self) -> OnnxDetector | None:
        """The configured detector, else a COCO detector, else none (the desk still registers)."""
        for name in (self.detector_name, FALLBACK_DETECTOR):
            entry = self.registry.entries.get(name)
            if entry is not None and entry.detector is not None:
                return entry.detector
        return None

    def embedder(self, detector: OnnxDetector | None) -> Embedder:
        name = detector.name if detector else ""
        if name not in self._embedders:
            entry = self.registry.entries.get(name)
            try:
                self._embedders[name] = embedder_for(entry.folder if entry else None, entry.card if entry else None)
            except Exception as exc:  # a broken embedding file: match by the descriptor, say so
                log.error("embedding model of %s unusable, using %s: %s", name, ColourShapeDescriptor.kind, exc)
                self._embedders[name] = ColourShapeDescriptor()
        return self._embedders[name]

    def recognise(self, data: bytes, limits: ImageLimits) -> Recognition:
        image, sha256, _ = decode_upload(data, limits)
        detector = self.detector()
        found = []
        if detector is not None:
            params = detector.default_params()
            dets = detector.detect(image.pixels, replace(params, conf=min(params.conf, DESK_MIN_CONFIDENCE)))
            found = [
                Found(name, float(s), tuple(float(v) for v in box))  # type: ignore[arg-type]
                for box, s, name in zip(dets.xyxy, dets.confidence, dets.class_name, strict=True)
            ]
        label = f"{detector.card.name}@{detector.card.version}" if detector else None
        description = describe(image.pixels, found, self.taxonomy, label)
        b = description.box
        crop = image.pixels[int(b.y1) : max(int(b.y2), int(b.y1) + 1), int(b.x1) : max(int(b.x2), int(b.x1) + 1)]
        embedder = self.embedder(detector)
        return Recognition(image, sha256, description, embedder.kind, embedder.embed(crop))

    # --- the register ---

    def register(self, rec: Recognition, fields: ItemFields, by: Principal) -> LostItemOut:
        category = self._category(fields.category or rec.description.category.key)
        colours = self._colours(fields.colours) if fields.colours else [c.key for c in rec.description.colours]
        found_at = fields.found_at or utcnow()
        jpeg = self.privacy.storable(rec.image.pixels)
        wrote = False
        try:
            with self.database.transaction() as session:
                item = LostItemRepository(session).add(
                    LostItem(
                        status="registered",
                        category=category,
                        colours=colours,
                        description=rec.description.model_dump(mode="json"),
                        search_terms=item_index(self.taxonomy, category, colours, fields.notes, fields.found_place),
                        found_at=found_at,
                        found_place=fields.found_place,
                        notes=fields.notes,
                        retain_until=self._retain_until(found_at),
                        created_by=by.name,
                        sha256=rec.sha256,
                        photo_path=image_key(rec.sha256),
                        embedding_kind=rec.embedding_kind,
                        embedding=rec.embedding.astype(np.float32).tobytes(),
                    )
                )
                audit.record(session, by, audit.CREATE, f"lost_item:{item.id}")
                wrote = self.photos.save(rec.sha256, jpeg)
                out = self.item_out(item)
        except BaseException:
            if wrote:
                self.photos.delete(image_key(rec.sha256))
            raise
        return out

    def _retain_until(self, found_at: datetime) -> datetime:
        """found_at + the retention period, at most the last instant the service represents."""
        try:
            return min(found_at + self.retention, LATEST)
        except OverflowError:
            return LATEST

    def get(self, item_id: int, by: Principal) -> LostItemOut | None:
        with self.database.transaction() as session:
            item = LostItemRepository(session).get(item_id)
            if item is None:
                return None
            audit.record(session, by, audit.READ, f"lost_item:{item_id}")
            return self.item_out(item)

    def find(self, query: LostItemQuery, by: Principal) -> tuple[int, list[LostItemOut]]:
        """A page of the register; each item listed is a read in the audit log."""
        with self.database.transaction() as session:
            matched, items = LostItemRepository(session).find(query)
            for item in items:
                audit.record(session, by, audit.READ, f"lost_item:{item.id}")
            return matched, [self.item_out(i) for i in items]

    def update(self, item_id: int, patch: LostItemPatch, by: Principal) -> LostItemOut | None:
        with self.database.transaction() as session:
            item = LostItemRepository(session).get(item_id)
            if item is None:
                return None
            changes = patch.model_dump(exclude_unset=True)
            if "category" in changes:
                item.category = self._category(patch.category)
            if "colours" in changes:
                item.colours = self._colours(patch.colours or [])
            for name in ("status", "found_place", "notes"):
                if name in changes:
                    setattr(item, name, changes[name])
            if patch.found_at is not None:
                item.found_at, item.retain_until = patch.found_at, self._retain_until(patch.found_at)
            item.search_terms = item_index(self.taxonomy, item.category, item.colours, item.notes, item.found_place)
            item.updated_at = utcnow()
            audit.record(session, by, audit.UPDATE, f"lost_item:{item_id}")
            session.flush()
            return self.item_out(item)

    def delete(self, item_id: int, by: Principal) -> bool:
        with self.database.transaction() as session:
            repo = LostItemRepository(session)
            item = repo.get(item_id)
            if item is None:
                return False
            path = item.photo_path
            session.delete(item)
            session.flush()
            audit.record(session, by, audit.DELETE, f"lost_item:{item_id}")
            if path and not repo.photo_in_use(path):  # before the commit, as retention does
                self.photos.delete(path)
        return True

    def photo(self, item_id: int, by: Principal) -> bytes | None:
        """The item's stored photo (audited before it is sent), or None."""
        with self.database.transaction() as session:
            item = LostItemRepository(session).get(item_id)
            jpeg = self.photos.read(item.photo_path) if item and item.photo_path else None
            if jpeg is None:
                return None
            audit.record(session, by, audit.READ, f"lost_item:{item_id}:photo")
        return jpeg

    def search(
        self, text: str | None, category: str | None, colour: str | None, query: LostItemQuery,
        rec: Recognition | None, limit: int, by: Principal,
    ) -> list[tuple[Ranked, LostItemOut]]:  # fmt: skip
        """Rank the registered items in the date range against the description and/or photo."""
        colours = [colour] if colour else [c.key for c in rec.description.colours] if rec else []
        match = MatchQuery(
            category=category or (rec.description.category.key if rec else None),
            colours=colours,
            words=vocabulary(self.taxonomy).query(text or ""),
            embedding=rec.embedding if rec else None,
            embedding_kind=rec.embedding_kind if rec else None,
        )
        with self.database.transaction() as session:
            ranked = rank(match, LostItemRepository(session).candidates(query, SEARCH_CAP), limit)
            for r in ranked:
                audit.record(session, by, audit.READ, f"lost_item:{r.item.id}")
            return [(r, self.item_out(r.item)) for r in ranked]

    # --- shapes ---

    def item_out(self, item: LostItem) -> LostItemOut:
        return LostItemOut(
            id=item.id,
            status=item.status,  # type: ignore[arg-type]
            category=category_out(self.taxonomy.get(item.category)),
            colours=[
                ColourOut(key=k, label_de=COLOURS[k].label_de, label_en=COLOURS[k].label_en) for k in item.colours
            ],
            description=Description.model_validate(item.description),
            found_at=item.found_at,
            found_place=item.found_place,
            notes=item.notes,
            retain_until=item.retain_until,
            created_at=item.created_at,
            updated_at=item.updated_at,
            photo_url=f"/v1/lost-items/{item.id}/photo" if item.photo_path else None,
        )

    def _category(self, key: str | None) -> str:
        if key not in self.taxonomy.categories:
            raise InvalidItem(f"unknown category {key!r}; one of {', '.join(self.taxonomy.categories)}")
        return key

    def _colours(self, keys: list[str]) -> list[str]:
        unknown = [k for k in keys if k not in COLOURS]
        if unknown or not keys:
            raise InvalidItem(f"unknown colour(s) {unknown}; palette: {', '.join(COLOURS)}")
        return list(dict.fromkeys(keys))
