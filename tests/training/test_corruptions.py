"""The benchmark's corruptions move the labelled boxes with the objects, and draw the same pixels every run."""

from __future__ import annotations

import numpy as np
import pytest

from training.corruptions import CORRUPTIONS, corrupt, seeded

GEOMETRIC = ("rotate", "stretch", "downscale")


def bright_rectangle() -> tuple[np.ndarray, np.ndarray]:
    """A white 'plate' on black, boxed exactly."""
    img = np.zeros((240, 320, 3), np.uint8)
    img[100:140, 120:220] = 255
    return img, np.array([[120.0, 100.0, 220.0, 140.0]])


def bright_extent(img: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(img.max(axis=2) > 128)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


@pytest.mark.parametrize("name", GEOMETRIC)
@pytest.mark.parametrize("seed", range(4))
def test_the_box_follows_the_object(name: str, seed: int) -> None:
    img, boxes = bright_rectangle()
    out, moved = corrupt(name, img, boxes, seeded(name, "plate", seed))
    extent = bright_extent(out)
    assert moved.shape == (1, 4)
    assert np.allclose(moved[0], extent, atol=2.5), (moved[0], extent)


def test_downscale_makes_the_largest_box_8_to_32_px_in_a_frame_as_large_as_before() -> None:
    img, boxes = bright_rectangle()
    for seed in range(10):
        out, moved = corrupt("downscale", img, boxes, seeded("downscale", "plate", seed))
        x1, y1, x2, y2 = moved[0]
        assert out.shape == img.shape and 8 <= min(x2 - x1, y2 - y1) <= 32


@pytest.mark.parametrize("name", sorted(set(CORRUPTIONS) - set(GEOMETRIC)))
def test_photometric_corruptions_change_pixels_not_boxes(name: str) -> None:
    img, boxes = bright_rectangle()
    img[:, :160] = np.random.default_rng(0).integers(60, 120, (240, 160, 3))  # texture: what blur and JPEG smooth
    out, moved = corrupt(name, img, boxes, seeded(name, "plate"))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(moved, boxes)
    assert np.abs(out.astype(int) - img).mean() > 1.0


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_the_same_seed_gives_the_same_pixels(name: str) -> None:
    img, boxes = bright_rectangle()
    first = corrupt(name, img, boxes, seeded(name, "a.jpg", 3))
    again = corrupt(name, img, boxes, seeded(name, "a.jpg", 3))
    other = corrupt(name, img, boxes, seeded(name, "b.jpg", 3))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not (np.array_equal(first[0], other[0]) and np.array_equal(first[1], other[1]))


def test_an_unknown_corruption_is_refused() -> None:
    img, boxes = bright_rectangle()
    with pytest.raises(ValueError, match="unknown corruption 'fog'"):
        corrupt("fog", img, boxes, seeded("fog", "a"))
