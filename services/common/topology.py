"""Exchange, queues and bindings, declared in one place (DESIGN §3).

One durable topic exchange ``whistle.events`` (routing key = event type); per consuming service a
durable quorum queue ``<service>.events``, its wait queues ``<queue>.retry.<delay>`` (classic, with a
TTL, dead-lettering back to the main queue through the default exchange) and ``<queue>.dlq``.
A prefix (tests only) keeps parallel runs apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue, binding

from .catalogue import CATALOGUE

# Intake keeps each case's public status from dispatch's case events and every task event; its
# own case events it applied when it emitted them.
INTAKE_OWN_EVENTS = ("case.reported", "case.duplicate_unlinked", "case.feedback_recorded")
BINDINGS: dict[str, tuple[str, ...]] = {
    "intake": ("task.*", *(t for t in CATALOGUE if t.startswith("case.") and t not in INTAKE_OWN_EVENTS)),
    "dispatch": ("case.reported", "case.duplicate_unlinked", "case.feedback_recorded"),
    "notify": ("task.*", "case.*"),
    "audit": ("#",),
}
# Bindings of earlier versions, removed when the topology is declared: an existing queue keeps its
# bindings, and intake's ``case.*`` would still bring back its own events.
RETIRED_BINDINGS: dict[str, tuple[str, ...]] = {"intake": ("case.*",)}

# A guard against crash loops only (in RabbitMQ 3.10 a lost connection counts as a delivery);
# ordinary failures are retried by the consumer through the wait queues.
DELIVERY_LIMIT = 50


def delay_label(seconds: float) -> str:
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    if seconds < 60 or seconds % 60:
        return f"{seconds:g}s"
    if seconds < 3600 or seconds % 3600:
        return f"{seconds / 60:g}m"
    return f"{seconds / 3600:g}h"


@dataclass(frozen=True)
class Topology:
    prefix: str = ""
    retry_delays: tuple[float, ...] = (5.0, 30.0, 300.0)

    @property
    def exchange(self) -> Exchange:
        return Exchange(f"{self.prefix}whistle.events", type="topic", durable=True)

    def queue_name(self, service: str) -> str:
        return f"{self.prefix}{service}.events"

    def dlq_name(self, service: str) -> str:
        return f"{self.queue_name(service)}.dlq"

    def wait_queue_name(self, service: str, delay: float) -> str:
        return f"{self.queue_name(service)}.retry.{delay_label(delay)}"

    def main_queue(self, service: str) -> Queue:
        return Queue(
            self.queue_name(service),
            bindings=[binding(self.exchange, routing_key=key) for key in BINDINGS[service]],
            durable=True,
            queue_arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": DELIVERY_LIMIT,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.dlq_name(service),
            },
        )

    def wait_queue(self, service: str, delay: float) -> Queue:
        return Queue(
            self.wait_queue_name(service, delay),
            durable=True,
            queue_arguments={
                "x-message-ttl": int(delay * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.queue_name(service),
            },
        )

    def dlq(self, service: str) -> Queue:
        return Queue(self.dlq_name(service), durable=True)

    def queues_of(self, service: str) -> list[Queue]:
        waits = [self.wait_queue(service, delay) for delay in self.retry_delays]
        return [self.main_queue(service), self.dlq(service), *waits]

    def declare(self, channel) -> None:
        """Declare everything, for every service: a relay that starts before the consumers must
        still find each event's queues, or ``mandatory`` would bounce it."""
        self.exchange(channel).declare()
        for service in BINDINGS:
            for queue in self.queues_of(service):
                queue(channel).declare()
            for key in RETIRED_BINDINGS.get(service, ()):
                self.main_queue(service)(channel).unbind_from(self.exchange, routing_key=key)
