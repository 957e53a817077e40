"""The duplicate check's lattice: the cells it looks up around a point hold every point within
the radius, wherever on the globe."""

from __future__ import annotations

import math
import random

import pytest

from services.intake.duplicates import (
    EARTH_RADIUS_M,
    MAX_CELLS,
    _bounding_box,
    cells_covering,
    geo_cell,
    haversine_m,
)


def point_at(lat: float, lon: float, metres: float, bearing: float) -> tuple[float, float]:
    """The point ``metres`` away from (lat, lon) on ``bearing`` (radians from north)."""
    d = metres / EARTH_RADIUS_M
    phi1, lambda1 = math.radians(lat), math.radians(lon)
    phi2 = math.asin(math.sin(phi1) * math.cos(d) + math.cos(phi1) * math.sin(d) * math.cos(bearing))
    lambda2 = lambda1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(phi1), math.cos(d) - math.sin(phi1) * math.sin(phi2)
    )
    return math.degrees(phi2), math.degrees(lambda2)


@pytest.mark.parametrize("radius_m", [50.0, 250.0, 600.0])
def test_every_point_within_the_radius_lies_in_a_cell_looked_up(radius_m):
    rng = random.Random(int(radius_m))
    for _ in range(2000):
        lat, lon = rng.uniform(-60, 60), rng.uniform(-179, 179)
        cells = cells_covering(_bounding_box(lat, lon, radius_m))
        assert cells is not None and len(cells) <= MAX_CELLS
        other = point_at(lat, lon, rng.uniform(0, radius_m * 0.999), rng.uniform(0, 2 * math.pi))
        assert haversine_m(lat, lon, *other) <= radius_m
        assert geo_cell(*other) in cells


def test_a_usual_radius_looks_up_a_handful_of_cells():
    assert len(cells_covering(_bounding_box(30.52, 114.31, 250.0))) <= 9


def test_cells_are_distinct_integers_either_side_of_the_equator_and_greenwich():
    corners = [(0.001, 0.001), (-0.001, 0.001), (0.001, -0.001), (-0.001, -0.001), (51.5, -0.12), (-33.9, 151.2)]
    assert len({geo_cell(lat, lon) for lat, lon in corners}) == len(corners)


def test_a_radius_of_kilometres_is_left_to_the_box():
    assert cells_covering(_bounding_box(30.52, 114.31, 5000.0)) is None
    assert cells_covering(_bounding_box(89.9, 0.0, 250.0)) is None  # near a pole a degree is metres wide
