"""A candidate against a base model, set by set: the data `training.baseline` measures and the
Markdown table its report and the model card show (apart, so the card needs no evaluation code)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SetComparison:
    """Per-class AP50 of the candidate and the base on one set of images."""

    name: str
    images: int
    classes: list[dict]
    candidate_coco_map50: float | None
    base_coco_map50: float | None
    # resampling the set's images: 95 % interval of candidate - base COCO-class mean, and the share
    # of resamples where the candidate is not above the base (None: not resampled)
    difference_interval: tuple[float, float] | None = None
    not_above: float | None = None


def ap_text(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def comparison_markdown(sets: list[SetComparison], base: str) -> str:
    """One table: a row per class, candidate / base AP50 per set; the last row is the COCO-class mean."""
    head = "| class | " + " | ".join(f"{s.name} ({s.images} img)" for s in sets) + " |"
    lines = [head, "|" + " --- |" * (len(sets) + 1)]
    for i, row in enumerate(sets[0].classes):
        cells = []
        for s in sets:
            c = s.classes[i]
            cells.append(
                "–"
                if not c["labels"]
                else f"{ap_text(c['candidate_ap50'])} / {ap_text(c['base_ap50'])} ({c['labels']})"
            )
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    means = [f"**{ap_text(s.candidate_coco_map50)} / {ap_text(s.base_coco_map50)}**" for s in sets]
    lines.append("| COCO-class mean | " + " | ".join(means) + " |")
    resampled = [s for s in sets if s.difference_interval is not None]
    if resampled:
        cells = [
            "–" if s.difference_interval is None else _interval(s.difference_interval, s.not_above or 0.0) for s in sets
        ]
        lines.append("| difference, 95 % over images | " + " | ".join(cells) + " |")
    return (
        f"AP50 candidate / base (`{base}`), boxes in brackets; through the service's inference core:\n\n"
        + "\n".join(lines)
        + "\n"
    )


def _interval(bounds: tuple[float, float], not_above: float) -> str:
    return f"{bounds[0]:+.3f} to {bounds[1]:+.3f} (not above: {not_above:.1%})"
