"""How fast the outbox relay publishes, next to what the broker allows on this machine.

    .venv/bin/python bench/relay_throughput.py [--events 20000] [--batch 500] [--profile]

Fills an outbox table on PostgreSQL with N events, runs the Relay until the table is empty against
a fresh RabbitMQ vhost (every event lands in a quorum queue), and reports its rate beside two
floors measured on the same broker in the same run: kombu publishing one message at a time with
``confirm_publish`` (a round trip per message), and raw py-amqp publishing batches after
``confirm_select()`` and then draining the acks (the best the client can do). Needs the local
RabbitMQ (rabbitmqctl) and PostgreSQL (WHISTLE_TEST_PG_URL, default postgres@127.0.0.1).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import amqp  # noqa: E402
import psycopg  # noqa: E402
from kombu import Connection, Producer, Queue  # noqa: E402
from sqlalchemy import MetaData, func, insert, select  # noqa: E402

from bench.micro_infra import with_database  # noqa: E402
from services.common.broker import close_connection, connect, open_publisher  # noqa: E402
from services.common.config import Settings  # noqa: E402
from services.common.db import bus_tables, make_engine, make_sessionmaker, utcnow  # noqa: E402
from services.common.events import build_event, encode  # noqa: E402
from services.common.relay import Relay  # noqa: E402

PG_ADMIN_URL = os.environ.get("WHISTLE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_HOST = os.environ.get("WHISTLE_TEST_AMQP_HOST", "127.0.0.1:5672")
SERVICE = "audit"  # its queue binds '#': every event lands in one quorum queue


def rabbitmqctl(*args: str) -> None:
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([exe, *args], check=True, capture_output=True, timeout=60)


def pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def fill_outbox(sessions, table, events: int) -> None:
    body = encode(
        build_event(
            "department.updated",
            {"code": "water", "name_zh": "自来水公司", "name_en": "Water company"},
            service="intake",
        )
    )
    rows = [
        {
            "event_id": str(uuid.uuid4()),
            "type": "department.updated",
            "body": body.decode(),
            "status": "pending",
            "attempts": 0,
            "created_at": utcnow(),
        }
        for _ in range(events)
    ]
    with sessions() as session, session.begin():
        for first in range(0, events, 5000):
            session.execute(insert(table), rows[first : first + 5000])


def relay_rate(settings: Settings, events: int, profile: bool) -> dict:
    engine = make_engine(settings.database_url)
    metadata = MetaData()
    outbox, _ = bus_tables(metadata)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    fill_outbox(sessions, outbox, events)
    relay = Relay(settings, sessions, outbox, threading.Event())
    conn = connect(settings)
    relay.topology.declare(conn.default_channel)
    publisher = open_publisher(settings, conn)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    while relay.relay_once(publisher):
        pass
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    with sessions() as session:
        sent = session.scalar(select(func.count()).select_from(outbox).where(outbox.c.status == "sent"))
    depth = conn.default_channel.queue_purge(relay.topology.queue_name(SERVICE))
    close_connection(conn, broken=False)
    engine.dispose()
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    assert sent == events and depth == events, f"sent {sent}, queued {depth} of {events}"
    return {"messages": events, "seconds": round(elapsed, 2), "per_s": round(events / elapsed)}


def kombu_one_at_a_time(broker_url: str, messages: int) -> dict:
    """kombu's ``confirm_publish``: each publish waits for its own ack."""
    queue = Queue(f"bench.kombu.{uuid.uuid4().hex[:6]}", durable=True, queue_arguments={"x-queue-type": "quorum"})
    with Connection(broker_url, transport_options={"confirm_publish": True}) as conn:
        queue(conn.default_channel).declare()
        producer = Producer(conn.channel())
        started = time.perf_counter()
        for _ in range(messages):
            producer.publish(b"x" * 600, routing_key=queue.name, exchange="", delivery_mode=2)
        elapsed = time.perf_counter() - started
        queue(conn.default_channel).delete()
    return {"messages": messages, "per_s": round(messages / elapsed)}


def raw_batches(broker_url: str, messages: int, batch: int) -> dict:
    """py-amqp after ``confirm_select()``: publish a batch, then drain its acks."""
    queue = Queue(f"bench.raw.{uuid.uuid4().hex[:6]}", durable=True, queue_arguments={"x-queue-type": "quorum"})
    with Connection(broker_url) as conn:
        queue(conn.default_channel).declare()
        channel = conn.channel()
        channel.confirm_select()
        acked = 0

        def on_ack(tag, multiple):
            nonlocal acked
            acked = max(acked, tag)

        channel.events["basic_ack"].add(on_ack)
        started = time.perf_counter()
        for first in range(0, messages, batch):
            count = min(batch, messages - first)
            for _ in range(count):
                channel.basic_publish(
                    amqp.Message(b"x" * 600, delivery_mode=2), exchange="", routing_key=queue.name, mandatory=True
                )
            while acked < first + count:
                conn.drain_events(timeout=10)
        elapsed = time.perf_counter() - started
        queue(conn.default_channel).delete()
    return {"messages": messages, "per_s": round(messages / elapsed)}


def median(results: list[dict]) -> dict:
    return sorted(results, key=lambda r: r["per_s"])[len(results) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=None, help="relay batch (default: WHISTLE_RELAY_BATCH or 500)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is shown")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the relay run")
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:8]
    vhost, database = f"whistle-bench-{tag}", f"whistle_bench_{tag}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    pg_admin(f'CREATE DATABASE "{database}"')
    broker_url = f"amqp://guest:guest@{AMQP_HOST}/{vhost}"
    overrides = {
        "BROKER_URL": broker_url,
        "AUDIT_DATABASE_URL": with_database(PG_ADMIN_URL, database),
        "TOPOLOGY_PREFIX": "bench.",
    }
    if args.batch:
        overrides["RELAY_BATCH"] = args.batch
    settings = Settings.load(SERVICE, overrides)
    runs: dict[str, list[dict]] = {"relay": [], "one": [], "raw": []}
    try:
        for _ in range(args.repeat):  # interleaved, so that a busy moment on the machine hits all three
            runs["relay"].append(relay_rate(settings, args.events, args.profile))
            runs["one"].append(kombu_one_at_a_time(broker_url, min(args.events, 3000)))
            runs["raw"].append(raw_batches(broker_url, args.events, settings.relay_batch))
    finally:
        rabbitmqctl("delete_vhost", vhost)
        pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    relay, one, raw = (median(runs[name]) for name in ("relay", "one", "raw"))
    spread = ", ".join(f"{r['per_s']:,}" for r in runs["relay"])
    print(
        f"relay (outbox on PostgreSQL → quorum queue, batch {settings.relay_batch}): "
        f"{relay['per_s']:>7,} msgs/s  (median of {spread}; {relay['messages']:,} events each)"
    )
    print(
        f"floor: kombu confirm_publish, one at a time:      {one['per_s']:>7,} msgs/s  "
        f"→ relay is {relay['per_s'] / one['per_s']:.1f}× this"
    )
    print(
        f"ceiling: py-amqp batch {settings.relay_batch} + pipelined confirms:  {raw['per_s']:>7,} msgs/s  "
        f"→ relay reaches {relay['per_s'] / raw['per_s']:.0%} of this"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
