"""One model version from a training run: export, quantise, evaluate, check parity, write the card.

The card's default confidence is the best-F1 point of the fp32 model's validation PR curve.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import onnx

from service.inference import DetectParams, OnnxDetector
from service.inference.card import ModelCard, read_card
from training.checkpoint import open_checkpoint
from training.compose import Branch, compose
from training.datasets.build import PROVENANCE_FILE
from training.datasets.layout import load_yolo_dataset
from training.datasets.taxonomy import Taxonomy, load_taxonomy, same_classes
from training.evaluate import evaluate
from training.export import FP32_FILE, INT8_FILE, calibration_images, check_parity, export_fp32, quantize_int8
from training.modelcard import build_card, taxonomy_text, write_cards
from training.paths import portable
from training.train_run import RUN_INFO


def training_data(data_yaml: Path) -> dict:
    """What the card says about the data: counts plus the import's provenance record."""
    ds = load_yolo_dataset(data_yaml)
    prov_file = ds.root / PROVENANCE_FILE
    prov = json.loads(prov_file.read_text(encoding="utf-8")) if prov_file.is_file() else {}
    counts = {"images": {k: len(v) for k, v in ds.splits.items()}, "boxes": ds.box_counts()}
    return {"data": str(data_yaml), **counts, **prov}


INT8_MAP50_BUDGET = 0.01


def choose_served(metrics: dict) -> str:
    """INT8 is faster on every CPU we measured; it is served when it costs at most 0.01 mAP50 on val."""
    if "int8" in metrics and metrics["int8"]["map50"] >= metrics["fp32"]["map50"] - INT8_MAP50_BUDGET:
        return "int8"
    return "fp32"


def build_release(
    weights: Path,
    data_yaml: Path,
    taxonomy: Taxonomy,
    version: str,
    out_dir: Path,
    imgsz: int,
    int8: bool = True,
    calib_count: int = 64,
    parity_images: int = 16,
    serve_variant: str = "auto",
) -> ModelCard:
    checkpoint = open_checkpoint(weights)
    if not same_classes(checkpoint.names, taxonomy.names):
        raise ValueError(f"checkpoint classes {checkpoint.names} differ from taxonomy {taxonomy.names}")
    fp32 = export_fp32(checkpoint, out_dir, imgsz)
    calib = calibration_images(data_yaml, calib_count)
    variants = {"fp32": FP32_FILE}
    if int8:
        quantize_int8(fp32, calib)
        variants["int8"] = INT8_FILE
    run_info_file = weights.parent.parent / RUN_INFO
    training = json.loads(portable(run_info_file.read_text())) if run_info_file.is_file() else {}
    training["export_command"] = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
    data = training_data(data_yaml)

    def card_with(conf: float, metrics: dict, served: str = "fp32") -> ModelCard:
        return build_card(
            taxonomy,
            version,
            imgsz,
            out_dir,
            variants,
            conf,
            data,
            metrics,
            training,
            served,
            checkpoint.output_layout,
        )

    draft = card_with(0.25, {})
    fp32_eval = evaluate(OnnxDetector(fp32, draft), data_yaml, use_best_f1=True, out_dir=out_dir / "eval")
    conf = max(fp32_eval.best_f1_threshold, 0.01)
    metrics: dict = {"fp32": asdict(fp32_eval)}
    if int8:
        int8_eval = evaluate(
            OnnxDetector(out_dir / INT8_FILE, draft), data_yaml, threshold=conf, out_dir=out_dir / "eval-int8"
        )
        metrics["int8"] = asdict(int8_eval)
    params = DetectParams(conf=conf, iou=0.45, max_det=300)
    parity = check_parity(checkpoint, draft, out_dir, calib[:parity_images], params)
    metrics["parity"] = {k: asdict(p) | {"match_rate": p.match_rate} for k, p in parity.items()}
    card = card_with(conf, metrics, choose_served(metrics) if serve_variant == "auto" else serve_variant)
    write_cards(out_dir, card)
    return card


def refresh_card(folder: Path, taxonomy_dir: Path | None, data_yaml: Path) -> ModelCard:
    """Re-write a version's card after its taxonomy text (notes, limitations, uses) was edited.

    Files, metrics and the training record stay as exported: re-exporting would re-quantise and
    re-evaluate for a change of wording.
    """
    card = read_card(folder)
    taxonomy = load_taxonomy(card.name, taxonomy_dir)
    if not same_classes(card.class_names, taxonomy.names):
        raise ValueError(f"{folder} holds {card.name} {card.class_names}, not {taxonomy.detector} {taxonomy.names}")
    text = taxonomy_text(taxonomy) | {"training_data": training_data(data_yaml)}
    refreshed = ModelCard.model_validate(card.model_dump(mode="json") | text)
    write_cards(folder, refreshed)
    return refreshed


def compose_release(
    taxonomy: Taxonomy,
    branches: list[Branch],
    imgsz: int,
    data_yaml: Path,
    version: str,
    out_dir: Path,
    embedding_from: Path | None = None,
    merge_iou: float | None = None,
) -> ModelCard:
    """A served version folder: the composed fp32 graph, its validation metrics (default confidence
    at the best F1, or at a branch's score knee, which was chosen to meet it), and the card (with
    `merge_iou`, see `Thresholds`). The photo-search embedding is copied from `embedding_from`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(compose(branches, len(taxonomy.names), imgsz), str(out_dir / FP32_FILE))
    embedding = None
    if embedding_from is not None and (source := read_card(embedding_from).embedding) is not None:
        shutil.copyfile(embedding_from / source.path, out_dir / source.path)
        embedding = source
    training = {
        "start": "composed (no training): " + ", ".join(f"{b.name} for {len(b.classes)} classes" for b in branches),
        "branches": [
            {
                "name": b.name,
                "input": b.size,
                "flip": b.flip,
                "score_scale": b.score_scale,
                "score_knee": list(b.score_knee) if b.score_knee else None,
                "classes": [taxonomy.names[t] for t in sorted(b.classes)],
            }
            for b in branches
        ],
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    data = training_data(data_yaml)

    def card_with(conf: float, metrics: dict) -> ModelCard:
        card = build_card(
            taxonomy, version, imgsz, out_dir, {"fp32": FP32_FILE}, conf, data, metrics, training, "fp32", "yolov5"
        )
        thresholds = card.thresholds.model_copy(update={"merge_iou": merge_iou})
        return card.model_copy(update={"embedding": embedding, "thresholds": thresholds})

    knee = next((b.score_knee[1] for b in branches if b.score_knee), None)
    draft = card_with(knee or 0.25, {})
    fp32 = evaluate(
        OnnxDetector(out_dir / FP32_FILE, draft), data_yaml, use_best_f1=knee is None, out_dir=out_dir / "eval"
    )
    card = card_with(knee or max(fp32.best_f1_threshold, 0.01), {"fp32": asdict(fp32)})
    write_cards(out_dir, card)
    return card
