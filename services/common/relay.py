"""The outbox relay: publishes pending outbox rows with confirms and marks them sent.

A row is marked sent only after the broker confirmed it; a crash between the two leaves it
pending, so it is published again (the consumers' inbox absorbs the duplicate). A row the broker
bounced (unroutable) or nacked stays pending and is retried with a growing pause.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import failpoints
from .broker import CONNECTION_ERRORS, Outgoing, Publisher, connect, open_publisher
from .config import Settings
from .db import is_postgres, utcnow
from .metrics import WorkerMetrics
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
    ):
        self.settings = settings
        self.sessions = sessions
        self.table = table
        self.written = written
        self.metrics = metrics
        self.topology = Topology(settings.topology_prefix, settings.retry_delays)

    def run(self, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            publisher: Publisher | None = None
            try:
                conn = connect(self.settings)
                self.topology.declare(conn.default_channel)
                publisher = open_publisher(self.settings, conn)
                backoff = 0.5
                self._loop(publisher, stop)
            except CONNECTION_ERRORS as exc:
                log.warning("relay: broker unavailable (%s); retrying in %.1fs", exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10)
            finally:
                if publisher is not None:
                    publisher.close()

    def _loop(self, publisher: Publisher, stop: threading.Event) -> None:
        while not stop.is_set():
            self.written.clear()
            try:
                published = self.relay_once(publisher)
            except CONNECTION_ERRORS:
                raise
            except Exception:  # the database is away: wait and try again, rows stay pending
                log.exception("relay: database error")
                stop.wait(1.0)
                continue
            if published < self.settings.relay_batch:
                self.written.wait(self.settings.relay_poll)

    def relay_once(self, publisher: Publisher) -> int:
        """Publish one batch of due rows; returns how many rows were tried."""
        t = self.table
        with self.sessions() as session, session.begin():
            now = utcnow()
            query = (
                select(t.c.seq, t.c.event_id, t.c.type, t.c.body, t.c.attempts)
                .where(t.c.status == "pending")
                .where((t.c.next_attempt_at.is_(None)) | (t.c.next_attempt_at <= now))
                .order_by(t.c.seq)
                .limit(self.settings.relay_batch)
            )
            if is_postgres(session):
                # Several relays (scaled-out workers) share the table without publishing twice.
                query = query.with_for_update(skip_locked=True)
            rows = session.execute(query).all()
            if not rows:
                return 0
            exchange = self.topology.exchange.name
            result = publisher.publish_batch(
                [Outgoing(r.event_id, r.type, r.body.encode(), exchange) for r in rows]
            )
            failpoints.hit("relay.after_publish")
            sent = [r.seq for r in rows if r.event_id in result.confirmed]
            if sent:
                session.execute(update(t).where(t.c.seq.in_(sent)).values(status="sent", sent_at=now))
            for row in rows:
                if row.event_id in result.confirmed:
                    continue
                pause = min(timedelta(seconds=2 ** min(row.attempts, 10)), MAX_PAUSE)
                reason = result.failed.get(row.event_id, "not confirmed")
                log.warning("relay: event %s (%s) not accepted: %s", row.event_id, row.type, reason)
                session.execute(
                    update(t)
                    .where(t.c.seq == row.seq)
                    .values(attempts=row.attempts + 1, next_attempt_at=now + pause, last_error=reason)
                )
        if self.metrics:
            self.metrics.published.inc(len(sent))
        return len(rows)
