"""Where a failed message goes next: a wait queue per attempt, then the DLQ, with the attempt
count in a header (the routing only; the real broker is in tests/integration/faults)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from services.common.config import Settings
from services.common.consumer import ATTEMPT_HEADER, ORIGIN_HEADER, Consumer


@dataclass
class FakeChannel:
    published: list[tuple[str, dict]] = field(default_factory=list)

    def basic_publish_confirm(self, message, exchange, routing_key, mandatory, confirm_timeout):
        assert exchange == "" and mandatory
        self.published.append((routing_key, message.properties["application_headers"]))


@dataclass
class FakeMessage:
    headers: dict
    body: bytes = b"{}"
    properties: dict = field(default_factory=lambda: {"message_id": "m-1"})


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
    channel = FakeChannel()
    headers = {} if failed_before is None else {ATTEMPT_HEADER: failed_before}
    consumer()._send_elsewhere(channel, FakeMessage(headers), "retry", "KeyError: 'x'")
    [(queue, sent_headers)] = channel.published
    assert queue == target
    assert sent_headers[ATTEMPT_HEADER] == (failed_before or 0) + 1
    assert sent_headers[ORIGIN_HEADER] == "p.audit.events"


def test_an_unreadable_message_goes_straight_to_the_dlq():
    channel = FakeChannel()
    consumer()._send_elsewhere(channel, FakeMessage({}), "dead", "not JSON")
    assert channel.published[0][0] == "p.audit.events.dlq"
