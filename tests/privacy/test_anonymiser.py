"""The anonymiser on its own: what it finds, that it destroys the detail there, and only there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_INPUT, square_detector_onnx, write_detector
from privacy_helpers import FACE_AT, PLATE_AT, SQUARE, loaded, scene, square, stripes

from service.inference import Detections, DetectParams
from service.privacy import AnonymiseConfig, Anonymiser, AnonymiserUnavailable, PrivacyGuard, Region
from service.privacy.anonymiser import Source, obscure, widen
from service.privacy.sources import build_anonymiser, detector_source


def test_faces_and_plates_lose_their_detail_and_nothing_else_changes(anonymiser: Anonymiser) -> None:
    rgb = scene()
    result = anonymiser.anonymise(rgb)
    assert {(r.source, r.class_name) for r in result.regions} == {("anonymize", "face"), ("anonymize", "licence_plate")}
    assert stripes(rgb, FACE_AT) > 20 and stripes(rgb, PLATE_AT) > 20
    assert stripes(result.pixels, FACE_AT) < 2 and stripes(result.pixels, PLATE_AT) < 2
    mask = anonymiser.mask(rgb.shape, result.regions)
    for at in (FACE_AT, PLATE_AT):
        assert mask[square(at)].all()  # the whole labelled square, not just most of it
    assert np.array_equal(result.pixels[~mask], rgb[~mask])  # pixel for pixel: the rest is untouched
    assert not np.array_equal(result.pixels[mask], rgb[mask])
    assert mask.mean() < 0.5  # the squares, their margin and the near misses of a low threshold: not the frame
    assert rgb.flags.writeable is True and stripes(rgb, FACE_AT) > 20  # the input is not modified


def test_boxes_get_a_safety_margin_inside_the_image() -> None:
    box = np.array([100.0, 50.0, 200.0, 90.0])
    assert widen(box, 0.15, 1000, 1000) == (85, 44, 215, 96)
    assert widen(np.array([2.0, 2.0, 40.0, 40.0]), 0.15, 38, 1000) == (0, 0, 38, 46)
    assert widen(box, 0.0, 1000, 1000) == (100, 50, 200, 90)


def test_pixelate_leaves_coarse_blocks() -> None:
    rgb = scene()
    region = Region("test", "face", 0.9, (FACE_AT[0], FACE_AT[1], FACE_AT[0] + SQUARE, FACE_AT[1] + SQUARE))
    out = obscure(rgb, [region], AnonymiseConfig(mode="pixelate"))
    patch = out[square(FACE_AT)]
    assert stripes(out, FACE_AT) < 5
    assert len(np.unique(patch.reshape(-1, 3), axis=0)) <= 64  # at most 8 x 8 blocks


def test_faces_can_be_obscured_as_ellipses() -> None:
    rgb = scene()
    region = Region("test", "face", 0.9, (FACE_AT[0], FACE_AT[1], FACE_AT[0] + SQUARE, FACE_AT[1] + SQUARE))
    config = AnonymiseConfig(ellipse_faces=True)
    out = obscure(rgb, [region], config)
    mask = Anonymiser([Source("t", None, frozenset({"face"}))], config).mask(rgb.shape, [region])
    y, x = FACE_AT[1], FACE_AT[0]
    assert not mask[y, x] and mask[y + SQUARE // 2, x + SQUARE // 2]  # corner kept, centre obscured
    assert np.array_equal(out[~mask], rgb[~mask])
    assert 0.7 < mask[square(FACE_AT)].mean() < 0.85  # π/4 of the box


class RecordingDetector:
    """Remembers the parameters it was called with; finds nothing."""

    def __init__(self) -> None:
        self.calls: list[DetectParams] = []

    def detect(self, image_rgb: np.ndarray, params: DetectParams | None = None) -> Detections:
        assert params is not None
        self.calls.append(params)
        return Detections()


def test_large_frames_are_searched_tile_by_tile_at_the_low_threshold() -> None:
    detector = RecordingDetector()
    anonymiser = Anonymiser([Source("rec", detector, frozenset({"face"}))], AnonymiseConfig(conf=0.1))
    anonymiser.find(np.zeros((1080, 1920, 3), np.uint8))
    anonymiser.find(np.zeros((240, 320, 3), np.uint8))
    assert [(p.conf, p.tiling) for p in detector.calls] == [(0.1, True), (0.1, False)]


def test_whole_persons_only_when_asked(tmp_path: Path, privacy_weights: Path) -> None:
    write_detector(tmp_path, square_detector_onnx(tmp_path / "coco.onnx", ["face"]), "coco", ["face"], TINY_INPUT)
    detectors = loaded(privacy_weights) | loaded(tmp_path)
    assert [s.name for s in build_anonymiser(detectors, None, AnonymiseConfig()).sources] == ["anonymize"]
    # a 'coco' detector without a person class adds nothing, even when asked
    with_persons = build_anonymiser(detectors, None, AnonymiseConfig(), persons=True)
    assert [s.name for s in with_persons.sources] == ["anonymize"]
    person = detector_source(detectors["coco"], ["person", "face"])
    assert person.obscured == frozenset({"face"})  # only classes the detector has


def test_the_guard_refuses_without_a_complete_anonymiser(anonymiser: Anonymiser) -> None:
    with pytest.raises(AnonymiserUnavailable, match="no anonymisation model"):
        PrivacyGuard().for_storage()
    faces_only = anonymiser.only(["anonymize"])
    faces_only.sources[0] = Source("anonymize", None, frozenset({"face"}))
    with pytest.raises(AnonymiserUnavailable, match="licence_plate"):
        PrivacyGuard(anonymiser=faces_only).usable()
    assert PrivacyGuard(anonymiser=anonymiser).for_storage() is anonymiser
    assert PrivacyGuard(required=False).for_storage() is None  # explicitly allowed: stored as is
    assert PrivacyGuard(required=False, anonymiser=faces_only).for_storage() is faces_only
