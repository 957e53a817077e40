"""Reading cases in keyset order (newest first) with the list filters; shared by /v1 and Open311."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from services.common.pagination import newest_first_after

from .models import Case


def filtered(filters: dict[str, Any]) -> Select:
    """Equality filters and a [since, until) window on created_at, ordered by (created_at, id) desc:
    each filter has a (column, created_at, id) index, so a page is a short index walk."""
    query = select(Case).order_by(Case.created_at.desc(), Case.id.desc())
    for name in ("status", "category", "community"):
        value = filters.get(name)
        if isinstance(value, (list, tuple)):
            query = query.where(getattr(Case, name).in_(value))
        elif value:
            query = query.where(getattr(Case, name) == value)
    if filters.get("since"):
        query = query.where(Case.created_at >= filters["since"])
    if filters.get("until"):
        query = query.where(Case.created_at < filters["until"])
    return query


def after_cursor(query: Select, token: str | None) -> Select:
    return newest_first_after(query, Case.created_at, Case.id, token)


def cursor_key(case: Case) -> list[str]:
    return [case.created_at.isoformat(), case.id]
