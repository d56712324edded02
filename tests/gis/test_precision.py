"""Filters at the published precision: the bounds on stored values select exactly what is published inside."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from service.gis.precision import highest_stored, lowest_stored, published

coordinates = st.floats(min_value=-180, max_value=180, allow_nan=False)
# Published values, values half a unit off the grid (ties) and 1/256ths (exact binary ties) are the hard cases.
bounds = st.one_of(
    coordinates,
    coordinates.map(published),
    st.integers(-1_800_000_000, 1_800_000_000).map(lambda n: (n + 0.5) / 10**7),
    st.integers(-180 * 256, 180 * 256).map(lambda n: n / 256 + 1 / 2**21),
)


@given(bounds)
def test_lowest_stored_is_the_first_value_published_at_or_above_the_bound(bound: float) -> None:
    low = lowest_stored(bound)
    assert published(low) >= bound and published(math.nextafter(low, -math.inf)) < bound


@given(bounds)
def test_highest_stored_is_the_last_value_published_at_or_below_the_bound(bound: float) -> None:
    high = highest_stored(bound)
    assert published(high) <= bound and published(math.nextafter(high, math.inf)) > bound


@given(coordinates)
def test_a_stored_value_is_inside_the_box_of_its_published_value(value: float) -> None:
    shown = published(value)
    assert lowest_stored(shown) <= value <= highest_stored(shown)
