"""Errors raised while reading an uploaded image.

Each class carries the HTTP ``status`` and the stable machine-readable ``code`` the API
puts into its JSON error body, so the routers map them with one ``except ImageError``
instead of knowing about Pillow, pillow-heif or libjpeg exceptions.
"""

from __future__ import annotations

from typing import ClassVar


class ImageError(Exception):
    """Base class: an upload that cannot be turned into pixels, and why.

    ``code`` and ``status`` are class-level constants (clients switch on ``code``);
    ``message`` is a human sentence safe to return to the client (it never contains
    the uploaded bytes or server paths).
    """

    code: ClassVar[str] = "image_error"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The image could not be read."

    def __init__(self, message: str | None = None) -> None:
        self.message: str = message or self.default_message
        super().__init__(self.message)

    def to_dict(self) -> dict[str, str | int]:
        """The JSON error body, e.g. ``{"code": "corrupt_image", "status": 400, "message": ...}``."""
        return {"code": self.code, "status": self.status, "message": self.message}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status}, message={self.message!r})"


class EmptyImage(ImageError):
    """The upload has zero bytes (an empty multipart field, an aborted upload)."""

    code: ClassVar[str] = "empty_image"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The uploaded image is empty (0 bytes)."


class UnsupportedImage(ImageError):
    """Not an image at all (text, PDF, ...) or an image format the service does not accept."""

    code: ClassVar[str] = "unsupported_image_format"
    status: ClassVar[int] = 415
    default_message: ClassVar[str] = (
        "The upload is not an image in a supported format (JPEG, PNG, WebP, TIFF, HEIC/HEIF, BMP, GIF)."
    )


class CorruptImage(ImageError):
    """The format was recognised but the data cannot be decoded (truncated, damaged)."""

    code: ClassVar[str] = "corrupt_image"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The image is damaged or truncated and cannot be decoded."


class ImageTooLarge(ImageError):
    """Too many bytes, or too many pixels according to the header (decompression bombs).

    The pixel check runs on the header's width x height *before* any pixel is decoded,
    so a tiny file that declares 30000 x 30000 pixels is refused without allocating it.
    """

    code: ClassVar[str] = "image_too_large"
    status: ClassVar[int] = 413
    default_message: ClassVar[str] = "The image is too large."
