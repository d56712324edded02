"""Review decisions: confirm, reject or correct a stored detection, or add one the model missed.

Each decision is one transaction: the detection's state (who, when, what the model said before a
correction), its entry in the audit log (action confirm/reject/correct/add, target
``detection:<id>``), its damage record and its drive's grades (`FrameIngestor.replace`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth.keys import Principal, Role
from service.gis.ingest import FrameIngestor
from service.review.status import ADDED, CONFIRMED, CORRECTED, REJECTED
from service.storage import Database, audit
from service.storage.frames import FrameRepository
from service.storage.models import Detection, Frame, utcnow

#: What inspectors may review; admins review every detector, GIS keys only read the statuses.
INSPECTOR_DETECTORS = frozenset({"road_damage", "graffiti"})
CONFIRM, REJECT, CORRECT, ADD = "confirm", "reject", "correct", "add"
ACTIONS = (CONFIRM, REJECT, CORRECT)
#: A box drawn by a person: certain, and no model version produced it.
STAFF_CONFIDENCE = 1.0

Box = tuple[float, float, float, float]
ClassNames = Callable[[str], list[str] | None]  # detector -> its classes (model card), None if not installed


class ReviewRefused(Exception):
    """A decision that cannot be made; `status` and `code` say why (404, 403, 400)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Decision:
    action: str  # confirm, reject or correct
    class_name: str | None = None  # correct: the right class (default: unchanged)
    box: Box | None = None  # correct: the right box in frame pixels (default: unchanged)


def may_review(principal: Principal, detector: str) -> bool:
    return principal.role is Role.ADMIN or (principal.role is Role.INSPECTOR and detector in INSPECTOR_DETECTORS)


class ReviewDesk:
    def __init__(self, db: Database, ingestor: FrameIngestor, class_names: ClassNames):
        self.db, self.ingestor, self.class_names = db, ingestor, class_names

    def decide(self, principal: Principal, detection_id: int, decision: Decision) -> Detection:
        with self.db.transaction() as session:
            detection = session.get(Detection, detection_id)
            if detection is None:
                raise ReviewRefused(404, "not_found", f"no detection {detection_id}")
            self._check_role(principal, detection.detector)
            FrameRepository(session).lock_drive(detection.frame.drive_id)
            if decision.action == REJECT:
                detection.review_status = REJECTED
            elif decision.action == CONFIRM:
                detection.review_status = _kept_status(detection)
            elif decision.action == CORRECT:
                self._correct(session, detection, decision)
            else:
                raise ReviewRefused(400, "invalid_decision", f"action must be one of {', '.join(ACTIONS)}")
            return self._record(session, principal, detection, decision.action)

    def add(self, principal: Principal, frame_id: int, detector: str, class_name: str, box: Box) -> Detection:
        """A box the model missed, drawn by a reviewer on a stored frame."""
        with self.db.transaction() as session:
            frame = session.get(Frame, frame_id)
            if frame is None:
                raise ReviewRefused(404, "not_found", f"no frame {frame_id}")
            self._check_role(principal, detector)
            self._check_class(session, detector, class_name)
            _check_box(box, frame)
            FrameRepository(session).lock_drive(frame.drive_id)
            key = f"{frame.sha256}|{detector}|review|{class_name}|{','.join(f'{v:.1f}' for v in box)}"
            detection = Detection(
                key=hashlib.sha256(key.encode()).hexdigest()[:20],
                detector=detector,
                detector_version=None,
                class_name=class_name,
                confidence=STAFF_CONFIDENCE,
                review_status=ADDED,
            )
            _set_box(detection, box, frame)
            frame.detections.append(detection)
            session.flush()
            return self._record(session, principal, detection, ADD)

    def _record(self, session: Session, principal: Principal, detection: Detection, action: str) -> Detection:
        detection.reviewed_by, detection.reviewed_at = principal.name, utcnow()
        audit.record(session, principal, action, f"detection:{detection.id}")
        self.ingestor.replace(session, detection)
        session.refresh(detection.frame, ["detections"])  # loaded for the caller: the session ends on return
        return detection

    def _correct(self, session: Session, detection: Detection, decision: Decision) -> None:
        box = decision.box or _box(detection)
        class_name = decision.class_name or detection.class_name
        if class_name == detection.class_name and _rounded(box) == _rounded(_box(detection)):
            raise ReviewRefused(400, "no_change", "the correction changes neither class nor box; confirm instead")
        self._check_class(session, detection.detector, class_name)
        _check_box(box, detection.frame)
        if detection.detector_version is not None:  # the model's own detection: keep what it said
            model_class = detection.model_class_name or detection.class_name
            model_box = detection.model_box or list(_box(detection))
            differs = class_name != model_class or _rounded(box) != _rounded(model_box)
            detection.model_class_name = model_class if differs else None
            detection.model_box = model_box if differs else None
            detection.review_status = CORRECTED if differs else CONFIRMED
        detection.class_name = class_name
        _set_box(detection, box, detection.frame)

    def _check_role(self, principal: Principal, detector: str) -> None:
        if not may_review(principal, detector):
            allowed = ", ".join(sorted(INSPECTOR_DETECTORS))
            message = f"role {principal.role.value!r} may not review {detector!r}; inspectors review {allowed}"
            raise ReviewRefused(403, "forbidden", message)

    def classes(self, session: Session, detector: str) -> list[str]:
        """The classes a reviewer may give: the model card's, or (detector not installed here) those it stored."""
        known = self.class_names(detector)
        if known is None:
            stored = select(Detection.class_name).where(Detection.detector == detector).distinct()
            known = sorted(session.scalars(stored))
        return known

    def _check_class(self, session: Session, detector: str, class_name: str) -> None:
        known = self.classes(session, detector)
        if class_name not in known:
            names = ", ".join(sorted(known)) or "none stored"
            raise ReviewRefused(400, "unknown_class", f"{detector} has no class {class_name!r}; classes: {names}")


def _kept_status(detection: Detection) -> str:
    """Confirming agrees with what is shown now: a drawn box stays added, a corrected one corrected."""
    if detection.detector_version is None:
        return ADDED
    return CORRECTED if detection.model_class_name is not None else CONFIRMED


def _box(detection: Detection) -> Box:
    return (detection.x1, detection.y1, detection.x2, detection.y2)


def _rounded(box: Box | list[float]) -> tuple[float, ...]:
    return tuple(round(v, 1) for v in box)


def _check_box(box: Box, frame: Frame) -> None:
    x1, y1, x2, y2 = box
    inside = all(math.isfinite(v) for v in box) and 0 <= x1 < x2 <= frame.width and 0 <= y1 < y2 <= frame.height
    if not inside or x2 - x1 < 1 or y2 - y1 < 1:
        size = f"{frame.width}x{frame.height}"
        raise ReviewRefused(400, "invalid_box", f"box must be x1 < x2, y1 < y2 within the {size} frame, 1 px or more")


def _set_box(detection: Detection, box: Box, frame: Frame) -> None:
    detection.x1, detection.y1, detection.x2, detection.y2 = (round(v, 1) for v in box)
    area = (detection.x2 - detection.x1) * (detection.y2 - detection.y1)
    detection.area_fraction = round(area / max(frame.width * frame.height, 1), 5)
