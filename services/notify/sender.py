"""Sending due deliveries: claim them in batches (two short statements), send each on a bounded
thread pool (per-request timeouts, keep-alive sessions per thread, a few sends per recipient at
most), and let one recorder thread write the outcomes — with their ``notification.sent`` /
``notification.failed`` events — in group-commit transactions, so that no sending thread waits for
a commit. No transaction is ever open across a network call, and slow
receivers occupy their share of the threads, not the others' turn.

A claim moves ``next_attempt_at`` forward by a lease longer than any send can take: if the process
dies mid-send, the delivery is due again once the lease runs out and is sent again (at least once;
receivers dedupe on ``Whistle-Event-Id``)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from services.common.runtime import Runtime

from . import claims
from .channels import Channel, Job, PermanentError, SendError
from .config import NotifyConfig
from .masking import mask_recipient
from .retries import next_attempt
from .turns import Turns

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    job: Job
    address: str | None  # what the channel reached, masked for people
    error: str | None
    permanent: bool = False


class Sender:
    """Claimed deliveries wait in memory, one queue per recipient, and go to the pool while that
    recipient has fewer than ``per_recipient`` sends under way: a slow or dead receiver holds that
    many threads, never all of them, and no more than ``2 * per_recipient`` of the claims."""

    def __init__(self, runtime: Runtime, config: NotifyConfig, channels: dict[str, Channel]):
        self.runtime = runtime
        self.config = config
        self.channels = channels
        self.pool = ThreadPoolExecutor(config.threads, thread_name_prefix="notify-send")
        # Twice the threads: each thread has its next delivery waiting, and no more is claimed
        # than can be started soon (claims of a stopped sender are released, see close()).
        self.capacity = config.threads * 2
        self.per_recipient = config.per_recipient
        # A claim costs a round trip however many rows it takes: while deliveries wait to start,
        # claim again once a few sends have finished, not after each one.
        self.batch = self.per_recipient
        self.in_flight: dict[str, Job] = {}  # claimed and not yet settled, by delivery id
        self.turns = Turns(self.per_recipient)
        self._finished = 0  # sends finished since the last claim
        self._lock = threading.Lock()
        self._freed = threading.Event()
        self._never_started: list[Job] = []
        # Set when the planner commits deliveries (worker.py), and when a send finishes while a
        # recipient is at its cap: something may be claimable before the next poll.
        self.wake = threading.Event()
        self._capped = False
        # Outcomes waiting for the recorder thread, which writes them in batches (see _record_loop).
        self._outcomes: list[Outcome] = []
        self._outcome_ready = threading.Event()
        self._writing: set[str] = set()  # ids of the outcomes the recorder is writing now
        self._recorder: threading.Thread | None = None
        self._recorder_stop = False

    # ---- the loop -------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set, then finish the sends under way and release the rest."""
        while not stop.is_set():
            self._freed.clear()
            if not self._worth_claiming():
                self._freed.wait(self.config.poll)  # look again as soon as a send finishes
                continue
            self.wake.clear()
            slots = self.free_slots()
            try:
                claimed = self.tick(self.runtime.now())
            except Exception:  # the database may be away; the next tick tries again
                log.exception("notify sender: claiming deliveries failed")
                claimed = 0
            if claimed < slots:
                # Everything due is taken, or waits for a busy recipient: look again when the
                # planner commits new deliveries or a capped recipient's send finishes — a moment
                # later, so that what the next few milliseconds bring comes in the same claim — or
                # after ``poll``, for retries falling due.
                if self.wake.wait(self.config.poll):
                    stop.wait(self.config.linger)
        self.close()

    def _worth_claiming(self) -> bool:
        """Room for claims, and either nothing waits its turn, a few sends finished since the last
        claim, or a thread is idle — the claims waiting may all be for slow recipients."""
        with self._lock:
            if len(self.in_flight) >= self.capacity:
                return False
            idle = self.turns.sending() < self.config.threads
            return self._finished >= self.batch or not self.turns.waiting() or idle

    def free_slots(self) -> int:
        with self._lock:
            return self.capacity - len(self.in_flight)

    def tick(self, now: datetime) -> int:
        """Claim as many due deliveries as there are free slots and start sending them."""
        with self._lock:
            slots = self.capacity - len(self.in_flight)
            # A recipient is busy with the claims it has not been sent yet: those sent and waiting
            # for the recorder are no longer its turn.
            recording = {outcome.job.id for outcome in self._outcomes} | self._writing
            busy = Counter(job.recipient for id_, job in self.in_flight.items() if id_ not in recording)
            self._finished = 0
        if slots <= 0:
            return 0
        jobs = self.claim(now, slots, busy)
        with self._lock:
            for job in jobs:
                self.in_flight[job.id] = job
                busy[job.recipient] += 1
            start = self.turns.admit(jobs)
            # A recipient at its cap may have had deliveries left behind: its finishing sends
            # should then wake the next claim (see record).
            self._capped = any(n >= 2 * self.per_recipient for n in busy.values())
        for job in start:
            self._submit(job)
        return len(jobs)

    def _submit(self, job: Job) -> None:
        try:
            future = self.pool.submit(self.attempt, job)
        except RuntimeError:  # the pool is shutting down: the claim goes back (see close())
            self.turns.not_started(job)
            self._hand_back([job])
            return
        future.add_done_callback(lambda done: self._done(job, done))

    def send_due(self, now: datetime, timeout: float = 60) -> int:
        """Send everything due at ``now`` and wait for the outcomes (tests and tools drive this
        with a chosen ``now`` instead of sleeping through the backoff)."""
        total = 0
        while True:
            claimed = self.tick(now)
            deadline = time.monotonic() + timeout
            while self.in_flight and time.monotonic() < deadline:
                self._freed.clear()
                if self.in_flight:
                    self._freed.wait(0.05)
            total += claimed
            if claimed == 0 and not self.in_flight:
                return total

    def _turn_over(self, job: Job) -> None:
        """``job``'s send is over: the recipient's next claim takes the freed turn."""
        following = self.turns.finished(job)
        if following is not None:
            self._submit(following)

    def _done(self, job: Job, future: Future) -> None:
        """A send that was never started (the pool shut down) gives its claim back; one that ran
        is settled by the recorder once its outcome is committed."""
        if not future.cancelled():
            if future.exception() is not None:  # a bug: attempt() hands every outcome over
                log.error("notify: sending delivery %s failed", job.id, exc_info=future.exception())
                with self._lock:
                    self.in_flight.pop(job.id, None)  # its lease runs out, and it is sent again
                self._freed.set()
            return
        self._hand_back([job])
        self._turn_over(job)
        self._freed.set()

    def _hand_back(self, jobs: list[Job]) -> None:
        """Claims that will not be sent by this sender: released when it closes."""
        with self._lock:
            for job in jobs:
                self.in_flight.pop(job.id, None)
                self._never_started.append(job)

    def close(self) -> None:
        self._hand_back(self.turns.close())
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._stop_recorder()  # after the pool: every finished send's outcome is recorded first
        with self._lock:
            never_started, self._never_started = self._never_started, []
        if never_started:
            claims.release(self.runtime, never_started)
        for channel in self.channels.values():
            channel.close()

    # ---- claiming -------------------------------------------------------------------------
    def claim(self, now: datetime, limit: int, busy: Counter[str] | None = None) -> list[Job]:
        """Take up to ``limit`` due deliveries, oldest first; no more than ``2 * per_recipient``
        claims to one recipient, counting the ``busy`` ones already held."""
        return claims.claim_due(self.runtime, now, limit, busy or Counter(), 2 * self.per_recipient, self.config.lease)

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
        # The recipient's turn ends with the send, not with the recording: its next delivery
        # need not wait for this one's commit, nor does this thread.
        self._turn_over(job)
        self.record(Outcome(job, address, error, permanent))

    def record(self, outcome: Outcome) -> None:
        """Hand ``outcome`` to the recorder thread (started on first use)."""
        with self._lock:
            self._outcomes.append(outcome)
            self._finished += 1
            if self._recorder is None:
                self._recorder = threading.Thread(target=self._record_loop, name="notify-record", daemon=True)
                self._recorder.start()
        self._outcome_ready.set()
        # The recipient's turn is free: a claim may take it now.
        self._freed.set()
        if self._capped:
            self.wake.set()

    def _record_loop(self) -> None:
        """Group commit: the outcomes that finished meanwhile are written in one transaction — one
        commit per batch, not per delivery. While other sends are under way it first lingers a
        moment (``WHISTLE_NOTIFY_LINGER``), so that their outcomes join the batch. A delivery leaves
        ``in_flight`` once its outcome is committed: ``send_due`` returns when all are."""
        while True:
            self._outcome_ready.wait(self.config.poll)
            self._outcome_ready.clear()
            with self._lock:
                others_sending = self.turns.sending() > 0
                stopping = self._recorder_stop
            if others_sending and not stopping:
                time.sleep(self.config.linger)
            with self._lock:
                batch, self._outcomes = self._outcomes, []
                self._writing = {outcome.job.id for outcome in batch}
            if batch:
                self._write(batch)
            elif stopping:
                return

    def _write(self, batch: list[Outcome]) -> None:
        try:
            with self.runtime.transaction() as session:
                self._settle(session, batch)
        except Exception:
            # The claims' lease runs out and the deliveries are tried again: at least once.
            log.exception("notify: could not record the outcomes of %d deliveries", len(batch))
        with self._lock:
            for outcome in batch:
                self.in_flight.pop(outcome.job.id, None)
            self._writing = set()
        self._freed.set()  # for send_due, and for a claim that waited for room

    def _stop_recorder(self) -> None:
        with self._lock:
            self._recorder_stop = True
            recorder = self._recorder
        self._outcome_ready.set()
        if recorder is not None:
            recorder.join()

    def _settle(self, session, batch: list[Outcome]) -> None:
        """The outcomes and their events, in one transaction (the trail shows who was told what, when):
        one read of which deliveries are still pending, one executemany UPDATE, then the events."""
        connection = session.connection()  # Core statements: the ORM's execute path only costs Python
        pending = claims.still_pending(connection, {o.job.id for o in batch})
        backoff = self.config.backoff
        changes, settled = [], []
        for outcome in batch:
            job, error = outcome.job, outcome.error
            if job.id not in pending:
                continue  # settled meanwhile (e.g. after its lease ran out)
            pending.discard(job.id)
            attempts = job.attempts + 1
            status, next_at = next_attempt(
                attempts, backoff, job.now, failed=error is not None, permanent=outcome.permanent
            )
            change = {
                "delivery_id": job.id,
                "status": status,
                "attempts": attempts,
                "last_error": error,
                "next_attempt_at": next_at,
                "sent_at": job.now if status == "sent" else None,
            }
            recipient = mask_recipient(job.channel, job.recipient)
            if status == "failed":
                log.warning(
                    "notify: delivery %s (%s to %s) failed after %d attempts: %s",
                    job.id,
                    job.channel,
                    recipient,
                    attempts,
                    error,
                )
            elif status == "pending":
                log.warning(
                    "notify: delivery %s (%s to %s) attempt %d failed: %s; next at %s",
                    job.id,
                    job.channel,
                    recipient,
                    attempts,
                    error,
                    change["next_attempt_at"].isoformat(),
                )
            changes.append(change)
            if change["status"] != "pending":
                settled.append((outcome, change, recipient))
        claims.write_outcomes(connection, changes)
        self.runtime.outbox.emit_many(session, [self._notice(*item) for item in settled])

    @staticmethod
    def _notice(outcome: Outcome, change: dict, recipient: str) -> tuple[str, dict, dict]:
        """The notification.sent/failed event for a settled delivery, as an outbox item."""
        job = outcome.job
        return (
            f"notification.{change['status']}",
            {
                "delivery_id": job.id,
                "event_id": job.event_id,
                "event_type": job.event_type,
                "channel": job.channel,
                "recipient": recipient,
                "address": outcome.address if job.channel != "webhook" else None,
                "attempts": change["attempts"],
                "case_id": job.case_id,
                "department": job.department,
                "community": job.community,
                "error": change["last_error"],
            },
            {"correlation_id": job.envelope.get("correlationid")},
        )  # ties the notice to its cause
