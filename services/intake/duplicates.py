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

import math
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

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


def _bounding_box(lat: float, lon: float, radius_m: float):
    """A box around the point a little larger than the circle, so the index does the coarse work."""
    dlat = radius_m / METRES_PER_DEGREE_LAT * 1.01
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(180.0, radius_m / (METRES_PER_DEGREE_LAT * cos_lat) * 1.01)
    return and_(Case.lat.between(lat - dlat, lat + dlat), Case.lon.between(lon - dlon, lon + dlon))


def matches(new: Case, other: Case, radius_m: float) -> bool:
    if None not in (new.lat, new.lon, other.lat, other.lon):
        return haversine_m(new.lat, new.lon, other.lat, other.lon) <= radius_m
    if normalise_address(new.address) != normalise_address(other.address):
        return False
    return not (new.community and other.community and new.community != other.community)


def find_original(session: Session, new: Case, *, radius_m: float, window: timedelta,
                  now: datetime) -> Case | None:
    """The open case ``new`` duplicates, if any (``new.address_key`` must be set)."""
    same_address = and_(or_(Case.lat.is_(None), Case.lon.is_(None)), Case.address_key == new.address_key)
    if new.lat is not None and new.lon is not None:
        near = or_(_bounding_box(new.lat, new.lon, radius_m), same_address)
    else:
        near = Case.address_key == new.address_key
    candidates = session.execute(
        select(Case)
        .where(Case.category == new.category, Case.created_at >= now - window, Case.created_at <= now,
               Case.status.not_in(NOT_OPEN), Case.id != new.id, near)
        .order_by(Case.created_at, Case.id)
    ).scalars()
    return next((case for case in candidates if matches(new, case, radius_m)), None)
