"""The same CloudEvent delivered twice to notify's queue on the real RabbitMQ, with notify's real
worker (consumer, relay, sender) on PostgreSQL: one webhook, one mail."""

from __future__ import annotations

import time

import pytest

from services.common.broker import Outgoing, connect, open_publisher
from services.common.config import Settings
from services.common.events import encode
from services.common.topology import Topology
from tests.integration.notify.conftest import SECRET, task_assigned
from tests.integration.notify.receivers import Mailbox, Receiver
from tests.platform import Platform, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


def test_an_event_delivered_twice_is_sent_once(real_config):
    receiver, mailbox = Receiver(SECRET), Mailbox()
    config = {**real_config, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": mailbox.port}
    platform = Platform(config, services=("notify",))
    try:
        admin = platform.headers("admin")
        put = platform.client("notify").put(
            "/v1/subscriptions/water",
            headers=admin,
            json={"webhook_url": receiver.url, "secret": SECRET, "emails": ["duty@water.example"]},
        )
        assert put.status_code == 200, put.json
        platform.start_workers()

        envelope = task_assigned()
        settings = Settings.load("notify", config)
        message = Outgoing(
            envelope["id"], envelope["type"], encode(envelope), Topology(settings.topology_prefix).exchange.name
        )
        publisher = open_publisher(settings, connect(settings))
        try:
            for _ in range(2):  # e.g. a relay that crashed after publishing, before marking sent
                assert publisher.publish_batch([message]).confirmed == {envelope["id"]}
        finally:
            publisher.close()

        metric = platform.workers["notify"].registry.get_sample_value
        labels = {"service": "notify", "type": "task.assigned"}
        wait_for(
            lambda: (
                (
                    metric("whistle_events_handled_total", {**labels, "outcome": "applied"}),
                    metric("whistle_events_handled_total", {**labels, "outcome": "duplicate"}),
                )
                == (1, 1)
            ),
            what="both copies handled",
        )
        wait_for(lambda: receiver.accepted() and mailbox.messages, what="the webhook and the mail")
        time.sleep(0.5)  # room for a wrongful second send to show up
        assert [r["event_id"] for r in receiver.accepted()] == [envelope["id"]]
        assert len(mailbox.messages) == 1 and mailbox.messages[0]["message"]["Whistle-Event-Id"] == envelope["id"]
        deliveries = (
            platform.client("notify").get(f"/v1/deliveries?event_id={envelope['id']}", headers=admin).json["items"]
        )
        assert sorted((d["channel"], d["status"]) for d in deliveries) == [("email", "sent"), ("webhook", "sent")]
    finally:
        platform.stop()
        receiver.close()
        mailbox.close()
