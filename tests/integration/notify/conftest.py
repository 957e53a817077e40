"""Notify on its own (SQLite, memory://), driven with a fake clock: events are fed to its handlers
and its sender is called with a chosen ``now``, so backoff is shown without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.consumer import HandlerContext
from services.common.events import build_event, parse_event
from services.notify.handlers import HANDLERS
from services.notify.worker import build_sender
from tests.integration.notify.receivers import Mailbox, Receiver
from tests.platform import Clock, Platform, dev_config

SECRET = "w" * 40
START = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)
CASE_ID = "0b7e3f6a-4c1d-4f7e-9a55-2f1c8d9e0a11"
TASK_ID = "5d2a9c1e-7b3f-4e8a-b6d4-1a2b3c4d5e6f"


class Notify:
    """The notify app, its runtime and a sender; ``feed`` applies an event as the consumer would."""

    def __init__(self, platform: Platform, clock: Clock):
        self.platform = platform
        self.clock = clock
        self.client = platform.client("notify")
        self.runtime = platform.runtime("notify")
        self.sender = build_sender(self.runtime)

    def feed(self, envelope: dict) -> None:
        event = parse_event(envelope)
        with self.runtime.transaction() as session:
            HANDLERS[event.type](HandlerContext(session, self.runtime.outbox, self.clock()), event)

    def send(self) -> int:
        return self.sender.send_due(self.clock())

    def deliveries(self, **query) -> list[dict]:
        response = self.client.get("/v1/deliveries", query_string=query, headers=self.platform.headers("admin"))
        assert response.status_code == 200, response.json
        return response.json["items"]

    def outbox(self, event_type: str) -> list[dict]:
        import json

        table = self.runtime.outbox.table
        with self.runtime.transaction() as session:
            rows = session.execute(table.select().where(table.c.type == event_type)).all()
        return [json.loads(r.body) for r in rows]


@pytest.fixture
def clock():
    return Clock(START)


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.close()


@pytest.fixture
def notify_config(tmp_path, clock, mailbox):
    return dev_config(
        tmp_path,
        CLOCK=clock,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=mailbox.port,
        SMTP_FROM="whistle@test.example",
        WEBHOOK_CONNECT_TIMEOUT=0.5,
        WEBHOOK_READ_TIMEOUT=0.5,
        NOTIFY_THREADS=8,
    )


@pytest.fixture
def notify(notify_config, clock):
    platform = Platform(notify_config, services=("notify",))
    wrapped = Notify(platform, clock)
    yield wrapped
    wrapped.sender.close()
    platform.stop()


@pytest.fixture
def receiver():
    r = Receiver(SECRET)
    yield r
    r.close()


def task_assigned(
    department: str = "water", case_id: str = CASE_ID, task_id: str = TASK_ID, community: str | None = "武泰闸社区"
) -> dict:
    return build_event(
        "task.assigned",
        {
            "case_id": case_id,
            "task_id": task_id,
            "department": department,
            "role": "lead",
            "severity": "urgent",
            "case_number": "WS-2026-000001",
            "title": "地下车库自来水主管网渗漏",
            "address": "伟业佳苑地下停车场",
            "community": community,
            "ack_due": "2026-06-03T10:00:00Z",
            "resolve_due": "2026-06-04T08:00:00Z",
        },
        service="dispatch",
    )


def case_event(event_type: str, case_id: str = CASE_ID, **data) -> dict:
    return build_event(event_type, {"case_id": case_id, **data}, service="dispatch")
