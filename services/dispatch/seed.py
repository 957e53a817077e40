"""Loads departments and routing rules from a YAML file into an empty dispatch database."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import Department, RoutingRule

DEFAULT_RULES = Path(__file__).with_name("rules.yaml")


def seed_defaults(session: Session, path: Path | str | None = None) -> bool:
    """Fill departments and rules if there are none yet; True when it did."""
    if session.scalar(select(func.count()).select_from(Department)):
        return False
    config = yaml.safe_load(Path(path or DEFAULT_RULES).read_text(encoding="utf-8"))
    for dept in config["departments"]:
        session.add(Department(code=dept["code"], name_zh=dept["name_zh"], name_en=dept["name_en"], active=True))
    for rule in config["rules"]:
        session.add(
            RoutingRule(
                category=rule["category"],
                street=rule.get("street"),
                community=rule.get("community"),
                lead=rule["lead"],
                assists=rule.get("assists") or [],
                fallback=rule.get("fallback") or [],
                severity=rule.get("severity") or "normal",
            )
        )
    return True
