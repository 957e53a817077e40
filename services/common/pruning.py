"""What the bus no longer needs, forgotten: outbox rows published days ago and inbox rows of events
handled weeks ago. Without this both tables grow by every event for as long as a service runs.

An outbox row is needed until the broker confirmed it; one sent is kept a while only for whoever
looks into a service's past. An inbox row must outlive every redelivery of its event — the broker's
after a crash, the retry queues' (minutes) — and nothing else comes back: a dead letter replayed
from the DLQ was never applied, so it has no inbox row to find.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Column, Select, Table, bindparam, delete, select, tuple_

from .runtime import Runtime

OUTBOX_KEEP_DAYS = 7
INBOX_KEEP_DAYS = 30
CHUNK = 1000  # rows a transaction: a first run on a long-lived table must not hold one lock for minutes
MAX_CHUNKS = 50  # a tick (a minute): 3 million rows an hour at most; the rest waits for the next one


def prune_bus_tables(runtime: Runtime, now: datetime, *, chunk: int = CHUNK) -> int:
    """Delete sent outbox rows and inbox rows past their keeping time; returns how many."""
    settings = runtime.settings
    outbox, inbox = runtime.outbox.table, runtime.inbox_table
    outbox_cutoff = now - timedelta(days=float(settings.get("OUTBOX_KEEP_DAYS", OUTBOX_KEEP_DAYS)))
    inbox_cutoff = now - timedelta(days=float(settings.get("INBOX_KEEP_DAYS", INBOX_KEEP_DAYS)))
    # A pending row has no sent_at, so `sent_at < cutoff` never takes one, however old.
    return _delete_before(runtime, outbox, [outbox.c.seq], outbox.c.sent_at, outbox_cutoff, chunk) + _delete_before(
        runtime, inbox, [inbox.c.source, inbox.c.event_id], inbox.c.handled_at, inbox_cutoff, chunk
    )


def oldest(key: list[Column], stamp: Column) -> Select:
    """The keys of the oldest rows stamped before :cutoff, :chunk of them, through the index on stamp."""
    return select(*key).where(stamp < bindparam("cutoff")).order_by(stamp).limit(bindparam("chunk"))


def _delete_before(
    runtime: Runtime, table: Table, key: list[Column], stamp: Column, cutoff: datetime, chunk: int
) -> int:
    statement = delete(table).where(tuple_(*key).in_(oldest(key, stamp)))
    deleted = 0
    for _ in range(MAX_CHUNKS):
        with runtime.transaction() as session:
            done = session.execute(statement, {"cutoff": cutoff, "chunk": chunk}).rowcount
        deleted += done
        if done < chunk:
            break
    return deleted
