"""The review API's request and response bodies (Pydantic at the edge)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.review.status import HUMAN_CONFIRMED
from service.storage.models import Detection

BoxField = Field(min_length=4, max_length=4, description="x1, y1, x2, y2 in frame pixels")
NAME = r"^[A-Za-z0-9_.\-]{1,64}$"


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    action: Literal["confirm", "reject", "correct"]
    class_name: str | None = Field(None, alias="class", pattern=NAME, description="correct: the right class")
    box: list[float] | None = Field(None, min_length=4, max_length=4, description="correct: x1, y1, x2, y2 (pixels)")


class MissedIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    detector: str = Field(pattern=NAME, description="whose classes the box gets, e.g. road_damage")
    class_name: str = Field(alias="class", pattern=NAME)
    box: list[float] = BoxField


class OtherBox(BaseModel):
    id: int
    class_name: str = Field(serialization_alias="class")
    box: list[float]
    review_status: str


class ReviewItem(BaseModel):
    """One detection as a reviewer sees it: its frame, its box, what the model said, the decision."""

    id: int
    frame_id: int
    drive_id: str
    captured_at: datetime | None
    width: int
    height: int
    image: str = Field(description="the anonymised frame, for inspectors and admins")
    detector: str
    model_version: str | None = Field(description="the detector version that found it; null: drawn by staff")
    class_name: str = Field(serialization_alias="class")
    model_class: str | None = Field(description="the model's class (differs from `class` once corrected)")
    confidence: float
    box: list[float]
    model_box: list[float] | None = Field(description="the model's box, once corrected")
    review_status: str
    human_confirmed: bool
    reviewed_by: str | None
    reviewed_at: datetime | None
    others: list[OtherBox] = Field(description="the other boxes of the same detector on the frame")

    @classmethod
    def of(cls, d: Detection) -> ReviewItem:
        frame = d.frame
        return cls(
            id=d.id,
            frame_id=frame.id,
            drive_id=frame.drive_id,
            captured_at=frame.captured_at,
            width=frame.width,
            height=frame.height,
            image=f"/v1/review/frames/{frame.id}/image",
            detector=d.detector,
            model_version=d.detector_version,
            class_name=d.class_name,
            model_class=d.model_class_name or (d.class_name if d.detector_version else None),
            confidence=d.confidence,
            box=[d.x1, d.y1, d.x2, d.y2],
            model_box=d.model_box,
            review_status=d.review_status,
            human_confirmed=d.review_status in HUMAN_CONFIRMED,
            reviewed_by=d.reviewed_by,
            reviewed_at=d.reviewed_at,
            others=[
                OtherBox(id=o.id, class_name=o.class_name, box=[o.x1, o.y1, o.x2, o.y2], review_status=o.review_status)
                for o in sorted(frame.detections, key=lambda o: o.id)
                if o.id != d.id and o.detector == d.detector
            ],
        )


class ReviewPage(BaseModel):
    matched: int
    items: list[ReviewItem] = Field(description="lowest confidence first")
    classes: dict[str, list[str]] = Field(description="the classes of each detector on this page (for corrections)")
