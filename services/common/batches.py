"""Applying a batch of deliveries: each event at most once, its inbox row in the same transaction.

Usually the whole batch runs as one transaction: its rows preloaded in a few queries, one multi-row
inbox INSERT (``source``, ``id``: a duplicate finds its row and is skipped), the handlers' writes
sent together at the commit. If a handler raises, that transaction is rolled back and the batch is
applied again one message at a time, each in its own savepoint of a new transaction, so that only
the failing message is retried. A database outage raises ``DatabaseUnavailable``: the batch stays
unacked. A service whose handlers keep their own record of what they applied (audit's trail,
unique on the event id) runs without an inbox (``Worker.own_record``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kombu.message import Message
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from . import context, failpoints
from .catalogue import CATALOGUE
from .db import insert_ignore_many, utcnow
from .events import BadEnvelope, Event, UnknownEventType, parse_event
from .metrics import WorkerMetrics
from .outbox import Outbox

log = logging.getLogger(__name__)


@dataclass
class HandlerContext:
    """What a handler gets besides the event: the open transaction and a way to emit events."""

    session: Session
    outbox: Outbox
    now: datetime

    def emit(self, event_type: str, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.outbox.emit(self.session, event_type, data, **kwargs)


# Returns None; a handler of a consumer without an inbox returns False for an event it had applied
# before, which is then counted as a duplicate.
Handler = Callable[[HandlerContext, Event], bool | None]
# Optional, per service: loads in one query what the batch's handlers will look up one by one
# (see preloading.py), so a batch costs round trips per batch, not per event. It gets the batch's
# events that have a handler, and the batch's time from the consumer's clock (rows it creates are
# stamped as the handlers would). Only the batch path calls it: handlers must still work without it
# (one message at a time).
Preloader = Callable[[Session, list[Event], datetime], None]
Clock = Callable[[], datetime]
# Per message: ``ack``, ``retry`` or ``dead``, and for the latter two the error.
Outcome = tuple[Message, str, str | None]


class DatabaseUnavailable(Exception):
    pass


class HandlerFailed(Exception):
    """A handler raised inside a batch: which event (None: the batch as a whole could not be
    written), and the outcome its message gets."""

    def __init__(self, event: Event | None, error: BaseException):
        super().__init__(f"{type(error).__name__}: {error}")
        self.event = event

    def outcome(self) -> tuple[str, str]:
        return "retry", str(self)


def is_database_outage(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


class BatchApplier:
    def __init__(
        self,
        service: str,
        sessions: sessionmaker[Session],
        inbox: Table | None,
        outbox: Outbox,
        handlers: dict[str, Handler],
        *,
        metrics: WorkerMetrics | None,
        clock: Clock,
        preload: Preloader | None,
    ):
        self.service = service
        self.sessions = sessions
        self.inbox = inbox
        self.outbox = outbox
        self.handlers = handlers
        # Published event types without a handler here; a message retried through a wait queue
        # has the queue's name as its routing key, and is parsed as usual.
        self.ignored = frozenset(CATALOGUE) - frozenset(handlers)
        self.metrics = metrics
        self.clock = clock
        self.preload = preload

    def apply(self, batch: list[Message]) -> list[Outcome]:
        """Apply a batch in one transaction; returns (message, outcome, error) per message."""
        outcomes: list[Outcome] = []
        parsed: list[tuple[Message, Event]] = []
        for message in batch:
            if message.delivery_info.get("routing_key") in self.ignored:
                # An event type this service has no handler for (its own, coming back through a
                # wildcard binding, say): nothing to parse or record.
                outcomes.append((message, "ack", None))
                continue
            try:
                parsed.append((message, parse_event(message.body)))
            except (BadEnvelope, UnknownEventType) as exc:
                log.error("consumer %s: unreadable message dead-lettered: %s", self.service, exc)
                outcomes.append((message, "dead", str(exc)))
        events = [event for _message, event in parsed]
        try:
            try:
                results = self._apply_all(events) if events else []
            except HandlerFailed as failure:
                # The batch was rolled back. Its failing message is not run again here (each
                # delivery is one attempt); the others are applied one at a time.
                with self.sessions() as session, session.begin():
                    results = [
                        failure.outcome() if event is failure.event else self.apply_one(session, event)
                        for event in events
                    ]
        except Exception as exc:
            if is_database_outage(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            raise
        outcomes += [(message, *result) for (message, _event), result in zip(parsed, results, strict=True)]
        failpoints.hit("consumer.after_commit")
        return outcomes

    def _apply_all(self, events: list[Event]) -> list[tuple[str, None]]:
        """The usual case, cheaply: the whole batch in one transaction, its rows preloaded in a few
        queries and its inbox rows in one INSERT. Raises HandlerFailed when a handler raised, or when
        the batch could not be written: the transaction is rolled back, nothing stays."""
        handled = [event for event in events if event.type in self.handlers]
        verdicts: list[tuple[Event, str]] = []
        try:
            with self.sessions() as session, session.begin():
                if self.preload is not None and handled:
                    self.preload(session, handled, self.clock())
                fresh = self._claim(session, handled)
                for event in handled:
                    key = (event.source, event.id)
                    if key not in fresh:  # seen before, or twice in this batch
                        verdicts.append((event, "duplicate"))
                        continue
                    fresh.discard(key)
                    tokens = context.bind(event.correlation_id, event.actor)
                    try:
                        applied = self.handlers[event.type](HandlerContext(session, self.outbox, self.clock()), event)
                        failpoints.hit("consumer.in_handler")
                    except Exception as exc:
                        if is_database_outage(exc):
                            raise
                        raise HandlerFailed(event, exc) from exc
                    finally:
                        context.unbind(tokens)
                    verdicts.append((event, "duplicate" if applied is False else "applied"))
        except HandlerFailed as failure:
            log.error(
                "consumer %s: handler for %s %s failed",
                self.service,
                failure.event.type,
                failure.event.id,
                exc_info=failure.__cause__,
            )
            self._count(failure.event, "failed")
            raise
        except Exception as exc:
            # Preloading or writing the batch failed (a constraint at the commit, say): no one event
            # is to blame yet, so each is applied again on its own.
            if is_database_outage(exc):
                raise
            log.error(
                "consumer %s: applying a batch failed; applying it one message at a time", self.service, exc_info=exc
            )
            raise HandlerFailed(None, exc) from exc
        for event, verdict in verdicts:
            self._count(event, verdict)
        return [("ack", None)] * len(events)

    def _claim(self, session: Session, events: list[Event]) -> set[tuple[str, str]]:
        """The (source, id) of the events not applied before: their inbox rows inserted in one
        statement. Without an inbox the handlers keep their own record (see Worker.own_record)."""
        if self.inbox is None:
            return {(e.source, e.id) for e in events}
        rows = insert_ignore_many(
            session,
            self.inbox,
            [{"source": e.source, "event_id": e.id, "type": e.type, "handled_at": utcnow()} for e in events],
        )
        return {(row.source, row.event_id) for row in rows}

    def apply_one(self, session: Session, event: Event) -> tuple[str, str | None]:
        """One event in a savepoint of ``session``: the path after a failed batch."""
        handler = self.handlers.get(event.type)
        if handler is None:
            return "ack", None
        tokens = context.bind(event.correlation_id, event.actor)
        try:
            with session.begin_nested():
                claimed = bool(self._claim(session, [event]))
                if claimed:
                    claimed = handler(HandlerContext(session, self.outbox, self.clock()), event) is not False
                    failpoints.hit("consumer.in_handler")
            self._count(event, "applied" if claimed else "duplicate")
            return "ack", None
        except Exception as exc:
            if is_database_outage(exc):
                raise
            log.exception("consumer %s: handler for %s %s failed", self.service, event.type, event.id)
            self._count(event, "failed")
            return "retry", f"{type(exc).__name__}: {exc}"
        finally:
            context.unbind(tokens)

    def _count(self, event: Event, outcome: str) -> None:
        if self.metrics:
            self.metrics.handled.labels(self.service, event.type, outcome).inc()
            self.metrics.lag.observe(max(0.0, (utcnow() - event.time).total_seconds()))
