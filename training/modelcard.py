"""The model card of a version: `model.json` for the service, `MODEL_CARD.md` for people.

Municipal AI has transparency duties (EU AI Act Art. 50 for systems interacting with or
informing people, plus public-sector accountability): the card says what the model is for and
not for, what data it learnt from under which licences, how well it does and how it was made.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.inference.card import ModelCard, ModelFile, Thresholds, sha256_file, write_card
from training.datasets.taxonomy import Taxonomy

CARD_MD = "MODEL_CARD.md"
WEIGHTS_LICENCE = "AGPL-3.0-or-later (trained with Ultralytics YOLO, AGPL-3.0)"
TRANSPARENCY = (
    "This is an AI system. Its detections are suggestions produced by a statistical model and can be "
    "wrong or incomplete; decisions that affect people are taken and checked by municipal staff. "
    "People who submit or appear in photos are informed that the photos are analysed automatically."
)


def model_files(folder: Path, variants: dict[str, str]) -> dict[str, ModelFile]:
    """Card entries (with SHA-256) for the variant files present in `folder`."""
    return {
        variant: ModelFile(path=file, sha256=sha256_file(folder / file), precision=variant)
        for variant, file in variants.items()
        if (folder / file).is_file()
    }


def taxonomy_text(taxonomy: Taxonomy) -> dict[str, str]:
    """The card's prose, which lives in `datasets/<detector>.yaml` so a re-export keeps it."""
    return {
        "description": taxonomy.description,
        "intended_use": taxonomy.intended_use,
        "not_intended_use": taxonomy.not_intended_use,
        "limitations": taxonomy.limitations,
        "notes": taxonomy.notes,
    }


def build_card(
    taxonomy: Taxonomy,
    version: str,
    imgsz: int,
    folder: Path,
    variants: dict[str, str],
    conf: float,
    training_data: dict[str, Any],
    metrics: dict[str, Any],
    training: dict[str, Any],
    serve_variant: str = "fp32",
    output_layout: str = "yolov8",
) -> ModelCard:
    return ModelCard(
        name=taxonomy.detector,
        version=version,
        classes=taxonomy.class_labels(),
        input_size=(imgsz, imgsz),
        output_layout=output_layout,
        thresholds=Thresholds(conf=round(conf, 3), iou=0.45, max_det=300),
        enabled_by_default=taxonomy.enabled_by_default,
        tiling=taxonomy.tiling,
        files=model_files(folder, variants),
        serve_variant=serve_variant,
        training_data=training_data,
        metrics=metrics,
        license=WEIGHTS_LICENCE,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        training=training,
        transparency=TRANSPARENCY,
        **taxonomy_text(taxonomy),
    )


