"""EXIF location and capture time: real containers, precedence, and garbage tolerance."""

from __future__ import annotations

import io
import random
import struct
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from service.imaging import GeoLocation, ImageMetadata, decode_image, metadata_from_exif, read_metadata

GPS = ExifTags.GPS


def R(numerator: int, denominator: int = 1) -> IFDRational:
    return IFDRational(numerator, denominator)


# Sydney Opera House-ish, written the way phones do: S/W refs, DMS rationals.
SYDNEY_GPS: dict[int, Any] = {
    GPS.GPSLatitudeRef: "S",
    GPS.GPSLatitude: (R(33), R(51), R(3456, 100)),  # 33° 51' 34.56"
    GPS.GPSLongitudeRef: "W",
    GPS.GPSLongitude: (R(151), R(12), R(3050, 100)),  # 151° 12' 30.5"
    GPS.GPSAltitudeRef: 1,  # below sea level
    GPS.GPSAltitude: R(125, 10),
    GPS.GPSImgDirectionRef: "T",
    GPS.GPSImgDirection: R(27050, 100),
    GPS.GPSDateStamp: "2024:05:17",
    GPS.GPSTimeStamp: (R(0), R(30), R(1525, 100)),
}
SYDNEY_LAT = -(33 + 51 / 60 + 34.56 / 3600)
SYDNEY_LON = -(151 + 12 / 60 + 30.5 / 3600)


def make_exif(gps: dict[int, Any] | None = None, exif_ifd: dict[int, Any] | None = None) -> Image.Exif:
    exif = Image.Exif()
    if gps:
        exif.get_ifd(ExifTags.IFD.GPSInfo).update(gps)
    if exif_ifd:
        exif.get_ifd(ExifTags.IFD.Exif).update(exif_ifd)
    return exif


def roundtrip(exif: Image.Exif) -> Image.Exif:
    """Serialise and parse again, as a decoder would see it."""
    parsed = Image.Exif()
    parsed.load(exif.tobytes())
    return parsed


def parse(gps: dict[int, Any] | None = None, exif_ifd: dict[int, Any] | None = None) -> ImageMetadata:
    return metadata_from_exif(roundtrip(make_exif(gps, exif_ifd)))


def image_with_exif(fmt: str, exif: Image.Exif) -> bytes:
    buffer = io.BytesIO()
    # TIFF only writes nested IFDs (GPS) from serialised EXIF bytes.
    Image.new("RGB", (16, 8), (0, 128, 255)).save(buffer, fmt, exif=exif.tobytes())
    return buffer.getvalue()


# --- real containers -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "HEIF", "WEBP", "TIFF", "PNG"])
def test_gps_and_time_from_each_container(fmt: str) -> None:
    exif = make_exif(
        SYDNEY_GPS,
        {ExifTags.Base.DateTimeOriginal: "2024:05:17 10:30:15", ExifTags.Base.OffsetTimeOriginal: "+10:00"},
    )
    decoded = decode_image(image_with_exif(fmt, exif))

    assert decoded.format == fmt
    location = decoded.metadata.location
    assert location is not None
    assert location.lat == pytest.approx(SYDNEY_LAT, abs=1e-9)
    assert location.lon == pytest.approx(SYDNEY_LON, abs=1e-9)
    assert location.altitude_m == pytest.approx(-12.5)
    assert location.heading_deg == pytest.approx(270.5)
    captured = decoded.metadata.captured_at
    assert captured == datetime(2024, 5, 17, 10, 30, 15, tzinfo=timezone(timedelta(hours=10)))
    assert captured.utcoffset() == timedelta(hours=10)


def test_no_exif_at_all() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "JPEG")
    assert decode_image(buffer.getvalue()).metadata == ImageMetadata(location=None, captured_at=None)


def test_metadata_from_none_and_unreadable_exif(monkeypatch: pytest.MonkeyPatch) -> None:
    assert metadata_from_exif(None) == ImageMetadata()
    image = Image.new("RGB", (4, 4))

    def broken() -> Image.Exif:
        raise SyntaxError("broken EXIF")

    monkeypatch.setattr(image, "getexif", broken)
    assert read_metadata(image) == ImageMetadata()


# --- location fields -----------------------------------------------------------------


def test_north_east_and_altitude_above_sea_level() -> None:
    location = parse(
        {
            GPS.GPSLatitudeRef: "N",
            GPS.GPSLatitude: (R(52), R(31), R(12)),
            GPS.GPSLongitudeRef: "E",
            GPS.GPSLongitude: (R(13), R(24), R(36)),
            GPS.GPSAltitudeRef: 0,
            GPS.GPSAltitude: R(34),
        }
    ).location
    assert location == GeoLocation(
        lat=pytest.approx(52.52), lon=pytest.approx(13.41), altitude_m=34.0, heading_deg=None
    )


