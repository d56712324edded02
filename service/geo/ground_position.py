"""Where on the road a detection lies: a flat-ground pinhole camera model.

Assumptions (docs/gis.md explains them): the road is a plane; the camera is `height_m`
above it, looks along `heading` (no roll), tilted `pitch_deg` below the horizon; the image
is undistorted with the principal point at its centre and square pixels, so the focal length
follows from the horizontal field of view. The bottom centre of a box -- where the damage
touches the road -- is intersected with the ground plane. Boxes at or above the horizon, or
farther than `max_distance_m`, are too uncertain: they get the camera position instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.geo.geodesy import LonLat, offset

PROJECTED = "projected"
CAMERA = "camera"


@dataclass(frozen=True)
class CameraModel:
    height_m: float = 1.5
    pitch_deg: float = 10.0
    hfov_deg: float = 90.0
    max_distance_m: float = 30.0


@dataclass(frozen=True)
class GroundPosition:
    point: LonLat
    method: str  # PROJECTED or CAMERA
    distance_m: float  # from the camera, 0 for CAMERA


def ground_offset(camera: CameraModel, width: int, height: int, u: float, v: float) -> tuple[float, float] | None:
    """(forward_m, right_m) of pixel (u, v) on the ground, or None when it cannot be projected."""
    f = (width / 2) / math.tan(math.radians(camera.hfov_deg) / 2)
    x, y = (u - width / 2) / f, (v - height / 2) / f  # camera ray (x right, y down, z = 1 forward)
    pitch = math.radians(camera.pitch_deg)
    down = math.sin(pitch) + y * math.cos(pitch)
    forward = math.cos(pitch) - y * math.sin(pitch)
    if down <= 1e-6 or forward <= 0:
        return None  # at or above the horizon
    t = camera.height_m / down
    forward_m, right_m = t * forward, t * x
    if math.hypot(forward_m, right_m) > camera.max_distance_m:
        return None
    return forward_m, right_m


def estimate(
    camera: CameraModel,
    position: LonLat,
    heading_deg: float | None,
    image_size: tuple[int, int],
    box: tuple[float, float, float, float],
) -> GroundPosition:
    """Ground position of a detection box (x1, y1, x2, y2 in pixels of the upright image)."""
    if heading_deg is not None:
        width, height = image_size
        ground = ground_offset(camera, width, height, (box[0] + box[2]) / 2, box[3])
        if ground is not None:
            forward_m, right_m = ground
            dist = math.hypot(forward_m, right_m)
            bearing = heading_deg + math.degrees(math.atan2(right_m, forward_m))
            return GroundPosition(offset(position, bearing, dist), PROJECTED, dist)
    return GroundPosition(position, CAMERA, 0.0)
