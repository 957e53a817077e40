"""Dispatch under test: its app (test client) and its worker, sharing one SQLite database and a clock
the test moves. Events arrive through the worker's real consumer path (inbox, handlers, one
transaction) without a broker; timers fire through the worker's own scan."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from services.common.db import new_id
from services.common.events import build_event
from services.dispatch.models import Timer, metadata
from services.dispatch.worker import build_worker
from tests.platform import Clock, Platform, bus_message, dev_config

START = datetime(2026, 6, 3, 7, 0, tzinfo=UTC)  # 7 a.m. — when the valve bursts


class Desk:
    """The dispatch service as a test drives it."""

    def __init__(self, config: dict, clock: Clock):
        self.clock = clock
        self.platform = Platform(config, services=("dispatch",))
        self.worker = build_worker(config)
        self.client = self.platform.client("dispatch")
        self.runtime = self.platform.runtime("dispatch")
        self.outbox = metadata.tables["outbox"]

    def close(self) -> None:
        self.worker.runtime.engine.dispose()
        self.platform.stop()

    # ---- who is asking ---------------------------------------------------------------------
    def headers(self, who: str) -> dict[str, str]:
        """'staff', 'admin', 'auditor', 'service', or a department code ('water')."""
        if who in ("staff", "admin", "auditor", "service"):
            claims = {"community": "武泰闸社区"} if who == "staff" else {}
            return self.platform.headers(who, **claims)
        return self.platform.headers("department", department=who)

    def get(self, path: str, who: str = "staff"):
        return self.client.get(path, headers=self.headers(who))

    def post(self, path: str, body: dict, who: str = "staff", **headers):
        return self.client.post(path, json=body, headers={**self.headers(who), **headers})

    def put(self, path: str, body: dict, who: str = "admin"):
        return self.client.put(path, json=body, headers=self.headers(who))

    # ---- events in and out -----------------------------------------------------------------
    def deliver(self, event_type: str, data: dict, source: str = "intake") -> dict:
        """Hand an event to the worker's consumer exactly as a delivery from the bus."""
        envelope = build_event(event_type, data, service=source, time=self.clock())
        self.redeliver(envelope)
        return envelope

    def redeliver(self, *envelopes: dict) -> None:
        """Envelopes as one delivered batch: applied in one transaction, as under load."""
        outcomes = self.worker.consumer.apply([bus_message(envelope) for envelope in envelopes])
        assert [o[1] for o in outcomes] == ["ack"] * len(envelopes), outcomes

    def report(self, category: str = "water_supply", severity: str = "urgent", **details) -> str:
        data = self.reported(category, severity, **details)
        self.deliver("case.reported", data)
        return data["case_id"]

    def reported(
        self,
        category: str = "water_supply",
        severity: str = "urgent",
        *,
        street: str | None = "紫阳街道",
        community: str | None = "武泰闸社区",
        title: str = "地下车库自来水主管网渗漏",
        address: str = "伟业佳苑地下停车场",
        duplicate_of: str | None = None,
    ) -> dict:
        """The data of a new case's ``case.reported``."""
        return {
            "case_id": new_id(),
            "number": f"WS-2026-{uuid.uuid4().int % 10**6:06d}",
            "title": title,
            "category": category,
            "severity": severity,
            "reported_at": self.clock().isoformat(),
            "location": {"address": address, "street": street, "community": community},
            "duplicate_of": duplicate_of,
        }

    def tick(self) -> int:
        """One pass of the worker's deadline scan at the test's time."""
        [timer] = [t for t in self.worker.timers if t.name == "deadlines"]
        return timer.run(self.worker.runtime, self.clock())

    def events(self, *types: str, case_id: str | None = None) -> list[tuple[str, dict]]:
        with self.runtime.transaction() as session:
            bodies = session.execute(select(self.outbox.c.body).order_by(self.outbox.c.seq)).scalars().all()
        found = [(e["type"], e["data"]) for e in map(json.loads, bodies)]
        return [
            (t, d) for t, d in found if (not types or t in types) and (case_id is None or d.get("case_id") == case_id)
        ]

    def types(self, case_id: str | None = None) -> list[str]:
        return [t for t, _ in self.events(case_id=case_id)]

    def outbox_count(self) -> int:
        with self.runtime.transaction() as session:
            return session.scalar(select(func.count()).select_from(self.outbox))

    def pending_timers(self, task_id: str) -> set[str]:
        with self.runtime.transaction() as session:
            return set(session.scalars(select(Timer.kind).where(Timer.task_id == task_id, Timer.fired_at.is_(None))))

    # ---- reading state ---------------------------------------------------------------------
    def case(self, case_id: str) -> dict:
        response = self.get(f"/v1/cases/{case_id}")
        assert response.status_code == 200, response.json
        return response.json

    def task_of(self, case_id: str, department: str, status: str | None = None) -> dict:
        tasks = [
            t
            for t in self.case(case_id)["tasks"]
            if t["department"] == department and (status is None or t["status"] == status)
        ]
        assert tasks, f"no {status or ''} task for {department} on {case_id}"
        return tasks[-1]

    def act(self, task: dict, action: str, body: dict, who: str | None = None, status: int = 200) -> dict:
        response = self.post(f"/v1/tasks/{task['id']}/{action}", body, who or task["department"])
        assert response.status_code == status, response.json
        return response.json


def desk_config(tmp_path, clock: Clock, **extra) -> dict:
    # The scan is driven by the test (tick); the worker's own thread never runs here.
    return dev_config(tmp_path, CLOCK=clock, **extra)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def desk(tmp_path, clock):
    running = Desk(desk_config(tmp_path, clock), clock)
    yield running
    running.close()
