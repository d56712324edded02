"""The lost-property register's JSON: the description of a photo, items, searches (docs/lost_property.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from service.text import PlainText
from service.times import Instant, InstantUntil

Status = Literal["registered", "returned", "disposed"]
KEY_PATTERN = r"^[a-z_]{1,32}$"


class CategoryOut(BaseModel):
    key: str = Field(description="e.g. `schirm`")
    label_de: str
    label_en: str


class ColourOut(BaseModel):
    key: str = Field(description="palette colour, e.g. `schwarz`")
    label_de: str
    label_en: str
    share: float | None = Field(None, description="share of the item's pixels; null when set by hand")


class Box(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float


class SeenItem(BaseModel):
    class_name: str = Field(description="the detector's class")
    category: str = Field(description="its category key")
    confidence: float
    box: Box


class Description(BaseModel):
    """What the desk recognised in a photo: the main item (largest × most confident box) and the rest."""

    category: CategoryOut
    colours: list[ColourOut] = Field(description="dominant colours of the main item, largest share first")
    box: Box = Field(description="the main item in pixels of the upright photo (the whole photo if none found)")
    class_name: str | None = Field(None, description="the detector's class of the main item; null if none found")
    confidence: float | None = None
    detector: str | None = Field(None, description="`name@version` of the detector; null if none is installed")
    image_width: int
    image_height: int
    others: list[SeenItem] = Field(default_factory=list, description="the other detected items, largest first")


class LostItemOut(BaseModel):
    id: int
    status: Status
    category: CategoryOut
    colours: list[ColourOut]
    description: Description = Field(description="as recognised when registered (corrections are in the fields above)")
    found_at: datetime
    found_place: str | None
    notes: str | None
    retain_until: datetime = Field(description="found_at + STADTBLICK_LOST_ITEM_RETENTION_DAYS")
    created_at: datetime
    updated_at: datetime
    photo_url: str | None = Field(description="null once retention deleted the photo")


class LostItemPage(BaseModel):
    items: list[LostItemOut]
    matched: int
    limit: int
    offset: int


class LostItemFields(BaseModel):
    """The form fields of a registration (all optional)."""

    found_at: Instant | None = None
    found_place: PlainText | None = Field(None, max_length=200)
    notes: PlainText | None = Field(None, max_length=2000)
    category: str | None = Field(None, pattern=KEY_PATTERN, description="override of the recognised category")
    colors: str | None = Field(None, max_length=200, description="comma-separated palette keys, overriding")


class LostItemPatch(BaseModel):
    status: Status | None = Field(None, description="omit to keep; an item always has a status")
    category: str | None = Field(None, pattern=KEY_PATTERN)
    colors: list[str] | None = Field(None, max_length=5)
    found_at: Instant | None = None
    found_place: PlainText | None = Field(None, max_length=200)
    notes: PlainText | None = Field(None, max_length=2000)

    @field_validator("status")
    @classmethod
    def _status_not_null(cls, value: Status | None) -> Status:
        """Only runs for a status that was sent: `null` would erase it (422, not a database error)."""
        if value is None:
            raise ValueError("status cannot be null; omit it to keep the current one")
        return value


class SearchFields(BaseModel):
    """A citizen's description of a lost item (form fields; all optional, with or without `photo`)."""

    text: PlainText | None = Field(None, max_length=500)
    category: str | None = Field(None, pattern=KEY_PATTERN)
    color: str | None = Field(None, pattern=KEY_PATTERN)
    lost_from: Instant | None = Field(None, description="items found at or after")
    lost_to: InstantUntil | None = Field(None, description="items found at or before")
    limit: int = Field(10, ge=1, le=100)


class Reason(BaseModel):
    kind: Literal["category", "colour", "text", "image"]
    score: float = Field(description="0..1")
    detail: str


class Candidate(BaseModel):
    item: LostItemOut
    score: float = Field(description="0..1, the weighted mean of the reasons")
    reasons: list[Reason]


class SearchResult(BaseModel):
    query_description: Description | None = Field(None, description="what was recognised in the photo, if one was sent")
    candidates: list[Candidate]
