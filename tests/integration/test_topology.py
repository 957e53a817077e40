"""The bindings on a real broker: each queue gets the event types its service handles, and a binding
of an earlier version is removed when the topology is declared again."""

from __future__ import annotations

import uuid

import pytest

from services.common.broker import Outgoing, connect, open_publisher
from services.common.config import Settings
from services.common.topology import Topology

pytestmark = [pytest.mark.broker]


def queued_types(channel, queue: str) -> list[str]:
    types = []
    while (message := channel.basic_get(queue, no_ack=True)) is not None:
        types.append(message.delivery_info["routing_key"])
    return types


def test_intake_no_longer_gets_its_own_events_back(real_config):
    settings = Settings.load("intake", real_config)
    topology = Topology(settings.topology_prefix)
    connection = connect(settings)
    try:
        channel = connection.default_channel
        # A queue as an earlier version declared it: bound to every case event.
        old = topology.main_queue("intake")(channel)
        old.declare()
        old.bind_to(topology.exchange, routing_key="case.*")

        topology.declare(channel)
        publisher = open_publisher(settings, connection)
        events = [
            Outgoing(str(uuid.uuid4()), event_type, b"{}", topology.exchange.name)
            for event_type in ("case.reported", "case.dispatched", "task.assigned", "case.feedback_recorded")
        ]
        assert len(publisher.publish_batch(events).confirmed) == 4  # confirmed: in every queue bound

        intake = queued_types(connection.channel(), topology.queue_name("intake"))
        dispatch = queued_types(connection.channel(), topology.queue_name("dispatch"))
    finally:
        connection.release()
    assert sorted(intake) == ["case.dispatched", "task.assigned"]
    assert sorted(dispatch) == ["case.feedback_recorded", "case.reported"]
