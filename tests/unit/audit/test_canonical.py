"""The trail's canonical form is RFC 8785 (JCS) byte for byte, whichever encoder writes it."""

from __future__ import annotations

import random

import pytest
import rfc8785

from services.audit.chain import _plain, canonical

TRICKY_TEXT = [
    "",
    "地下车库自来水主管网渗漏",
    'a "quoted" \\ path',
    "tab\tnew\nline\rfeed\x0c\x08",
    "\x00\x01\x1f\x7f",
    "\u2028\u2029",
    "emoji 🚰 and 𠀋",
    "\ue000 private use",
    "é vs e\u0301",
]


# Coordinates and the like, written plainly by both; and floats that ECMAScript writes otherwise
# than Python's repr: integral ones (30 against 30.0) and those repr gives with an exponent.
FLOATS = [
    30.5512345,
    -114.30571,
    0.1 + 0.2,
    1e-4,
    123456.789,
    2.5,
    -0.5,
    9007199254740993.5,
    30.0,
    0.0,
    -0.0,
    1e16,
    1e21,
    1e-7,
    1.5e-5,
    5e-324,
    1.7976931348623157e308,
    123456789012345680.0,
]


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice(TRICKY_TEXT) + rng.choice(TRICKY_TEXT)
    if kind == 1:
        return rng.choice([0, -1, 7, 2**53 - 1, -(2**53 - 1), 10**15])
    if kind == 2:
        return rng.choice([True, False])
    if kind == 3:
        return None
    if kind == 4:
        return rng.choice(FLOATS)
    if kind == 5:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["seq", "data", "a", "B", "地址", "_x", "department", "z9", "é", "\ue000", "🚰", "\x7f"]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randrange(6))}


@pytest.mark.parametrize("seed", range(300))
def test_json_and_rfc8785_write_the_same_bytes(seed):
    row = random_value(random.Random(seed), depth=2) or {}
    row = row if isinstance(row, dict) else {"value": row}
    assert canonical(row) == rfc8785.dumps(row)


@pytest.mark.parametrize("value", FLOATS)
def test_each_float_is_written_as_rfc8785_writes_it(value):
    assert canonical({"value": value}) == rfc8785.dumps({"value": value})


def test_a_report_with_coordinates_is_written_by_json():
    assert _plain({"location": {"lat": 30.5512345, "lon": 114.30571}, "severity": "urgent"})


@pytest.mark.parametrize(
    "row",
    [
        {"lat": 30.0},  # ECMAScript writes an integral number without ".0"
        {"tiny": 1e-7},  # ... and the exponents its own way
        {"huge": 1e21},
        {"nan": float("nan")},
        {"big": 2**53},
        {"🚰": 1, "\ue000": 2},  # sorted differently by code point and by UTF-16 code unit
        {"text": "lone \ud800 surrogate"},
    ],
)
def test_what_json_would_write_otherwise_goes_through_rfc8785(row):
    assert not _plain(row)
    try:
        expected = rfc8785.dumps(row)
    except Exception as refused:  # rfc8785 refuses some of these outright; so must canonical
        with pytest.raises(type(refused)):
            canonical(row)
    else:
        assert canonical(row) == expected
