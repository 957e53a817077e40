"""Sending due deliveries: claim them in batches (claims.py: two short statements), send each on a
bounded thread pool as its recipient's turn allows (turns.py: per-request timeouts, keep-alive
sessions per thread, a few sends per recipient at most), and let one recorder thread write the
outcomes — with their ``notification.sent`` / ``notification.failed`` events — in group-commit
transactions (recorder.py), so that no sending thread waits for a commit. No transaction is ever
open across a network call, and slow receivers occupy their share of the threads, not the others' turn."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from services.common.runtime import Runtime

from . import claims
from .channels import Channel, Job, PermanentError, SendError
from .config import NotifyConfig
from .recorder import Outcome, OutcomeRecorder
from .turns import Turns

log = logging.getLogger(__name__)


class Sender:
    """Claimed deliveries go to the pool as their recipient's turn comes (see turns.py): a slow or
    dead receiver holds ``per_recipient`` threads, never all of them, and no more than
    ``2 * per_recipient`` of the claims."""

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
        self.recorder = OutcomeRecorder(runtime, config, self.turns.sending, self._recorded)

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
            recording = self.recorder.recording()
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
        self.recorder.stop()  # after the pool: every finished send's outcome is recorded first
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
        """Hand ``outcome`` to the recorder."""
        with self._lock:
            self._finished += 1
        self.recorder.put(outcome)
        # The recipient's turn is free: a claim may take it now.
        self._freed.set()
        if self._capped:
            self.wake.set()

    def _recorded(self, batch: list[Outcome]) -> None:
        """A delivery leaves ``in_flight`` once its outcome is committed: ``send_due`` returns when all are."""
        with self._lock:
            for outcome in batch:
                self.in_flight.pop(outcome.job.id, None)
        self._freed.set()  # for send_due, and for a claim that waited for room
