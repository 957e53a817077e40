"""Where a failed message goes next, with the headers that say why.

A message whose handler failed goes to the wait queue of its attempt (``<queue>.retry.<delay>``,
whose TTL dead-letters it back to the queue), and after the last delay, like an unreadable one, to
``<queue>.dlq``. It is republished through the default exchange with the connection's publisher;
the original is acked only once every republish of its batch is confirmed.
"""

from __future__ import annotations

import logging

from kombu.message import Message

from .batches import Outcome
from .broker import Outgoing, Publisher
from .config import Settings
from .db import utcnow
from .metrics import WorkerMetrics
from .topology import Topology

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-whistle-attempt"  # attempts that failed so far (absent: none)
ERROR_HEADER = "x-whistle-error"
ORIGIN_HEADER = "x-whistle-origin-queue"
FAILED_AT_HEADER = "x-whistle-failed-at"


class RepublishFailed(ConnectionError):
    """The broker did not take a republished message (nacked, returned): the connection is dropped
    without acking, so the original is redelivered."""


class RetryRouting:
    def __init__(self, settings: Settings, metrics: WorkerMetrics | None = None):
        self.settings = settings
        self.metrics = metrics
        self.service = settings.service
        self.topology = Topology(settings.topology_prefix, settings.retry_delays)

    def target(self, outcome: str, attempt: int) -> str:
        """The queue for a message whose ``attempt``-th attempt ended in ``outcome``."""
        delays = self.settings.retry_delays
        if outcome != "retry" or attempt > len(delays):
            return self.topology.dlq_name(self.service)
        if self.settings.uses_memory_bus:
            return self.topology.queue_name(self.service)  # memory:// has no TTLs
        return self.topology.wait_queue_name(self.service, delays[attempt - 1])

    def outgoing(self, message: Message, outcome: str, error: str | None) -> Outgoing:
        headers = dict(message.headers or {})
        attempt = int(headers.get(ATTEMPT_HEADER, 0)) + 1  # the header counts the attempts that failed
        target = self.target(outcome, attempt)
        headers.update(
            {
                ATTEMPT_HEADER: attempt,
                ERROR_HEADER: (error or "")[:500],
                ORIGIN_HEADER: self.topology.queue_name(self.service),
                FAILED_AT_HEADER: utcnow().isoformat(),
            }
        )
        message_id = message.properties.get("message_id")
        log.warning("consumer %s: message %s (attempt %d) → %s", self.service, message_id, attempt, target)
        return Outgoing(message_id, target, message.body, exchange="", headers=headers)

    def send_elsewhere(self, publisher: Publisher, failed: list[Outcome]) -> None:
        """Republish each failed message to its next queue; raises RepublishFailed (or the
        publisher's ConfirmTimeout, or a connection error) unless the broker took them all."""
        if not failed:
            return
        sent = [self.outgoing(message, outcome, error) for message, outcome, error in failed]
        result = publisher.publish_batch(sent)
        refused = [m for m in sent if m.message_id not in result.confirmed or m.message_id in result.failed]
        if refused:
            reasons = {m.message_id: result.failed.get(m.message_id, "not confirmed") for m in refused}
            raise RepublishFailed(f"republish not confirmed: {reasons}")
        if self.metrics:
            for m in sent:
                self.metrics.retries.labels(self.service, "dlq" if m.routing_key.endswith(".dlq") else "wait").inc()
