"""Recording what became of each send: one thread writes the outcomes, with their
``notification.sent`` / ``notification.failed`` events, in group-commit transactions, so that no
sending thread waits for a commit."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.common.runtime import Runtime

from . import claims
from .channels import Job
from .config import NotifyConfig
from .masking import mask_recipient
from .retries import next_attempt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    job: Job
    address: str | None  # what the channel reached, masked for people
    error: str | None
    permanent: bool = False


class OutcomeRecorder:
    """``sends_under_way`` tells whether more outcomes are coming soon; ``written`` is called with
    each batch once its transaction is over."""

    def __init__(
        self,
        runtime: Runtime,
        config: NotifyConfig,
        sends_under_way: Callable[[], int],
        written: Callable[[list[Outcome]], None],
    ):
        self.runtime = runtime
        self.config = config
        self._sends_under_way = sends_under_way
        self._written = written
        self._outcomes: list[Outcome] = []  # waiting for the next batch
        self._writing: set[str] = set()  # ids of the outcomes being written now
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._lock = threading.Lock()

    def put(self, outcome: Outcome) -> None:
        """Hand ``outcome`` to the recorder thread (started on first use)."""
        with self._lock:
            self._outcomes.append(outcome)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="notify-record", daemon=True)
                self._thread.start()
        self._ready.set()

    def recording(self) -> set[str]:
        """The ids of the deliveries whose outcomes are handed over and not yet written."""
        with self._lock:
            return {outcome.job.id for outcome in self._outcomes} | self._writing

    def stop(self) -> None:
        """Write what was handed over, then end the thread."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._ready.set()
        if thread is not None:
            thread.join()

    def _loop(self) -> None:
        """Group commit: the outcomes that finished meanwhile are written in one transaction — one
        commit per batch, not per delivery. While other sends are under way it first lingers a
        moment (``WHISTLE_NOTIFY_LINGER``), so that their outcomes join the batch."""
        while True:
            self._ready.wait(self.config.poll)
            self._ready.clear()
            with self._lock:
                stopping = self._stopping
            if not stopping and self._sends_under_way() > 0:
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
        # Before ``_writing`` is emptied: whoever counts the claims still held against
        # ``recording()`` must not see these as neither held nor recorded.
        self._written(batch)
        with self._lock:
            self._writing = set()

    def _settle(self, session, batch: list[Outcome]) -> None:
        """The outcomes and their events, in one transaction (the trail shows who was told what, when):
        one read of which deliveries are still pending, one executemany UPDATE, then the events."""
        connection = session.connection()  # Core statements: the ORM's execute path only costs Python
        pending = claims.still_pending(connection, {o.job.id for o in batch})
        changes, settled = [], []
        for outcome in batch:
            job, error = outcome.job, outcome.error
            if job.id not in pending:
                continue  # settled meanwhile (e.g. after its lease ran out)
            pending.discard(job.id)
            attempts = job.attempts + 1
            status, next_at = next_attempt(
                attempts, self.config.backoff, job.now, failed=error is not None, permanent=outcome.permanent
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
                    next_at.isoformat(),
                )
            changes.append(change)
            if status != "pending":
                settled.append((outcome, change, recipient))
        claims.write_outcomes(connection, changes)
        self.runtime.outbox.emit_many(session, [notice(*item) for item in settled])


def notice(outcome: Outcome, change: dict, recipient: str) -> tuple[str, dict, dict]:
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
