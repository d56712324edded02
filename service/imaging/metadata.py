"""Capture location and time from EXIF, defensively.

Reports from citizens' phones are geolocated from the photo itself, so this module reads
the GPS IFD and the capture time. EXIF in the wild is full of garbage (zero-denominator
rationals, missing refs, 0/0 "no fix" positions, ``0000:00:00`` dates, truncated IFDs), so
every field is parsed on its own and any problem yields ``None`` for that field -- nothing
here ever raises. Works for every container Pillow exposes EXIF for: JPEG (APP1), HEIC/HEIF
(via pillow-heif), WebP, TIFF (IFD0 is the EXIF) and PNG (``eXIf`` chunk).

Capture time precedence (``ImageMetadata.captured_at``):

1. ``DateTimeOriginal`` + ``OffsetTimeOriginal``: timezone-aware, in the camera's own offset
   (the wall-clock time the user saw, and an exact instant).
2. ``GPSDateStamp`` + ``GPSTimeStamp``: timezone-aware, UTC. An exact instant, but of the
   last GPS fix, which may be a little older than the shot.
3. ``DateTimeOriginal`` alone: a *naive* datetime, the camera's local wall-clock time in an
   unknown zone. Callers must not treat it as UTC; for a city service, interpreting it in
   the city's zone is the usual assumption.

``SubSecTimeOriginal`` adds fractions of a second to 1 and 3 when present.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from PIL import ExifTags, Image

from service.times import plausible

# Generous plausibility bounds: values outside are treated as garbage, not clamped.
_MAX_ABS_ALTITUDE_M = 100_000.0  # stratosphere balloons are ~40 km; 2**32-1 is not an altitude
_DATETIME_RE = re.compile(r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_DATE_RE = re.compile(r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})")
_OFFSET_RE = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")


@dataclass(frozen=True)
class GeoLocation:
    """WGS-84 position where the photo was taken.

    ``altitude_m`` is negative below sea level. ``heading_deg`` is the direction the camera
    pointed (GPSImgDirection, 0 <= x < 360, true or magnetic north as the device wrote it).
    """

    lat: float
    lon: float
    altitude_m: float | None = None
    heading_deg: float | None = None


@dataclass(frozen=True)
class ImageMetadata:
    """What the service uses from EXIF; see the module docstring for ``captured_at``."""

    location: GeoLocation | None = None
    captured_at: datetime | None = None


def read_metadata(image: Image.Image) -> ImageMetadata:
    """Metadata of an opened Pillow image; never raises.

    For PNG, Pillow may have to read the whole file to find an ``eXIf`` chunk placed after
    the pixel data, so call this after any size checks.
    """
    try:
        exif = image.getexif()
    except Exception:  # broken EXIF must never fail the upload
        return ImageMetadata()
    return metadata_from_exif(exif)


def metadata_from_exif(exif: Image.Exif | None) -> ImageMetadata:
    """Parse location and capture time from a Pillow ``Exif`` mapping; never raises."""
    if exif is None:
        return ImageMetadata()
    gps = _safe_ifd(exif, ExifTags.IFD.GPSInfo)
    exif_ifd = _safe_ifd(exif, ExifTags.IFD.Exif)
    return ImageMetadata(location=_location(gps), captured_at=_captured_at(exif, exif_ifd, gps))


def _safe_ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    try:
        ifd = exif.get_ifd(tag)
    except Exception:
        return {}
    return dict(ifd) if isinstance(ifd, dict) else {}


def _guard(fn: Any, *args: Any) -> Any:
    """Run one field parser; any exception means "field absent"."""
    try:
        return fn(*args)
    except Exception:
        return None


# --- value coercion ------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite float from an IFDRational / int / float / (num, den) pair, else None."""
    if isinstance(value, (bool, str, bytes)):  # float("51") would parse; EXIF numbers are never text
        return None
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        num, den = value
        if den == 0:
            return None
        result = num / den
    else:
        try:
            result = float(value)  # IFDRational with a zero denominator gives nan
        except (TypeError, ValueError, OverflowError, ZeroDivisionError):
            return None
    return result if math.isfinite(result) else None


