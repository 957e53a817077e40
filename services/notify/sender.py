"""Sending due deliveries: claim them in a short transaction, send each on a bounded thread pool
(per-request timeouts, keep-alive sessions per thread), record each outcome — with its
``notification.sent`` / ``notification.failed`` event — in its own short transaction. No
transaction is ever open across a network call, and a slow receiver occupies one thread, not the
others' turn.

A claim moves ``next_attempt_at`` forward by a lease longer than any send can take: if the process
dies mid-send, the delivery is due again once the lease runs out and is sent again (at least once;
receivers dedupe on ``Whistle-Event-Id``)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from services.common import context
from services.common.db import is_postgres
from services.common.runtime import Runtime

from .channels import Channel, Job, PermanentError, SendError
from .config import NotifyConfig
from .masking import mask_recipient
from .models import CaseRoute, Delivery, Subscription
from .subscriptions import signing_secrets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    job: Job
    address: str | None  # what the channel reached, masked for people
    error: str | None
    permanent: bool = False


class Sender:
    def __init__(self, runtime: Runtime, config: NotifyConfig, channels: dict[str, Channel]):
        self.runtime = runtime
        self.config = config
        self.channels = channels
        self.pool = ThreadPoolExecutor(config.threads, thread_name_prefix="notify-send")
        # Twice the threads: each thread has its next delivery waiting, and no more is claimed
        # than can be started soon (claims of a stopped sender are released, see close()).
        self.capacity = config.threads * 2
        self.in_flight: dict[Future, Job] = {}
        self._lock = threading.Lock()
        self._freed = threading.Event()
        self._never_started: list[Job] = []
        self._outcomes: list[Outcome] = []
        self._writer = threading.Lock()

    # ---- the loop -------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set, then finish the sends under way and release the rest."""
        while not stop.is_set():
            try:
                claimed = self.tick(self.runtime.now())
            except Exception:  # the database may be away; the next tick tries again
                log.exception("notify sender: claiming deliveries failed")
                claimed = 0
            if claimed:
                continue
            self._freed.clear()
            if self.free_slots() == 0:
                self._freed.wait(self.config.poll)  # go again as soon as a send finishes
            else:
                stop.wait(self.config.poll)  # nothing due: look again shortly
        self.close()

    def free_slots(self) -> int:
        with self._lock:
            return self.capacity - len(self.in_flight)

    def tick(self, now: datetime) -> int:
        """Claim as many due deliveries as there are free slots and start sending them."""
        slots = self.free_slots()
        if slots <= 0:
            return 0
        jobs = self.claim(now, slots)
        for job in jobs:
            future = self.pool.submit(self.attempt, job)
            with self._lock:
                self.in_flight[future] = job
            future.add_done_callback(self._done)
        return len(jobs)

    def send_due(self, now: datetime, timeout: float = 60) -> int:
        """Send everything due at ``now`` and wait for the outcomes (tests and tools drive this
        with a chosen ``now`` instead of sleeping through the backoff)."""
        total = 0
        while True:
            claimed = self.tick(now)
            with self._lock:
                futures = list(self.in_flight)
            wait(futures, timeout=timeout)
            total += claimed
            if claimed == 0 and not futures:
                return total

    def _done(self, future: Future) -> None:
        with self._lock:
            job = self.in_flight.pop(future, None)
            if future.cancelled() and job is not None:
                self._never_started.append(job)
        self._freed.set()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            never_started, self._never_started = self._never_started, []
        if never_started:
            # Hand the claims back at once rather than after their lease.
            with self.runtime.transaction() as session:
                for job in never_started:
                    session.execute(update(Delivery).where(Delivery.id == job.id, Delivery.status == "pending")
                                    .values(next_attempt_at=job.now))
        for channel in self.channels.values():
            channel.close()

    # ---- claiming -------------------------------------------------------------------------
    def claim(self, now: datetime, limit: int) -> list[Job]:
        with self.runtime.transaction() as session:
            query = (select(Delivery)
                     .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
                     .order_by(Delivery.next_attempt_at).limit(limit))
            if is_postgres(session):
                # Several workers share the table without sending one delivery twice at once.
                query = query.with_for_update(skip_locked=True)
            rows = session.execute(query).scalars().all()
            jobs = []
            for row in rows:
                row.next_attempt_at = now + self.config.lease
                jobs.append(self._job(session, row, now))
            return jobs

    def _job(self, session, row: Delivery, now: datetime) -> Job:
        secrets: tuple[str, ...] = ()
        if row.channel == "webhook" and row.department:
            sub = session.get(Subscription, row.department)
            secrets = tuple(signing_secrets(sub, now)) if sub else ()
        route = session.get(CaseRoute, row.case_id) if row.case_id else None
        case = {"number": route.number, "title": route.title, "address": route.address} if route else {}
        return Job(id=row.id, event_id=row.event_id, event_type=row.event_type, channel=row.channel,
                   recipient=row.recipient, body=row.body, attempts=row.attempts, now=now, case_id=row.case_id,
                   department=row.department, community=row.community, secrets=secrets, case=case)

    # ---- sending and recording ------------------------------------------------------------
    def attempt(self, job: Job) -> None:
        address, error, permanent = None, None, False
        try:
            address = self.channels[job.channel].send(job)
        except PermanentError as exc:
            error, permanent = str(exc), True
        except SendError as exc:
            error = str(exc)
        except Exception as exc:  # a bug in one channel must not stop the others
            log.exception("notify: delivery %s (%s) raised", job.id, job.channel)
            error = f"{type(exc).__name__}"
        try:
            self.record(Outcome(job, address, error, permanent))
        except Exception:
            # The claim's lease runs out and the delivery is tried again: at least once.
            log.exception("notify: could not record the outcome of delivery %s", job.id)

    def record(self, outcome: Outcome) -> None:
        """Group commit: the outcomes finished meanwhile are written by whichever thread gets the
        writer's lock first, in one transaction — one commit per batch, not per delivery, which is
        what lets a single SQLite file keep up with the pool. When this returns, ``outcome`` is
        committed (by this thread or by the one that held the lock)."""
        with self._lock:
            self._outcomes.append(outcome)
        with self._writer:
            with self._lock:
                batch, self._outcomes = self._outcomes, []
            if batch:
                with self.runtime.transaction() as session:
                    for item in batch:
                        self._settle(session, item)

    def _settle(self, session, outcome: Outcome) -> None:
        """The outcome and its event, in the same transaction (the trail shows who was told what, when)."""
        job, error = outcome.job, outcome.error
        row = session.get(Delivery, job.id)
        if row is None or row.status != "pending":
            return  # settled meanwhile (e.g. after its lease ran out)
        row.attempts = job.attempts + 1
        backoff = self.config.backoff
        if error is None:
            row.status, row.sent_at, row.last_error, row.next_attempt_at = "sent", job.now, None, None
        elif outcome.permanent or row.attempts >= len(backoff):
            row.status, row.last_error, row.next_attempt_at = "failed", error, None
        else:
            row.last_error, row.next_attempt_at = error, job.now + backoff[row.attempts]
        recipient = mask_recipient(job.channel, job.recipient)
        if row.status == "pending":
            log.warning("notify: delivery %s (%s to %s) attempt %d failed: %s; next at %s", job.id, job.channel,
                        recipient, row.attempts, error, row.next_attempt_at.isoformat())
            return
        if row.status == "failed":
            log.warning("notify: delivery %s (%s to %s) failed after %d attempts: %s", job.id, job.channel,
                        recipient, row.attempts, error)
        tokens = context.bind(job.envelope.get("correlationid"))  # ties the notice to its cause
        try:
            self.runtime.outbox.emit(session, f"notification.{row.status}", {
                "delivery_id": row.id, "event_id": row.event_id, "event_type": row.event_type,
                "channel": row.channel, "recipient": recipient,
                "address": outcome.address if row.channel != "webhook" else None,
                "attempts": row.attempts, "case_id": row.case_id, "department": row.department,
                "community": row.community, "error": row.last_error,
            })
        finally:
            context.unbind(tokens)
