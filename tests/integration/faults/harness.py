"""A minimal service on the real bus machinery, run as a process of its own so a test can kill it.

    python -m tests.integration.faults.harness relay|consume

It is the ``audit`` service as far as the bus goes (its queue binds ``#``), with a tiny schema: the
outbox and inbox every service has, ``applications`` (one row per time the handler applied an event,
deliberately without a unique key: an event applied twice shows as two rows, which the inbox would
otherwise hide), ``poison`` (events the handler refuses while they are listed) and
``poison_attempts`` (each refusal, written outside the handler's transaction so it survives the
rollback). Settings come from the usual ``WHISTLE_*`` variables (``WHISTLE_AUDIT_DATABASE_URL``,
``WHISTLE_BROKER_URL``, ``WHISTLE_TOPOLOGY_PREFIX``, ``WHISTLE_FAILPOINT``, …). ``HARNESS_STATS``
names a file the process rewrites every 0.1 s with its counters, so that even a process killed by
SIGKILL leaves what it had counted.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, insert, select

from services.common.config import Settings
from services.common.consumer import Consumer, HandlerContext
from services.common.db import BigId, UTCDateTime, bus_tables, make_engine, make_sessionmaker, utcnow
from services.common.events import Event
from services.common.metrics import WorkerMetrics, new_registry
from services.common.outbox import Outbox
from services.common.relay import Relay

SERVICE = "audit"
EVENT_TYPE = "department.updated"

metadata = MetaData()
outbox_table, inbox_table = bus_tables(metadata)
applications = Table(
    "applications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
    Column("pid", Integer, nullable=False),
)
poison = Table("poison", metadata, Column("event_id", String(36), primary_key=True))
poison_attempts = Table(
    "poison_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
slow_events = Table(  # events whose handler sleeps this long before applying
    "slow_events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("seconds", Float, nullable=False),
)


def make_handler(engine):
    def apply_department(ctx: HandlerContext, event: Event) -> None:
        session = ctx.session
        if session.scalar(select(poison.c.event_id).where(poison.c.event_id == event.id)):
            with engine.begin() as own:  # its own transaction: the handler's is about to roll back
                own.execute(insert(poison_attempts).values(event_id=event.id, at=utcnow()))
            raise RuntimeError(f"event {event.id} is poison")
        pause = session.scalar(select(slow_events.c.seconds).where(slow_events.c.event_id == event.id))
        if pause:
            time.sleep(pause)
        session.execute(insert(applications).values(event_id=event.id, applied_at=utcnow(), pid=os.getpid()))

    return apply_department


def snapshot(metrics: WorkerMetrics, registry, ready: bool) -> dict:
    def sample(name: str, **labels) -> float:
        return registry.get_sample_value(name, {"service": SERVICE, **labels}) or 0

    handled = {
        outcome: sample("whistle_events_handled_total", type=EVENT_TYPE, outcome=outcome)
        for outcome in ("applied", "duplicate", "failed")
    }
    return {
        "pid": os.getpid(),
        "ready": ready,
        **handled,
        "retried": sample("whistle_event_retries_total", target="wait"),
        "dead_lettered": sample("whistle_event_retries_total", target="dlq"),
        "published": sample("whistle_events_published_total"),
        "outbox_backlog": sample("whistle_outbox_backlog"),
        "dlq_depth": sample("whistle_dlq_depth"),
    }


def write_stats(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)  # atomic: a reader never sees half a file


def main(argv: list[str]) -> int:
    role = argv[0]
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(process)d %(threadName)s %(levelname)s %(message)s"
    )
    settings = Settings.load(SERVICE)
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    outbox = Outbox(SERVICE, outbox_table)
    registry = new_registry()
    metrics = WorkerMetrics(SERVICE, registry)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if role == "relay":
        relay = Relay(settings, sessions, outbox_table, outbox.written, metrics, observe_every=0.3)
        ready, run = (lambda: True), relay.run
    elif role == "consume":
        consumer = Consumer(
            settings, sessions, inbox_table, outbox, {EVENT_TYPE: make_handler(engine)}, metrics=metrics
        )
        ready, run = consumer.ready.is_set, consumer.run
    else:
        raise SystemExit(f"harness: unknown role {role!r} (relay or consume)")
    stats = Path(os.environ["HARNESS_STATS"])

    def report() -> None:
        while not stop.wait(0.1):
            write_stats(stats, snapshot(metrics, registry, ready()))

    threading.Thread(target=report, daemon=True, name="stats").start()
    run(stop)
    write_stats(stats, {**snapshot(metrics, registry, False), "stopped": True})
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
