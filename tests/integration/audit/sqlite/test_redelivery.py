"""Audit's worker keeps no inbox: the trail, unique on the event id, is its record of what it applied.
An event delivered again — twice in one batch, in a later batch, or in a batch applied one message
at a time — is recorded once and counted as a duplicate."""

from __future__ import annotations

from sqlalchemy import func, select

from services.audit.models import TrailEntry, inbox
from services.audit.worker import build_worker
from services.common.events import parse_event
from tests.integration.audit.sqlite import trail
from tests.platform import bus_message


def handled(worker, outcome: str) -> float:
    return (
        worker.registry.get_sample_value(
            "whistle_events_handled_total", {"service": "audit", "type": "case.closed", "outcome": outcome}
        )
        or 0.0
    )


def counts(rt) -> tuple[int, int]:
    with rt.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(TrailEntry)),
            session.scalar(select(func.count()).select_from(inbox)),
        )


def test_an_event_delivered_again_is_recorded_once_and_no_inbox_row_is_written(audit, rt):
    worker = build_worker(audit.config)
    try:
        first, second = trail.closed(), trail.closed()
        outcomes = worker.consumer.apply([bus_message(first), bus_message(second), bus_message(first)])
        assert [outcome for _message, outcome, _error in outcomes] == ["ack"] * 3
        assert counts(rt) == (2, 0)
        worker.consumer.apply([bus_message(second)])
        assert counts(rt) == (2, 0)
        assert (handled(worker, "applied"), handled(worker, "duplicate")) == (2, 2)
    finally:
        worker.runtime.engine.dispose()


def test_one_message_at_a_time_a_recorded_event_is_a_duplicate_too(audit, rt):
    """After a failed batch the consumer applies each message in a savepoint of its own."""
    worker = build_worker(audit.config)
    try:
        event = trail.closed()
        worker.consumer.apply([bus_message(event)])
        with rt.transaction() as session:
            assert worker.consumer.applier.apply_one(session, parse_event(event)) == ("ack", None)
        assert counts(rt) == (1, 0)
        assert handled(worker, "duplicate") == 1
    finally:
        worker.runtime.engine.dispose()
