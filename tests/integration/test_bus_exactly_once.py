"""At least once on the wire, at most once in effect: the same message delivered twice is
applied once (inbox keyed on source and id, in the handler's transaction)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from services.audit.models import TrailEntry
from services.common.broker import Outgoing, connect, open_publisher
from services.common.config import Settings
from services.common.events import build_event, encode
from services.common.topology import Topology
from services.dispatch.models import Task
from tests.platform import Platform, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


def reported(case_id: str) -> dict:
    return build_event(
        "case.reported",
        {
            "case_id": case_id,
            "number": "WS-2026-009999",
            "title": "漏水",
            "category": "water_supply",
            "severity": "urgent",
            "location": {"address": "伟业佳苑"},
            "reported_at": datetime.now(UTC).isoformat(),
        },
        service="intake",
    )


def test_a_message_delivered_twice_is_applied_once(real_config):
    platform = Platform(real_config, services=("dispatch", "audit")).start_workers()
    try:
        settings = Settings.load("dispatch", real_config)
        envelope = reported(str(uuid.uuid4()))
        message = Outgoing(
            envelope["id"], "case.reported", encode(envelope), Topology(settings.topology_prefix).exchange.name
        )
        publisher = open_publisher(settings, connect(settings))
        try:
            for _ in range(2):  # e.g. a relay that crashed after publishing, before marking sent
                assert publisher.publish_batch([message]).confirmed == {envelope["id"]}
        finally:
            publisher.close()

        def handled(service):
            metric = platform.workers[service].registry.get_sample_value
            labels = {"service": service, "type": "case.reported"}
            return (
                (metric("whistle_events_handled_total", {**labels, "outcome": "applied"}) or 0),
                (metric("whistle_events_handled_total", {**labels, "outcome": "duplicate"}) or 0),
            )

        def stored():
            with platform.runtime("dispatch").transaction() as session:
                tasks = session.scalar(
                    select(func.count()).select_from(Task).where(Task.case_id == envelope["data"]["case_id"])
                )
            with platform.runtime("audit").transaction() as session:
                rows = session.scalar(
                    select(func.count()).select_from(TrailEntry).where(TrailEntry.event_id == envelope["id"])
                )
            return tasks, rows

        # Metrics count a handling before its batch commits: wait for both, then look again.
        wait_for(
            lambda: handled("dispatch") == (1, 1) and handled("audit") == (1, 1) and stored() == (1, 1),
            what="both deliveries handled by dispatch and audit",
        )
        tasks, rows = stored()
        assert (tasks, rows) == (1, 1)
    finally:
        platform.stop()
