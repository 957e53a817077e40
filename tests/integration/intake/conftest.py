"""Intake over real HTTP (Flask's WSGI test client) on SQLite and the memory:// wiring, with a clock
the tests move; helpers to read what was stored and emitted."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from services.common.consumer import HandlerContext
from services.common.events import build_event, parse_event
from services.intake import handlers
from services.intake.models import Case, outbox
from tests.platform import Clock, Platform, dev_config


class Intake:
    """The intake app and a few words to drive it."""

    def __init__(self, platform: Platform, clock: Clock):
        self.platform = platform
        self.clock = clock
        self.client = platform.client("intake")
        self.runtime = platform.runtime("intake")

    def headers(self, role: str = "staff", **claims) -> dict[str, str]:
        if role == "staff":
            claims.setdefault("community", "武泰闸社区")
        if role == "department":
            claims.setdefault("department", "water")
        return self.platform.headers(role, **claims)

    def submit(self, body: dict, **headers) -> dict:
        response = self.client.post("/v1/cases", json=body, headers={**self.headers(), **headers})
        assert response.status_code == 201, response.json
        return response.json

    def read(self, case_id: str) -> dict:
        response = self.client.get(f"/v1/cases/{case_id}", headers=self.headers())
        assert response.status_code == 200, response.json
        return response.json

    def counts(self) -> tuple[int, int]:
        with self.runtime.transaction() as session:
            return (
                session.scalar(select(func.count()).select_from(Case)),
                session.scalar(select(func.count()).select_from(outbox)),
            )

    def events(self, event_type: str | None = None, subject: str | None = None) -> list[dict]:
        """Events written to intake's outbox, oldest first."""
        with self.runtime.transaction() as session:
            bodies = session.execute(select(outbox.c.body).order_by(outbox.c.seq)).scalars().all()
        found = [json.loads(body) for body in bodies]
        return [
            e
            for e in found
            if (event_type is None or e["type"] == event_type) and (subject is None or e.get("subject") == subject)
        ]

    def deliver(self, event_type: str, data: dict, *, at: datetime | None = None, event: dict | None = None) -> dict:
        """Hand a dispatch event to intake's handler as the consumer would; returns the envelope."""
        envelope = event or build_event(event_type, data, service="dispatch", time=at or self.clock.now)
        with self.runtime.transaction() as session:
            parsed = parse_event(envelope)
            handlers.HANDLERS[parsed.type](HandlerContext(session, self.runtime.outbox, self.clock.now), parsed)
        return envelope


START = datetime(2026, 6, 3, 0, 30, tzinfo=UTC)


def make_intake(tmp_path, **config) -> Intake:
    clock = Clock(START)
    platform = Platform(dev_config(tmp_path, CLOCK=clock, **config), services=("intake",))
    return Intake(platform, clock)


@pytest.fixture(scope="module")
def intake(tmp_path_factory):
    app = make_intake(tmp_path_factory.mktemp("intake"))
    yield app
    app.platform.stop()


@pytest.fixture
def fresh_intake(tmp_path):
    """An intake of the test's own: for rules where other tests' cases would be in the way."""
    app = make_intake(tmp_path)
    yield app
    app.platform.stop()
