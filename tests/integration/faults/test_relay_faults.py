"""The relay side: a relay killed between publish and mark, and an event nobody can receive."""

from __future__ import annotations

import signal

import pytest
from kombu import Connection

from services.common.topology import Topology
from tests.integration.faults import harness
from tests.platform import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]


def test_a_relay_killed_between_publish_and_mark_gets_the_event_applied_once(make_rig):
    rig = make_rig()
    consumer = rig.start_consumer()
    [event] = rig.emit(1)

    crashing = rig.start("relay", WHISTLE_FAILPOINT="relay.after_publish")
    assert crashing.wait(30) == -signal.SIGKILL, rig.log_of(crashing)
    assert "failpoint relay.after_publish" in rig.log_of(crashing)
    # The broker confirmed it and the consumer applied it, yet the row was never marked sent.
    wait_for(lambda: rig.applied()[event] == 1, what="the first copy applied")
    assert rig.outbox_rows(event)["status"] == "pending"

    rig.start("relay")
    wait_for(lambda: rig.outbox_rows(event)["status"] == "sent", what="the restarted relay to mark it")
    # The second copy reached the consumer and the inbox absorbed it.
    wait_for(lambda: rig.stats_of(consumer).get("duplicate") == 1, what="the duplicate delivery")
    result = rig.wait_applied([event])
    assert (result.lost, result.twice) == ([], {})


def test_an_unroutable_event_stays_pending_until_a_queue_takes_it(make_rig):
    rig = make_rig()
    rig.start("relay")
    warm_up = rig.emit(1, tag="warm")
    wait_for(lambda: rig.outbox_rows(warm_up[0])["status"] == "sent", what="the relay to run")

    # department.updated is bound only by the audit queue: without it, the event routes nowhere.
    topology = Topology(rig.env["WHISTLE_TOPOLOGY_PREFIX"])
    with Connection(rig.env["WHISTLE_BROKER_URL"]) as conn:
        conn.default_channel.queue_delete(topology.queue_name(harness.SERVICE))
        [event] = rig.emit(1)
        row = wait_for(
            lambda: (r := rig.outbox_rows(event))["attempts"] >= 2 and r, timeout=20, what="the relay to try twice"
        )
        assert row["status"] == "pending" and row["sent_at"] is None
        assert "unroutable" in row["last_error"]

        topology.main_queue(harness.SERVICE)(conn.default_channel).declare()
    wait_for(
        lambda: rig.outbox_rows(event)["status"] == "sent", timeout=20, what="the event sent once its queue is back"
    )
