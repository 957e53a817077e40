"""Where a failed message goes next: a wait queue per attempt, then the DLQ, with the attempt
count in a header (the routing only; the real broker is in tests/integration/faults)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from services.common.broker import CONNECTION_ERRORS, Outgoing, Publisher, PublishResult
from services.common.config import Settings
from services.common.consumer import Consumer
from services.common.retries import ATTEMPT_HEADER, ORIGIN_HEADER, RepublishFailed


@dataclass
class FakePublisher(Publisher):
    """Takes every message, or refuses those whose id is in ``refuse`` (as a nack would)."""

    published: list[tuple[str, dict]] = field(default_factory=list)
    refuse: frozenset = frozenset()

    def publish_batch(self, messages: list[Outgoing]) -> PublishResult:
        result = PublishResult()
        for message in messages:
            assert message.exchange == ""
            self.published.append((message.routing_key, message.headers))
            if message.message_id in self.refuse:
                result.failed[message.message_id] = "nacked by the broker"
            else:
                result.confirmed.add(message.message_id)
        return result


@dataclass
class FakeMessage:
    headers: dict
    body: bytes = b"{}"
    properties: dict = field(default_factory=lambda: {"message_id": "m-1"})
    delivery_tag: int = 1
    acked: bool = False

    def ack(self, multiple: bool = False) -> None:
        self.acked = True


def consumer() -> Consumer:
    settings = Settings.load(
        "audit",
        {"BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/x", "TOPOLOGY_PREFIX": "p.", "RETRY_DELAYS": "5s,30s,5m"},
    )
    return Consumer(settings, sessions=None, inbox=None, outbox=None, handlers={})


@pytest.mark.parametrize(
    ("failed_before", "target"),
    [
        (None, "p.audit.events.retry.5s"),
        (1, "p.audit.events.retry.30s"),
        (2, "p.audit.events.retry.5m"),
        (3, "p.audit.events.dlq"),
    ],
)
def test_each_failure_moves_one_step_along_the_delays(failed_before, target):
    publisher = FakePublisher()
    headers = {} if failed_before is None else {ATTEMPT_HEADER: failed_before}
    consumer().retries.send_elsewhere(publisher, [(FakeMessage(headers), "retry", "KeyError: 'x'")])
    [(queue, sent_headers)] = publisher.published
    assert queue == target
    assert sent_headers[ATTEMPT_HEADER] == (failed_before or 0) + 1
    assert sent_headers[ORIGIN_HEADER] == "p.audit.events"


def test_an_unreadable_message_goes_straight_to_the_dlq():
    publisher = FakePublisher()
    consumer().retries.send_elsewhere(publisher, [(FakeMessage({}), "dead", "not JSON")])
    assert publisher.published[0][0] == "p.audit.events.dlq"


def test_a_republish_the_broker_refused_drops_the_connection_and_acks_nothing():
    """The batch stays unacked, so the broker redelivers it once the connection is dropped."""
    failed, fine = FakeMessage({}), FakeMessage({}, properties={"message_id": "m-2"}, delivery_tag=2)
    with pytest.raises(RepublishFailed) as refused:
        consumer()._settle(FakePublisher(refuse=frozenset({"m-1"})), [(failed, "retry", "boom"), (fine, "ack", None)])
    assert isinstance(refused.value, CONNECTION_ERRORS)
    assert not failed.acked and not fine.acked


def test_a_message_without_an_id_is_republished_like_any_other():
    publisher, message = FakePublisher(), FakeMessage({}, properties={})
    consumer()._settle(publisher, [(message, "dead", "not JSON")])
    assert publisher.published[0][0] == "p.audit.events.dlq" and message.acked
