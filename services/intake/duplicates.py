"""Duplicate reports: many residents call about the same burst main. A new case joins an open case
of the same category reported nearby within the window instead of sending departments twice.

The rule, precisely:
- candidates: same category, created within the window (default 72 h) before the new case, status
  not ``closed``/``rejected``/``duplicate`` (a duplicate never becomes an original: links point at roots);
- when both cases have coordinates: great-circle (haversine) distance ≤ the radius (default 250 m);
- otherwise: the same address after normalisation (NFKC, case and whitespace ignored) and, when both
  name a community, the same community. A community alone is not enough: it covers thousands of
  households, and two parking complaints in one community are rarely one problem;
- of several matches, the earliest reported wins (the one the other reports gather on).
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from services.common.lists import none_of, one_of

from .models import Case

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
METRES_PER_DEGREE_LAT = 111_320.0
NOT_OPEN = ("closed", "rejected", "duplicate")


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def normalise_address(address: str | None) -> str:
    return "".join(unicodedata.normalize("NFKC", address or "").casefold().split())


def _bounding_box(lat: float, lon: float, radius_m: float) -> dict[str, float]:
    """A box around the point a little larger than the circle."""
    dlat = radius_m / METRES_PER_DEGREE_LAT * 1.01
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(180.0, radius_m / (METRES_PER_DEGREE_LAT * cos_lat) * 1.01)
    return {"lat_min": lat - dlat, "lat_max": lat + dlat, "lon_min": lon - dlon, "lon_max": lon + dlon}


# A fixed lattice of cells GEO_CELL_DEGREES on a side (about 500 m north to south; nothing to do
# with the community's grid, cases.grid). Every case with coordinates is filed under its cell
# (cases.geo_cell), so that the duplicate check looks up the few cells around a point in an index
# instead of reading every recent case of the category in the city. Fixed, not derived from the
# radius: the column is stored, and the radius is a setting. Changing the lattice means a
# migration that files every open case again.
GEO_CELL_DEGREES = 0.0045
GEO_CELL_COLUMNS = 100_000  # > 2 × 40,000 columns either side of Greenwich: one integer a cell
MAX_CELLS = 64  # beyond this (a radius of kilometres, or near a pole) the box alone is cheaper


def _step(degrees: float) -> int:
    """The lattice row of a latitude, or column of a longitude."""
    return math.floor(degrees / GEO_CELL_DEGREES)


def geo_cell(lat: float, lon: float) -> int:
    return _step(lat) * GEO_CELL_COLUMNS + _step(lon)


def cells_covering(box: dict[str, float]) -> list[int] | None:
    """Every cell the box touches, or None when there are more than MAX_CELLS."""
    rows = range(_step(box["lat_min"]), _step(box["lat_max"]) + 1)
    columns = range(_step(box["lon_min"]), _step(box["lon_max"]) + 1)
    if len(rows) * len(columns) > MAX_CELLS:
        return None
    return [row * GEO_CELL_COLUMNS + column for row in rows for column in columns]


def matches(new: Case, other: Case, radius_m: float) -> bool:
    if None not in (new.lat, new.lon, other.lat, other.lon):
        return haversine_m(new.lat, new.lon, other.lat, other.lon) <= radius_m
    if normalise_address(new.address) != normalise_address(other.address):
        return False
    return not (new.community and other.community and new.community != other.community)


def _lock_key(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def scope_keys(new: Case, radius_m: float) -> list[int]:
    """Advisory-lock keys covering every case ``new`` could duplicate, or be duplicated by: its
    category and normalised address, and with coordinates the 3×3 grid cells (each twice the radius
    wide) around it — two points within the radius always share a cell of their neighbourhoods."""
    keys = {_lock_key("address", new.category, new.address_key)}
    if new.lat is not None and new.lon is not None:
        cell_m = 2 * max(radius_m, 1.0)
        i = math.floor(new.lat * METRES_PER_DEGREE_LAT / cell_m)
        j = math.floor(new.lon * METRES_PER_DEGREE_LAT * max(math.cos(math.radians(new.lat)), 1e-6) / cell_m)
        keys |= {_lock_key("cell", new.category, i + di, j + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)}
    return sorted(keys)  # one order for everyone: no deadlocks


# Serializes only submissions that could be duplicates of each other (PostgreSQL; SQLite's BEGIN
# IMMEDIATE already serializes every writer): the advisory locks on a new case's scope_keys, held
# until commit, so the duplicate check sees every such case committed before this one, and two
# reports of one problem arriving together cannot both become originals. A subquery, so that the
# statement taking a case's number can take the locks in the same round trip.
LOCK_SCOPE = "(SELECT count(*) FROM (SELECT pg_advisory_xact_lock(k) FROM unnest(:keys) AS k ORDER BY k) AS held)"


def _candidates(near):
    """Open cases of the category since the window began, near the new one; only the columns
    ``matches`` reads. No upper bound on created_at: under the scope lock every case already
    committed came first, even one whose request started a moment later than this one's. Not
    ordered in SQL: an ORDER BY created_at would have PostgreSQL walk every recent case of the
    category in that order instead of looking the address up."""
    return select(Case.id, Case.lat, Case.lon, Case.address, Case.community, Case.created_at).where(
        Case.category == bindparam("category"),
        Case.created_at >= bindparam("since"),
        none_of(Case.status, "not_open"),
        Case.id != bindparam("id"),
        near,
    )


_SAME_ADDRESS = Case.address_key == bindparam("address_key")
_IN_BOX = and_(
    Case.lat.between(bindparam("lat_min"), bindparam("lat_max")),
    Case.lon.between(bindparam("lon_min"), bindparam("lon_max")),
)
_WITHOUT_POINT = and_(or_(Case.lat.is_(None), Case.lon.is_(None)), _SAME_ADDRESS)
# Built once, for a case with coordinates and without: building a statement costs more than
# running it from SQLAlchemy's cache. Each way in is an index, (geo_cell, category, created_at)
# or (address_key, category, created_at); with coordinates PostgreSQL ORs the two.
NEAR_POINT = _candidates(or_(and_(one_of(Case.geo_cell, "cells"), _IN_BOX), _WITHOUT_POINT))
IN_BOX = _candidates(or_(_IN_BOX, _WITHOUT_POINT))  # too many cells: the rare wide radius
AT_ADDRESS = _candidates(_SAME_ADDRESS)


def find_original(session: Session, new: Case, *, radius_m: float, window: timedelta, now: datetime):
    """The open case ``new`` duplicates, if any, as a row with its ``id`` (``new.address_key``
    must be set)."""
    params = {
        "category": new.category,
        "since": now - window,
        "id": new.id,
        "address_key": new.address_key,
        "not_open": list(NOT_OPEN),
    }
    connection = session.connection()  # Core statements: the ORM's execute path only costs Python
    if new.lat is not None and new.lon is not None:
        box = _bounding_box(new.lat, new.lon, radius_m)
        cells = cells_covering(box)
        if cells is None:
            candidates = connection.execute(IN_BOX, params | box)
        else:
            candidates = connection.execute(NEAR_POINT, params | box | {"cells": cells})
    else:
        candidates = connection.execute(AT_ADDRESS, params)
    found = [case for case in candidates if matches(new, case, radius_m)]
    return min(found, key=lambda case: (case.created_at, case.id)) if found else None  # the earliest
