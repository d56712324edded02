"""One served ONNX graph from the untouched COCO YOLOv5n and a specialised detector.

Fine-tuning the whole COCO network on a few hundred photos traded what it knew about bags,
bottles and bicycles for two new classes (lost_property 1.1.0 fell well below the untouched
base on its COCO classes on independent photos, issue 20). Composing keeps both: the base
answers for the classes COCO knows, the specialised network only for the classes it was
trained to add. Both branches read the same letterboxed input; each branch's candidate rows
(YOLOv5 layout: xywh, objectness, class scores) are mapped onto the target classes by one
0/1 matrix (a class a branch does not answer for gets score 0, so it never passes the
threshold) and the rows of all branches are concatenated. The service's class-aware NMS
then sees the union, so the base classes come out exactly as the base alone detects them.

The base can also be a served detector folder of the same classes (graffiti, issue 23: the
whole-wall model for "is there graffiti?" beside a tag-level model for "where exactly?"); an
anchor-free YOLOv8-layout branch `(1, 4 + nc, N)` is transposed and given objectness 1, and a
branch's `score_scale` ranks its boxes against the other's. A `score_knee` (raw, served) bends
that scale so the branch's own confident boxes still reach the served confidence: ranking the
tag boxes below the whole-wall ones must not hide them from a user at the default threshold.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from service.inference.card import read_card
from training.datasets.taxonomy import load_taxonomy, normalise
from training.yolov5_import import coco_checkpoint, export_onnx, load_checkpoint

INPUT = "images"
OUTPUT = "output0"


@dataclass
class Branch:
    """A network on a square input, YOLOv5 layout `(1, N, 5 + nc)` or anchor-free YOLOv8 layout
    `(1, 4 + nc, N)` (no objectness), and which of its class columns answer for which target
    class (target id -> branch column)."""

    name: str
    model: onnx.ModelProto
    classes: dict[int, int]
    flip: bool = False  # reads the input mirrored left-right (test-time augmentation)
    min_score: float = 0.0  # class scores (objectness x class) below this become 0
    layout: str = "yolov5"
    score_scale: float = 1.0  # multiplies the branch's class scores: ranks it against the others
    # (raw, served): a raw score `raw` is served as `served`; linear from 0 below it and up to
    # `score_scale` at raw 1 above it (None: `score_scale` times the raw score throughout)
    score_knee: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.score_knee:
            knee_lines(self.score_knee, self.score_scale)  # refuse a bad knee before any work

    def _dim(self, i: int) -> int:
        return self.model.graph.output[0].type.tensor_type.shape.dim[i].dim_value

    @property
    def size(self) -> int:
        return self.model.graph.input[0].type.tensor_type.shape.dim[2].dim_value

    @property
    def columns(self) -> int:
        return self._dim(2 if self.layout == "yolov5" else 1)

    @property
    def rows(self) -> int:
        return self._dim(1 if self.layout == "yolov5" else 2)


def column_map(
    branch_columns: int,
    classes: dict[int, int],
    target_classes: int,
    box_scale: float,
    flip_width: float = 0.0,
    objectness: bool = True,
    score_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """`rows @ matrix + offset`: box columns scaled to the composed input size (the x centre
    mirrored back when `flip_width`), objectness copied (1 for a layout without it), each
    answered class moved to its target column and scaled by `score_scale`, every other class 0."""
    m = np.zeros((branch_columns, 5 + target_classes), dtype=np.float32)
    m[range(4), range(4)] = box_scale
    first_class = 5 if objectness else 4
    for target, column in classes.items():
        m[first_class + column, 5 + target] = score_scale
    offset = np.zeros(5 + target_classes, dtype=np.float32)
    if objectness:
        m[4, 4] = 1.0
    else:
        offset[4] = 1.0
    if flip_width:
        m[0, 0], offset[0] = -box_scale, flip_width
    return m, offset


def score_floor(
    rows: str, out: str, floor: float, target_classes: int, prefix: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes zeroing every class score (objectness x class) below `floor`; box and objectness stay.

    A specialised branch adds its low-confidence guesses on every photo; without a floor they
    would push the base's weakest boxes out of the `max_det` kept per image."""
    consts = {
        "floor": np.array(floor, dtype=np.float32),
        "keep_box": np.array([1.0] * 5 + [0.0] * target_classes, dtype=np.float32),
        "obj_start": np.array([4], dtype=np.int64),
        "obj_end": np.array([5], dtype=np.int64),
        "obj_axis": np.array([2], dtype=np.int64),
    }
    n = {
        k: f"{prefix}{k}"
        for k in ("floor", "keep_box", "obj_start", "obj_end", "obj_axis", "obj", "score", "ok", "okf", "mask")
    }
    nodes = [
        helper.make_node("Slice", [rows, n["obj_start"], n["obj_end"], n["obj_axis"]], [n["obj"]]),
        helper.make_node("Mul", [rows, n["obj"]], [n["score"]]),
        helper.make_node("GreaterOrEqual", [n["score"], n["floor"]], [n["ok"]]),
        helper.make_node("Cast", [n["ok"]], [n["okf"]], to=TensorProto.FLOAT),
        helper.make_node("Max", [n["okf"], n["keep_box"]], [n["mask"]]),
        helper.make_node("Mul", [rows, n["mask"]], [out]),
    ]
    return nodes, [numpy_helper.from_array(v, n[k]) for k, v in consts.items()]


