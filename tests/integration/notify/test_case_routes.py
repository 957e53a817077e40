"""What notify learns of a case (its route) from a consumer batch, in whatever order the events come:
a route made from its case's report is complete at once and is not written a second time."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from services.common.events import build_event
from services.notify.models import CaseRoute
from services.notify.worker import build_worker
from tests.integration.notify.conftest import CASE_ID, task_assigned
from tests.platform import bus_message

REPORTED = build_event(
    "case.reported",
    {
        "case_id": CASE_ID,
        "number": "WS-2026-000001",
        "title": "地下车库自来水主管网渗漏",
        "category": "water_supply",
        "severity": "urgent",
        "channel": "grid",
        "reported_at": "2026-06-03T08:00:00Z",
        "location": {"address": "伟业佳苑地下停车场", "community": "武泰闸社区"},
        "reporter": {"name": "尹**", "phone": "138****8000", "ref": "r-1"},
    },
    service="intake",
)


@pytest.fixture
def worker(notify, notify_config):
    built = build_worker(notify_config, send=False)
    yield built
    built.runtime.engine.dispose()


def apply(worker, *envelopes: dict) -> list[str]:
    """Apply the envelopes as one batch from the bus; returns the UPDATEs of case_routes it ran."""
    updates: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("UPDATE CASE_ROUTES"):
            updates.append(statement)

    engine = worker.runtime.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        batch = [bus_message(e) for e in envelopes]
        assert [outcome for _m, outcome, _e in worker.consumer.apply(batch)] == ["ack"] * len(envelopes)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return updates


def route(worker) -> CaseRoute:
    with worker.runtime.transaction() as session:
        return session.scalars(select(CaseRoute).where(CaseRoute.case_id == CASE_ID)).one()


def test_a_route_made_from_its_report_is_written_once(worker, clock):
    assert apply(worker, REPORTED) == []
    learnt = route(worker)
    assert learnt.updated_at == clock()  # the consumer's clock, as the handlers see it
    assert (
        learnt.number,
        learnt.title,
        learnt.address,
        learnt.community,
        learnt.departments,
        learnt.reporter_has_phone,
    ) == ("WS-2026-000001", "地下车库自来水主管网渗漏", "伟业佳苑地下停车场", "武泰闸社区", [], True)
    assert len(apply(worker, task_assigned("water"))) == 1
    assert route(worker).departments == ["water"]


def test_a_task_assigned_before_its_report_arrived_is_kept(worker):
    apply(worker, task_assigned("water", community=None))
    assert (route(worker).departments, route(worker).community) == (["water"], None)
    assert len(apply(worker, REPORTED)) == 1  # the report adds what the task did not say
    learnt = route(worker)
    assert (learnt.departments, learnt.community, learnt.reporter_has_phone) == (["water"], "武泰闸社区", True)


def test_a_report_and_its_task_in_one_batch_make_one_route(worker):
    apply(worker, REPORTED, task_assigned("water"), task_assigned("housing"))
    learnt = route(worker)
    assert (learnt.number, learnt.departments, learnt.reporter_has_phone) == (
        "WS-2026-000001",
        ["water", "housing"],
        True,
    )
