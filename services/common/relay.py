"""The outbox relay: publishes pending outbox rows with confirms and marks them sent.

A row is marked sent only after the broker confirmed it; a crash between the two leaves it
pending, so it is published again (the consumers' inbox absorbs the duplicate). A row the broker
bounced (unroutable) or nacked stays pending and is retried with a growing pause. A connection
that failed (confirm timeout, broker gone) is dropped and replaced, never reused.
Every few seconds the relay also reports its service's outbox backlog and DLQ depth.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from kombu import Connection
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import failpoints
from .broker import CONNECTION_ERRORS, Outgoing, Publisher, open_publisher
from .config import Settings
from .db import PENDING, utcnow
from .lists import one_of
from .metrics import WorkerMetrics
from .reconnect import run_connected
from .topology import Topology

log = logging.getLogger(__name__)

MAX_PAUSE = timedelta(minutes=5)


class Relay:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        table: Table,
        written: threading.Event,
        metrics: WorkerMetrics | None = None,
        *,
        observe_every: float = 5.0,
    ):
        self.settings = settings
        self.sessions = sessions
        self.table = table
        self.written = written
        self.metrics = metrics
        self.observe_every = observe_every
        self.topology = Topology(settings.topology_prefix, settings.retry_delays)
        self._observed_at = 0.0
        # Built once: a relay runs these many times a second, and constructing a statement costs
        # more than running it from SQLAlchemy's cache. Several relays (scaled-out workers) share
        # the table without publishing twice: FOR UPDATE SKIP LOCKED (SQLite renders none; its
        # writers are serialized anyway).
        t = table
        self._due = (
            select(t.c.seq, t.c.event_id, t.c.type, t.c.body, t.c.attempts)
            .where(t.c.status == PENDING, t.c.next_attempt_at.is_(None) | (t.c.next_attempt_at <= bindparam("now")))
            .order_by(t.c.seq)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
        )
        self._mark_sent = update(t).where(one_of(t.c.seq, "seqs")).values(status="sent", sent_at=bindparam("now"))

    def run(self, stop: threading.Event) -> None:
        name = f"relay {self.settings.service}"
        run_connected(self.settings, stop, self._open, log=log, name=name, lost="broker unavailable")

    def _open(self, conn: Connection, stop: threading.Event) -> Callable[[], None]:
        self.topology.declare(conn.default_channel)
        publisher = open_publisher(self.settings, conn)
        return lambda: self._loop(publisher, stop)

    def _loop(self, publisher: Publisher, stop: threading.Event) -> None:
        while not stop.is_set():
            self.written.clear()
            database_away = False
            try:
                published = self.relay_once(publisher)
                self._observe(publisher)
            except CONNECTION_ERRORS:
                raise
            except Exception:  # the database is away: wait and try again, rows stay pending
                log.exception("relay %s: database error", self.settings.service)
                published, database_away = 0, True
            # Even while the database is away: the broker closes a connection that stays silent
            # for two heartbeat intervals.
            publisher.keep_alive()
            if database_away:
                stop.wait(1.0)
            elif published < self.settings.relay_batch:
                # Woken by a commit, linger a moment: under load the commits of the next few
                # milliseconds then go out in the same pass, at one round trip for all of them.
                if self.written.wait(self.settings.relay_poll) and self.settings.relay_linger:
                    stop.wait(self.settings.relay_linger)

    def relay_once(self, publisher: Publisher) -> int:
        """Publish one batch of due rows; returns how many rows were tried."""
        t = self.table
        with self.sessions() as session, session.begin():
            connection = session.connection()  # Core statements: the ORM's execute path only costs Python
            now = utcnow()
            rows = connection.execute(self._due, {"now": now, "limit": self.settings.relay_batch}).all()
            if not rows:
                return 0
            exchange = self.topology.exchange.name
            result = publisher.publish_batch([Outgoing(r.event_id, r.type, r.body.encode(), exchange) for r in rows])
            failpoints.hit("relay.after_publish")
            sent = [r.seq for r in rows if r.event_id in result.confirmed]
            if sent:
                connection.execute(self._mark_sent, {"seqs": sent, "now": now})
            for row in rows:
                if row.event_id in result.confirmed:
                    continue
                pause = min(timedelta(seconds=2 ** min(row.attempts, 10)), MAX_PAUSE)
                reason = result.failed.get(row.event_id, "not confirmed")
                log.warning("relay: event %s (%s) not accepted: %s", row.event_id, row.type, reason)
                connection.execute(
                    update(t)
                    .where(t.c.seq == row.seq)
                    .values(attempts=row.attempts + 1, next_attempt_at=now + pause, last_error=reason)
                )
        if self.metrics:
            self.metrics.published.inc(len(sent))
        return len(rows)

    def _observe(self, publisher: Publisher) -> None:
        """Refresh the backlog and DLQ gauges, at most every ``observe_every`` seconds."""
        if self.metrics is None or time.monotonic() - self._observed_at < self.observe_every:
            return
        self._observed_at = time.monotonic()
        with self.sessions() as session:
            backlog = session.scalar(select(func.count()).select_from(self.table).where(self.table.c.status == PENDING))
        self.metrics.outbox_backlog.set(backlog or 0)
        depth = publisher.queue_depth(self.topology.dlq_name(self.settings.service))
        if depth is not None:
            self.metrics.dlq_depth.set(depth)
