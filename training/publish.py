"""Publishing a version into the weights folder the service loads, guarded against regressions.

The candidate and the version in production are scored on the same evaluation set through
the inference core; a candidate with lower mAP50 is refused unless forced. A candidate with
classes COCO knows is also refused when its mean AP50 over those classes, on the COCO-sourced
images it never trained on, is below the untouched COCO YOLOv5n's (`training.baseline`). The live folder
`weights/<detector>/` is swapped by renames, the previous version is kept under
`weights/.archive/<detector>/<version>/`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from service.registry.card import CARD_FILE, read_card
from training.baseline import UNSEEN_COCO, SetComparison, coco_baseline, coco_classes, compare_sets, evaluation_sets
from training.evaluate import Evaluation, evaluate, open_detector

PUBLISH_LOG = "publish.json"


class PublishRefused(RuntimeError):
    """The candidate scores below the current version (or cannot be compared with it)."""


@dataclass
class PublishResult:
    detector: str
    version: str
    target: Path
    candidate_map50: float
    current_version: str | None
    current_map50: float | None
    archived: Path | None
    forced: bool


def _score(folder: Path, data_yaml: Path, split: str) -> Evaluation:
    """Scores the fp32 model: whether the weights improved. Serving INT8 instead is a separate
    choice within a fixed accuracy budget (`training.release.choose_served`)."""
    variant = "fp32" if "fp32" in read_card(folder).files else None
    return evaluate(open_detector(folder, variant), data_yaml, split=split)


def check_against_base(candidate: Path, data_yaml: Path, shared: Path | None = None) -> SetComparison | None:
    """Refuse a candidate below the COCO base on its COCO classes, on COCO-sourced images outside
    train; None when the candidate has no COCO classes or the data no such images."""
    detector = open_detector(candidate, "fp32" if "fp32" in read_card(candidate).files else None)
    unseen = evaluation_sets(data_yaml).get(UNSEEN_COCO)
    if not coco_classes(detector.card.class_names) or not unseen:
        return None
    with coco_baseline(detector.card, shared) as base:
        (result,) = compare_sets(detector, base, data_yaml, {UNSEEN_COCO: unseen})
    if (result.candidate_coco_map50 or 0.0) < (result.base_coco_map50 or 0.0):
        raise PublishRefused(
            f"candidate {detector.card.version} COCO-class mAP50 {result.candidate_coco_map50:.4f} < untouched "
            f"{base.card.version} {result.base_coco_map50:.4f} on the {result.images} {UNSEEN_COCO} images of "
            f"{data_yaml}; not published (use --force to override)"
        )
    return result


def publish(
    candidate: Path,
    weights_dir: Path,
    data_yaml: Path,
    split: str = "val",
    force: bool = False,
    shared: Path | None = None,
) -> PublishResult:
    card = read_card(candidate)
    target = weights_dir / card.name
    cand_eval = _score(candidate, data_yaml, split)
    if not force:
        check_against_base(candidate, data_yaml, shared)
    current = read_card(target) if (target / CARD_FILE).is_file() else None
    cur_eval = None
    if current is not None:
        if current.class_names != card.class_names and not force:
            raise PublishRefused(
                f"current {card.name} {current.version} has classes {current.class_names}, candidate has "
                f"{card.class_names}: not comparable; use --force to replace it anyway"
            )
        if current.class_names == card.class_names:
            cur_eval = _score(target, data_yaml, split)
        if cur_eval is not None and cand_eval.map50 < cur_eval.map50 and not force:
            raise PublishRefused(
                f"candidate {card.version} mAP50 {cand_eval.map50:.4f} < current {current.version} "
                f"{cur_eval.map50:.4f} on {data_yaml} ({split}); not published (use --force to override)"
            )
    archived = _install(candidate, target, weights_dir, current.version if current else None)
    result = PublishResult(
        card.name,
        card.version,
        target,
        cand_eval.map50,
        current.version if current else None,
        cur_eval.map50 if cur_eval else None,
        archived,
        force,
    )
    log = asdict(result) | {"published": datetime.now(UTC).isoformat(timespec="seconds"), "data": str(data_yaml)}
    (target / PUBLISH_LOG).write_text(json.dumps(log, indent=2, default=str) + "\n", encoding="utf-8")
    return result


def _install(candidate: Path, target: Path, weights_dir: Path, current_version: str | None) -> Path | None:
    """Copy to a staging folder first, then two renames: readers see the old or the new version."""
    weights_dir.mkdir(parents=True, exist_ok=True)
    staging = weights_dir / ".staging" / target.name  # not a direct child: the registry never sees it
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(candidate, staging)
    archived = None
    if target.exists():
        archived = weights_dir / ".archive" / target.name / (current_version or "unknown")
        shutil.rmtree(archived, ignore_errors=True)
        archived.parent.mkdir(parents=True, exist_ok=True)
        target.rename(archived)
    staging.rename(target)
    return archived
