"""Case categories: code → names and the severity a case gets when the reporter gives none.

The defaults below can be extended or adjusted per deployment with a YAML file
(``WHISTLE_CATEGORIES_FILE``) merged over them::

    lift_failure: {name_zh: 电梯故障, name_en: Lift failure, severity: urgent}
    parking: {severity: urgent}        # only the severity changes
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.common.catalogue import SEVERITIES

DEFAULT_CATEGORIES: dict[str, dict[str, str]] = {
    "water_supply": {"name_zh": "供水", "name_en": "Water supply", "severity": "urgent"},
    "drainage": {"name_zh": "排水", "name_en": "Drainage and sewers", "severity": "urgent"},
    "building_safety": {"name_zh": "房屋安全", "name_en": "Building safety", "severity": "urgent"},
    "ev_charging": {"name_zh": "电动车充电", "name_en": "E-bike charging", "severity": "normal"},
    "parking": {"name_zh": "停车", "name_en": "Parking", "severity": "normal"},
    "trees": {"name_zh": "园林树木", "name_en": "Trees", "severity": "normal"},
    "street_lighting": {"name_zh": "路灯照明", "name_en": "Street lighting", "severity": "normal"},
    "heating": {"name_zh": "供暖", "name_en": "Heating", "severity": "urgent"},
    "sanitation": {"name_zh": "环境卫生", "name_en": "Sanitation", "severity": "normal"},
    "neighbour_dispute": {"name_zh": "邻里纠纷", "name_en": "Neighbour dispute", "severity": "complex"},
    "other": {"name_zh": "其他", "name_en": "Other", "severity": "normal"},
}
FIELDS = ("name_zh", "name_en", "severity")
CODE_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


class BadCategoriesFile(ValueError):
    pass


def merge_categories(overrides: Any, base: dict[str, dict[str, str]] = DEFAULT_CATEGORIES) -> dict[str, dict[str, str]]:
    """``base`` with ``overrides`` (code → partial entry) merged over it; refuses anything malformed,
    so that a bad file stops the service at start rather than surfacing as odd cases later."""
    if overrides is None:
        return {code: dict(entry) for code, entry in base.items()}
    if not isinstance(overrides, dict):
        raise BadCategoriesFile("the categories file must map category codes to their fields")
    merged = {code: dict(entry) for code, entry in base.items()}
    for code, entry in overrides.items():
        if not isinstance(code, str) or not code or len(code) > 32 or set(code) - CODE_CHARACTERS:
            raise BadCategoriesFile(f"category code {code!r}: use 1-32 of a-z, 0-9 and _")
        if not isinstance(entry, dict) or set(entry) - set(FIELDS):
            raise BadCategoriesFile(f"category {code}: give only {', '.join(FIELDS)}")
        combined = {**merged.get(code, {}), **entry}
        missing = [name for name in FIELDS if not isinstance(combined.get(name), str) or not combined[name]]
        if missing:
            raise BadCategoriesFile(f"category {code}: missing {', '.join(missing)}")
        if combined["severity"] not in SEVERITIES:
            raise BadCategoriesFile(f"category {code}: severity must be one of {', '.join(SEVERITIES)}")
        merged[code] = combined
    return merged


def load_categories(path: str | Path | None) -> dict[str, dict[str, str]]:
    if not path:
        return merge_categories(None)
    try:
        overrides = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BadCategoriesFile(f"cannot read categories file {path}: {exc}") from exc
    return merge_categories(overrides)
