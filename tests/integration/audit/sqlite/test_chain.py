"""The hashing scheme, and appending in one order even inside a consumer's batch of savepoints."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from services.audit import chain, service
from services.audit.models import TrailEntry
from services.common.events import parse_event
from tests.integration.audit.sqlite import trail


def test_leaf_and_chain_hashes_follow_the_published_scheme():
    canonical = chain.canonical({"b": 1, "a": "尹*", "c": 1.0})
    assert canonical == '{"a":"尹*","b":1,"c":1}'.encode()  # RFC 8785: sorted keys, UTF-8, shortest numbers
    leaf = chain.leaf_hash(canonical)
    assert leaf == hashlib.sha256(b"\x00" + canonical).digest()
    assert chain.chain_hash(chain.GENESIS, leaf) == hashlib.sha256(bytes(32) + leaf).digest()


def test_rows_store_canonical_bytes_that_re_hash_to_the_chain(rt):
    entries = trail.append(rt, *[trail.closed() for _ in range(3)])
    previous = chain.GENESIS
    for seq, entry in enumerate(entries, start=1):
        assert entry.seq == seq and json.loads(entry.canonical)["seq"] == seq
        assert entry.canonical == chain.canonical(json.loads(entry.canonical))
        previous = chain.chain_hash(previous, chain.leaf_hash(entry.canonical))
        assert entry.chain_hash == previous.hex()


def test_a_rolled_back_savepoint_does_not_leave_a_stale_head(rt, client, auditor):
    """The consumer applies each message of a batch in a savepoint; the head is cached per
    transaction, and a savepoint's rollback must forget the rows it undid."""
    now = datetime.now(UTC)
    with rt.transaction() as session:
        service.append(session, parse_event(trail.closed()), now)
        with pytest.raises(RuntimeError), session.begin_nested():
            service.append(session, parse_event(trail.closed()), now)
            raise RuntimeError("handler failed after appending")
        service.append(session, parse_event(trail.closed()), now)
    with rt.transaction() as session:
        assert [e.seq for e in session.query(TrailEntry).order_by(TrailEntry.seq)] == [1, 2]
    trail.append(rt, trail.closed())
    verdict = client.get("/v1/verify", headers=auditor).json
    assert (verdict["ok"], verdict["checked"]) == (True, 3)
