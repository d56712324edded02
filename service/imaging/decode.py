"""Turn uploaded bytes into an upright RGB uint8 array, or a precise ``ImageError``.

The detection API accepts whatever phones and city vehicles send: JPEG (also MPO), PNG,
WebP, TIFF, HEIC/HEIF (pillow-heif), BMP and GIF (first frame). Everything here exists to
make that safe and predictable:

* limits are checked *before* pixels are decoded -- bytes first, then width x height from
  the header -- so a few-KiB PNG declaring 30000 x 30000 pixels costs nothing;
* every Pillow / pillow-heif exception becomes one of the errors in
  :mod:`service.imaging.errors`; truncated files are refused, never half-loaded;
* the result is always ``H x W x 3`` RGB uint8 with EXIF orientation applied, whatever the
  source mode (grey, palette + transparency, CMYK, alpha composited onto white, 16-bit and
  float scaled to 8 bit rather than clipped);
* large JPEGs can be decoded at 1/2, 1/4 or 1/8 size via libjpeg's DCT scaling when the
  detector only needs a small input, which is several times faster than decode + resize.

About Pillow's own decompression-bomb guard: it warns above ``Image.MAX_IMAGE_PIXELS``
(~89 MP) and raises above twice that. The default ``ImageLimits.max_pixels`` (80 MP) is
below both, so our check governs; Pillow's error (and its warning, when warnings are turned
into errors) is mapped to :class:`ImageTooLarge` as well. We do not change that process-wide
setting or the warning filters (neither is thread-safe to toggle per call); limits above
~179 MP therefore still hit Pillow's guard first.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pillow_heif
from PIL import ExifTags, Image

from service.imaging.errors import CorruptImage, EmptyImage, ImageTooLarge, UnsupportedImage
from service.imaging.metadata import ImageMetadata, read_metadata

pillow_heif.register_heif_opener()  # once, at import: adds the "HEIF" format to Pillow

#: Pillow format ids we open; anything else (PDF, PSD, ICO, AVIF, ...) is "unsupported".
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "TIFF", "HEIF", "BMP", "GIF")

# Pillow reports JPEGs with a Multi-Picture (MPF) segment -- common from phones -- as "MPO".
_FORMAT_ALIASES = {"MPO": "JPEG"}

_ORIENTATION_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}  # the same mapping as PIL.ImageOps.exif_transpose

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_WHITE = (255, 255, 255)
# round(v * 255 / 65535) for every 16-bit value: exact, and no uint32 temporary per pixel.
_LUT_16_TO_8 = np.round(np.arange(65536, dtype=np.float64) / 257.0).astype(np.uint8)


#: The longest side libjpeg (and so Pillow) can encode: larger images could not be stored or returned.
JPEG_MAX_SIDE = 65_500


@dataclass(frozen=True)
class ImageLimits:
    """Upper bounds for one upload, all checked from the header before any pixel is decoded.

    12-MP and 48-MP phone photos and phone panoramas fit the defaults. The aspect ratio bounds the
    work per pixel as well as the pixels: a 3,000,000 x 1 strip is small but would be cut into
    thousands of tiles; the side bound keeps every accepted image encodable as JPEG.
    """

    max_bytes: int = 40 * 1024 * 1024
    max_pixels: int = 80_000_000
    max_side: int = JPEG_MAX_SIDE
    max_aspect_ratio: float = 20.0  # long side / short side

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_pixels, self.max_side) <= 0 or self.max_aspect_ratio < 1:
            raise ValueError("ImageLimits values must be positive (and the aspect ratio at least 1)")
        if self.max_side > JPEG_MAX_SIDE:
            raise ValueError(f"max_side above {JPEG_MAX_SIDE} px: such images could not be stored as JPEG")


DEFAULT_LIMITS = ImageLimits()

#: The long side a caller needs: a number, a function of the header's (width, height), or None (full size).
TargetSide = int | Callable[[int, int], int | None] | None


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """A decoded upload.

    ``pixels`` is RGB uint8 ``H x W x 3``, C-contiguous, upright (EXIF orientation applied)
    and read-only (it may share memory; ``.copy()`` before drawing on it).

    ``width``/``height`` are always those of the *original* upright image. When the JPEG
    fast path decoded at reduced size, ``pixels`` is smaller by ``scale`` (1/2, 1/4 or 1/8):
    map coordinates back with ``x_original = x_pixels / scale``.
    """

    pixels: np.ndarray
    format: str
    metadata: ImageMetadata
    original_size: tuple[int, int] | None = None  # (width, height); None: size of `pixels`
    scale: float = 1.0

    def __post_init__(self) -> None:
        p = self.pixels
        if p.ndim != 3 or p.shape[2] != 3 or p.dtype != np.uint8:
            raise ValueError(f"pixels must be HxWx3 uint8, got {p.shape} {p.dtype}")
        if self.original_size is None:
            object.__setattr__(self, "original_size", (int(p.shape[1]), int(p.shape[0])))

    @property
    def size(self) -> tuple[int, int]:
        """Original upright ``(width, height)``."""
        if self.original_size is None:  # only until __post_init__ has run
            return (int(self.pixels.shape[1]), int(self.pixels.shape[0]))
        return self.original_size

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]


def decode_image(
    data: bytes,
    limits: ImageLimits = DEFAULT_LIMITS,
    *,
    target_long_side: TargetSide = None,
) -> DecodedImage:
    """Decode ``data`` or raise an :class:`~service.imaging.errors.ImageError` subclass.

    ``target_long_side``: the detector's input size, or a function of the header's width and
    height giving it (None: full size). When the image is a JPEG at least twice as large,
    libjpeg decodes directly at the largest 1/2, 1/4 or 1/8 scale whose long side is still
    >= that size; other formats always decode at full size.
    """
    if not data:
        raise EmptyImage()
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(f"The image has {len(data)} bytes; at most {limits.max_bytes} bytes are accepted.")

    image = _open(data)
    try:
        fmt = _FORMAT_ALIASES.get(image.format or "", image.format or "")
        if fmt not in ACCEPTED_FORMATS:
            raise UnsupportedImage(f"Images in {fmt or 'this'} format are not accepted.")
        width, height = image.size
        _check_pixels(width, height, limits)
        target = target_long_side(width, height) if callable(target_long_side) else target_long_side
        if target is not None and target <= 0:
            raise ValueError("target_long_side must be positive")
        divisor = _draft_jpeg(image, target) if fmt == "JPEG" and target else 1
        _load(image, fmt)
        # After load(): Pillow has already applied (and removed) a TIFF's orientation tag.
        orientation = _orientation(image)
        metadata = read_metadata(image)
        rgb = _to_rgb(image)
        if orientation in _ORIENTATION_TRANSPOSE:
            rgb = rgb.transpose(_ORIENTATION_TRANSPOSE[orientation])
        pixels = np.asarray(rgb)
    finally:
        image.close()

    if not pixels.flags.c_contiguous:  # np.asarray of a PIL image is; keep the promise anyway
        pixels = np.ascontiguousarray(pixels)
    pixels.flags.writeable = False
    if divisor == 1:
        original = (int(pixels.shape[1]), int(pixels.shape[0]))
    else:  # reduced JPEG decode: the header size, turned upright like the pixels were
        original = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    return DecodedImage(pixels=pixels, format=fmt, metadata=metadata, original_size=original, scale=1.0 / divisor)


def header_pixels(data: bytes) -> int:
    """Width x height as the header declares it, without decoding; 0 when it cannot be read
    (decoding will then say why). Cheap: for choosing where to do the work."""
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            width, height = image.size
    except Exception:
        return 0
    return max(width, 0) * max(height, 0)


# --- steps ---------------------------------------------------------------------------


def _open(data: bytes) -> Image.Image:
    """Parse the header only (Pillow is lazy); map "not an image" vs "broken image"."""
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge("The image has too many pixels.") from exc
    except MemoryError:
        raise
    except Exception as exc:  # UnidentifiedImageError, OSError, ValueError, struct.error...
        sniffed = sniff_format(data)
        if sniffed in ACCEPTED_FORMATS:
            raise CorruptImage(f"The {sniffed} image is damaged or truncated.") from exc
        if sniffed is not None:
            raise UnsupportedImage(f"Images in {sniffed} format are not accepted.") from exc
        raise UnsupportedImage() from exc


def _check_pixels(width: int, height: int, limits: ImageLimits) -> None:
    if width <= 0 or height <= 0:
        raise CorruptImage(f"The image header declares an empty size {width}x{height}.")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} = {width * height} pixels; at most {limits.max_pixels} pixels are accepted."
        )
    if max(width, height) > limits.max_side:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; sides of at most {limits.max_side} px are accepted."
        )
    if max(width, height) > limits.max_aspect_ratio * min(width, height):
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; its long side may be at most {limits.max_aspect_ratio:g} times "
            "its short side."
        )


def _draft_jpeg(image: Image.Image, target_long_side: int) -> int:
    """Ask libjpeg for DCT-domain downscaling; returns the divisor actually used (1/2/4/8)."""
    width, height = image.size
    long_side = max(width, height)
    if long_side < 2 * target_long_side:
        return 1
    # Only the long side matters (the detector letterboxes into a square). draft() picks the
    # largest 1/2^k with size // requested >= 2^k per axis, so the short side requests 1.
    requested = (target_long_side, 1) if width >= height else (1, target_long_side)
    try:
        result = image.draft(None, requested)
    except Exception:  # an odd JPEG (progressive with several tiles...) decodes at full size
        return 1
    if result is None:
        return 1
    _, box = result
    return max(1, round(width / box[2]))


def _load(image: Image.Image, fmt: str) -> None:
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge("The image has too many pixels.") from exc
    except MemoryError:
        raise
    except Exception as exc:  # "image file is truncated", "broken data stream", libheif errors
        raise CorruptImage(f"The {fmt} image is damaged or truncated.") from exc


def _orientation(image: Image.Image) -> int:
    """EXIF orientation 1..8; anything unreadable counts as 1 (upright).

    pillow-heif applies HEIF's own rotation while decoding and resets this tag to 1, so
    HEIC photos are never rotated twice.
    """
    try:
        value: Any = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparency is composited onto white."""
    mode = image.mode
    try:
        if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
            return Image.fromarray(_high_depth_to_uint8(np.asarray(image), mode)).convert("RGB")
        if mode in _ALPHA_MODES or "transparency" in image.info:
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, _WHITE)
            background.paste(rgba, mask=rgba.getchannel("A"))
            return background
        # CMYK (Pillow already undid Adobe's inverted JPEG CMYK), L, 1, P, YCbCr, ...
        return image if mode == "RGB" else image.convert("RGB")
    except ValueError as exc:  # e.g. LAB TIFFs: Pillow has no direct conversion
        raise UnsupportedImage(f"Images with pixel mode {mode} are not supported.") from exc


