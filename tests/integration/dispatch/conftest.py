"""Dispatch on the real PostgreSQL (and RabbitMQ): its database migrated and seeded, and cases whose
deadlines already passed, made through dispatch's own rules at a time in the past."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.dispatch import cases
from services.dispatch.models import Timer
from services.dispatch.seed import seed_defaults
from services.dispatch.work import Work
from tests.platform import Platform


class PgDesk:
    def __init__(self, config: dict):
        self.config = config
        self.platform = Platform(config, services=("dispatch",))
        self.runtime = self.platform.runtime("dispatch")
        self.client = self.platform.client("dispatch")
        with self.runtime.transaction() as session:
            seed_defaults(session)

    def report_in_the_past(self, count: int, category: str = "trees", days_ago: float = 1) -> list[str]:
        """Cases reported ``days_ago``: every alarm of their tasks is due now."""
        then = datetime.now(UTC) - timedelta(days=days_ago)
        ids = []
        with self.runtime.transaction() as session:
            work = Work(session, self.runtime.outbox, then)
            for _ in range(count):
                case_id = str(uuid.uuid4())
                cases.receive_case(
                    work,
                    {
                        "case_id": case_id,
                        "number": f"WS-2026-{uuid.uuid4().int % 10**6:06d}",
                        "title": "树枝缠绕电线",
                        "category": category,
                        "severity": "emergency",
                        "location": {"address": "武泰闸社区"},
                    },
                )
                ids.append(case_id)
        return ids

    def timer_counts(self) -> tuple[int, int]:
        """(unfired, fired) timers."""
        with self.runtime.transaction() as session:
            pending = session.scalar(select(func.count()).select_from(Timer).where(Timer.fired_at.is_(None)))
            fired = session.scalar(select(func.count()).select_from(Timer).where(Timer.outcome == "fired"))
        return pending, fired

    def close(self) -> None:
        self.platform.stop()


@pytest.fixture
def pg_desk(real_config):
    desk = PgDesk(real_config)
    yield desk
    desk.close()