def _table(rows: list[list[Any]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _background(val: dict) -> str:
    """False alarms users see on photos with nothing to find, e.g. clean walls for graffiti."""
    n, rate = val.get("background_images", 0), val.get("background_false_positive_rate")
    if not n or rate is None:
        return "The validation split has no images without labels: no false-positive rate on empty photos."
    return (
        f"False positives on the {n} validation images without labels: {rate:.1%} of them get at least one "
        "detection at the default threshold."
    )


def _split_counts(data: dict) -> str:
    """`train 677 images (pothole 1599, crack 74), val ...` from the card's training-data record."""
    boxes = data.get("boxes", {})
    parts = []
    for split, n in data.get("images", {}).items():
        per_class = ", ".join(f"{name} {count}" for name, count in boxes.get(split, {}).items())
        parts.append(f"{split} {n} images" + (f" ({per_class} boxes)" if per_class else ""))
    return "; ".join(parts) or "no images recorded"


def percent(v: float | None) -> str:
    return "–" if v is None else f"{v:.1%}"


def _retrieval(retrieval: dict | None) -> str:
    """Photo search over the register (lost property): `stadtblick train lost-property-retrieval`."""
    if not retrieval:
        return ""
    rows = [
        [
            f"`{r['embedder']}`",
            r["register_size"],
            *(f"{percent(r[k]['top1'])} / {percent(r[k]['top5'])}" for k in ("real", "simulated")),
        ]
        for r in retrieval["results"]
    ]
    return (
        f"\nPhoto search, top-1 / top-5 hit rate on `{retrieval['split']}` (another photo of a registered item):\n\n"
        + _table(rows, ["embedder", "register", "real second photo", "simulated second photo"])
        + "\n"
    )


def _ci(score: dict, key: str) -> str:
    value, ci = score.get(key), score.get(f"{key}_ci")
    if value is None:
        return "–"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _by_source(by: dict | None) -> str:
    """Leave-one-source-out scores recorded by `stadtblick train loso --record`."""
    if not by:
        return ""
    seen = {
        True: "**were in this version's training data** (so these numbers favour it)",
        False: "were not in this version's training data",
        None: "may have been in its training data (unknown)",
    }[by.get("held_out_in_training")]
    cls, sets = by["class"], by["sets"]
    ap = _table(
        [
            [name, x["images"], x["boxes"], _ci(x, "ap50"), _ci(x, "centre_ap50")]
            for name, x in sets.items()
            if x["boxes"]
        ],
        ["set", "images", f"{cls} boxes", "AP50 [95% CI]", "centre AP50 [95% CI]"],
    )
    fp = _table(
        [
            [name, x["empty_images"], percent(x["fp_image_rate"]), f"{x['fp_per_image']:.2f}"]
            for name, x in sets.items()
            if x["empty_images"]
        ],
        ["set", f"images without {cls}", f"share with ≥ 1 {cls} box", "boxes per image"],
    )
    equal = by.get("at_equal_recall") or {}
    if equal.get("threshold") is not None and equal["threshold"] != by["threshold"]:
        rates = ", ".join(f"{k} {percent(v)}" for k, v in equal["fp_image_rate"].items() if v)
        fp += (
            f"\n\nAt equal recall (confidence {equal['threshold']:.3f}, where it finds {percent(equal['recall'])} of"
            f" random val's `{cls}` boxes, as the version it was compared with does at its served confidence),"
            f" images with ≥ 1 box: {rates or 'none'}."
        )
    return f"""
## Metrics by data source (leave-one-source-out)

`{cls}` through the served `{by["variant"]}` model on `{by["data"]}`. Held-out source(s)
{", ".join(f"`{s}`" for s in by["held_out"])} {seen}; they are scored on all their images, the
other sources on their val images. "centre AP50" counts a box as found when the predicted centre lies
on it. Noise: 95 % bootstrap intervals over images ({by["bootstrap"]} resamples, near-duplicate
frames resampled together).

{ap}

False positives at confidence {by["threshold"]:.3f} on images without a `{cls}` box (street photos of
other datasets, val only):

{fp}
"""


def _threshold_origin(card: ModelCard) -> str:
    calibrated = card.metrics.get("by_source", {}).get("threshold_calibrated_on")
    knees = [
        b["score_knee"] for b in (card.model_extra or {}).get("training", {}).get("branches", []) if b.get("score_knee")
    ]
    if knees:
        raw, served = knees[0]
        return f"a composed branch's raw score {raw} is served at {served}: its confident boxes pass it"
    if calibrated:
        return f"best F1 on the held-out {', '.join(calibrated)}, not on random val"
    return "best F1 on the validation PR curve"


def _merge(card: ModelCard) -> str:
    iou = card.thresholds.merge_iou
    if iou is None:
        return ""
    return (
        f" Boxes of one class overlapping by more than IoU {iou} are one object (also when evaluating):"
        " the highest-scoring one is kept, its box the score-weighted mean of them all."
    )


def _baseline(baseline: dict | None) -> str:
    """Per-class AP50 against the untouched COCO model: `stadtblick train evaluate ... --baseline coco`."""
    if not baseline:
        return ""
    from training.set_comparison import SetComparison, comparison_markdown

    sets = [SetComparison(**s) for s in baseline["sets"]]
    return f"\n### Against the untouched COCO model\n\n{comparison_markdown(sets, baseline['base'])}"


def _made(training: dict) -> str:
    """How the version was made: a training run, or a composition of networks (`train compose`)."""
    if "branches" in training:
        rows = [
            [
                f"`{b['name']}`",
                b["input"],
                "yes" if b["flip"] else "no",
                b.get("score_scale", 1.0),  # cards composed before the scale existed: 1
                "{}:{}".format(*b["score_knee"]) if b.get("score_knee") else "-",
                ", ".join(b["classes"]),
            ]
            for b in training["branches"]
        ]
        return f"- Command: `{training.get('command', '?')}`\n- {training.get('start', '')}\n\n" + _table(
            rows, ["branch", "input px", "mirrored", "score scale", "score knee raw:served", "answers for"]
        )
    return f"""- Command: `{training.get("command", "?")}`
- Start point: {training.get("start", "?")} (COCO tensors transferred: {training.get("transferred", "n/a")})
- Hardware: {training.get("hardware", "?")}
- Duration: {training.get("duration_s", "?")} s, {training.get("epochs_run", "?")} epochs
- Recipe: `{training.get("recipe", {})}`
- Export: `{training.get("export_command", "?")}`"""


def render_markdown(card: ModelCard) -> str:
    extra = card.model_extra or {}
    training = extra.get("training", {})
    data = card.training_data
    val = card.metrics.get("fp32", {})
    classes = _table(
        [[c.id, c.name, c.label_de, c.label_en] for c in card.classes], ["id", "name", "Deutsch", "English"]
    )
    metric_rows = [
        [v, f"{m.get('map50', 0):.4f}", f"{m.get('map50_95', 0):.4f}", f"{m.get('ms_per_image', 0):.1f}"]
        for v, m in card.metrics.items()
        if isinstance(m, dict) and "map50" in m
    ]
    per_class = _table(
        [
            [variant, c["name"], c["labels"], *(f"{c[k]:.3f}" for k in ("ap50", "precision", "recall", "f1"))]
            for variant, m in card.metrics.items()
            if isinstance(m, dict)
            for c in m.get("classes", [])
        ],
        ["variant", "class", "val boxes", "AP50", "precision", "recall", "F1"],
    )
    parity_rows = card.metrics.get("parity", {})
    parity = _table(
        [
            [k, p["matched"], p["reference_boxes"], f"{p['mean_iou']:.4f}", f"{p['max_box_deviation_px']:.2f}"]
            for k, p in parity_rows.items()
        ],
        ["variant", "matched boxes", "PyTorch boxes", "mean IoU", "max deviation (px)"],
    )
    parity_text = (
        f"\nParity of the exported files with the PyTorch checkpoint (same images, same thresholds):\n\n{parity}\n"
        if parity_rows
        else ""
    )
    sources = "\n".join(
        f"- `{s['spec']}`: {s['images']} images, {s['boxes']} boxes"
        + "".join(f"; drive {d} ({', '.join(days)})" for d, days in s.get("drives", {}).items())
        for s in data.get("sources", [])
    )
    embedding = {"embedding": card.embedding} if card.embedding else {}
    files = _table(
        [[k, f.path, f.precision, f.sha256[:16] + "…"] for k, f in (card.files | embedding).items()],
        ["variant", "file", "precision", "sha256"],
    )
    notes = f"\n## Notes\n\n{extra['notes'].strip()}\n" if extra.get("notes") else ""
    return f"""# Model card: {card.name} {card.version}

{card.description}

*Created {card.created}. Served variant: `{card.serve_variant}`. Licence: {card.license}.*

## Transparency notice

{TRANSPARENCY}

## Intended use

{card.intended_use}

## Not intended for

{extra.get("not_intended_use", "")}

## Classes

{classes}

Default thresholds: confidence {card.thresholds.conf} ({_threshold_origin(card)}), NMS IoU
{card.thresholds.iou}, at most {card.thresholds.max_det} boxes.{_merge(card)}
Input {card.input_size[0]}x{card.input_size[1]}.

## Training data and licences

Dataset `{data.get("data", "?")}`: {_split_counts(data)}.

{sources or "- (no import provenance recorded)"}

Data licence / terms: {data.get("licence") or "not stated - treat as internal development material"}.
{data.get("note", "")}

## Metrics (validation split, through the service's ONNX inference core)

{_table(metric_rows, ["variant", "mAP50", "mAP50-95", "ms/image"])}

Per class (precision, recall and F1 at the default confidence threshold, IoU 0.5):

{per_class}

{_background(val)}
{_retrieval(card.metrics.get("retrieval"))}{_baseline(card.metrics.get("baseline"))}{_by_source(card.metrics.get("by_source"))}{parity_text}
## Limitations

{card.limitations}

Validation numbers come from a split of the same sources as the training data; on photos from
other cameras, cities or seasons expect lower numbers. Re-evaluate on local data before relying on it.

## How it was made

{_made(training)}

## Files

{files}
{notes}"""


def write_cards(folder: Path, card: ModelCard) -> tuple[Path, Path]:
    md = folder / CARD_MD
    md.write_text(render_markdown(card), encoding="utf-8")
    return write_card(folder, card), md
