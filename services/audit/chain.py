"""The hash chain (pure): leaf = SHA-256(0x00 || JCS(row)); chain = SHA-256(prev chain || leaf)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

import rfc8785

GENESIS = bytes(32)

SAFE_INTEGER = 2**53 - 1  # beyond it an ECMAScript number loses digits; rfc8785 refuses it
_SURROGATE = re.compile("[\ud800-\udfff]")
_SORTS_OTHERWISE_IN_UTF16 = re.compile("[\ud800-\U0010ffff]")


def canonical(row: dict[str, Any]) -> bytes:
    """The row in RFC 8785 (JCS) form. A row of strings, safe integers, booleans, nulls and plainly
    written floats — every row the trail writes — is written by json's C encoder, which then gives
    the same bytes at a fifth of the rfc8785 package's cost; anything else goes through that package."""
    if _plain(row):
        return json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return rfc8785.dumps(row)


def _plain(value: Any) -> bool:
    """Whether json writes ``value`` exactly as JCS does: integers within ±2^53; floats whose
    shortest form (``repr``, which json writes) has neither an exponent nor a trailing ``.0`` — a
    report's coordinates, say — since JCS writes the same digits and differs only there (the
    rfc8785 package starts from ``repr`` too); no lone surrogates in strings; and object keys
    below U+D800, where sorting by code point (Python) and by UTF-16 code unit (JCS) agree."""
    kind = type(value)
    if kind is str:
        return value.isascii() or not _SURROGATE.search(value)
    if kind is dict:
        return all(
            type(key) is str and (key.isascii() or not _SORTS_OTHERWISE_IN_UTF16.search(key)) and _plain(item)
            for key, item in value.items()
        )
    if kind is list:
        return all(_plain(item) for item in value)
    if kind is int:
        return -SAFE_INTEGER <= value <= SAFE_INTEGER
    if kind is float:
        written = repr(value)
        return math.isfinite(value) and "e" not in written and not written.endswith(".0")
    return value is None or kind is bool


def leaf_hash(canonical_bytes: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + canonical_bytes).digest()


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(previous + leaf).digest()
