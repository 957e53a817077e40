"""Old bus rows are forgotten (services/common/pruning.py): outbox rows sent more than a week ago
and inbox rows handled more than a month ago, never a row still pending; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from services.common.config import Settings
from services.common.migrations import upgrade
from services.common.pruning import prune_bus_tables
from services.common.runtime import Runtime
from services.intake.models import metadata

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def runtime_on(url: str, **overrides) -> Runtime:
    upgrade("intake", url)
    return Runtime.build(Settings.load("intake", {"INTAKE_DATABASE_URL": url, **overrides}), metadata)


def fill(runtime: Runtime) -> None:
    def outbox_row(status: str, created_days: float, sent_days: float | None) -> dict:
        return {
            "event_id": str(uuid.uuid4()),
            "type": "case.reported",
            "body": "{}",
            "status": status,
            "attempts": 0,
            "created_at": NOW - timedelta(days=created_days),
            "sent_at": None if sent_days is None else NOW - timedelta(days=sent_days),
        }

    def inbox_row(days: float) -> dict:
        return {
            "source": "dispatch",
            "event_id": str(uuid.uuid4()),
            "type": "case.dispatched",
            "handled_at": NOW - timedelta(days=days),
        }

    with runtime.transaction() as session:
        session.execute(
            insert(runtime.outbox.table),
            [
                *(outbox_row("sent", 9, 8) for _ in range(5)),  # sent over a week ago: forgotten
                *(outbox_row("sent", 2, 1) for _ in range(3)),  # sent yesterday: kept
                *(outbox_row("pending", 40, None) for _ in range(2)),  # never confirmed: kept, however old
            ],
        )
        session.execute(
            insert(runtime.inbox_table), [*(inbox_row(31) for _ in range(4)), *(inbox_row(29) for _ in range(2))]
        )


def counts(runtime: Runtime) -> dict[str, int]:
    outbox, inbox = runtime.outbox.table, runtime.inbox_table
    with runtime.transaction() as session:
        by_status = dict(session.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all())
        return {**by_status, "inbox": session.scalar(select(func.count()).select_from(inbox))}


def test_rows_past_their_keeping_time_are_forgotten_in_chunks(database_url):
    runtime = runtime_on(database_url)
    fill(runtime)
    assert prune_bus_tables(runtime, NOW, chunk=2) == 5 + 4  # several chunks each
    assert counts(runtime) == {"sent": 3, "pending": 2, "inbox": 2}
    assert prune_bus_tables(runtime, NOW, chunk=2) == 0
    runtime.engine.dispose()


def test_keeping_times_are_settings(database_url):
    runtime = runtime_on(database_url, OUTBOX_KEEP_DAYS="0.5", INBOX_KEEP_DAYS="60")
    fill(runtime)
    assert prune_bus_tables(runtime, NOW) == 8
    assert counts(runtime) == {"pending": 2, "inbox": 6}
    runtime.engine.dispose()


@pytest.mark.parametrize("service, pruned", [("intake", True), ("dispatch", True), ("notify", True), ("audit", False)])
def test_every_worker_but_audits_prunes(tmp_path, service, pruned):
    """Audit's worker runs as its insert-only role, which may not delete, and publishes nothing."""
    import importlib

    upgrade(service, f"sqlite:///{tmp_path / service}.db")
    worker = importlib.import_module(f"services.{service}.worker").build_worker(
        {"DATA_DIR": str(tmp_path), "BROKER_URL": "memory://"}
    )
    assert ("prune-bus-tables" in [t.name for t in worker.timers]) is pruned
    worker.runtime.engine.dispose()
