"""The inbox consumer: applies each event at most once and acks only after the commit.

Messages are taken in batches (up to ``batch_size``) and applied in one database transaction
together with their inbox rows (batches.py); a failed message is retried through a wait queue and,
after the last attempt, dead-lettered (retries.py). The handlers run on a helper thread while this
thread keeps the connection's heartbeats going. A database outage keeps the batch unacked and tries
again; the broker redelivers anything unacked if the process dies or the connection is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from kombu import Connection
from kombu import Consumer as KombuConsumer
from kombu.message import Message
from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from .batches import BatchApplier, Clock, DatabaseUnavailable, Handler, HandlerContext, Outcome, Preloader
from .broker import Publisher, open_publisher
from .catalogue import CATALOGUE
from .config import Settings
from .cpu_load import CpuLoad, linger_for
from .db import utcnow
from .metrics import WorkerMetrics
from .outbox import Outbox
from .reconnect import run_connected
from .retries import RetryRouting
from .topology import Topology

# The handler's side of the consumer, defined with the batches that call it.
__all__ = ["Clock", "Consumer", "Handler", "HandlerContext", "Preloader"]

log = logging.getLogger(__name__)


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
        self.handlers = handlers
        self.metrics = metrics
        self.service = settings.service
        self.topology = Topology(settings.topology_prefix, settings.retry_delays)
        self.applier = BatchApplier(
            self.service, sessions, inbox, outbox, handlers, metrics=metrics, clock=clock, preload=preload
        )
        self.retries = RetryRouting(settings, metrics)
        self.ready = threading.Event()  # consuming on a live connection
        self.cpu = CpuLoad()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.service}-handler")

    def run(self, stop: threading.Event) -> None:
        name = f"consumer {self.service}"
        run_connected(self.settings, stop, self._open, log=log, name=name, lost="broker connection lost")
        self._executor.shutdown(wait=True)

    def apply(self, batch: list[Message]) -> list[Outcome]:
        """Apply a batch in one transaction; returns (message, outcome, error) per message,
        outcome being ``ack``, ``retry`` or ``dead``."""
        return self.applier.apply(batch)

    def _open(self, conn: Connection, stop: threading.Event) -> Callable[[], None]:
        channel = conn.channel()
        self.topology.declare(channel)
        republisher = open_publisher(self.settings, conn)  # a channel of its own, in confirm mode
        return lambda: self._consume(conn, channel, republisher, stop)

    def _consume(self, conn: Connection, channel, republisher: Publisher, stop: threading.Event) -> None:
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
            try:
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
            finally:
                self.ready.clear()

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

    def _settle(self, republisher: Publisher, outcomes: list[Outcome]) -> None:
        """Republish the failed messages, then ack the batch. A republish the broker did not take
        raises a connection error before anything is acked: the connection is dropped and the
        whole batch redelivered."""
        self.retries.send_elsewhere(republisher, [failed for failed in outcomes if failed[1] != "ack"])
        if not outcomes:
            return
        if self.settings.uses_memory_bus:  # kombu's in-memory channel acks one tag at a time
            for message, _outcome, _error in outcomes:
                message.ack()
            return
        # One frame for the whole batch: a batch is the oldest messages delivered on this channel,
        # and every message delivered before them was settled with an earlier batch.
        max((message for message, _outcome, _error in outcomes), key=lambda m: m.delivery_tag).ack(multiple=True)