def test_missing_altitude_ref_means_above_sea_level() -> None:
    gps = {k: v for k, v in SYDNEY_GPS.items() if k != GPS.GPSAltitudeRef}
    assert parse(gps).location.altitude_m == pytest.approx(12.5)


def test_refs_as_padded_lowercase_bytes_and_decimal_degrees() -> None:
    gps = {
        GPS.GPSLatitudeRef: "s\x00",
        GPS.GPSLatitude: (R(3387, 100), R(0), R(0)),
        GPS.GPSLongitudeRef: "w ",
        GPS.GPSLongitude: (R(15121, 100), R(0), R(0)),
    }
    location = parse(gps).location
    assert (location.lat, location.lon) == (pytest.approx(-33.87), pytest.approx(-151.21))


@pytest.mark.parametrize(
    "changes",
    [
        {GPS.GPSLatitude: (R(33, 0), R(51), R(0))},  # zero denominator
        {GPS.GPSLongitude: (R(151), R(0, 0), R(0))},  # 0/0
        {GPS.GPSLatitude: (R(91), R(0), R(0))},  # |lat| > 90
        {GPS.GPSLongitude: (R(181), R(0), R(0))},  # |lon| > 180
        {GPS.GPSLatitude: (R(33), R(75), R(0))},  # minutes >= 60
        {GPS.GPSLatitudeRef: None},  # missing ref: sign unknown
        {GPS.GPSLongitudeRef: "X"},  # nonsense ref
        {GPS.GPSLatitude: None},
        {GPS.GPSLatitude: (R(0),), GPS.GPSLongitude: (R(0),)},  # 0/0 "no fix"
    ],
    ids=[
        "lat-zero-denominator",
        "lon-0/0",
        "lat-out-of-range",
        "lon-out-of-range",
        "minutes-out-of-range",
        "missing-lat-ref",
        "bad-lon-ref",
        "missing-lat",
        "null-island",
    ],
)
def test_garbage_coordinates_give_no_location(changes: dict[int, Any]) -> None:
    gps = {**SYDNEY_GPS, **changes}
    gps = {k: v for k, v in gps.items() if v is not None}
    metadata = parse(gps)
    assert metadata.location is None
    assert metadata.captured_at is not None  # other fields are unaffected


@pytest.mark.parametrize(
    "changes",
    [
        {GPS.GPSLatitude: "33 deg 51 min"},
        {GPS.GPSLatitude: (R(33), "51", R(0))},
        {GPS.GPSLatitude: (R(33), R(51), R(0), R(1))},
        {GPS.GPSLatitude: ()},
        {GPS.GPSLatitude: True},
        {GPS.GPSLatitude: ((33, 1), (51, 0), (0, 1))},
        {GPS.GPSLatitude: float("inf")},
        {GPS.GPSLatitudeRef: 5},
        {GPS.GPSLatitudeRef: b""},
    ],
)
def test_wrong_value_types_give_no_location(changes: dict[int, Any]) -> None:
    # Types Pillow cannot serialise, so checked on an in-memory Exif: the parser sees them as-is.
    metadata = metadata_from_exif(make_exif({**SYDNEY_GPS, **changes}))
    assert metadata.location is None


def test_pairs_and_plain_numbers_are_accepted() -> None:
    gps = {**SYDNEY_GPS, GPS.GPSLatitude: ((33, 1), (51, 1), 34.56), GPS.GPSLongitude: 151.20847}
    location = metadata_from_exif(make_exif(gps)).location
    assert location is not None
    assert (location.lat, location.lon) == (pytest.approx(SYDNEY_LAT), pytest.approx(-151.20847))


@pytest.mark.parametrize(
    ("changes", "altitude", "heading"),
    [
        ({GPS.GPSAltitude: R(5, 0)}, None, 270.5),
        ({GPS.GPSAltitude: R(2**32 - 1)}, None, 270.5),
        ({GPS.GPSAltitudeRef: 7}, None, 270.5),
        ({GPS.GPSImgDirection: R(400)}, -12.5, None),
        ({GPS.GPSImgDirection: R(1, 0)}, -12.5, None),
        ({GPS.GPSImgDirection: R(360)}, -12.5, 0.0),
    ],
)
def test_garbage_altitude_or_heading_only_drop_that_field(
    changes: dict[int, Any], altitude: float | None, heading: float | None
) -> None:
    location = parse({**SYDNEY_GPS, **changes}).location
    assert location is not None
    assert location.lat == pytest.approx(SYDNEY_LAT)
    assert location.altitude_m == (pytest.approx(altitude) if altitude is not None else None)
    assert location.heading_deg == (pytest.approx(heading) if heading is not None else None)


