"""The transactional outbox: an event is a row written in the same transaction as the change it
describes; the relay (relay.py) publishes it later. Nothing is ever published directly."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.orm import Session, sessionmaker

from .db import utcnow
from .events import Actor, build_event, encode


class Outbox:
    def __init__(self, service: str, table: Table):
        self.service = service
        self.table = table
        # Set after a commit that wrote rows, so a relay in the same process wakes at once
        # instead of at its next poll.
        self.written = threading.Event()

    def watch(self, factory: sessionmaker[Session]) -> None:
        def after_commit(session: Session) -> None:
            if session.info.pop("outbox_dirty", False):
                self.written.set()

        event.listen(factory, "after_commit", after_commit)

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
        return self.emit_many(session, [(event_type, data, {
            "subject": subject, "actor": actor, "time": time, "correlation_id": correlation_id})])[0]

    def emit_many(
        self, session: Session, items: Iterable[tuple[str, dict[str, Any], dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """Several events in one INSERT: ``(event_type, data, emit's keyword arguments)`` each."""
        envelopes = [build_event(event_type, data, service=self.service, **kwargs)
                     for event_type, data, kwargs in items]
        if not envelopes:
            return []
        now = utcnow()
        session.execute(self.table.insert(), [
            {"event_id": e["id"], "type": e["type"], "body": encode(e).decode(), "status": "pending",
             "attempts": 0, "created_at": now}
            for e in envelopes
        ])
        session.info["outbox_dirty"] = True
        return envelopes
