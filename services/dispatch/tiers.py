"""Severity tiers (分级响应): how long a department has to acknowledge (报到) and to resolve.

Defaults follow DESIGN §4. ``WHISTLE_SEVERITY_TIERS`` (or ``SEVERITY_TIERS`` in a factory's config)
overrides some or all of them: ``"emergency=30m/2h,urgent=2h/24h"``, or a dict
``{"emergency": ("30m", "2h")}``; durations as in ``parse_duration`` (``90s``, ``30m``, ``2h``, ``7d``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.common.catalogue import SEVERITIES
from services.common.config import parse_duration


@dataclass(frozen=True)
class Tier:
    acknowledge: timedelta
    resolve: timedelta


DEFAULT_TIERS: dict[str, Tier] = {
    "emergency": Tier(timedelta(minutes=30), timedelta(hours=2)),
    "urgent": Tier(timedelta(hours=2), timedelta(hours=24)),
    "normal": Tier(timedelta(hours=24), timedelta(days=7)),
    "complex": Tier(timedelta(hours=24), timedelta(days=15)),
}

# A due-soon warning goes out when this share of a deadline's time has passed.
DUE_SOON_AT = 0.8


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    seconds = parse_duration(str(value))
    if seconds <= 0:
        raise ValueError(f"a deadline must be positive, not {value!r}")
    return timedelta(seconds=seconds)


def parse_tiers(raw: str | dict | None) -> dict[str, Tier]:
    """The default tiers with ``raw``'s overrides applied; ValueError on anything unclear."""
    tiers = dict(DEFAULT_TIERS)
    if not raw:
        return tiers
    if isinstance(raw, str):
        pairs = {}
        for item in filter(None, (part.strip() for part in raw.split(","))):
            name, sep, spec = item.partition("=")
            ack, slash, resolve = spec.partition("/")
            if not sep or not slash:
                raise ValueError(f"severity tier {item!r} is not 'name=ACK/RESOLVE'")
            pairs[name.strip()] = (ack, resolve)
        raw = pairs
    for name, (ack, resolve) in raw.items():
        if name not in SEVERITIES:
            raise ValueError(f"unknown severity {name!r}; one of {', '.join(SEVERITIES)}")
        tiers[name] = Tier(_duration(ack), _duration(resolve))
    return tiers
