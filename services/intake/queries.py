"""Reading cases in keyset order (newest first) with the list filters; shared by /v1 and Open311."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, tuple_

from services.common.errors import ApiError
from services.common.pagination import decode_cursor

from .models import Case

BAD_CURSOR = ApiError(400, "BAD_CURSOR", "The cursor is not one this service issued.",
                      {"query": {"cursor": ["Not a valid cursor."]}})


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
    key = decode_cursor(token)
    if not key:
        return query
    try:
        created, case_id = datetime.fromisoformat(key[0]), str(key[1])
    except (ValueError, TypeError, IndexError) as exc:
        raise BAD_CURSOR from exc
    if created.tzinfo is None or len(key) != 2:
        raise BAD_CURSOR
    # A row comparison, so PostgreSQL starts the index walk at the cursor instead of filtering its way there.
    return query.where(tuple_(Case.created_at, Case.id) < tuple_(created, case_id))


def cursor_key(case: Case) -> list[str]:
    return [case.created_at.isoformat(), case.id]
