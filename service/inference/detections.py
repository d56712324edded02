"""The one detection container passed between decoding, NMS, tiling, API and storage."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

#: Keys of `Detections.data`: class data filled where a detector runs (`OnnxDetector.detect`)...
CLASS_NAME, LABEL_DE, LABEL_EN = "class_name", "label_de", "label_en"
#: ... and the stable id of each box, once the image it was found in is known (`service.pipeline`).
DETECTION_ID = "id"


@dataclass(frozen=True)
class Detections:
    """Boxes of one image in pixel coordinates (x1, y1, x2, y2), with scores, class ids and class data.

    Arrays are kept column-wise (like `supervision.Detections`) so filtering, merging and
    scaling stay vectorised no matter how many candidates a model emits. `data` holds more
    per-box columns (class names and labels, ids), so the sinks (API response, storage, the
    vehicle runtime, the anonymiser) read them here and split per box only at the end.
    """

    xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    class_id: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or self.confidence.shape != (n,) or self.class_id.shape != (n,):
            raise ValueError(
                f"inconsistent detection arrays: xyxy {self.xyxy.shape}, "
                f"confidence {self.confidence.shape}, class_id {self.class_id.shape}"
            )
        bad = {k: v.shape for k, v in self.data.items() if v.shape != (n,)}
        if bad:
            raise ValueError(f"detection data of another length than the {n} boxes: {bad}")

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        data = {k: v[index] for k, v in self.data.items()}
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index], data)

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        """All parts' boxes in one; a data column is kept where every part has it."""
        if not parts:
            return cls()
        keys = set.intersection(*(set(p.data) for p in parts))
        return cls(
            np.concatenate([p.xyxy for p in parts]).astype(np.float32, copy=False),
            np.concatenate([p.confidence for p in parts]).astype(np.float32, copy=False),
            np.concatenate([p.class_id for p in parts]).astype(np.int64, copy=False),
            {k: np.concatenate([p.data[k] for p in parts]) for k in sorted(keys)},
        )

    def with_data(self, **columns: np.ndarray) -> Detections:
        return replace(self, data={**self.data, **columns})

    def column(self, key: str) -> np.ndarray:
        """A data column; raises KeyError when boxes lack it (an empty result needs none)."""
        if key not in self.data and len(self) == 0:
            return np.zeros((0,), object)
        return self.data[key]

    @property
    def class_name(self) -> np.ndarray:
        return self.column(CLASS_NAME)

    def area(self) -> np.ndarray:
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def sorted_by_confidence(self) -> Detections:
        return self[np.argsort(-self.confidence, kind="stable")]
