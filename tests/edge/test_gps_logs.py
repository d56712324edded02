"""GPS logs: GPX and NMEA read into one track; positions, headings and distances between fixes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from edge_helpers import SPEED_MPS, write_gpx
from gis_helpers import T0, along

from service.edge.gps_logs import FollowedNmeaTrack, load_track
from service.edge.video import VideoClock
from service.geo.geodesy import distance_m


def sentence(body: str) -> str:
    checksum = 0
    for ch in body:
        checksum ^= ord(ch)
    return f"${body}*{checksum:02X}"


# A receiver's log: RMC (date, course 45.0) and GGA of the same second, one bad checksum, one invalid fix.
NMEA = "\n".join(
    [
        sentence("GPGGA,095959.00,5231.2000,N,01324.3000,E,1,08,0.9,40.0,M,46.0,M,,"),  # before any date
        sentence("GPRMC,100000.00,A,5231.2000,N,01324.3000,E,10.0,45.0,010525,,,A"),
        sentence("GPGGA,100000.00,5231.2000,N,01324.3000,E,1,08,0.9,40.0,M,46.0,M,,"),
        sentence("GPRMC,100001.00,A,5231.2040,N,01324.3066,E,10.0,45.0,010525,,,A"),
        sentence("GPRMC,100002.00,A,5231.2080,N,01324.3132,E,10.0,45.0,010525,,,A")[:-2] + "00",
        sentence("GPRMC,100003.00,V,,,,,,,010525,,,N"),
    ]
)


def test_nmea_rmc_and_gga_become_one_fix_per_second(tmp_path: Path) -> None:
    path = tmp_path / "drive.nmea"
    path.write_text(NMEA)
    track = load_track(path)
    t0 = datetime(2025, 5, 1, 10, 0, 0, tzinfo=timezone.utc)
    assert [f.time for f in track.fixes] == [t0, t0 + timedelta(seconds=1)]  # GGA before RMC, bad sum, V skipped
    assert track.fixes[0].point.lat == pytest.approx(52.52) and track.fixes[0].point.lon == pytest.approx(13.405)
    assert track.heading_at(t0 + timedelta(seconds=0.5)) == pytest.approx(45.0)


def test_gpx_positions_headings_and_distance_driven(tmp_path: Path) -> None:
    track = load_track(write_gpx(tmp_path / "drive.gpx", 10))
    assert track.start == T0 - timedelta(seconds=2)
    t = T0 + timedelta(seconds=3.5)
    assert distance_m(track.position_at(t), along(SPEED_MPS * 3.5)) < 0.01
    assert track.heading_at(t) == pytest.approx(90.0, abs=0.01)  # no course logged: the track's bearing
    assert track.distance_at(t) == pytest.approx(SPEED_MPS * 5.5, rel=1e-3)
    assert track.position_at(T0 + timedelta(seconds=60)) is None


def test_video_clock_offset_moves_frames_onto_the_gps_clock() -> None:
    clock = VideoClock(T0, fps=25.0, offset_s=-1.5)  # the camera's clock runs 1.5 s ahead
    assert clock.time_of(50) == T0 + timedelta(seconds=0.5)


def test_a_growing_nmea_log_is_followed_for_live_sources(tmp_path: Path) -> None:
    path = tmp_path / "live.nmea"
    path.write_text("")
    track = FollowedNmeaTrack(path)
    t0 = datetime(2025, 5, 1, 10, 0, 0, tzinfo=timezone.utc)
    assert track.position_at(t0) is None  # nothing logged yet
    lines = NMEA.splitlines()
    path.write_text("\n".join(lines[:3]) + "\n" + lines[3][:20])  # the receiver is mid-sentence
    assert track.position_at(t0) is not None and track.position_at(t0 + timedelta(seconds=0.5)) is None
    with path.open("a") as fh:
        fh.write(lines[3][20:] + "\n")
    first, second = track.fixes[0].point, track.position_at(t0 + timedelta(seconds=1))
    assert second is not None and len(track.fixes) == 2
    # a frame 1.5 s after the last fix: the last second's motion continued
    ahead = track.position_at(t0 + timedelta(seconds=2.5))
    assert distance_m(second, ahead) == pytest.approx(1.5 * distance_m(first, second), rel=0.01)
    assert track.position_at(t0 + timedelta(seconds=4)) is None  # too far past the last fix
