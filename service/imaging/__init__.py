"""Torch-free image intake for the detection API: safe decoding, EXIF orientation, GPS/time."""

from service.imaging.decode import (
    ACCEPTED_FORMATS,
    DEFAULT_LIMITS,
    JPEG_MAX_SIDE,
    DecodedImage,
    ImageLimits,
    decode_image,
    header_pixels,
    sniff_format,
)
from service.imaging.errors import CorruptImage, EmptyImage, ImageError, ImageTooLarge, UnsupportedImage
from service.imaging.metadata import GeoLocation, ImageMetadata, metadata_from_exif, read_metadata

__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_LIMITS",
    "JPEG_MAX_SIDE",
    "CorruptImage",
    "DecodedImage",
    "EmptyImage",
    "GeoLocation",
    "ImageError",
    "ImageLimits",
    "ImageMetadata",
    "ImageTooLarge",
    "UnsupportedImage",
    "decode_image",
    "header_pixels",
    "metadata_from_exif",
    "read_metadata",
    "sniff_format",
]
