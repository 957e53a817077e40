"""The transactional outbox: an event is a row written in the same transaction as the change it
describes; the relay (relay.py) publishes it later. Nothing is ever published directly.

Events emitted during a transaction are built (and validated) at once, and written together just
before the transaction commits (deferred.py): a consumer batch that emits a hundred events costs one
INSERT for them, not a hundred. A rolled-back transaction or savepoint forgets those emitted in it."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from .db import signal_on_commit, utcnow
from .deferred import defer_insert
from .events import Actor, build_event, encode

WROTE = "outbox.wrote"  # session.info: this transaction emitted events (see watch)


class Outbox:
    def __init__(self, service: str, table: Table):
        self.service = service
        self.table = table
        # Set after a commit that wrote rows, so a relay in the same process wakes at once
        # instead of at its next poll.
        self.written = threading.Event()

    def watch(self, factory: sessionmaker[Session]) -> None:
        signal_on_commit(factory, WROTE, self.written)

    def emit(
        self,
        session: Session,
        event_type: str,
        data: dict[str, Any],
        *,
        subject: str | None = None,
        actor: Actor | None = None,
        time: datetime | None = None,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        return self.emit_many(
            session,
            [(event_type, data, {"subject": subject, "actor": actor, "time": time, "correlation_id": correlation_id})],
        )[0]

    def emit_many(
        self, session: Session, items: Iterable[tuple[str, dict[str, Any], dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """Several events: ``(event_type, data, emit's keyword arguments)`` each."""
        envelopes = [
            build_event(event_type, data, service=self.service, **kwargs) for event_type, data, kwargs in items
        ]
        now = utcnow()
        defer_insert(
            session,
            self.table,
            [
                {
                    "event_id": e["id"],
                    "type": e["type"],
                    "body": encode(e).decode(),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                }
                for e in envelopes
            ],
        )
        if envelopes:
            session.info[WROTE] = True
        return envelopes