# --- capture time precedence ---------------------------------------------------------

DTO = {ExifTags.Base.DateTimeOriginal: "2024:05:17 10:30:15"}
GPS_TIME = {GPS.GPSDateStamp: "2024:05:17", GPS.GPSTimeStamp: (R(8), R(30), R(1525, 100))}


def test_offset_time_wins() -> None:
    captured = parse(GPS_TIME, {**DTO, ExifTags.Base.OffsetTimeOriginal: "-03:30"}).captured_at
    assert captured == datetime(2024, 5, 17, 10, 30, 15, tzinfo=timezone(-timedelta(hours=3, minutes=30)))


def test_gps_time_in_utc_beats_naive_local_time() -> None:
    captured = parse(GPS_TIME, DTO).captured_at
    assert captured == datetime(2024, 5, 17, 8, 30, 15, 250000, tzinfo=timezone.utc)
    assert captured.tzinfo is timezone.utc


def test_local_time_without_offset_is_naive() -> None:
    captured = parse(None, DTO).captured_at
    assert captured == datetime(2024, 5, 17, 10, 30, 15)
    assert captured.tzinfo is None


def test_subseconds() -> None:
    captured = parse(None, {**DTO, ExifTags.Base.SubsecTimeOriginal: "07"}).captured_at
    assert captured == datetime(2024, 5, 17, 10, 30, 15, 70000)


@pytest.mark.parametrize(
    ("gps", "exif_ifd", "expected"),
    [
        (None, {ExifTags.Base.DateTimeOriginal: "0000:00:00 00:00:00"}, None),
        (None, {ExifTags.Base.DateTimeOriginal: "    :  :     :  :  "}, None),
        (None, {ExifTags.Base.DateTimeOriginal: "2024:13:45 99:00:00"}, None),
        # A broken offset: fall back to the naive local time.
        (None, {**DTO, ExifTags.Base.OffsetTimeOriginal: "+99:00"}, datetime(2024, 5, 17, 10, 30, 15)),
        # Broken GPS time: fall back to the naive local time.
        (
            {GPS.GPSDateStamp: "2024:05:17", GPS.GPSTimeStamp: (R(8), R(30, 0), R(0))},
            DTO,
            datetime(2024, 5, 17, 10, 30, 15),
        ),
        ({GPS.GPSDateStamp: "garbage", GPS.GPSTimeStamp: (R(8), R(30), R(0))}, None, None),
        ({GPS.GPSDateStamp: "2024:05:17", GPS.GPSTimeStamp: (R(25), R(0), R(0))}, None, None),
    ],
    ids=["zeros", "blanks", "impossible", "bad-offset", "bad-gps-time", "bad-gps-date", "hour-25"],
)
def test_garbage_times(gps: dict[int, Any] | None, exif_ifd: dict[int, Any] | None, expected: datetime | None) -> None:
    assert parse(gps, exif_ifd).captured_at == expected


# --- garbage EXIF blocks -------------------------------------------------------------


def _jpeg_with_app1(payload: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # Pillow warns, we must not fail
@pytest.mark.parametrize(
    "payload",
    [
        b"Exif\x00\x00" + bytes(random.Random(7).randrange(256) for _ in range(2000)),
        b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",  # IFD offset far beyond the data
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x00" * 64,  # 65535 entries claimed
        b"Exif\x00\x00" + make_exif({GPS.GPSLatitude: (R(1, 0), R(1, 0), R(1, 0))}).tobytes()[6:],
    ],
    ids=["random", "offset-out-of-range", "huge-count", "zero-denominators"],
)
def test_garbage_exif_never_raises(payload: bytes) -> None:
    decoded = decode_image(_jpeg_with_app1(payload))
    assert decoded.pixels.shape == (8, 8, 3)
    assert decoded.metadata.location is None


def test_huge_png_exif_chunk() -> None:
    exif = make_exif(SYDNEY_GPS, {ExifTags.Base.UserComment: b"ASCII\x00\x00\x00" + b"x" * 2_000_000})
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG", exif=exif.tobytes())
    assert len(buffer.getvalue()) > 2_000_000
    location = decode_image(buffer.getvalue()).metadata.location
    assert location is not None and location.lat == pytest.approx(SYDNEY_LAT)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # Pillow warns, we must not fail
def test_garbage_png_exif_chunk() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    png = buffer.getvalue()
    body = b"MM\x00*" + bytes(random.Random(3).randrange(256) for _ in range(5000))
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    iend = png.rindex(b"IEND") - 4
    decoded = decode_image(png[:iend] + chunk + png[iend:])
    assert decoded.metadata == ImageMetadata()
