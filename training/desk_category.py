"""`python -m training.desk_category`: how often the desk suggests the right category.

A desk photo shows one found item. For every labelled val photo, the main item of the labels
(the largest box) is compared with the desk's main detection (largest area x confidence, as
`service.lost_property.describe` picks it) at several confidence floors. This is the number
behind `DESK_MIN_CONFIDENCE` in `service/lost_property/desk.py`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from service.inference import DetectParams
from training.datasets.layout import load_yolo_dataset
from training.evaluate import open_detector, read_labels


def area(xyxy: np.ndarray) -> np.ndarray:
    return (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])


def main_item_hits(
    folder: Path, data_yaml: Path, floors: list[float], split: str = "val"
) -> dict[float, tuple[int, int]]:
    """Floor -> (photos whose main detection has the main label's class, labelled photos)."""
    detector = open_detector(folder)
    hits = dict.fromkeys(floors, 0)
    photos = 0
    for path in load_yolo_dataset(data_yaml).splits.get(split, []):
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        boxes, classes = read_labels(path, image.shape[1], image.shape[0])
        if not len(classes):
            continue
        photos += 1
        truth = int(classes[np.argmax(area(boxes))])
        found = detector.detect(image, DetectParams(conf=min(floors), iou=detector.card.thresholds.iou, max_det=300))
        for floor in floors:
            keep = found.confidence >= floor
            if keep.any():
                score = area(found.xyxy[keep]) * found.confidence[keep]
                hits[floor] += int(found.class_id[keep][np.argmax(score)]) == truth
    return {f: (hits[f], photos) for f in floors}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.desk_category", description=__doc__)
    p.add_argument("folder", type=Path, nargs="?", default=Path("weights/lost_property"))
    p.add_argument("--data", type=Path, default=Path("../shared/datasets/lost_property/data.yaml"))
    args = p.parse_args(argv)
    card_conf = open_detector(args.folder).card.thresholds.conf
    floors = sorted({card_conf, 0.1, 0.05, 0.02}, reverse=True)
    print(f"| confidence floor | main item's category right ({args.folder}) |\n| --- | --- |")
    for floor, (hit, total) in main_item_hits(args.folder, args.data, floors).items():
        note = " (card threshold)" if floor == card_conf else ""
        print(f"| {floor:.3f}{note} | {hit}/{total} ({hit / total:.0%}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
