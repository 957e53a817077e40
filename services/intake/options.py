"""Intake's own settings, read once when an app or worker is built (``WHISTLE_*`` or the factory's
config dict)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, tzinfo
from zoneinfo import ZoneInfo

from flask import current_app

from services.common.config import Settings

from .categories import load_categories


@dataclass(frozen=True)
class IntakeOptions:
    categories: dict[str, dict[str, str]]
    duplicate_radius_m: float = 250.0
    duplicate_window: timedelta = timedelta(hours=72)
    # Case numbers count per calendar year where the cases happen, not per UTC year.
    timezone: tzinfo = ZoneInfo("Asia/Shanghai")

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeOptions:
        return cls(
            categories=load_categories(settings.get("CATEGORIES_FILE")),
            duplicate_radius_m=float(settings.get("DUPLICATE_RADIUS_M", 250)),
            duplicate_window=timedelta(hours=float(settings.get("DUPLICATE_WINDOW_HOURS", 72))),
            timezone=ZoneInfo(settings.get("TIMEZONE", "Asia/Shanghai")),
        )


def intake_options() -> IntakeOptions:
    """The options of the app handling the current request."""
    return current_app.extensions["intake"]
