"""A relay looks at its outbox by itself every ``WHISTLE_RELAY_POLL`` where web processes write it
too (intake, dispatch); where only the worker writes it (notify's sender) or nothing does (audit),
the worker's own commits wake it and it looks by itself only every SOLE_WRITER_POLL."""

from __future__ import annotations

import importlib
import time
import uuid

import pytest
from sqlalchemy import select

from services.common.worker import SOLE_WRITER_POLL
from tests.platform import Platform, dev_config, wait_for


def looks_in(service: str, config: dict, seconds: float) -> int:
    worker = importlib.import_module(f"services.{service}.worker").build_worker(config, consume=False)
    looks = []
    relay_once = worker.relay.relay_once
    worker.relay.relay_once = lambda publisher: looks.append(time.monotonic()) or relay_once(publisher)
    worker.start()
    try:
        time.sleep(seconds)
    finally:
        worker.stop()
        worker.runtime.engine.dispose()
    return len(looks)


@pytest.mark.parametrize(
    ("service", "sole_writer"), [("intake", False), ("dispatch", False), ("notify", True), ("audit", True)]
)
def test_a_relay_polls_briefly_only_where_another_process_writes_its_outbox(tmp_path, service, sole_writer):
    config = dev_config(tmp_path)  # RELAY_POLL 0.02
    platform = Platform(config, services=(service,))
    try:
        looks = looks_in(service, config, 1.0)
    finally:
        platform.stop()
    if sole_writer:
        assert looks == 1  # the first, at start; the next SOLE_WRITER_POLL later
    else:
        assert looks > 10
    assert SOLE_WRITER_POLL > 1.0


def test_a_sole_writers_relay_publishes_its_own_commits_at_once(tmp_path):
    """What notify's sender commits wakes its relay: it goes out in well under SOLE_WRITER_POLL."""
    config = dev_config(tmp_path)
    platform = Platform(config, services=("notify",))
    worker = importlib.import_module("services.notify.worker").build_worker(config, consume=False, send=False)
    worker.start()
    try:
        time.sleep(0.3)  # the relay's first look is over; it waits now
        runtime = worker.runtime
        with runtime.transaction() as session:  # as the sender's settling transaction does
            [event] = runtime.outbox.emit_many(
                session,
                [
                    (
                        "notification.sent",
                        {
                            "delivery_id": str(uuid.uuid4()),
                            "event_id": str(uuid.uuid4()),
                            "event_type": "task.assigned",
                            "channel": "webhook",
                            "recipient": "https://water.example/hook",
                            "attempts": 1,
                            "department": "water",
                        },
                        {},
                    )
                ],
            )
        committed = time.monotonic()
        table = runtime.outbox.table

        def sent():
            with runtime.transaction() as session:
                return session.scalar(select(table.c.status).where(table.c.event_id == event["id"])) == "sent"

        wait_for(sent, timeout=SOLE_WRITER_POLL, what="the relay to publish the worker's own event")
        assert time.monotonic() - committed < SOLE_WRITER_POLL / 2
    finally:
        worker.stop()
        worker.runtime.engine.dispose()
        platform.stop()
