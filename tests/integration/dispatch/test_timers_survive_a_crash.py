"""Timers are rows: a worker SIGKILLed while they are due — before its batch commits, or right
after — and started again fires each one exactly once (PostgreSQL, RabbitMQ, `whistle worker`)."""

from __future__ import annotations

import json
import signal
from collections import Counter

import pytest
from kombu import Connection, Queue, binding
from sqlalchemy import select

from services.common.config import Settings
from services.common.topology import Topology
from services.dispatch.models import metadata
from tests.e2e.conftest import start, stop
from tests.platform import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

DEADLINE_EVENTS = ("task.due_soon", "task.overdue", "case.escalated")


def worker_env(config: dict, tmp_path, **extra: str) -> dict[str, str]:
    return {
        "WHISTLE_DISPATCH_DATABASE_URL": config["DISPATCH_DATABASE_URL"],
        "WHISTLE_BROKER_URL": config["BROKER_URL"],
        "WHISTLE_TOPOLOGY_PREFIX": config["TOPOLOGY_PREFIX"],
        "WHISTLE_JWT_SECRET": config["JWT_SECRET"],
        "WHISTLE_DATA_DIR": str(tmp_path),
        "WHISTLE_TIMER_INTERVAL": "0.1",
        "WHISTLE_TIMER_BATCH": "50",
        "WHISTLE_FAILPOINT": "",
        **extra,
    }


def run_until_killed(env: dict, log) -> None:
    process = start(["worker", "dispatch", "--port", "0"], env, log)
    try:
        assert process.wait(60) == -signal.SIGKILL, log.read_text()
    finally:
        stop(process)


def outbox_events(desk) -> list[dict]:
    outbox = metadata.tables["outbox"]
    with desk.runtime.transaction() as session:
        rows = session.execute(
            select(outbox.c.body, outbox.c.status).where(outbox.c.type.in_(DEADLINE_EVENTS)).order_by(outbox.c.seq)
        ).all()
    return [{**json.loads(body), "_status": status} for body, status in rows]


def drain(config: dict, queue: Queue) -> list[dict]:
    received = []
    with Connection(config["BROKER_URL"]) as conn:
        bound = queue(conn.channel())
        while (message := bound.get(no_ack=True)) is not None:
            received.append(json.loads(message.body))
    return received


def test_each_due_timer_fires_exactly_once_across_sigkills(pg_desk, real_config, tmp_path):
    settings = Settings.load("dispatch", real_config)
    exchange = Topology(settings.topology_prefix).exchange
    watcher = Queue(
        f"{settings.topology_prefix}test.deadlines",
        durable=True,
        bindings=[binding(exchange, routing_key=key) for key in DEADLINE_EVENTS],
    )
    with Connection(real_config["BROKER_URL"]) as conn:
        exchange(conn.channel()).declare()
        watcher(conn.channel()).declare()

    case_ids = pg_desk.report_in_the_past(20)  # trees: a landscaping lead and a power assist each
    assert pg_desk.timer_counts() == (160, 0)
    log = tmp_path / "dispatch-worker.log"

    # 1. Killed after writing the events and marking the first batch, before the commit.
    run_until_killed(worker_env(real_config, tmp_path, WHISTLE_FAILPOINT="timers.after_fire"), log)
    assert pg_desk.timer_counts() == (160, 0) and outbox_events(pg_desk) == []

    # 2. Killed right after the first batch committed.
    run_until_killed(worker_env(real_config, tmp_path, WHISTLE_FAILPOINT="timers.after_commit"), log)
    assert pg_desk.timer_counts() == (110, 50)

    # 3. Started again: the rest fire, the relay publishes everything, nothing fires twice.
    process = start(["worker", "dispatch", "--port", "0"], worker_env(real_config, tmp_path), log)
    try:
        wait_for(lambda: pg_desk.timer_counts() == (0, 160), timeout=30, what="every timer fired")
        wait_for(
            lambda: all(e["_status"] == "sent" for e in outbox_events(pg_desk)),
            timeout=30,
            what="the relay to publish every deadline event",
        )
    finally:
        stop(process)
    assert process.returncode == 0, log.read_text()

    events = outbox_events(pg_desk)
    alarms = Counter(
        (e["type"], e["data"]["task_id"], e["data"]["deadline"]) for e in events if e["type"] != "case.escalated"
    )
    assert len(alarms) == 160 and set(alarms.values()) == {1}, "each timer's event exactly once"
    levels = Counter((e["data"]["case_id"], e["data"]["level"]) for e in events if e["type"] == "case.escalated")
    assert levels == Counter({(c, level): 1 for c in case_ids for level in (1, 2)})

    # On the wire at least once (a relay killed between publishing and marking may resend): every
    # event arrives, none that the outbox does not hold.
    received = wait_for(lambda: drain(real_config, watcher) or None, timeout=10, what="the deadline events")
    received += drain(real_config, watcher)
    assert {e["id"] for e in received} == {e["id"] for e in events}
