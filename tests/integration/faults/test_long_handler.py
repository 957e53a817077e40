"""A handler that runs for three heartbeat intervals: the connection's own thread keeps reading
and sending heartbeats meanwhile (DESIGN §8, kombu #806/#894), so the broker never drops it."""

from __future__ import annotations

import pytest

from tests import infra
from tests.platform import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

HEARTBEAT = 2


def heartbeats_in(vhost: str) -> list[int]:
    listed = infra.rabbitmqctl("list_connections", "vhost", "timeout", "-q")
    return [
        int(timeout) for name, timeout in (line.split("\t") for line in listed.stdout.splitlines()[1:]) if name == vhost
    ]


def test_a_handler_three_heartbeats_long_keeps_its_connection(make_rig):
    rig = make_rig(WHISTLE_BROKER_HEARTBEAT=str(HEARTBEAT))
    relay, consumer = rig.start("relay"), rig.start_consumer()
    slow = rig.emit(1, tag="slow", slow=3.5 * HEARTBEAT)
    wait_for(lambda: rig.stats_of(relay).get("published") == 1, what="the slow event published")
    after = rig.emit(3, tag="after")
    # Both processes negotiated the short heartbeat (a connection without one would show 0).
    assert heartbeats_in(rig.env["WHISTLE_BROKER_URL"].rsplit("/", 1)[1]).count(HEARTBEAT) == 2

    result = rig.wait_applied(slow + after, timeout=30)
    assert (result.lost, result.twice) == ([], {})
    assert rig.stats_of(consumer)["duplicate"] == 0  # nothing was redelivered
    assert "connection lost" not in rig.log_of(consumer)
    assert consumer.poll() is None
