"""The transactional outbox: an event is a row written in the same transaction as the change it
describes; the relay (relay.py) publishes it later. Nothing is ever published directly."""

from __future__ import annotations

import threading
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
    ) -> dict[str, Any]:
        envelope = build_event(
            event_type, data, service=self.service, subject=subject, actor=actor, time=time
        )
        session.execute(
            self.table.insert().values(
                event_id=envelope["id"],
                type=event_type,
                body=encode(envelope).decode(),
                status="pending",
                attempts=0,
                created_at=utcnow(),
            )
        )
        session.info["outbox_dirty"] = True
        return envelope
