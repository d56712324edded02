"""decode_image failure modes: empty, not an image, corrupt/truncated, too large, bombs."""

from __future__ import annotations

import io
import random
import struct
import time
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
from PIL import ExifTags, Image

from service.imaging import (
    CorruptImage,
    DecodedImage,
    EmptyImage,
    ImageError,
    ImageLimits,
    ImageTooLarge,
    UnsupportedImage,
    decode_image,
    sniff_format,
)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def noisy(width: int = 64, height: int = 48) -> Image.Image:
    """Incompressible content, so a truncated file really misses pixel data."""
    return Image.effect_noise((width, height), 60).convert("RGB")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bytes(width: int, height: int, rows: int | None = None) -> bytes:
    """A 1-bit greyscale PNG of zeros, built by hand so a huge one stays tiny and cheap.

    ``rows``: only that many rows of pixel data (a header-only "bomb"); None: all rows,
    compressed in a streaming way so the raw data never exists in memory.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    parts = []
    block = row * 256
    remaining = height if rows is None else rows
    while remaining > 0:
        count = min(remaining, 256)
        parts.append(compressor.compress(block if count == 256 else row * count))
        remaining -= count
    parts.append(compressor.flush())
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def _gps_exif() -> bytes:
    """Some EXIF with nested IFDs, so that mangling also hits the metadata parser."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (52.0, 31.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "E", (13.0, 24.0, 36.0)
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:17 10:30:15"
    return exif.tobytes()


def pillow_images_created() -> int:
    """How many image buffers Pillow's C core has allocated so far in this process."""
    return Image.core.get_stats()["new_count"]


# --- the error classes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (EmptyImage, 400, "empty_image"),
        (UnsupportedImage, 415, "unsupported_image_format"),
        (CorruptImage, 400, "corrupt_image"),
        (ImageTooLarge, 413, "image_too_large"),
    ],
)
def test_error_classes(error: type[ImageError], status: int, code: str) -> None:
    exc = error()
    assert isinstance(exc, ImageError)
    assert (exc.status, exc.code) == (status, code)
    assert exc.message and str(exc) == exc.message
    assert exc.to_dict() == {"code": code, "status": status, "message": exc.message}
    assert error("custom").message == "custom"


# --- empty and not-an-image ----------------------------------------------------------


def test_zero_bytes() -> None:
    with pytest.raises(EmptyImage) as info:
        decode_image(b"")
    assert info.value.status == 400


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is a plain text file\n",
        b'{"not": "an image"}',
        b"<!doctype html><html></html>",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        bytes(random.Random(1).randrange(256) for _ in range(4096)),
        b"BM but not a bitmap",
        b"\x00",
    ],
    ids=["text", "json", "html", "pdf", "random", "BM-text", "one-byte"],
)
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(UnsupportedImage) as info:
        decode_image(data)
    assert (info.value.status, info.value.code) == (415, "unsupported_image_format")


def test_pillow_readable_but_not_accepted_format() -> None:
    ico = encode(Image.new("RGB", (16, 16), "red"), "ICO")
    assert Image.open(io.BytesIO(ico)).format == "ICO"
    with pytest.raises(UnsupportedImage):
        decode_image(ico)


