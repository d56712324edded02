"""Dataset validation: everything that silently spoils a training run, found before it starts.

Errors (corrupt images, broken or out-of-range labels, unknown classes, duplicates across
splits) make `stadtblick train validate` exit non-zero; warnings are worth a look.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from training.datasets.hashing import DEFAULT_MAX_DISTANCE, dhash, file_sha256, near_duplicate_pairs
from training.datasets.layout import label_path_for, load_yolo_dataset

EDGE_TOLERANCE = 1e-3  # rounding of normalised coordinates, not a real overflow
SEVERITY = {
    "corrupt_image": "error",
    "malformed_label": "error",
    "out_of_range": "error",
    "unknown_class": "error",
    "split_leak": "error",
    "missing_label": "warning",
    "orphan_label": "warning",
    "exact_duplicate": "warning",
    "near_duplicate": "warning",
    "empty_label": "info",
}


@dataclass(frozen=True)
class Issue:
    kind: str
    path: str
    detail: str

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]


@dataclass
class ValidationReport:
    data_yaml: str
    names: list[str]
    images: dict[str, int] = field(default_factory=dict)
    boxes: dict[str, int] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)

    def kinds(self) -> Counter:
        return Counter(i.kind for i in self.issues)

    def to_json(self) -> str:
        body = asdict(self) | {"ok": self.ok, "counts": dict(self.kinds())}
        body["issues"] = [asdict(i) | {"severity": i.severity} for i in self.issues]
        return json.dumps(body, indent=2, ensure_ascii=False)


def _check_labels(label: Path, nc: int) -> tuple[list[Issue], list[int]]:
    issues, classes = [], []
    lines = [ln for ln in label.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        return [Issue("empty_label", str(label), "no boxes (background image)")], []
    for n, line in enumerate(lines, 1):
        parts = line.split()
        try:
            cid, *coords = int(parts[0]), *map(float, parts[1:])
        except (ValueError, IndexError):
            issues.append(Issue("malformed_label", str(label), f"line {n}: {line!r}"))
            continue
        if len(coords) != 4:
            issues.append(Issue("malformed_label", str(label), f"line {n}: expected 5 values, got {len(parts)}"))
            continue
        if not 0 <= cid < nc:
            issues.append(Issue("unknown_class", str(label), f"line {n}: class {cid} not in 0..{nc - 1}"))
        xc, yc, w, h = coords
        x1, y1, x2, y2 = xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2
        if w <= 0 or h <= 0 or min(x1, y1) < -EDGE_TOLERANCE or max(x2, y2) > 1 + EDGE_TOLERANCE:
            issues.append(Issue("out_of_range", str(label), f"line {n}: box {coords} outside [0, 1]"))
        classes.append(cid)
    return issues, classes


def validate_dataset(
    data_yaml: Path, max_distance: int = DEFAULT_MAX_DISTANCE, track: Callable[..., Iterable] = lambda it, **_: it
) -> ValidationReport:
    """Check every image and label of every split listed in `data_yaml` (`track` shows progress)."""
    ds = load_yolo_dataset(data_yaml)
    report = ValidationReport(str(data_yaml), ds.names)
    boxes: Counter = Counter()
    entries: list[tuple[str, Path]] = []
    hashes: list[int | None] = []
    by_sha: dict[str, list[int]] = defaultdict(list)
    for split, files in ds.splits.items():
        report.images[split] = len(files)
        for image in track(files, description=f"checking {split}"):
            h = dhash(image) if image.is_file() else None
            if h is None:
                report.issues.append(Issue("corrupt_image", str(image), "cannot be decoded"))
            else:
                by_sha[file_sha256(image)].append(len(entries))
            entries.append((split, image))
            hashes.append(h)
            label = label_path_for(image)
            if not label.is_file():
                report.issues.append(Issue("missing_label", str(image), f"no {label.name}; treated as background"))
                continue
            issues, classes = _check_labels(label, len(ds.names))
            report.issues.extend(issues)
            boxes.update(ds.names[c] if 0 <= c < len(ds.names) else str(c) for c in classes)
        report.issues.extend(_orphans(ds.root, split, files))
    report.boxes = dict(boxes)
    report.issues.extend(_duplicates(entries, hashes, by_sha, max_distance))
    return report


def _orphans(root: Path, split: str, files: list[Path]) -> list[Issue]:
    folder = root / "labels" / split
    expected = {label_path_for(f) for f in files}
    found = sorted(folder.rglob("*.txt")) if folder.is_dir() else []
    return [Issue("orphan_label", str(p), "no image for this label") for p in found if p not in expected]


def _duplicates(
    entries: list[tuple[str, Path]], hashes: list[int | None], by_sha: dict[str, list[int]], max_distance: int
) -> list[Issue]:
    issues = []
    exact = {frozenset(idx) for idx in by_sha.values() if len(idx) > 1}
    exact_pairs = {(a, b) for group in exact for a in group for b in group if a < b}
    for a, b in sorted(exact_pairs | set(near_duplicate_pairs(hashes, max_distance))):
        (split_a, path_a), (split_b, path_b) = entries[a], entries[b]
        kind = "exact_duplicate" if (a, b) in exact_pairs else "near_duplicate"
        issues.append(Issue(kind, str(path_b), f"{kind.replace('_', ' ')} of {path_a}"))
        if split_a != split_b:
            issues.append(Issue("split_leak", str(path_b), f"{split_b} image duplicates {split_a} image {path_a}"))
    return issues


def print_report(report: ValidationReport, console: Console | None = None, examples: int = 3) -> None:
    """One row per issue kind with a few example paths; then a verdict line."""
    console = console or Console()
    stats = Table(title=f"Dataset {report.data_yaml}")
    for col in ("split", "images"):
        stats.add_column(col)
    for split, n in report.images.items():
        stats.add_row(split, str(n))
    stats.add_row("boxes", ", ".join(f"{k}: {v}" for k, v in sorted(report.boxes.items())) or "none")
    console.print(stats)
    table = Table(title="Validation issues")
    for col in ("issue", "severity", "count", "examples"):
        table.add_column(col)
    style = {"error": "red", "warning": "yellow", "info": "dim"}
    for kind, count in sorted(report.kinds().items(), key=lambda kv: (SEVERITY[kv[0]], kv[0])):
        sample = [f"{Path(i.path).name}: {i.detail}" for i in report.issues if i.kind == kind][:examples]
        table.add_row(kind, f"[{style[SEVERITY[kind]]}]{SEVERITY[kind]}", str(count), "\n".join(sample))
    console.print(table)
    console.print("[green]OK: no errors" if report.ok else "[red]FAILED: fix the errors above before training")