def _text(value: Any) -> str | None:
    """An ASCII EXIF value as a stripped str (bytes and NUL padding are common)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value or None


def _ref(value: Any) -> str | None:
    text = _text(value)
    return text[0].upper() if text else None


def _degrees(value: Any) -> float | None:
    """Degrees from EXIF (deg, min, sec) rationals; some writers store decimal degrees."""
    if isinstance(value, (list, tuple)):
        numbers = [n for n in (_number(v) for v in value) if n is not None]
        if not 1 <= len(value) <= 3 or len(numbers) != len(value):
            return None
        deg, minutes, seconds = (*numbers, 0.0, 0.0)[:3]
        if deg < 0 or not 0 <= minutes < 60 or not 0 <= seconds < 60:
            return None
        return deg + minutes / 60.0 + seconds / 3600.0
    number = _number(value)
    return number if number is not None and number >= 0 else None


# --- location ------------------------------------------------------------------------


def _location(gps: dict[int, Any]) -> GeoLocation | None:
    if not gps:
        return None
    lat = _guard(_signed_coordinate, gps, ExifTags.GPS.GPSLatitude, ExifTags.GPS.GPSLatitudeRef, "N", "S")
    lon = _guard(_signed_coordinate, gps, ExifTags.GPS.GPSLongitude, ExifTags.GPS.GPSLongitudeRef, "E", "W")
    if lat is None or lon is None or abs(lat) > 90.0 or abs(lon) > 180.0:
        return None
    if lat == 0.0 and lon == 0.0:  # "Null Island": devices write 0/0 when they had no fix
        return None
    return GeoLocation(lat=lat, lon=lon, altitude_m=_guard(_altitude, gps), heading_deg=_guard(_heading, gps))


def _signed_coordinate(gps: dict[int, Any], tag: int, ref_tag: int, plus: str, minus: str) -> float | None:
    """A coordinate needs its hemisphere ref; without one the sign is unknown, so None."""
    degrees = _degrees(gps.get(tag))
    ref = _ref(gps.get(ref_tag))
    if degrees is None or ref not in (plus, minus):
        return None
    return -degrees if ref == minus else degrees


def _altitude(gps: dict[int, Any]) -> float | None:
    altitude = _number(gps.get(ExifTags.GPS.GPSAltitude))
    if altitude is None or altitude < 0 or altitude > _MAX_ABS_ALTITUDE_M:
        return None
    ref = gps.get(ExifTags.GPS.GPSAltitudeRef, 0)
    if isinstance(ref, bytes):
        ref = ref[0] if ref else 0
    # 0: above sea level (also the default when missing), 1: below; EXIF 3.0 adds 2/3 for
    # above/below the ellipsoid.
    if ref in (0, 2):
        return altitude
    if ref in (1, 3):
        return -altitude
    return None


def _heading(gps: dict[int, Any]) -> float | None:
    heading = _number(gps.get(ExifTags.GPS.GPSImgDirection))
    if heading is None or not 0.0 <= heading <= 360.0:
        return None
    return heading % 360.0


# --- capture time --------------------------------------------------------------------


def _captured_at(exif: Image.Exif, exif_ifd: dict[int, Any], gps: dict[int, Any]) -> datetime | None:
    original = exif_ifd.get(ExifTags.Base.DateTimeOriginal)
    if original is None:
        original = _guard(exif.get, ExifTags.Base.DateTimeOriginal)  # a few writers put it in IFD0
    local = _guard(_parse_datetime, original, exif_ifd.get(ExifTags.Base.SubsecTimeOriginal))
    offset = _guard(_parse_offset, exif_ifd.get(ExifTags.Base.OffsetTimeOriginal))
    if local is not None and offset is not None:
        return plausible(local.replace(tzinfo=offset))
    gps_time = plausible(_guard(_gps_datetime, gps))
    if gps_time is not None:
        return gps_time
    return plausible(local)


def _parse_datetime(value: Any, subsec: Any = None) -> datetime | None:
    text = _text(value)
    match = _DATETIME_RE.match(text) if text else None
    if match is None:
        return None
    parsed = datetime(*(int(group) for group in match.groups()))  # ValueError -> None via _guard
    fraction = _text(subsec)
    if fraction and fraction.isdigit():
        parsed = parsed.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return parsed


def _parse_offset(value: Any) -> timezone | None:
    text = _text(value)
    match = _OFFSET_RE.match(text) if text else None
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14) or int(minutes) >= 60:
        return None
    return timezone(-delta if sign == "-" else delta)


def _gps_datetime(gps: dict[int, Any]) -> datetime | None:
    date_text = _text(gps.get(ExifTags.GPS.GPSDateStamp))
    stamp = gps.get(ExifTags.GPS.GPSTimeStamp)
    date_match = _DATE_RE.match(date_text) if date_text else None
    if date_match is None or not isinstance(stamp, (list, tuple)) or len(stamp) != 3:
        return None
    hours, minutes, seconds = (_number(part) for part in stamp)
    if hours is None or minutes is None or seconds is None:
        return None
    if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 61):
        return None
    day = datetime(*(int(group) for group in date_match.groups()), tzinfo=timezone.utc)
    return day + timedelta(hours=hours, minutes=minutes, seconds=seconds)
