"""`stadtblick train ...` (also `stadtblick-train`): the municipal training workflow on the command line.

import -> validate -> finetune -> export -> evaluate -> publish; see docs/training.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import track
from rich.table import Table

from training.paths import offline

if TYPE_CHECKING:
    from service.inference import OnnxDetector

console = Console()


def _kv(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    import yaml

    return key, yaml.safe_load(value)


def cmd_import(args: argparse.Namespace) -> int:
    from training.datasets.build import UnmappedLabels, build_dataset
    from training.datasets.review_source import InvalidReviewExport
    from training.datasets.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(args.detector, args.taxonomy_dir)
    try:
        result = build_dataset(
            args.source,
            taxonomy,
            args.out,
            args.val_fraction,
            args.seed,
            args.near_dup_distance,
            args.licence,
            args.note,
            args.strict,
            track,
        )
    except (UnmappedLabels, InvalidReviewExport) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1
    prov = result.provenance
    table = Table(title=f"Imported into {result.dataset.data_yaml}")
    for col in ("source", "images", "boxes", "labels"):
        table.add_column(col)
    for s in prov["sources"]:
        table.add_row(
            s["spec"], str(s["images"]), str(s["boxes"]), ", ".join(f"{k}: {v}" for k, v in s["labels"].items())
        )
    console.print(table)
    console.print(
        f"split: {prov['split']['images']} images, boxes {prov['split']['boxes']}; "
        f"{prov['duplicate_groups']} duplicate groups kept within one split"
    )
    if prov["dropped_labels"]:
        console.print(f"[yellow]dropped labels not in the {args.detector} taxonomy:[/] {prov['dropped_labels']}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from training.datasets.validate import print_report, validate_dataset

    report = validate_dataset(args.data, args.near_dup_distance, track)
    print_report(report, console)
    if args.json:
        args.json.write_text(report.to_json() + "\n", encoding="utf-8")
        console.print(f"report written to {args.json}")
    return 0 if report.ok else 1


def cmd_finetune(args: argparse.Namespace) -> int:
    from training.datasets.layout import load_yolo_dataset
    from training.finetune import finetune, resume
    from training.recipe import load_recipe
    from training.train_run import TrainJob

    if args.resume:
        result = resume(args.resume, args.device)
    else:
        if not args.data or not args.detector:
            console.print("[red]error:[/] --detector and --data are required unless --resume is given")
            return 2
        recipe = load_recipe(args.detector, args.taxonomy_dir)
        overrides = {
            k: v
            for k, v in vars(args).items()
            if k in ("arch", "imgsz", "epochs", "patience", "batch") and v is not None
        }
        recipe = recipe.model_copy(update=overrides)
        names = load_yolo_dataset(args.data).names
        job = TrainJob(
            args.data.resolve(),
            names,
            recipe,
            args.start,
            args.project,
            args.name or args.detector,
            args.device,
            args.workers,
            args.shared,
            dict(args.set or []),
        )
        result = finetune(job)
    table = Table(title="Training run")
    for key in ("run_dir", "best", "start", "transferred", "verified_in_trainer", "epochs_run", "duration_s"):
        table.add_row(key, str(getattr(result, key)))
    console.print(table)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    offline()
    from training.datasets.taxonomy import load_taxonomy
    from training.release import build_release

    imgsz = args.imgsz or _train_imgsz(args.weights)
    version = args.version or time.strftime("%Y.%m.%d-%H%M")
    card = build_release(
        args.weights,
        args.data,
        load_taxonomy(args.detector, args.taxonomy_dir),
        version,
        args.out,
        imgsz,
        not args.no_int8,
        args.calib_images,
        serve_variant=args.serve,
    )
    table = Table(title=f"{card.name} {card.version} -> {args.out}")
    for col in ("variant", "file", "mAP50", "mAP50-95", "parity mean IoU", "max dev px"):
        table.add_column(col)
    for variant, file in card.files.items():
        m, p = card.metrics.get(variant, {}), card.metrics["parity"][variant]
        table.add_row(
            variant,
            file.path,
            f"{m.get('map50', 0):.4f}",
            f"{m.get('map50_95', 0):.4f}",
            f"{p['mean_iou']:.4f}",
            f"{p['max_box_deviation_px']:.2f}",
        )
    console.print(table)
    console.print(f"default confidence (best F1): {card.thresholds.conf}")
    return 0


def _knee(value: str) -> tuple[float, float]:
    raw, _, served = value.partition(":")
    try:
        return float(raw), float(served)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RAW:SERVED, e.g. 0.6:0.387, got {value!r}") from None


def cmd_compose(args: argparse.Namespace) -> int:
    from training.compose import coco_branch, folder_branch
    from training.datasets.taxonomy import load_taxonomy
    from training.release import compose_release

    taxonomy = load_taxonomy(args.detector, args.taxonomy_dir)
    names = taxonomy.names
    sizes = args.base_size or [640]
    flips = (False, True) if args.flip else (False,)
    answers = {a.strip() for a in args.answers.split(",") if a.strip()}
    views = [(size, flip) for size in sizes for flip in flips]
    skip = frozenset(answers if args.views_skip_answers else ())
    if args.base_folder and (args.base_size or args.flip or args.views_skip_answers):
        console.print(
            "[red]error:[/] --base-size, --flip and --views-skip-answers shape the COCO base; not with --base-folder"
        )
        return 2
    try:
        if args.base_folder:
            branches = [folder_branch(args.base_folder, names, None, name="base")]
        else:
            branches = [
                coco_branch(names, size, args.shared, flip, skip if i else frozenset())
                for i, (size, flip) in enumerate(views)
            ]
        branches.append(
            folder_branch(
                args.specialist,
                names,
                answers,
                args.specialist_min_score,
                score_scale=args.specialist_score_scale,
                score_knee=args.specialist_score_knee,
            )
        )
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    imgsz = args.imgsz or max(b.size for b in branches)
    card = compose_release(
        taxonomy, branches, imgsz, args.data, args.version, args.out, args.specialist, args.merge_iou
    )
    m = card.metrics["fp32"]
    console.print(
        f"{card.name} {card.version} -> {args.out}: val mAP50 {m['map50']:.4f}, {m['ms_per_image']:.0f} ms/image, "
        f"default confidence {card.thresholds.conf}"
    )
    return 0


def _train_imgsz(weights: Path) -> int:
    from training.checkpoint import open_checkpoint

    return open_checkpoint(weights).imgsz


def cmd_evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate, open_detector

    detector = open_detector(args.model, args.variant)
    if args.baseline:
        return _compare_with_base(detector, args)
    result = evaluate(
        detector,
        args.data,
        args.split,
        args.threshold,
        args.best_f1,
        args.out or args.model / "eval",
        track,
        tiling=args.tiling,
    )
    table = Table(title=f"{detector.name} on {args.data} ({args.split})")
    for col in ("class", "boxes", "AP50", "AP50-95", "P", "R", "F1"):
        table.add_column(col)
    for c in result.classes:
        cells = [c.ap50, c.ap50_95, c.precision, c.recall, c.f1]
        table.add_row(c.name, str(c.labels), *("–" if v is None else f"{v:.3f}" for v in cells))
    console.print(table)
    console.print(
        f"mAP50 {result.map50:.4f}  mAP50-95 {result.map50_95:.4f}  threshold {result.threshold:.3f}  "
        f"best-F1 conf {result.best_f1_threshold:.3f}  {result.ms_per_image:.1f} ms/image"
    )
    return 0


def cmd_loso(args: argparse.Namespace) -> int:
    from training.corruptions import chosen
    from training.loso import compare, record, under_conditions, write_conditions_report, write_report
    from training.road_views import HELD_OUT, NEGATIVE_DATASETS

    negatives = (
        args.negatives if args.negatives is not None else [args.data.parent.parent / n for n in NEGATIVE_DATASETS]
    )
    negatives = [n for n in negatives if (n / "data.yaml").is_file()]
    held_out = tuple(args.hold_out or HELD_OUT)
    run = partial(
        compare,
        args.models,
        held_out=held_out,
        cls_name=args.cls,
        bootstrap=args.bootstrap,
        seed=args.seed,
        variant=args.variant,
        track=track,
    )
    try:
        conditions = chosen(args.corruptions) if args.corruptions else []
        result = run(data_yaml=args.data, negatives=negatives)
        noisy = under_conditions(args.data, negatives, held_out, conditions, args.work, run, args.seed)
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    report = write_report(result, args.out)
    console.print(report.read_text(encoding="utf-8"), markup=False, soft_wrap=True)
    if noisy:
        conditions_report = write_conditions_report(result, noisy, args.out)
        console.print(conditions_report.read_text(encoding="utf-8"), markup=False, soft_wrap=True)
        console.print(f"written: {conditions_report} and {conditions_report.with_suffix('.json')}")
    if args.record:
        for folder in record(result, args.calibrate):
            console.print(f"recorded in {folder / 'model.json'} and its MODEL_CARD.md")
    console.print(f"written: {report} and {report.with_suffix('.json')}")
    return 0


def _compare_with_base(detector: OnnxDetector, args: argparse.Namespace) -> int:
    from training.baseline import coco_baseline, compare_sets, evaluation_sets, write_comparison
    from training.modelcard import write_cards

    sets = evaluation_sets(args.data, args.split)
    with coco_baseline(detector.card, args.shared, args.baseline_imgsz) as base:
        result = compare_sets(detector, base, args.data, sets, track, args.bootstrap)
    report = write_comparison(result, base.card.version, args.out or args.model / "eval")
    card = detector.card
    card.metrics["baseline"] = {"base": base.card.version, "data": str(args.data), "sets": [asdict(s) for s in result]}
    write_cards(args.model, card)
    console.print(report.read_text(encoding="utf-8"))
    console.print(f"written: {report}, recorded in {args.model / 'model.json'}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from training.compare import add_differences, corrupted_set, resolve_data, scorecard, to_markdown
    from training.corruptions import chosen
    from training.paths import shared_dir

    try:
        conditions = chosen(args.corruptions) if args.corruptions else []
        datasets = []
        for d in args.data:
            clean = resolve_data(d, shared_dir(args.shared), args.work)
            name = clean.parent.name
            datasets.append(clean)
            datasets += [
                corrupted_set(clean, (args.split,), c, args.work / "conditions" / f"{name}-{c}", args.seed)
                for c in conditions
            ]
        cards = [
            scorecard(model, data, args.split, args.variant, args.tiling, track)
            for data in datasets
            for model in args.models
        ]
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    if args.bootstrap:
        add_differences(cards, args.bootstrap)
    table = to_markdown(cards)
    console.print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
        console.print(f"written to {args.out}")
    return 0


def cmd_anonymisation_recall(args: argparse.Namespace) -> int:
    from service.config import Settings
    from service.inference import OnnxDetector, SessionConfig
    from service.inference.card import read_card
    from service.privacy.sources import COCO, detector_source, load_anonymiser
    from service.registry.registry import ModelRegistry
    from service.runtime import anonymise_config
    from training.anonymisation_recall import CLEAN, measure_robustness, measure_sources, write_report, write_robustness
    from training.corruptions import CORRUPTIONS, chosen
    from training.datasets.layout import load_yolo_dataset

    settings = Settings()
    sources = [s.strip() for s in args.sources.split(",") if s.strip()] if args.sources else settings.anonymise_sources
    registry = ModelRegistry.discover(args.weights_dir or settings.weights_dirs)
    wanted = {*sources, COCO} if settings.anonymise_persons else set(sources)
    registry.entries = {n: e for n, e in registry.entries.items() if n in wanted}
    registry.load_all(SessionConfig())
    loaded = {n: e.detector for n, e in registry.entries.items() if e.detector is not None}
    config = anonymise_config(settings)
    anonymiser = load_anonymiser(loaded, config, sources, settings.anonymise_persons)
    if anonymiser is None:
        console.print(f"[red]error:[/] none of the sources {sources} is installed")
        return 2
    absent = set(sources) - {s.name for s in anonymiser.sources}
    if absent:
        console.print(f"[yellow]not installed, not measured:[/] {', '.join(sorted(absent))}")
    if args.corruptions is None and not args.candidate and not args.conf:
        results = measure_sources(anonymiser, args.data, args.split, track)
        report = write_report(results, args.data, args.split, asdict(config), args.out)
    else:
        variants = [("shipped", anonymiser)]
        for folder in args.candidate or []:
            card = read_card(folder)
            candidate = OnnxDetector(folder / card.served_file.path, card, SessionConfig())
            variants.append((str(folder), anonymiser.with_source(detector_source(candidate))))
        corruptions = [CLEAN, *CORRUPTIONS] if args.corruptions in (None, "all") else chosen(args.corruptions, (CLEAN,))
        confs = [float(c) for c in args.conf.split(",")] if args.conf else [config.conf]
        ds = load_yolo_dataset(args.data)
        images = ds.splits.get(args.split) or []
        results = measure_robustness(variants, images, ds.names, corruptions, confs, args.seed, track)
        report = write_robustness(results, ds.names, args.data, args.split, args.seed, args.out)
    console.print(report.read_text(encoding="utf-8"))
    console.print(f"written: {report} and {report.with_suffix('.json')}")
    return 0


def cmd_export_embedding(args: argparse.Namespace) -> int:
    from training.export_embedding import export_embedding

    file = export_embedding(args.model)
    console.print(f"embedding model {args.model / file.path} (sha256 {file.sha256[:16]}…) named in the card")
    return 0


def cmd_retrieval(args: argparse.Namespace) -> int:
    from service.inference.card import read_card
    from service.lost_property.embedding import ColourShapeDescriptor, embedder_for
    from training.modelcard import write_cards
    from training.retrieval import collect_items, measure_all, write_report

    card = read_card(args.model)
    embedders = [ColourShapeDescriptor()]
    if card.embedding is not None:
        embedders.insert(0, embedder_for(args.model, card))
    items = collect_items(args.data, args.split)
    results = measure_all(embedders, items, lambda xs: track(xs, description="embedding the register"))
    report = write_report(results, args.data, args.split, args.out or args.model / "eval")
    card.metrics["retrieval"] = {"split": args.split, "results": [asdict(r) for r in results]}
    write_cards(args.model, card)
    console.print(report.read_text(encoding="utf-8"))
    console.print(f"written: {report}, recorded in {args.model / 'model.json'}")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    offline()
    from training.datasets.layout import load_yolo_dataset
    from training.recover import recover

    try:
        photos = load_yolo_dataset(args.data).splits.get("train", [])
        step = max(1, len(photos) // args.images)
        r = recover(args.model, photos[::step][: args.images], args.out, args.branch, args.arch)
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    console.print(
        f"{r.out}: {r.tensors} tensors, {r.batch_norms} batch norms set from {r.calibration_images} train photos "
        f"at {r.imgsz} px (output change {r.max_abs_diff:.1e}); continue with `finetune --start {r.out}`"
    )
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from training.weight_interpolation import interpolate

    try:
        r = interpolate(args.start, args.tuned, args.alpha, args.out)
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    console.print(
        f"{r.out}: {r.tensors} tensors ({r.changed} changed by the fine-tune) at alpha {r.alpha:g} "
        f"toward {args.tuned}; export it with `stadtblick train export --weights {r.out}`"
    )
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from training.release import refresh_card

    try:
        card = refresh_card(args.model, args.taxonomy_dir, args.data)
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    console.print(f"rewrote the card of {card.name} {card.version} in {args.model} (files and metrics unchanged)")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from training.publish import PublishRefused, publish

    try:
        r = publish(args.candidate, args.weights_dir, args.data, args.split, args.force, args.shared)
    except PublishRefused as exc:
        console.print(f"[red]refused:[/] {exc}")
        return 3
    before = f"{r.current_version} (mAP50 {r.current_map50:.4f})" if r.current_map50 is not None else r.current_version
    console.print(
        f"[green]published[/] {r.detector} {r.version} (mAP50 {r.candidate_map50:.4f}) to {r.target}; "
        f"previous: {before or 'none'}" + (f", archived at {r.archived}" if r.archived else "")
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from training.yolov5_import import add_import_yolov5_parser

    parser = argparse.ArgumentParser(prog="stadtblick train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    tax = argparse.ArgumentParser(add_help=False)
    tax.add_argument("--taxonomy-dir", type=Path, help="folder with <detector>.yaml (default: the repo's datasets/)")

    p = sub.add_parser("import", parents=[tax], help="import labelled photos into one YOLO dataset")
    p.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="FORMAT:PATH",
        help="yolo:DIR, coco:FILE.json, voc:DIR, labelme:DIR, review:EXPORT.zip (repeat to merge)",
    )
    p.add_argument("--detector", required=True, help="taxonomy to map labels onto, e.g. road_damage")
    p.add_argument("--out", type=Path, required=True, help="dataset folder to (re)create")
    p.add_argument("--val-fraction", type=float, default=0.2, help="1 puts every image in val: a test source")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--near-dup-distance", type=int, default=6, help="max dHash bit distance for near-duplicates")
    p.add_argument("--licence", default="", help="licence/terms of the photos, quoted in the model card")
    p.add_argument("--note", default="", help="provenance note (who took the photos, when, where)")
    p.add_argument("--strict", action="store_true", help="fail on labels the taxonomy does not know")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("validate", help="check a dataset for broken labels, corrupt images and duplicates")
    p.add_argument("data", type=Path, help="data.yaml")
    p.add_argument("--json", type=Path, help="also write the report as JSON")
    p.add_argument("--near-dup-distance", type=int, default=6)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("finetune", parents=[tax], help="train a detector version (Ultralytics, offline)")
    p.add_argument("--detector", help="recipe datasets/<detector>.train.yaml")
    p.add_argument("--data", type=Path, help="data.yaml from `import`")
    p.add_argument("--start", default="coco", help="coco (YOLOv5n COCO backbone), scratch, or a previous best.pt")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run from its last.pt")
    p.add_argument("--shared", type=Path, help="shared data folder (default $STADTBLICK_SHARED or ../shared)")
    for flag, typ in (("--arch", str), ("--imgsz", int), ("--epochs", int), ("--patience", int), ("--batch", int)):
        p.add_argument(flag, type=typ, help="override the recipe")
    p.add_argument("--device", help="cpu, 0, 0,1 ... (default: GPU if available)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--project", type=Path, default=Path("runs/train"))
    p.add_argument("--name", help="run name (default: the detector)")
    p.add_argument("--set", type=_kv, action="append", metavar="KEY=VALUE", help="any Ultralytics train argument")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("export", parents=[tax], help="ONNX fp32 + INT8, evaluation, parity, model card")
    p.add_argument("--weights", type=Path, required=True, help="best.pt of a run")
    p.add_argument("--data", type=Path, required=True, help="data.yaml (val: metrics, train: INT8 calibration)")
    p.add_argument("--detector", required=True)
    p.add_argument("--out", type=Path, required=True, help="folder for the version")
    p.add_argument("--version", help="version string (default: date-time)")
    p.add_argument("--imgsz", type=int, help="input size (default: the training size)")
    p.add_argument("--no-int8", action="store_true")
    p.add_argument("--calib-images", type=int, default=64)
    p.add_argument(
        "--serve",
        choices=("auto", "fp32", "int8"),
        default="auto",
        help="variant the service runs (auto: int8 unless it loses more than 0.01 mAP50 on val)",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "compose",
        parents=[tax],
        help="one ONNX graph: the untouched COCO YOLOv5n for the classes it knows, a specialised detector for others",
    )
    p.add_argument("--detector", required=True, help="taxonomy of the composed detector, e.g. lost_property")
    p.add_argument("--specialist", type=Path, required=True, help="YOLOv5-layout detector folder for the new classes")
    p.add_argument("--answers", required=True, help="comma-separated classes the specialist answers for")
    p.add_argument(
        "--specialist-min-score",
        type=float,
        default=0.0,
        help="drop the specialist's scores below this (keeps its guesses from crowding out the base's boxes)",
    )
    p.add_argument(
        "--specialist-score-scale",
        type=float,
        default=1.0,
        help="multiply the specialist's scores (ranks its boxes against the base's where both answer for a class)",
    )
    p.add_argument(
        "--specialist-score-knee",
        type=_knee,
        metavar="RAW:SERVED",
        help="serve the specialist's raw score RAW at SERVED, the default confidence of the composed version "
        "(its confident boxes stay visible); up to --specialist-score-scale at raw 1",
    )
    p.add_argument(
        "--base-folder",
        type=Path,
        help="a served detector folder as the base instead of the COCO model, answering for all its classes "
        "(e.g. a whole-wall graffiti model beside a tag-level one)",
    )
    p.add_argument("--base-size", type=int, action="append", help="input size of a COCO branch (repeat; default 640)")
    p.add_argument("--flip", action="store_true", help="also run each COCO branch on the mirrored image")
    p.add_argument(
        "--views-skip-answers",
        action="store_true",
        help="the COCO branches after the first (mirrored, other sizes) do not answer for the specialist's classes",
    )
    p.add_argument(
        "--merge-iou",
        type=float,
        help="card's merge IoU: boxes of one class overlapping more than this are one object, merged into their "
        "score-weighted mean (default: plain NMS)",
    )
    p.add_argument("--imgsz", type=int, help="input size of the composed graph (default: the largest base size)")
    p.add_argument("--data", type=Path, required=True, help="data.yaml (val: metrics and default confidence)")
    p.add_argument("--version", required=True)
    p.add_argument("--out", type=Path, required=True, help="folder for the version")
    p.add_argument("--shared", type=Path, help="shared data folder with weights/yolov5n.pt (default ../shared)")
    p.set_defaults(func=cmd_compose)

    p = sub.add_parser("recover", help="a trainable .pt rebuilt from a shipped ONNX folder (when its run is gone)")
    p.add_argument("model", type=Path, help="detector folder, e.g. weights/graffiti")
    p.add_argument("--data", type=Path, required=True, help="data.yaml: its train photos calibrate the batch norms")
    p.add_argument("--out", type=Path, required=True, help=".pt to write")
    p.add_argument("--branch", default="", help="network of a composed graph, e.g. specialist (default: the only one)")
    p.add_argument("--arch", default="yolov5nu.yaml", help="architecture the graph was exported from")
    p.add_argument("--images", type=int, default=64, help="calibration photos, spread over the train split")
    p.set_defaults(func=cmd_recover)

    p = sub.add_parser(
        "interpolate", help="a .pt between a fine-tune's start and its result (keeps what the start knew)"
    )
    p.add_argument("start", type=Path, help=".pt the fine-tune started from (e.g. from `recover`)")
    p.add_argument("tuned", type=Path, help=".pt the fine-tune ended with")
    p.add_argument("--alpha", type=float, required=True, help="0 = start, 1 = tuned")
    p.add_argument("--out", type=Path, required=True, help=".pt to write")
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("card", parents=[tax], help="re-write a version's card after editing its taxonomy text")
    p.add_argument("model", type=Path, help="detector folder with model.json, e.g. weights/road_damage")
    p.add_argument("--data", type=Path, required=True, help="data.yaml the version was trained on (box counts)")
    p.set_defaults(func=cmd_card)

    p = sub.add_parser("evaluate", help="score a detector folder through the service's inference core")
    p.add_argument("model", type=Path, help="detector folder with model.json")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--variant", help="fp32 or int8 (default: the served one)")
    p.add_argument("--threshold", type=float, help="confidence for P/R/F1 (default: the card's)")
    p.add_argument("--best-f1", action="store_true", help="report P/R/F1 at the best-F1 confidence")
    p.add_argument("--out", type=Path, help="report folder (default: MODEL/eval)")
    p.add_argument(
        "--tiling", action=argparse.BooleanOptionalAction, default=None, help="force sliced inference on/off"
    )
    p.add_argument(
        "--baseline",
        choices=("coco",),
        help="compare per class with the untouched COCO YOLOv5n on the split, on COCO-sourced images not in "
        "train and per source of manifest.csv (writes baseline.md, records it in the card)",
    )
    p.add_argument("--baseline-imgsz", type=int, default=640, help="input size of the base model (default 640)")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        help="with --baseline: resample each set's images this often for a 95 %% interval of the difference",
    )
    p.add_argument("--shared", type=Path, help="shared data folder with weights/yolov5n.pt (default ../shared)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("loso", help="leave-one-source-out: AP50 per source, bootstrap CI, FP rate, side by side")
    p.add_argument("models", type=Path, nargs="+", help="detector folders (two: the paired difference is shown)")
    p.add_argument("--data", type=Path, required=True, help="data.yaml with a manifest.csv (source column)")
    p.add_argument("--hold-out", action="append", help="held-out manifest source (default jero/dashcam)")
    p.add_argument(
        "--negatives",
        type=Path,
        nargs="*",
        help="datasets without the class, val split (default: graffiti, anonymize beside --data's folder)",
    )
    p.add_argument("--cls", default="pothole", help="class scored (default pothole)")
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples for the 95 %% intervals")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variant", help="fp32 or int8 (default: the served one)")
    p.add_argument("--out", type=Path, default=Path("runs/loso"), help="report folder")
    p.add_argument(
        "--corruptions",
        help="also score every set under 'all' or a comma list of the street conditions in training/corruptions.py",
    )
    p.add_argument(
        "--work", type=Path, default=Path("work/eval-data/loso-conditions"), help="where the corrupted copies go"
    )
    p.add_argument("--record", action="store_true", help="store the scores in each model's card")
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="with --record: set the default confidence to best F1 on the held-out source (if it was held out)",
    )
    p.set_defaults(func=cmd_loso)

    p = sub.add_parser("compare", help="detector versions side by side: AP50 and false alarms per image group")
    p.add_argument("models", type=Path, nargs="+", help="detector folders with model.json (weights/X, work/build/X-V)")
    p.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        help="data.yaml, or a listed set (folder with dataset.yaml + images.txt, e.g. datasets/graffiti_walls)",
    )
    p.add_argument("--split", default="val")
    p.add_argument(
        "--shared", type=Path, help="shared data folder for listed sets (default $STADTBLICK_SHARED or ../shared)"
    )
    p.add_argument("--work", type=Path, default=Path("work/eval-data"), help="where listed sets are materialised")
    p.add_argument("--variant", help="fp32 or int8 (default: each version's served one)")
    p.add_argument(
        "--tiling", action=argparse.BooleanOptionalAction, default=None, help="force sliced inference on/off"
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        help="resamples of each set's images: 95 %% interval of each later version's AP50 minus the first's",
    )
    p.add_argument(
        "--corruptions",
        default="",
        help="street conditions: also score each set under 'all' or a comma list of the corruptions in "
        "training/corruptions.py (noise, blur, JPEG, low light, tilt, stretch, downscale), copies under --work",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the corruptions' random draws")
    p.add_argument("--out", type=Path, help="also write the table as Markdown")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("publish", help="install a version into the weights folder unless it is worse")
    p.add_argument("candidate", type=Path, help="folder from `export`")
    p.add_argument("--data", type=Path, required=True, help="evaluation set both versions are scored on")
    p.add_argument("--split", default="val")
    p.add_argument("--weights-dir", type=Path, default=Path("weights"))
    p.add_argument(
        "--force", action="store_true", help="publish even if it scores below the current version or the COCO base"
    )
    p.add_argument("--shared", type=Path, help="shared data folder with weights/yolov5n.pt (default ../shared)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser(
        "anonymisation-recall", help="share of labelled faces/plates the anonymiser obscures, per source"
    )
    p.add_argument("--data", type=Path, required=True, help="data.yaml with classes face, licence_plate")
    p.add_argument("--split", default="val")
    p.add_argument("--weights-dir", type=Path, action="append", help="folders with anonymize/ (default: the service's)")
    p.add_argument("--sources", help="e.g. anonymize,centerface (default: STADTBLICK_ANONYMISE_SOURCES)")
    p.add_argument("--out", type=Path, default=Path("runs/anonymisation_recall"), help="report folder")
    p.add_argument(
        "--corruptions",
        help="robustness benchmark: 'all', or a comma list of 'clean' and names in training/corruptions.py "
        "(default with --candidate or --conf: all)",
    )
    p.add_argument(
        "--candidate", type=Path, action="append", help="an exported anonymize folder measured beside the shipped one"
    )
    p.add_argument("--conf", help="comma list of confidence thresholds scored side by side (default: the service's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the corruptions' random draws")
    p.set_defaults(func=cmd_anonymisation_recall)

    p = sub.add_parser("export-embedding", help="cut the image-embedding model for lost-property matching")
    p.add_argument("model", type=Path, help="detector folder from `export` (fp32 model.onnx + model.json)")
    p.set_defaults(func=cmd_export_embedding)

    p = sub.add_parser("lost-property-retrieval", help="top-1/top-5 hit rate of photo search over the register")
    p.add_argument("model", type=Path, help="lost_property detector folder")
    p.add_argument("--data", type=Path, required=True, help="lost_property data.yaml")
    p.add_argument("--split", default="val")
    p.add_argument("--out", type=Path, help="report folder (default: MODEL/eval)")
    p.set_defaults(func=cmd_retrieval)

    add_import_yolov5_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    offline()
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
