"""Per-recipient turns: which claimed deliveries may start sending now. A recipient (a webhook URL,
an address, a number) has at most ``per_recipient`` sends under way; its other claims wait in memory,
in the order they were claimed, and the next one takes the turn a finished send frees. A slow or dead
receiver so holds that many sending threads, never all of them.

Only bookkeeping, under its own lock: the caller starts the sends it is handed."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict, deque
from collections.abc import Iterable

from .channels import Job


class Turns:
    def __init__(self, per_recipient: int):
        self.per_recipient = per_recipient
        self._sending: Counter[str] = Counter()  # recipient -> sends started and not yet over
        self._queued: dict[str, deque[Job]] = defaultdict(deque)  # recipient -> claims waiting their turn
        self._closing = False
        self._lock = threading.Lock()

    def admit(self, jobs: Iterable[Job]) -> list[Job]:
        """Take newly claimed ``jobs``; those whose recipient has a turn free are to start now, the
        others wait for one."""
        start = []
        with self._lock:
            for job in jobs:
                if self._sending[job.recipient] < self.per_recipient:
                    self._sending[job.recipient] += 1
                    start.append(job)
                else:
                    self._queued[job.recipient].append(job)
        return start

    def finished(self, job: Job) -> Job | None:
        """``job``'s send is over: the recipient's next waiting claim, which takes the freed turn and
        is to start now, or None (nothing waits, or the sender is closing)."""
        following = None
        with self._lock:
            queue = self._queued.get(job.recipient)
            if queue and not self._closing:
                following = queue.popleft()
            else:
                self._end_turn(job.recipient)
            if not queue:
                self._queued.pop(job.recipient, None)
        return following

    def not_started(self, job: Job) -> None:
        """``job`` was to start but could not (the pool is shutting down): its turn is free, and no
        waiting claim takes it."""
        with self._lock:
            self._end_turn(job.recipient)

    def _end_turn(self, recipient: str) -> None:
        self._sending[recipient] -= 1
        if self._sending[recipient] <= 0:
            del self._sending[recipient]

    def close(self) -> list[Job]:
        """Stop handing out turns; the claims that were waiting, to be given back."""
        with self._lock:
            self._closing = True
            waiting = [job for queue in self._queued.values() for job in queue]
            self._queued.clear()
        return waiting

    def sending(self) -> int:
        """Sends under way, all recipients together."""
        with self._lock:
            return sum(self._sending.values())

    def waiting(self) -> bool:
        """Whether any claim waits for its recipient's turn."""
        with self._lock:
            return any(self._queued.values())
