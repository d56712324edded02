"""Reading GPS logs: GPX tracks (standard library XML, streamed) and NMEA 0183 logs (GGA/RMC)."""

from __future__ import annotations

import logging
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from service.edge.track import Fix, GpsTrack
from service.geo.geodesy import LonLat

log = logging.getLogger(__name__)


LIVE_EXTRAPOLATION_S = 2.0  # receivers report about once a second; a frame is at most that far ahead


def is_gpx(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(256).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def load_track(path: Path) -> GpsTrack:
    """A GPX file or an NMEA log, told apart by their content."""
    track = GpsTrack(read_gpx(path) if is_gpx(path) else read_nmea(path))
    if not track.fixes:
        raise ValueError(f"{path}: no GPS fixes with a time")
    return track


class FollowedNmeaTrack(GpsTrack):
    """An NMEA log that is still being written (gpsd, a logger), read as it grows: for live
    sources. New lines are read whenever a time past the last fix is asked for; up to
    `LIVE_EXTRAPOLATION_S` past it, the vehicle's last motion is continued."""

    def __init__(self, path: Path):
        super().__init__([], extrapolate_s=LIVE_EXTRAPOLATION_S)
        self.path = path
        self._reader = NmeaReader()
        self._offset = 0
        self._lock = threading.Lock()  # the frame reader and the detector thread both ask

    def _locate(self, ts: float) -> tuple[int, float] | None:
        with self._lock:
            if not self._times or ts > self._times[-1]:
                self._poll()
            return super()._locate(ts)

    def _poll(self) -> None:
        try:
            with self.path.open("rb") as fh:
                if fh.seek(0, 2) < self._offset:  # rotated or truncated: start over
                    self._offset = 0
                fh.seek(self._offset)
                complete, newline, _ = fh.read().rpartition(b"\n")
        except OSError:
            return  # not written yet
        if newline:
            self._offset += len(complete) + 1
            self.extend(self._reader.feed(complete.decode("ascii", errors="replace").splitlines()))


def read_gpx(path: Path) -> list[Fix]:
    """Track points with a time (GPX 1.0 or 1.1); `course` is used as the heading where present."""
    fixes = []
    for _, elem in ET.iterparse(path, events=("end",)):
        if _local(elem.tag) != "trkpt":
            continue
        values = {_local(child.tag): (child.text or "").strip() for child in elem.iter()}
        if values.get("time"):
            course = values.get("course")
            fixes.append(
                Fix(
                    time=_utc(datetime.fromisoformat(values["time"].replace("Z", "+00:00"))),
                    point=LonLat(float(elem.attrib["lon"]), float(elem.attrib["lat"])),
                    heading_deg=float(course) % 360.0 if course else None,
                )
            )
        elem.clear()  # bounded memory on day-long logs
    return fixes


def read_nmea(path: Path) -> list[Fix]:
    """Fixes from the RMC and GGA sentences of a finished log."""
    reader = NmeaReader()
    with path.open(encoding="ascii", errors="replace") as fh:
        fixes = reader.feed(fh)
    if reader.bad:
        log.warning("%s: skipped %d malformed NMEA sentence(s)", path, reader.bad)
    return fixes


class NmeaReader:
    """RMC (date, course) and GGA sentences to fixes; invalid fixes and bad checksums are skipped.

    GGA carries no date: it takes the date of the last RMC sentence, so GGA before the first
    RMC is skipped. A GGA and an RMC of the same second are one fix.
    """

    def __init__(self) -> None:
        self.day: date | None = None
        self.last: Fix | None = None
        self.bad = 0

    def feed(self, lines: Iterable[str]) -> list[Fix]:
        fixes: list[Fix] = []
        for line in lines:
            fields = _sentence(line.strip())
            if fields is None:
                self.bad += line.startswith("$")
                continue
            fix = self._fix(fields)
            if fix is None:
                continue
            last = fixes[-1] if fixes else self.last
            if last and fix.time < last.time - timedelta(hours=12):  # GGA past midnight before the next RMC
                fix = Fix(fix.time + timedelta(days=1), fix.point, fix.heading_deg)
            if last and last.time == fix.time:
                if fixes and last.heading_deg is None:
                    fixes[-1] = Fix(fix.time, last.point, fix.heading_deg)
                continue
            fixes.append(fix)
        self.last = fixes[-1] if fixes else self.last
        return fixes

    def _fix(self, fields: list[str]) -> Fix | None:
        kind = fields[0][-3:]
        if kind == "RMC" and len(fields) >= 10 and fields[2] == "A" and fields[9]:
            try:
                self.day = datetime.strptime(fields[9], "%d%m%y").date()
            except ValueError:
                return None
            return _fix(self.day, fields[1], fields[3:7], fields[8])
        if kind == "GGA" and len(fields) >= 7 and self.day is not None and fields[6] not in ("", "0"):
            return _fix(self.day, fields[1], fields[2:6], "")
        return None


def _sentence(line: str) -> list[str] | None:
    """The comma-separated fields of one `$...*hh` sentence, or None when malformed."""
    if not line.startswith("$"):
        return None
    body, _, checksum = line[1:].partition("*")
    if checksum:
        computed = 0
        for ch in body:
            computed ^= ord(ch)
        try:
            if computed != int(checksum[:2], 16):
                return None
        except ValueError:
            return None
    return body.split(",")


def _fix(day: date, hhmmss: str, latlon: list[str], course: str) -> Fix | None:
    lat, ns, lon, ew = latlon
    if not (hhmmss and lat and lon):
        return None
    try:
        seconds = float(hhmmss[4:])
        moment = datetime.combine(day, time(int(hhmmss[:2]), int(hhmmss[2:4])), timezone.utc)
        point = LonLat(_degrees(lon, 3) * (-1 if ew == "W" else 1), _degrees(lat, 2) * (-1 if ns == "S" else 1))
        return Fix(moment + timedelta(seconds=seconds), point, float(course) % 360.0 if course else None)
    except ValueError:
        return None


def _degrees(value: str, degree_digits: int) -> float:
    """NMEA `dddmm.mmmm` to decimal degrees."""
    return int(value[:degree_digits]) + float(value[degree_digits:]) / 60.0


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _utc(t: datetime) -> datetime:
    """GPX times are UTC; a time without an offset is taken as UTC too."""
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
