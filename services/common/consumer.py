"""The inbox consumer: applies each event at most once and acks only after the commit.

Messages are taken in batches (up to ``batch_size``) and applied in one database transaction
together with their inbox rows (``source``, ``id``): a duplicate finds its row and is skipped.
Usually the whole batch runs as one transaction: its rows preloaded in a few queries, one
multi-row inbox INSERT, the handlers' writes sent together at the commit. If a handler raises, that
transaction is rolled back and the batch is applied again one message at a time, each in its own
savepoint of a new transaction, so only the failing message is retried through a wait queue
(``<queue>.retry.<delay>``) and, after the last attempt, dead-lettered to ``<queue>.dlq``.
The handlers run on a helper thread while this thread keeps the connection's heartbeats going.
A database outage keeps the batch unacked and tries again; the broker redelivers anything
unacked if the process dies. A service whose handlers keep their own record of what they applied
(audit's trail, unique on the event id) runs without an inbox (``Worker.own_record``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import amqp
from kombu import Connection, Producer
from kombu import Consumer as KombuConsumer
from kombu.message import Message
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from . import context, failpoints
from .broker import CONNECTION_ERRORS, close_connection, connect
from .catalogue import CATALOGUE
from .config import Settings
from .cpu_load import CpuLoad, linger_for
from .db import insert_ignore_many, utcnow
from .events import CONTENT_TYPE, BadEnvelope, Event, UnknownEventType, parse_event
from .metrics import WorkerMetrics
from .outbox import Outbox
from .topology import Topology

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-whistle-attempt"  # attempts that failed so far (absent: none)
ERROR_HEADER = "x-whistle-error"
ORIGIN_HEADER = "x-whistle-origin-queue"
FAILED_AT_HEADER = "x-whistle-failed-at"


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


def _is_database_outage(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


class Consumer:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        inbox: Table | None,
        outbox: Outbox,
        handlers: dict[str, Handler],
        *,
        metrics: WorkerMetrics | None = None,
        clock: Clock = utcnow,
        preload: Preloader | None = None,
    ):
        unknown = set(handlers) - set(CATALOGUE)
        if unknown:
            raise ValueError(f"handlers for unknown event types: {sorted(unknown)}")
        self.settings = settings
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
        self.service = settings.service
        self.topology = Topology(settings.topology_prefix, settings.retry_delays)
        self.ready = threading.Event()  # consuming on a live connection
        self.cpu = CpuLoad()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.service}-handler")

    # ---- the connection loop -------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            conn = None
            broken = False
            try:
                conn = connect(self.settings)
                if backoff > 0.5:
                    log.info("consumer %s: broker connection restored", self.service)
                backoff = 0.5
                self._consume(conn, stop)
            except CONNECTION_ERRORS as exc:
                broken = True
                self.ready.clear()
                log.warning(
                    "consumer %s: broker connection lost (%s); reconnecting in %.1fs", self.service, exc, backoff
                )
            finally:
                if conn is not None:
                    # Unacked messages go back to the queue when the connection closes.
                    close_connection(conn, broken=broken)
            if broken:
                stop.wait(backoff)
                backoff = min(backoff * 2, 10)
        self.ready.clear()
        self._executor.shutdown(wait=True)

    def _consume(self, conn: Connection, stop: threading.Event) -> None:
        channel = conn.channel()
        self.topology.declare(channel)
        republisher = conn.channel()  # confirm mode is switched on by its first confirmed publish
        buffer: list[Message] = []
        consumer = KombuConsumer(
            channel,
            queues=[self.topology.main_queue(self.service)],
            on_message=buffer.append,
            prefetch_count=self.settings.prefetch,
            no_ack=False,
        )
        with consumer:
            self.ready.set()
            while not stop.is_set():
                # Wait for a first message only when none is waiting already (delivered while
                # the previous batch was applied).
                self._pump(conn, 0.002 if buffer else 0.25)
                self._gather(conn, buffer)
                if not buffer:
                    continue
                batch = buffer[: self.settings.batch_size]
                del buffer[: len(batch)]
                outcomes = self._apply_keeping_heartbeats(conn, batch, stop)
                if outcomes is None:
                    return  # stopping during a database outage: unacked, the broker redelivers
                self._settle(republisher, outcomes)

    def _gather(self, conn: Connection, buffer: list[Message]) -> None:
        """Let a batch grow for up to its linger after its first message: a transaction costs
        about the same for one event as for fifty, so under load a few milliseconds of waiting
        buy many fewer transactions. A full batch goes at once."""
        deadline = time.monotonic() + self.linger()
        while buffer and len(buffer) < self.settings.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._pump(conn, left)  # returns as soon as a message arrives

    def linger(self) -> float:
        """``batch_linger`` while the machine has CPU to spare, up to ``batch_linger_busy`` as its
        CPUs saturate (cpu_load.py): then fewer, larger transactions leave more of it to the
        events themselves, for up to 80 ms more a hop while the surge lasts."""
        linger = linger_for(self.cpu.busy(), self.settings.batch_linger, self.settings.batch_linger_busy)
        if self.metrics:
            self.metrics.batch_linger.set(linger)
        return linger

    def _pump(self, conn: Connection, timeout: float) -> bool:
        """Read frames for up to ``timeout``; True if something arrived. Sends heartbeats."""
        try:
            conn.drain_events(timeout=timeout)
            got = True
        except TimeoutError:
            got = False
        if not self.settings.uses_memory_bus:
            conn.heartbeat_check()
        return got

    def _apply_keeping_heartbeats(self, conn, batch, stop):
        """Apply ``batch`` on the helper thread; this thread waits for it and notices the moment
        it is done (the acks go out at once). While a long batch runs, it reads what has arrived
        and sends heartbeats four times a heartbeat interval (py-amqp counts only the server's
        heartbeats it has read); the deliveries meanwhile wait in the socket, and are read when the
        next batch gathers."""
        future = self._executor.submit(self._apply_until_committed, batch, stop)
        while True:
            try:
                return future.result(timeout=self.settings.heartbeat / 4 or 1.0)  # 0: heartbeats off
            except FutureTimeout:
                self._pump(conn, 0)

    def _apply_until_committed(self, batch: list[Message], stop: threading.Event):
        pause = 0.5
        while True:
            try:
                return self.apply(batch)
            except DatabaseUnavailable as exc:
                log.warning(
                    "consumer %s: database unavailable (%s); holding %d messages", self.service, exc, len(batch)
                )
                if stop.wait(pause):
                    return None
                pause = min(pause * 2, 5)

    # ---- applying a batch ---------------------------------------------------------------
    def apply(self, batch: list[Message]) -> list[tuple[Message, str, str | None]]:
        """Apply a batch in one transaction; returns (message, outcome, error) per message,
        outcome being ``ack``, ``retry`` or ``dead``."""
        outcomes: list[tuple[Message, str, str | None]] = []
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
                        failure.outcome() if event is failure.event else self._apply_one(session, event)
                        for event in events
                    ]
        except Exception as exc:
            if _is_database_outage(exc):
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
                        if _is_database_outage(exc):
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
            if _is_database_outage(exc):
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

    def _apply_one(self, session: Session, event: Event) -> tuple[str, str | None]:
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
            if _is_database_outage(exc):
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

    # ---- acking, retrying, dead-lettering -----------------------------------------------
    def _settle(self, republisher, outcomes) -> None:
        for message, outcome, error in outcomes:
            if outcome != "ack":
                self._send_elsewhere(republisher, message, outcome, error)
        if not outcomes:
            return
        if self.settings.uses_memory_bus:  # kombu's in-memory channel acks one tag at a time
            for message, _outcome, _error in outcomes:
                message.ack()
            return
        # One frame for the whole batch: a batch is the oldest messages delivered on this channel,
        # and every message delivered before them was settled with an earlier batch.
        max((message for message, _outcome, _error in outcomes), key=lambda m: m.delivery_tag).ack(multiple=True)

    def _send_elsewhere(self, channel, message: Message, outcome: str, error: str | None) -> None:
        headers = dict(message.headers or {})
        attempt = int(headers.get(ATTEMPT_HEADER, 0)) + 1  # the header counts the attempts that failed
        delays = self.settings.retry_delays
        if outcome == "retry" and attempt <= len(delays):
            delay = delays[attempt - 1]
            target = self.topology.wait_queue_name(self.service, delay)
            if self.settings.uses_memory_bus:
                target = self.topology.queue_name(self.service)  # memory:// has no TTLs
        else:
            target = self.topology.dlq_name(self.service)
        headers.update(
            {
                ATTEMPT_HEADER: attempt,
                ERROR_HEADER: (error or "")[:500],
                ORIGIN_HEADER: self.topology.queue_name(self.service),
                FAILED_AT_HEADER: utcnow().isoformat(),
            }
        )
        log.warning(
            "consumer %s: message %s (attempt %d) → %s",
            self.service,
            message.properties.get("message_id"),
            attempt,
            target,
        )
        publish_raw(
            channel,
            message.body,
            target,
            message.properties.get("message_id"),
            headers,
            confirm=not self.settings.uses_memory_bus,
            timeout=self.settings.confirm_timeout,
        )
        if self.metrics:
            self.metrics.retries.labels(self.service, "dlq" if target.endswith(".dlq") else "wait").inc()


def publish_raw(
    channel, body: bytes, queue: str, message_id: str | None, headers: dict, *, confirm: bool, timeout: float
) -> None:
    """Publish straight to a queue through the default exchange (confirmed on amqp://)."""
    if confirm:
        msg = amqp.Message(
            body, content_type=CONTENT_TYPE, message_id=message_id, delivery_mode=2, application_headers=headers
        )
        channel.basic_publish_confirm(msg, exchange="", routing_key=queue, mandatory=True, confirm_timeout=timeout)
        return
    Producer(channel).publish(
        body,
        exchange="",
        routing_key=queue,
        content_type=CONTENT_TYPE,
        content_encoding="utf-8",
        message_id=message_id,
        headers=headers,
    )
