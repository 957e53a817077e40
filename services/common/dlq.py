"""``whistle dlq list|replay|purge SERVICE``: a service's dead letters (``<service>.events.dlq``).

How a DLQ is read without consuming it. DESIGN §3 forbids get-and-requeue (``basic.get`` then
``basic.reject(requeue)``): the requeued message goes back to the head, so the next get returns the
same one again, and every round trip is a delivery. The management API would browse cleanly, but
it is a plugin that need not be enabled. A stream would browse cleanly too, but cannot give up a
single message, which replay needs. So a browse here is one consumer on a channel of its own,
with a prefetch of exactly the messages wanted and manual acks: each message is delivered to it
once, none is rejected, and closing the channel hands every unacked message back to the broker,
which puts it back in its original place (classic queue). The only trace is the ``redelivered``
flag, which nothing in Whistle reads. DLQs are classic queues without a delivery limit, so the
return is not counted against anything. Replay acks only what it republished (with a confirm)
to the origin queue; a crash in between leaves a copy in both, and the inbox absorbs it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import amqp
from kombu import Connection

from .broker import close_connection, connect, queue_depth
from .config import Settings
from .events import CONTENT_TYPE
from .retries import ATTEMPT_HEADER, ERROR_HEADER, FAILED_AT_HEADER, ORIGIN_HEADER
from .topology import Topology

REPLAYED_HEADER = "x-whistle-replayed-at"
# Headers that describe the failed attempts; a replayed message starts afresh without them.
ATTEMPT_HEADERS = (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    FAILED_AT_HEADER,
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
)


@contextmanager
def browse(conn: Connection, queue: str, limit: int, timeout: float = 5.0) -> Iterator[list[amqp.Message]]:
    """Up to ``limit`` messages from the head of ``queue``, delivered but unacked. Whatever the
    caller does not ack goes back to the queue, in place, when the block ends."""
    channel = conn.channel()
    try:
        wanted = min(limit, channel.queue_declare(queue, passive=True).message_count)
        received: list[amqp.Message] = []
        if wanted > 0:
            channel.basic_qos(0, min(wanted, 65535), False)  # the broker sends no more than we want
            channel.basic_consume(queue, callback=received.append, no_ack=False)
            deadline = time.monotonic() + timeout
            while len(received) < wanted and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
        yield received
    finally:
        channel.close()


def describe(message: amqp.Message) -> dict:
    headers = dict(message.properties.get("application_headers") or {})
    try:
        event_type = json.loads(message.body).get("type")
    except (ValueError, AttributeError):
        event_type = None
    waits = [f"{death.get('queue')}×{death.get('count')}" for death in headers.get("x-death") or []]
    return {
        "id": message.properties.get("message_id"),
        "type": event_type,
        "attempt": headers.get(ATTEMPT_HEADER),
        "failed_at": headers.get(FAILED_AT_HEADER),
        "origin": headers.get(ORIGIN_HEADER),
        "error": headers.get(ERROR_HEADER),
        "deaths": waits,
    }


def list_dead(conn: Connection, topology: Topology, service: str, limit: int) -> int:
    dlq = topology.dlq_name(service)
    with browse(conn, dlq, limit) as messages:
        total = queue_depth(conn, dlq) + len(messages)  # the browsed ones are unacked, not ready
        print(f"{dlq}: {total} message(s), showing {len(messages)}")
        for message in messages:
            print(json.dumps(describe(message), ensure_ascii=False, default=str))
    return 0


def replay(conn: Connection, topology: Topology, service: str, limit: int, confirm_timeout: float) -> int:
    """Move up to ``limit`` dead letters back to the service's queue, attempt count reset."""
    origin = topology.queue_name(service)  # a DLQ belongs to exactly one queue
    publisher = conn.channel()
    replayed = 0
    try:
        with browse(conn, topology.dlq_name(service), limit) as messages:
            for message in messages:
                headers = {
                    k: v
                    for k, v in (message.properties.get("application_headers") or {}).items()
                    if k not in ATTEMPT_HEADERS
                }
                headers[REPLAYED_HEADER] = datetime.now(UTC).isoformat()
                fresh = amqp.Message(
                    message.body,
                    content_type=message.properties.get("content_type", CONTENT_TYPE),
                    message_id=message.properties.get("message_id"),
                    delivery_mode=2,
                    application_headers=headers,
                )
                publisher.basic_publish_confirm(
                    fresh, exchange="", routing_key=origin, mandatory=True, confirm_timeout=confirm_timeout
                )
                message.channel.basic_ack(message.delivery_tag)
                replayed += 1
    finally:
        publisher.close()
    print(f"replayed {replayed} message(s) to {origin}")
    return 0


def purge(conn: Connection, topology: Topology, service: str, yes: bool) -> int:
    dlq = topology.dlq_name(service)
    count = queue_depth(conn, dlq)
    if not yes:
        answer = input(f"Delete {count} message(s) from {dlq} for good? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing purged")
            return 1
    channel = conn.channel()
    try:
        purged = channel.queue_purge(dlq)
    finally:
        channel.close()
    print(f"purged {purged} message(s) from {dlq}")
    return 0


def main(args) -> int:
    settings = Settings.load(args.service)
    if settings.uses_memory_bus:
        print("whistle dlq: needs WHISTLE_BROKER_URL=amqp://… (memory:// has no dead-letter queues)", file=sys.stderr)
        return 2
    topology = Topology(settings.topology_prefix, settings.retry_delays)
    conn = connect(settings)
    broken = True
    try:
        if args.action == "list":
            code = list_dead(conn, topology, args.service, args.limit)
        elif args.action == "replay":
            code = replay(conn, topology, args.service, args.limit, settings.confirm_timeout)
        else:
            code = purge(conn, topology, args.service, args.yes)
        broken = False
        return code
    finally:
        close_connection(conn, broken=broken)
