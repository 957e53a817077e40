"""GET /verify holds every stored query column against the hashed row, however awkward the row's
content, and names the row whose column was changed; reading ahead never outlives the walk."""

from __future__ import annotations

import threading

import pytest

from services.audit.verify import _read_ahead
from tests.integration.audit.sqlite import trail


def seed_awkward(rt) -> None:
    """Rows 1-5: plain, awkward, plain, awkward with an object subject and a list actor department, plain."""
    trail.append(rt, trail.closed(), trail.awkward(), trail.closed(), trail.awkward(structured=True), trail.closed())


def test_awkward_rows_verify(rt, client, auditor):
    seed_awkward(rt)
    verdict = client.get("/v1/verify", headers=auditor).json
    assert (verdict["ok"], verdict["checked"], verdict["first_bad_seq"]) == (True, 5, None), verdict


@pytest.mark.parametrize("seq", [2, 3, 4], ids=["awkward", "plain", "structured"])
@pytest.mark.parametrize("column", list(trail.QUERY_COLUMNS))
def test_a_changed_query_column_is_named(rt, client, auditor, column, seq):
    seed_awkward(rt)
    trail.drop_triggers(rt.engine)
    trail.change_query_column(rt, seq, column)
    verdict = client.get("/v1/verify", headers=auditor).json
    assert (verdict["ok"], verdict["checked"], verdict["first_bad_seq"]) == (False, seq, seq), verdict
    assert verdict["problems"] == [f"row {seq}: a query column differs from the hashed row"]


def fetcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "audit-verify-fetch"]


def test_reading_ahead_yields_every_row_in_order():
    batches = iter([[1, 2], [3], [4, 5, 6], []])
    assert list(_read_ahead(lambda: next(batches))) == [1, 2, 3, 4, 5, 6]
    assert not fetcher_threads()


def test_stopping_early_stops_the_fetcher():
    fetched = []

    def fetch():  # an endless trail
        fetched.append(len(fetched))
        return [len(fetched)]

    rows = _read_ahead(fetch)
    assert next(rows) == 1
    rows.close()
    assert not fetcher_threads()
    assert len(fetched) <= 3  # the batch walked, one waiting, one being fetched: never the whole trail


def test_a_failed_fetch_is_raised_to_the_walk():
    batches = iter([[1], RuntimeError("connection lost")])

    def fetch():
        item = next(batches)
        if isinstance(item, Exception):
            raise item
        return item

    rows = _read_ahead(fetch)
    assert next(rows) == 1
    with pytest.raises(RuntimeError, match="connection lost"):
        next(rows)
    assert not fetcher_threads()
