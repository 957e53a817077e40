"""Many writers, one chain: appends from concurrent transactions (and from two real consumers on
RabbitMQ) never fork the chain, and a reader paging meanwhile never sees a gap or a repeat."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from services.audit import service
from services.audit.models import TrailEntry
from services.audit.worker import build_worker
from services.common.broker import Outgoing, connect, open_publisher
from services.common.config import Settings
from services.common.events import encode, parse_event
from services.common.pagination import encode_cursor
from services.common.topology import Topology
from tests.integration.audit.sqlite import trail
from tests.platform import Platform, unique_prefix, wait_for

pytestmark = pytest.mark.postgres

WRITERS, EACH = 8, 250


def page_everything(client, headers, stop: threading.Event, seen: list[int]) -> None:
    """Follow the trail with the cursor until the writers are done and the end is reached."""
    cursor = None
    while True:
        done = stop.is_set()
        url = "/v1/events?limit=97" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers).json
        seen += [item["seq"] for item in page["items"]]
        if page["next_cursor"]:
            cursor = page["next_cursor"]
        elif done:
            return
        elif seen:  # at the end for now: keep following from the last row seen
            cursor = encode_cursor([seen[-1]])


def test_concurrent_writers_never_fork_the_chain(pg_audit):
    runtime = pg_audit.runtime("audit")
    errors: list[BaseException] = []

    def write(n: int) -> None:
        rng = random.Random(n)
        events = [trail.closed(note=f"w{n}-{i}") for i in range(EACH)]
        try:
            while events:  # transactions of 1 to 5 appends, like consumer batches
                size = rng.randint(1, 5)
                batch, events = events[:size], events[size:]
                with runtime.transaction() as session:
                    for envelope in batch:
                        service.append(session, parse_event(envelope), datetime.now(UTC))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    stop, seen = threading.Event(), []
    reader = threading.Thread(
        target=page_everything, args=(pg_audit.client("audit"), pg_audit.headers("auditor"), stop, seen)
    )
    writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(120)
    stop.set()
    reader.join(60)
    assert not errors, errors
    total = WRITERS * EACH
    assert seen == list(range(1, total + 1)), "the reader saw a gap or a repeat"
    with runtime.transaction() as session:
        assert session.scalar(select(func.count(func.distinct(TrailEntry.chain_hash)))) == total
    verdict = pg_audit.client("audit").get("/v1/verify", headers=pg_audit.headers("auditor")).json
    assert (verdict["ok"], verdict["checked"], verdict["head"]["seq"]) == (True, total, total)


@pytest.mark.broker
def test_two_consumers_on_rabbitmq_keep_one_chain_and_one_row_per_event(pg_audit, broker_url):
    config = {**pg_audit.config, "BROKER_URL": broker_url, "TOPOLOGY_PREFIX": unique_prefix(), "BATCH_SIZE": 20}
    platform = Platform(config, services=("audit",))
    second = None
    try:
        platform.start_workers()
        second = build_worker(config).start()
        assert second.wait_ready(30)
        settings = Settings.load("audit", config)
        envelopes = [trail.closed(note=f"bus-{i}") for i in range(300)]
        exchange = Topology(settings.topology_prefix).exchange.name
        messages = [Outgoing(e["id"], e["type"], encode(e), exchange) for e in envelopes]
        publisher = open_publisher(settings, connect(settings))
        try:
            publisher.publish_batch(messages)
            publisher.publish_batch(messages[:50])  # delivered twice
        finally:
            publisher.close()
        runtime = platform.runtime("audit")

        def rows():
            with runtime.transaction() as session:
                return session.scalar(select(func.count()).select_from(TrailEntry))

        wait_for(lambda: rows() == 300, timeout=60, what="300 rows")
        consumed = [
            w.registry.get_sample_value(
                "whistle_events_handled_total", {"service": "audit", "type": "case.closed", "outcome": "applied"}
            )
            or 0
            for w in (platform.workers["audit"], second)
        ]
        assert sum(consumed) == 300 and all(consumed), consumed  # both consumers took a share
        wait_for(
            lambda: (
                rows() == 300
                and sum(
                    (
                        w.registry.get_sample_value(
                            "whistle_events_handled_total",
                            {"service": "audit", "type": "case.closed", "outcome": "duplicate"},
                        )
                        or 0
                    )
                    for w in (platform.workers["audit"], second)
                )
                == 50
            ),
            what="the duplicates handled",
        )
        with runtime.transaction() as session:
            ids = set(session.scalars(select(TrailEntry.event_id)))
        assert ids == {e["id"] for e in envelopes}
        verdict = platform.client("audit").get("/v1/verify", headers=platform.headers("auditor")).json
        assert (verdict["ok"], verdict["checked"]) == (True, 300)
    finally:
        if second:
            second.stop()
            second.runtime.engine.dispose()
        platform.stop()
