"""The servers go away under load and come back: nothing is lost, nothing applied twice, and the
same processes carry on. Each outage holds the exclusive outage lock and restores the server
whatever happens."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from services.audit.models import TrailEntry
from tests import infra
from tests.integration.faults import harness
from tests.integration.faults.outages import outage_lock, postgres_down, rabbit_down
from tests.platform import Platform, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

LEAK = {
    "title": "地下车库自来水主管网渗漏",
    "description": "高峰期水压不够",
    "category": "water_supply",
    "severity": "urgent",
    "channel": "walk_in",
    "location": {
        "address": "伟业佳苑地下停车场",
        "street": "紫阳街道",
        "community": "武泰闸社区",
        "grid": "G-07",
        "lat": 30.52,
        "lon": 114.31,
    },
    "reporter": {"name": "尹师傅", "phone": "13800138000"},
}


def flowing(rig, total: int, per_tick: int, tick: float) -> tuple[threading.Thread, list[str]]:
    sent: list[str] = []

    def produce():
        while len(sent) < total:
            sent.extend(rig.emit(per_tick))
            time.sleep(tick)

    producer = threading.Thread(target=produce)
    producer.start()
    return producer, sent


def test_rabbitmq_stopped_and_started_while_1000_events_flow(make_rig):
    rig = make_rig()
    relay, consumer = rig.start("relay"), rig.start_consumer()
    with outage_lock():  # taken before the flow starts, so that the outage lands mid-stream
        started = time.monotonic()
        producer, sent = flowing(rig, 1000, 20, 0.1)
        wait_for(lambda: rig.applied_count() > 50, what="events flowing before the outage")
        with rabbit_down():
            down_at = len(sent)
            time.sleep(3)
    producer.join()
    result = rig.wait_applied(sent, timeout=90)
    print(f"broker outage after {down_at} of {len(sent)} events: {result} in {time.monotonic() - started:.1f}s")
    assert (len(result.lost), len(result.twice)) == (0, 0), str(result)
    assert relay.poll() is None and consumer.poll() is None  # recovered without a restart
    assert "broker unavailable" in rig.log_of(relay)
    assert "broker connection lost" in rig.log_of(consumer)


def queue_unacked(vhost: str, queue: str) -> int:
    listed = infra.rabbitmqctl("list_queues", "-p", vhost, "name", "messages_unacknowledged", "-q")
    for line in listed.stdout.splitlines():
        name, _, count = line.rpartition("\t")
        if name == queue:
            return int(count)
    raise AssertionError(f"{queue} not in {listed.stdout!r}")


def test_postgresql_restarted_under_the_consumer(make_rig):
    rig = make_rig(WHISTLE_BATCH_SIZE="20")
    relay, consumer = rig.start("relay"), rig.start_consumer()
    vhost = rig.env["WHISTLE_BROKER_URL"].rsplit("/", 1)[1]
    queue = rig.env["WHISTLE_TOPOLOGY_PREFIX"] + f"{harness.SERVICE}.events"
    with outage_lock():  # taken before the flow starts, so that the restart lands mid-stream
        started = time.monotonic()
        sent = rig.emit(1000, slow=0.004)  # about 4 s of handling
        wait_for(lambda: rig.applied_count() > 100, what="events applied before the restart")
        with postgres_down():
            # A batch that cannot commit is not acked: the broker reports it held (its queue
            # statistics lag a few seconds behind, hence the polling).
            held = wait_for(
                lambda: queue_unacked(vhost, queue),
                timeout=15,
                interval=0.5,
                what="the broker to report the held batch unacked",
            )
        rig.engine.dispose()  # the test's own pooled connections died with the server
    result = rig.wait_applied(sent, timeout=90)
    print(
        f"PostgreSQL restart: {held} messages held unacked during the outage; {result} "
        f"in {time.monotonic() - started:.1f}s"
    )
    assert held > 0
    assert (len(result.lost), len(result.twice)) == (0, 0), str(result)
    assert relay.poll() is None and consumer.poll() is None
    assert "database unavailable" in rig.log_of(consumer)


def test_a_case_submitted_while_the_broker_is_down_is_accepted_and_delivered_later(real_config):
    platform = Platform(real_config, services=("intake", "audit")).start_workers()
    try:
        staff = platform.headers("staff", community="武泰闸社区")
        with outage_lock(), rabbit_down():
            created = platform.client("intake").post("/v1/cases", headers=staff, json=LEAK)
            assert created.status_code == 201, created.json
            outbox = platform.runtime("intake").outbox.table
            with platform.runtime("intake").transaction() as session:
                rows = session.execute(
                    select(outbox.c.event_id, outbox.c.status).where(outbox.c.type == "case.reported")
                ).all()
            assert [status for _, status in rows] == ["pending"]  # held by the outbox
            time.sleep(1)
        [(event_id, _)] = rows

        def recorded():
            with platform.runtime("audit").transaction() as session:
                return session.scalar(select(TrailEntry.seq).where(TrailEntry.event_id == event_id))

        wait_for(recorded, timeout=60, what="the case.reported event in the audit trail")
    finally:
        platform.stop()
