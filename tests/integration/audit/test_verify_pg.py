"""GET /verify on PostgreSQL reads through a server-side cursor, a batch ahead of the walk: every row
is checked across batch boundaries, a range is just that range, and a walk that stops at a changed
row leaves the connection usable and no reader behind."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from sqlalchemy.orm import Session

from services.audit import verify
from services.common.db import make_engine
from tests.integration.audit.sqlite import trail

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(verify, "FETCH_SIZE", 3)  # eleven rows: four batches, each fetched ahead


def seeded(pg_audit):
    """Rows 1-8 plain, 9 awkward, 10 awkward with an object subject and a list actor department, 11 plain."""
    trail.append(
        pg_audit.runtime("audit"),
        *[trail.closed() for _ in range(8)],
        trail.awkward(),
        trail.awkward(structured=True),
        trail.closed(),
    )


def verified(pg_audit, query: str = "") -> dict:
    return pg_audit.client("audit").get(f"/v1/verify{query}", headers=pg_audit.headers("auditor")).json


class Owner:
    """The attacker: the owner's URL, the triggers disabled."""

    def __init__(self, url: str):
        self.engine = make_engine(url)

    @contextmanager
    def transaction(self):
        with Session(self.engine) as session, session.begin():
            yield session


def test_the_trail_and_its_ranges_verify_across_batches(pg_audit):
    seeded(pg_audit)
    assert (lambda v: (v["ok"], v["checked"], v["head"]["seq"]))(verified(pg_audit)) == (True, 11, 11)
    assert (lambda v: (v["ok"], v["checked"], v["head"]["seq"]))(verified(pg_audit, "?from_seq=4&to_seq=9")) == (
        True,
        6,
        9,
    )
    assert (lambda v: (v["ok"], v["checked"]))(verified(pg_audit, "?from_seq=10")) == (True, 2)


@pytest.mark.parametrize(("seq", "column"), [(9, column) for column in trail.QUERY_COLUMNS] + [(10, "department")])
def test_a_changed_query_column_stops_the_walk_there(pg_audit, seq, column):
    seeded(pg_audit)
    owner = Owner(pg_audit.owner_url)
    try:
        trail.drop_triggers(owner.engine)
        trail.change_query_column(owner, seq, column)
    finally:
        owner.engine.dispose()
    verdict = verified(pg_audit)
    assert (verdict["ok"], verdict["first_bad_seq"], verdict["checked"], verdict["head"]["seq"]) == (
        False,
        seq,
        seq,
        seq - 1,
    ), verdict
    assert verdict["problems"] == [f"row {seq}: a query column differs from the hashed row"]
    assert not [t for t in threading.enumerate() if t.name == "audit-verify-fetch"]
    assert verified(pg_audit, f"?to_seq={seq - 1}")["ok"] is True  # the pooled connection is fine
