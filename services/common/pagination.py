"""Keyset cursors: an opaque token holding the sort key of the last item served."""

from __future__ import annotations

import base64
import json
from typing import Any

from marshmallow import Schema, fields, validate

from .errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class PageArgs(Schema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(1, MAX_LIMIT))
    cursor = fields.String(load_default=None)


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode().rstrip("=")


def decode_cursor(token: str | None) -> list[Any] | None:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "BAD_CURSOR", "The cursor is not one this service issued.",
                       {"query": {"cursor": ["Not a valid cursor."]}}) from exc
    if not isinstance(key, list):
        raise ApiError(400, "BAD_CURSOR", "The cursor is not one this service issued.",
                       {"query": {"cursor": ["Not a valid cursor."]}})
    return key


def page(items: list[Any], limit: int, key_of) -> dict[str, Any]:
    """``items`` fetched with ``limit + 1``: the extra one only says whether a next page exists."""
    has_more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(key_of(items[-1])) if has_more else None}