def knee_lines(knee: tuple[float, float], top: float) -> tuple[float, float, float]:
    """Slopes and intercept of the bent score map, `min(raw * low, raw * high + cut)`.

    Its two lines meet at the knee; the map is their minimum, so it must bend downwards (a
    steeper first line), which is what lifting mid scores to the served confidence while capping
    the top at `top` means."""
    raw, served = knee
    if not (0 < raw < 1 and 0 < served <= top):
        raise ValueError(f"score knee {raw}:{served} must have 0 < raw < 1 and 0 < served <= {top} (the scale)")
    low, high = served / raw, (top - served) / (1 - raw)
    if high > low:
        raise ValueError(f"score knee {raw}:{served} with scale {top} bends upwards; lower the scale or raise served")
    return low, high, served - raw * high


def score_knee(
    rows: str, out: str, knee: tuple[float, float], top: float, target_classes: int, prefix: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes applying the bent score map (`knee_lines`) to the class columns; box and objectness stay."""
    low, high, cut = knee_lines(knee, top)
    keep = [1.0] * 5
    consts = {
        "knee_low": np.array(keep + [low] * target_classes, dtype=np.float32),
        "knee_high": np.array(keep + [high] * target_classes, dtype=np.float32),
        "knee_cut": np.array([0.0] * 5 + [cut] * target_classes, dtype=np.float32),
    }
    n = {k: f"{prefix}{k}" for k in (*consts, "knee_a", "knee_b", "knee_c")}
    nodes = [
        helper.make_node("Mul", [rows, n["knee_low"]], [n["knee_a"]]),
        helper.make_node("Mul", [rows, n["knee_high"]], [n["knee_b"]]),
        helper.make_node("Add", [n["knee_b"], n["knee_cut"]], [n["knee_c"]]),
        helper.make_node("Min", [n["knee_a"], n["knee_c"]], [out]),  # 0 stays 0: cut >= 0
    ]
    return nodes, [numpy_helper.from_array(v, n[k]) for k, v in consts.items()]


def compose(branches: list[Branch], target_classes: int, imgsz: int) -> onnx.ModelProto:
    """One graph `images (1, 3, imgsz, imgsz) -> output0 (1, sum N, 5 + target_classes)`.

    A branch built for another input size reads the letterboxed input resized to its own size
    (a square letterbox scales as a whole), and its boxes are scaled back; a mirrored branch's
    boxes are mirrored back; a branch's `min_score` floor is applied to its mapped rows.
    """
    nodes, initializers, outputs = [], [], []
    opset = max(op.version for b in branches for op in b.model.opset_import if op.domain in ("", "ai.onnx"))
    for b in branches:
        prefix = f"{b.name}/"
        sub = onnx.compose.add_prefix(b.model, prefix)
        graph = sub.graph
        branch_in, branch_out = graph.input[0].name, graph.output[0].name
        source = INPUT
        if b.flip:
            consts = [
                numpy_helper.from_array(np.array([v], dtype=np.int64), f"{prefix}flip_{k}")
                for k, v in (("starts", -1), ("ends", -(2**62)), ("axes", 3), ("steps", -1))
            ]
            initializers.extend(consts)
            source = f"{prefix}flipped"
            nodes.append(helper.make_node("Slice", [INPUT, *(c.name for c in consts)], [source], name=f"{prefix}flip"))
        if b.size == imgsz:
            nodes.append(helper.make_node("Identity", [source], [branch_in], name=f"{prefix}input"))
        else:
            sizes = numpy_helper.from_array(np.array([1, 3, b.size, b.size], dtype=np.int64), f"{prefix}sizes")
            initializers.append(sizes)
            nodes.append(
                helper.make_node(
                    "Resize", [source, "", "", sizes.name], [branch_in], name=f"{prefix}resize", mode="linear"
                )
            )
        nodes.extend(graph.node)
        initializers.extend(graph.initializer)
        if b.layout != "yolov5":  # (1, 4 + nc, N) -> (1, N, 4 + nc)
            nodes.append(
                helper.make_node("Transpose", [branch_out], [f"{b.name}:rows"], name=f"{b.name}:rows", perm=[0, 2, 1])
            )
            branch_out = f"{b.name}:rows"  # not under the prefix, which holds the branch's own names
        matrix, offset = column_map(
            b.columns,
            b.classes,
            target_classes,
            imgsz / b.size,
            imgsz if b.flip else 0.0,
            objectness=b.layout == "yolov5",
            score_scale=1.0 if b.score_knee else b.score_scale,
        )
        initializers += [
            numpy_helper.from_array(matrix, f"{prefix}classes"),
            numpy_helper.from_array(offset, f"{prefix}offset"),
        ]
        nodes.append(
            helper.make_node("MatMul", [branch_out, f"{prefix}classes"], [f"{prefix}selected"], name=f"{prefix}classes")
        )
        nodes.append(
            helper.make_node(
                "Add", [f"{prefix}selected", f"{prefix}offset"], [f"{prefix}mapped"], name=f"{prefix}offset"
            )
        )
        outputs.append(f"{prefix}mapped")
        if b.score_knee:
            knee_nodes, knee_consts = score_knee(
                outputs[-1], f"{prefix}bent", b.score_knee, b.score_scale, target_classes, prefix
            )
            nodes += knee_nodes
            initializers += knee_consts
            outputs[-1] = f"{prefix}bent"
        if b.min_score > 0:
            floor_nodes, floor_consts = score_floor(
                outputs[-1], f"{prefix}floored", b.min_score, target_classes, prefix
            )
            nodes += floor_nodes
            initializers += floor_consts
            outputs[-1] = f"{prefix}floored"
    nodes.append(helper.make_node("Concat", outputs, [OUTPUT], name="concat_branches", axis=1))
    rows = sum(b.rows for b in branches)
    graph = helper.make_graph(
        nodes,
        "composed",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, 3, imgsz, imgsz])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [1, rows, 5 + target_classes])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="stadtblick")
    model.ir_version = max(b.model.ir_version for b in branches)
    onnx.checker.check_model(model)
    return model


def coco_branch(
    target_names: list[str],
    size: int,
    shared: Path | None = None,
    flip: bool = False,
    skip: frozenset[str] = frozenset(),
) -> Branch:
    """The untouched COCO YOLOv5n from the shared folder at input `size`, answering for every
    target class COCO knows except those in `skip`."""
    ids = {n: i for i, n in enumerate(load_taxonomy("coco").names)}
    skipped = {normalise(n) for n in skip}
    classes = {
        t: ids[normalise(n)] for t, n in enumerate(target_names) if normalise(n) in ids and normalise(n) not in skipped
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(load_checkpoint(coco_checkpoint(shared)), Path(tmp) / "coco.onnx", size)
        model = onnx.load(str(path))
    return Branch(f"coco{size}" + ("flip" if flip else ""), model, classes, flip)


def folder_branch(
    folder: Path,
    target_names: list[str],
    answers: set[str] | None,
    min_score: float = 0.0,
    name: str = "specialist",
    score_scale: float = 1.0,
    score_knee: tuple[float, float] | None = None,
) -> Branch:
    """A served detector folder (its fp32 file) answering for `answers` only (None: all its
    classes), with scores mapped by `score_scale` (and `score_knee`) and those below `min_score`
    dropped."""
    card = read_card(folder)
    answers = set(card.class_names) if answers is None else answers
    if card.output_layout not in ("yolov5", "yolov8"):
        raise ValueError(f"{folder} has output layout {card.output_layout!r}; composing needs 'yolov5' or 'yolov8'")
    own = {normalise(n): i for i, n in enumerate(card.class_names)}
    missing = {normalise(a) for a in answers} - own.keys()
    if missing:
        raise ValueError(f"{folder} has no classes {sorted(missing)}")
    wanted = [normalise(n) for n in target_names]
    classes = {t: own[n] for t, n in enumerate(wanted) if n in {normalise(a) for a in answers}}
    model = onnx.load(str(folder / card.files["fp32"].path))
    return Branch(
        name,
        model,
        classes,
        min_score=min_score,
        layout=card.output_layout,
        score_scale=score_scale,
        score_knee=score_knee,
    )
