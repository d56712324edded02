"""Importers, taxonomy remapping, merging, grouped split and the written YOLO layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import training_synth as synth
import yaml

from training.datasets.build import UnmappedLabels, build_dataset
from training.datasets.hashing import duplicate_groups
from training.datasets.importers import read_source
from training.datasets.layout import Box, LabelledImage, load_yolo_dataset
from training.datasets.split import grouped_stratified_split
from training.datasets.taxonomy import Taxonomy, load_taxonomy, remap

TAXONOMY = Taxonomy.model_validate(yaml.safe_load(synth.SHAPES_TAXONOMY))


def _boxes(images: list[LabelledImage]) -> list[tuple]:
    return sorted(
        (im.path.name, b.label, round(b.x1), round(b.y1), round(b.x2), round(b.y2)) for im in images for b in im.boxes
    )


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo", "labelme"])
def test_each_format_reads_the_drawn_boxes(tmp_path: Path, fmt: str) -> None:
    writer = {
        "coco": synth.write_coco,
        "voc": synth.write_voc,
        "yolo": synth.write_yolo,
        "labelme": synth.write_labelme,
    }[fmt]
    source = writer(tmp_path / fmt, 5, seed=7)
    images = read_source(f"{fmt}:{source}")
    drawn = synth.make_images(tmp_path / "reference", 5, seed=7)
    expected = sorted((p.name, *b[:1], *(round(v) for v in b[1:])) for p, boxes in drawn for b in boxes)
    assert len(images) == 5
    assert _boxes(images) == expected


def test_bad_source_spec_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="FORMAT:PATH"):
        read_source(str(tmp_path))
    with pytest.raises(FileNotFoundError):
        read_source(f"coco:{tmp_path / 'missing.json'}")


def test_remap_uses_names_labels_and_aliases() -> None:
    image = LabelledImage(Path("x.jpg"), 10, 10, [Box(lb, 0, 0, 5, 5) for lb in ("Kreis", "BOX", "square", "cat")])
    result = remap([image], TAXONOMY)
    assert [b.label for b in result.images[0].boxes] == ["circle", "square", "square"]
    assert result.dropped == {"cat": 1}


def test_all_detector_taxonomies_load() -> None:
    for detector, count in (("road_damage", 2), ("graffiti", 1), ("lost_property", 12), ("anonymize", 2), ("coco", 80)):
        tax = load_taxonomy(detector)
        assert len(tax.names) == count and all(c.label_de and c.label_en for c in tax.classes)
    assert load_taxonomy("road_damage").lookup()["schlagloch"] == "pothole"
    assert load_taxonomy("anonymize").lookup()["kennzeichen"] == "licence_plate"


def test_split_keeps_duplicate_groups_together_and_stratifies(tmp_path: Path) -> None:
    drawn = synth.make_images(tmp_path / "img", 40, seed=3)
    images = [LabelledImage(p, 64, 48, [Box(lb, *xy) for lb, *xy in boxes]) for p, boxes in drawn]
    for i in range(5):  # five exact copies of image i
        copy = tmp_path / "img" / f"copy{i}.jpg"
        shutil.copy(drawn[i][0], copy)
        images.append(LabelledImage(copy, 64, 48, images[i].boxes))
    groups = duplicate_groups([im.path for im in images])
    splits = grouped_stratified_split(images, groups, 0.25, seed=1)
    for i in range(5):
        assert splits[40 + i] == splits[i]
    for label in ("square", "circle"):
        val = sum(1 for im, s in zip(images, splits, strict=True) if s == "val" for b in im.boxes if b.label == label)
        total = sum(1 for im in images for b in im.boxes if b.label == label)
        assert 0.1 < val / total < 0.4


def test_build_writes_merged_yolo_layout(shapes_env) -> None:
    out = shapes_env["root"] / "built"
    specs = [f"coco:{shapes_env['coco']}", f"voc:{shapes_env['voc']}"]
    result = build_dataset(specs, TAXONOMY, out, val_fraction=0.25, licence="CC0")
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert "path" not in data and data["names"] == {0: "square", 1: "circle"}
    ds = load_yolo_dataset(out / "data.yaml")
    assert len(ds.splits["train"]) + len(ds.splits["val"]) == 60
    assert (out / "labels" / "train").is_dir() and (out / "images" / "val").is_dir()
    assert result.provenance["licence"] == "CC0" and len(result.provenance["sources"]) == 2
    assert result.provenance["remapped"]["Kreis -> circle"] > 0


def test_strict_import_refuses_unknown_labels(shapes_env, tmp_path: Path) -> None:
    voc = synth.write_voc(tmp_path / "voc", 4, seed=5, label_map={"circle": "ellipse"})
    with pytest.raises(UnmappedLabels, match="ellipse"):
        build_dataset([f"voc:{voc}"], TAXONOMY, tmp_path / "out", strict=True)


def test_rare_class_reaches_val() -> None:
    """87 cracks among 1,853 potholes (the shared road_damage ratio) must not all land in train."""
    images = [LabelledImage(Path(f"{i}.jpg"), 10, 10, [Box("pothole", 0, 0, 5, 5)] * 3) for i in range(200)]
    images += [
        LabelledImage(Path(f"c{i}.jpg"), 10, 10, [Box("crack", 0, 0, 5, 5), Box("pothole", 0, 0, 5, 5)])
        for i in range(10)
    ]
    splits = grouped_stratified_split(images, list(range(len(images))), 0.2)
    assert splits[200:].count("val") == 2
    assert 38 <= splits.count("val") <= 46
