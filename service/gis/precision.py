"""The one precision at which positions are published (GeoJSON, CSV, extents) and filtered.

Coordinates leave the service rounded to `DECIMALS` places (about 1 cm) while the store keeps
full precision. A bbox must select exactly the features whose *published* position lies in
it, or a box drawn at a published point could miss that point: `lowest_stored` and
`highest_stored` turn the box's edges into bounds on the stored values.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal

DECIMALS = 7
_STEP = Decimal(1).scaleb(-DECIMALS)


def published(value: float) -> float:
    """A coordinate as the service publishes it."""
    return round(value, DECIMALS)


def lowest_stored(bound: float) -> float:
    """The least stored value whose published value is >= `bound` (a filter's lower edge)."""
    grid = Decimal(bound).quantize(_STEP, rounding=ROUND_CEILING)  # least DECIMALS-place number >= bound
    if float(grid - _STEP) >= bound:  # `bound` is itself the float of the grid number below
        grid -= _STEP
    value = float(grid - _STEP / 2)  # values from here on round to `grid` (or up); fix the last ulps exactly
    while published(value) < bound:
        value = math.nextafter(value, math.inf)
    while published(math.nextafter(value, -math.inf)) >= bound:
        value = math.nextafter(value, -math.inf)
    return value


def highest_stored(bound: float) -> float:
    """The greatest stored value whose published value is <= `bound` (a filter's upper edge)."""
    return -lowest_stored(-bound)  # rounding is symmetric around 0