def test_sniff_format() -> None:
    assert sniff_format(encode(noisy(), "JPEG")) == "JPEG"
    assert sniff_format(encode(noisy(), "PNG")) == "PNG"
    assert sniff_format(encode(noisy(), "WEBP")) == "WEBP"
    assert sniff_format(encode(noisy(), "TIFF")) == "TIFF"
    assert sniff_format(encode(noisy(), "HEIF")) == "HEIF"
    assert sniff_format(encode(noisy(), "BMP")) == "BMP"
    assert sniff_format(encode(noisy(), "GIF")) == "GIF"
    assert sniff_format(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1") == "AVIF"
    assert sniff_format(b"%PDF-1.4") == "PDF"
    assert sniff_format(b"plain text") is None


# --- corrupt / truncated -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "HEIF", "GIF", "BMP"])
def test_truncated_file_is_corrupt(fmt: str) -> None:
    data = encode(noisy(), fmt)
    with pytest.raises(CorruptImage) as info:
        decode_image(data[: len(data) // 2])
    assert (info.value.status, info.value.code) == (400, "corrupt_image")


def test_truncated_jpeg_is_not_silently_loaded() -> None:
    data = encode(noisy(), "JPEG", quality=90)
    for cut in (len(data) - 100, len(data) * 3 // 4):  # missing scans
        with pytest.raises(CorruptImage):
            decode_image(data[:cut])


def test_jpeg_without_end_marker_is_refused_or_whole() -> None:
    """With only the EOI marker cut, libjpeg may already hold every scan (it depends on the random
    content): then the photo is complete and may load, but never as other pixels than the whole file."""
    data = encode(noisy(), "JPEG", quality=90)
    whole = decode_image(data).pixels
    try:
        pixels = decode_image(data[:-2]).pixels
    except CorruptImage:
        return
    assert np.array_equal(pixels, whole)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "HEIF", "GIF"])
def test_header_fragment_is_corrupt(fmt: str) -> None:
    with pytest.raises(CorruptImage):
        decode_image(encode(noisy(), fmt)[:24])


@pytest.mark.parametrize("warning_action", ["ignore", "error"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "HEIF", "GIF", "BMP"])
def test_mangled_files_raise_only_image_errors(fmt: str, warning_action: str) -> None:
    """Flipped bytes and random cuts: either a decoded image or an ImageError, never a Pillow error.

    Also with warnings turned into errors (``-W error``): Pillow warns about broken TIFF/EXIF.
    """
    data = encode(noisy(32, 24), fmt, exif=_gps_exif())
    rng = random.Random(fmt)
    for _ in range(25):
        mangled = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mangled[rng.randrange(len(mangled))] = rng.randrange(256)
        if rng.random() < 0.5:
            del mangled[rng.randrange(1, len(mangled)) :]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter(warning_action)
                result = decode_image(bytes(mangled))
        except ImageError:
            continue
        assert isinstance(result, DecodedImage)
        assert result.pixels.ndim == 3 and result.pixels.shape[2] == 3


# --- size limits ---------------------------------------------------------------------


def test_byte_limit() -> None:
    data = encode(noisy(), "PNG")
    with pytest.raises(ImageTooLarge) as info:
        decode_image(data, ImageLimits(max_bytes=len(data) - 1))
    assert (info.value.status, info.value.code) == (413, "image_too_large")
    assert decode_image(data, ImageLimits(max_bytes=len(data))).size == (64, 48)


def test_pixel_limit_is_inclusive() -> None:
    data = encode(noisy(40, 20), "PNG")
    with pytest.raises(ImageTooLarge):
        decode_image(data, ImageLimits(max_pixels=799))
    assert decode_image(data, ImageLimits(max_pixels=800)).size == (40, 20)


def test_limits_validate() -> None:
    with pytest.raises(ValueError):
        ImageLimits(max_bytes=0)
    with pytest.raises(ValueError):
        ImageLimits(max_pixels=-1)


@pytest.fixture(scope="module")
def bomb_30000() -> bytes:
    """A complete, valid 30000 x 30000 1-bit PNG (900 MP) that is a few hundred KiB."""
    return png_bytes(30000, 30000)


def test_30000_square_png_refused_fast_and_without_allocating(bomb_30000: bytes) -> None:
    assert len(bomb_30000) < 512 * 1024
    images_before = pillow_images_created()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ImageTooLarge) as info:
            decode_image(bomb_30000)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.status == 413
    assert elapsed < 0.5
    assert peak < 5 * 1024 * 1024  # Python-side; the pixel buffer would be 900 MB
    assert pillow_images_created() == images_before  # no pixel buffer allocated in Pillow's core


def test_30000_square_png_refused_by_our_limit_without_pillows_guard(
    bomb_30000: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # our own header check must suffice
    images_before = pillow_images_created()
    with pytest.raises(ImageTooLarge, match="30000x30000"):
        decode_image(bomb_30000)
    assert pillow_images_created() == images_before


def test_header_only_bomb_is_too_large_not_corrupt() -> None:
    header_only = png_bytes(30000, 30000, rows=2)
    assert len(header_only) < 1024
    with pytest.raises(ImageTooLarge):
        decode_image(header_only)


def test_just_over_our_limit_below_pillows_warning() -> None:
    with pytest.raises(ImageTooLarge, match="9000x9000"):
        decode_image(png_bytes(9000, 9000, rows=1))  # 81 MP > 80 MP default


def test_pillow_bomb_warning_as_error_maps_to_too_large() -> None:
    # 90.25 MP: above Pillow's warning threshold (~89.5 MP). Under `-W error` that warning
    # is raised inside Image.open; it must still come out as our 413.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageTooLarge):
            decode_image(png_bytes(9500, 9500, rows=1))
