"""The hash chain (pure): leaf = SHA-256(0x00 || JCS(row)); chain = SHA-256(prev chain || leaf)."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

GENESIS = bytes(32)


def canonical(row: dict[str, Any]) -> bytes:
    return rfc8785.dumps(row)


def leaf_hash(canonical_bytes: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + canonical_bytes).digest()


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(previous + leaf).digest()
