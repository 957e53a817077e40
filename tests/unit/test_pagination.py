"""Keyset cursors: what this service issued reads back; anything else is a 400, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.errors import ApiError
from services.common.pagination import aware_datetime, decode_cursor, encode_cursor

WHEN = datetime(2026, 6, 3, 0, 30, tzinfo=UTC)


def test_a_key_round_trips_with_its_parts_converted():
    token = encode_cursor([WHEN.isoformat(), "c0ffee"])
    assert decode_cursor(token, aware_datetime, str) == [WHEN, "c0ffee"]
    assert decode_cursor(encode_cursor([42]), int) == [42]
    assert decode_cursor(None, int) is None


@pytest.mark.parametrize(
    "token, parts",
    [
        ("%%%", (int,)),  # not base64
        (encode_cursor([]) + "x", (int,)),  # not JSON
        ("eyJhIjogMX0", (int,)),  # JSON, but an object
        (encode_cursor(["yesterday", "x"]), (aware_datetime, str)),
        (encode_cursor(["2026-06-03T00:30:00", "x"]), (aware_datetime, str)),  # no zone
        (encode_cursor([WHEN.isoformat()]), (aware_datetime, str)),  # too short
        (encode_cursor(["seven"]), (int,)),
        (encode_cursor([None]), (int,)),
    ],
)
def test_a_cursor_this_service_did_not_issue_is_a_400(token, parts):
    with pytest.raises(ApiError) as raised:
        decode_cursor(token, *parts)
    assert (raised.value.status, raised.value.code) == (400, "BAD_CURSOR")
