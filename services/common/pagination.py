"""Keyset cursors: an opaque token holding the sort key of the last item served."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import Select, tuple_

from .errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class PageArgs(Schema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(1, MAX_LIMIT))
    cursor = fields.String(load_default=None)


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode().rstrip("=")


def aware_datetime(text: str) -> datetime:
    """A cursor part that is a timestamp with its zone (as ``encode_cursor`` wrote it)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a cursor time carries its zone")
    return moment


def bad_cursor() -> ApiError:
    return ApiError(
        400, "BAD_CURSOR", "The cursor is not one this service issued.", {"query": {"cursor": ["Not a valid cursor."]}}
    )


def decode_cursor(token: str | None, *parts: Callable[[Any], Any]) -> list[Any] | None:
    """The key a cursor holds, each part converted by ``parts`` (e.g. ``aware_datetime, str``); a
    token this service did not issue — garbled, or of the wrong shape — is a 400, never a 500."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(key, list) or (parts and len(key) != len(parts)):
            raise ValueError("not a key of this list")
        return [convert(value) for convert, value in zip(parts, key, strict=True)] if parts else key
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise bad_cursor() from exc


def newest_first_after(query: Select, created: Any, ident: Any, token: str | None) -> Select:
    """The next page of a list ordered by (created, ident) descending. A row comparison, so
    PostgreSQL starts the index walk at the cursor instead of filtering its way there."""
    key = decode_cursor(token, aware_datetime, str)
    return query if key is None else query.where(tuple_(created, ident) < tuple_(*key))


def page(items: list[Any], limit: int, key_of) -> dict[str, Any]:
    """``items`` fetched with ``limit + 1``: the extra one only says whether a next page exists."""
    has_more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(key_of(items[-1])) if has_more else None}
