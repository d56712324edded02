"""decode_image: formats, orientation, pixel modes, the JPEG draft path.

All fixtures are generated here with Pillow / pillow-heif / OpenCV; nothing is downloaded.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import ExifTags, Image, ImageOps

from service.imaging import DecodedImage, ImageMetadata, decode_image

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
LOSSLESS = ("PNG", "TIFF", "BMP", "GIF")


def quadrants(width: int = 40, height: int = 20) -> Image.Image:
    """Top-left red, top-right green, bottom-left blue, bottom-right yellow."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(GREEN, (width // 2, 0, width, height // 2))
    image.paste(BLUE, (0, height // 2, width // 2, height))
    image.paste(YELLOW, (width // 2, height // 2, width, height))
    return image


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        params = {"quality": 95, "subsampling": 0, **params}
    elif fmt in ("WEBP", "HEIF"):
        params = {"quality": 95, **params}
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def corner_colours(pixels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Colours sampled in the middle of each quadrant: TL, TR, BL, BR."""
    h, w = pixels.shape[:2]
    ys, xs = (h // 4, 3 * h // 4), (w // 4, 3 * w // 4)
    return tuple(pixels[y, x].astype(int) for y in ys for x in xs)


def assert_colours(pixels: np.ndarray, expected: tuple[tuple[int, int, int], ...], tol: int) -> None:
    for got, want in zip(corner_colours(pixels), expected, strict=True):
        assert np.abs(got - np.array(want)).max() <= tol, (got, want)


def orientation_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return exif


# --- formats -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "HEIF", "BMP", "GIF"])
def test_decodes_each_format_to_size_and_colours(fmt: str) -> None:
    decoded = decode_image(encode(quadrants(64, 32), fmt))

    assert isinstance(decoded, DecodedImage)
    assert decoded.format == fmt
    assert (decoded.width, decoded.height) == (64, 32)
    assert decoded.pixels.shape == (32, 64, 3)
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.flags.c_contiguous
    assert decoded.scale == 1.0
    assert decoded.metadata == ImageMetadata()
    assert_colours(decoded.pixels, (RED, GREEN, BLUE, YELLOW), tol=0 if fmt in LOSSLESS else 40)


def test_pixels_are_read_only() -> None:
    decoded = decode_image(encode(quadrants(), "PNG"))
    with pytest.raises(ValueError):
        decoded.pixels[0, 0] = 0
    decoded.pixels.copy()[0, 0] = 0  # copying is the documented way to draw on it


def test_mpo_phone_jpeg_reports_jpeg() -> None:
    buffer = io.BytesIO()
    quadrants().save(buffer, "MPO", save_all=True, append_images=[quadrants()])
    decoded = decode_image(buffer.getvalue())
    assert decoded.format == "JPEG"
    assert decoded.pixels.shape == (20, 40, 3)


def test_gif_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, BLUE)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    assert tuple(decode_image(buffer.getvalue()).pixels[4, 4]) == RED


def test_twelve_megapixel_photo_passes_default_limits() -> None:
    decoded = decode_image(encode(Image.new("RGB", (4000, 3000), (10, 200, 30)), "JPEG", quality=80))
    assert decoded.pixels.shape == (3000, 4000, 3)
    assert np.abs(decoded.pixels[1500, 2000].astype(int) - (10, 200, 30)).max() <= 3


# --- EXIF orientation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        # 6: stored rotated 90° counter-clockwise, shown rotated 90° clockwise.
        (6, (BLUE, RED, YELLOW, GREEN)),
        # 8: the opposite.
        (8, (GREEN, YELLOW, RED, BLUE)),
    ],
)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_6_and_8(fmt: str, orientation: int, expected: tuple) -> None:
    decoded = decode_image(encode(quadrants(40, 20), fmt, exif=orientation_exif(orientation)))

    assert (decoded.width, decoded.height) == (20, 40)
    assert decoded.pixels.shape == (40, 20, 3)
    assert_colours(decoded.pixels, expected, tol=0 if fmt == "PNG" else 40)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_orientations_match_pillow_exif_transpose(orientation: int) -> None:
    data = encode(quadrants(40, 20), "PNG", exif=orientation_exif(orientation))
    reference = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))

    decoded = decode_image(data)

    np.testing.assert_array_equal(decoded.pixels, reference)
    assert decoded.size == (reference.shape[1], reference.shape[0])


def test_tiff_orientation_is_applied_once() -> None:
    # Pillow turns TIFFs upright itself while loading; we must not rotate a second time.
    data = encode(quadrants(40, 20), "TIFF", exif=orientation_exif(6).tobytes())
    decoded = decode_image(data)
    assert decoded.size == (20, 40)
    assert_colours(decoded.pixels, (BLUE, RED, YELLOW, GREEN), tol=0)


def test_heic_orientation_is_applied_once() -> None:
    # pillow-heif stores the rotation as HEIF `irot` (applied by libheif) and resets EXIF to 1.
    data = encode(quadrants(40, 20), "HEIF", exif=orientation_exif(6).tobytes())
    decoded = decode_image(data)
    assert decoded.format == "HEIF"
    assert decoded.size == (20, 40)
    assert_colours(decoded.pixels, (BLUE, RED, YELLOW, GREEN), tol=40)


def test_garbage_orientation_value_is_ignored() -> None:
    decoded = decode_image(encode(quadrants(40, 20), "JPEG", exif=orientation_exif(42)))
    assert decoded.size == (40, 20)


# --- pixel modes ---------------------------------------------------------------------


def test_grayscale_l() -> None:
    decoded = decode_image(encode(Image.new("L", (6, 4), 77), "PNG"))
    assert decoded.pixels.shape == (4, 6, 3)
    assert (decoded.pixels == 77).all()


def test_grayscale_jpeg_and_bilevel() -> None:
    assert np.abs(decode_image(encode(Image.new("L", (16, 16), 200), "JPEG")).pixels.astype(int) - 200).max() <= 2
    bilevel = Image.new("1", (8, 8), 0)
    bilevel.paste(1, (0, 0, 4, 8))
    pixels = decode_image(encode(bilevel, "PNG")).pixels
    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[0, 7]) == (0, 0, 0)


def test_grayscale_with_alpha_la_composited_on_white() -> None:
    image = Image.new("LA", (4, 4), (0, 0))  # black, fully transparent
    image.putpixel((0, 0), (0, 255))  # black, opaque
    pixels = decode_image(encode(image, "PNG")).pixels
    assert tuple(pixels[0, 0]) == (0, 0, 0)
    assert tuple(pixels[3, 3]) == (255, 255, 255)


def test_rgba_composited_on_white() -> None:
    image = Image.new("RGBA", (3, 1))
    image.putdata([(255, 0, 0, 255), (255, 0, 0, 0), (0, 0, 255, 128)])
    pixels = decode_image(encode(image, "PNG")).pixels
    assert tuple(pixels[0, 0]) == RED
    assert tuple(pixels[0, 1]) == (255, 255, 255)
    assert np.abs(pixels[0, 2].astype(int) - (127, 127, 255)).max() <= 1


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency(fmt: str) -> None:
    image = Image.new("P", (4, 2), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # 0: red, 1: blue
    image.paste(1, (2, 0, 4, 2))
    image.info["transparency"] = 1  # blue is transparent
    data = encode(image, fmt, transparency=1)
    assert Image.open(io.BytesIO(data)).mode == "P"

    pixels = decode_image(data).pixels
    assert tuple(pixels[0, 0]) == RED
    assert tuple(pixels[0, 3]) == (255, 255, 255)


def test_rgb_png_with_transparent_colour() -> None:
    image = Image.new("RGB", (2, 1), RED)
    image.putpixel((1, 0), BLUE)
    data = encode(image, "PNG", transparency=BLUE)  # tRNS chunk on a truecolour PNG
    pixels = decode_image(data).pixels
    assert tuple(pixels[0, 0]) == RED
    assert tuple(pixels[0, 1]) == (255, 255, 255)


def test_cmyk_jpeg_adobe_inverted() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red
    cmyk.paste((0, 0, 0, 255), (8, 0, 16, 16))  # black
    data = encode(cmyk, "JPEG")
    assert b"Adobe" in data[:200]  # libjpeg writes the APP14 marker; Adobe CMYK is stored inverted
    assert Image.open(io.BytesIO(data)).mode == "CMYK"

    decoded = decode_image(data)
    assert decoded.format == "JPEG"
    assert np.abs(decoded.pixels[8, 2].astype(int) - RED).max() <= 8
    assert decoded.pixels[8, 13].max() <= 8


def test_cmyk_tiff() -> None:
    cmyk = Image.new("CMYK", (2, 1), (0, 255, 255, 0))
    cmyk.putpixel((1, 0), (255, 0, 255, 0))  # green
    pixels = decode_image(encode(cmyk, "TIFF")).pixels
    assert tuple(pixels[0, 0]) == RED
    assert tuple(pixels[0, 1]) == GREEN


def _sixteen_bit_gray() -> np.ndarray:
    return np.array([[0, 257, 32768, 65535]], dtype=np.uint16)


def test_16_bit_grayscale_png_scaled_not_clipped() -> None:
    data = encode(Image.fromarray(_sixteen_bit_gray()), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")

    pixels = decode_image(data).pixels
    assert pixels[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()


def test_16_bit_grayscale_big_endian_tiff() -> None:
    big_endian = Image.frombytes("I;16B", (4, 1), _sixteen_bit_gray().astype(">u2").tobytes())
    data = encode(big_endian, "TIFF")
    assert Image.open(io.BytesIO(data)).mode == "I;16B"
    assert decode_image(data).pixels[0, :, 0].tolist() == [0, 1, 128, 255]


def test_32_bit_int_mode_i_treated_as_16_bit() -> None:
    data = encode(Image.fromarray(np.array([[0, 32768, 65535, 70000, -5]], dtype=np.int32)), "TIFF")
    assert Image.open(io.BytesIO(data)).mode == "I"
    assert decode_image(data).pixels[0, :, 0].tolist() == [0, 128, 255, 255, 0]


def test_float_mode_f() -> None:
    data = encode(Image.fromarray(np.array([[0.0, 0.5, 1.0, np.nan]], dtype=np.float32)), "TIFF")
    assert Image.open(io.BytesIO(data)).mode == "F"
    assert decode_image(data).pixels[0, :, 0].tolist() == [0, 128, 255, 0]


def test_16_bit_rgb_png() -> None:
    bgr = np.zeros((2, 2, 3), dtype=np.uint16)
    bgr[..., 2] = 65535  # OpenCV is BGR: this is red
    bgr[1, 1] = (0, 32768, 0)
    ok, encoded = cv2.imencode(".png", bgr)
    assert ok
    pixels = decode_image(encoded.tobytes()).pixels
    assert tuple(pixels[0, 0]) == RED
    assert tuple(pixels[1, 1]) == (0, 128, 0)


# --- JPEG draft (reduced-size decode) -------------------------------------------------


@pytest.mark.parametrize(
    ("target", "scale"),
    [
        (100, 0.125),
        (150, 0.25),  # 1/8 would give a long side of 100 < 150
        (200, 0.25),
        (300, 0.5),
        (500, 1.0),  # not at least 2x larger: full decode
    ],
)
def test_jpeg_draft_reports_original_size_and_scale(target: int, scale: float) -> None:
    # 800x400 stored, orientation 6: upright it is 400 wide and 800 high.
    data = encode(quadrants(800, 400), "JPEG", exif=orientation_exif(6))
    decoded = decode_image(data, target_long_side=target)

    assert decoded.scale == scale
    assert (decoded.width, decoded.height) == (400, 800)
    assert decoded.pixels.shape == (round(800 * scale), round(400 * scale), 3)
    assert max(decoded.pixels.shape[:2]) >= target
    assert_colours(decoded.pixels, (BLUE, RED, YELLOW, GREEN), tol=40)


def test_jpeg_draft_maps_boxes_back() -> None:
    image = Image.new("RGB", (1600, 1200), (255, 255, 255))
    image.paste((0, 0, 0), (800, 400, 1200, 800))  # a black box in original pixels
    decoded = decode_image(encode(image, "JPEG"), target_long_side=400)
    assert decoded.scale == 0.25
    dark = np.argwhere(decoded.pixels[..., 0] < 128)
    (y0, x0), (y1, x1) = dark.min(axis=0), dark.max(axis=0) + 1
    assert (x0 / decoded.scale, y0 / decoded.scale, x1 / decoded.scale, y1 / decoded.scale) == pytest.approx(
        (800, 400, 1200, 800), abs=4
    )


def test_jpeg_draft_odd_size_rounds_up() -> None:
    decoded = decode_image(encode(quadrants(801, 401), "JPEG"), target_long_side=200)
    assert decoded.scale == 0.25
    assert decoded.pixels.shape == (101, 201, 3)  # ceil(401 / 4), ceil(801 / 4)
    assert decoded.size == (801, 401)


def test_draft_only_for_jpeg() -> None:
    decoded = decode_image(encode(quadrants(800, 400), "PNG"), target_long_side=100)
    assert decoded.scale == 1.0
    assert decoded.pixels.shape == (400, 800, 3)


def test_48_megapixel_jpeg_with_draft() -> None:
    data = encode(Image.new("L", (8000, 6000), 128), "JPEG", quality=50)
    decoded = decode_image(data, target_long_side=1000)
    assert decoded.size == (8000, 6000)
    assert decoded.scale == 0.125
    assert decoded.pixels.shape == (750, 1000, 3)


def test_target_long_side_must_be_positive() -> None:
    with pytest.raises(ValueError):
        decode_image(encode(quadrants(), "JPEG"), target_long_side=0)


def test_decoded_image_validates_pixels() -> None:
    with pytest.raises(ValueError):
        DecodedImage(pixels=np.zeros((4, 4), np.uint8), format="PNG", metadata=ImageMetadata())
    manual = DecodedImage(pixels=np.zeros((4, 6, 3), np.uint8), format="PNG", metadata=ImageMetadata())
    assert manual.size == (6, 4) and manual.scale == 1.0