def _high_depth_to_uint8(array: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16-bit / 32-bit integer / float greyscale to uint8 instead of clipping at 255.

    * ``I;16*``: 0..65535 -> 0..255 (65535 -> 255, 32768 -> 128).
    * ``I`` (32-bit int, what Pillow used for 16-bit PNG/TIFF): treated as 16-bit, clipped
      to 0..65535 first.
    * ``F``: [0, 1] when the image fits in it (the usual float convention), else clipped to
      [0, 255]; NaN -> 0.
    """
    if mode == "F":
        values = np.nan_to_num(array.astype(np.float32, copy=False), nan=0.0, posinf=255.0, neginf=0.0)
        if values.size and float(values.max()) <= 1.0:
            values = values * np.float32(255.0)
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    if mode == "I":
        array = np.clip(array, 0, 65535)
    return _LUT_16_TO_8[array]


# --- format sniffing (only to tell "broken image" from "not an image") ----------------

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})


def sniff_format(data: bytes) -> str | None:
    """Container format from magic bytes (Pillow format ids), or None when unrecognised.

    Used when Pillow cannot open the data: a known signature means the upload is a damaged
    image (400), anything else is not an image we accept (415).
    """
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and len(data) >= 26 and head[14:15] in (b"\x0c", b"(", b"4", b"8", b"@", b"l", b"|"):
        return "BMP"  # "BM" alone is too weak: also check a known DIB header size
    if head[4:8] == b"ftyp":
        brands = {head[i : i + 4] for i in range(8, min(len(head), 8 + 4 * 12), 4)}
        if brands & _AVIF_BRANDS:
            return "AVIF"
        if brands & _HEIF_BRANDS:
            return "HEIF"
        return None
    if head.startswith(b"%PDF"):
        return "PDF"
    return None
