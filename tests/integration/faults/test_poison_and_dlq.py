"""A poison message: retried after each configured delay, then dead-lettered, while the messages
behind it keep flowing; ``whistle dlq`` lists it without consuming it, replays it after the fix,
and purges only when told to."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime

import amqp
import pytest
from kombu import Connection
from sqlalchemy import delete, select

from services.common.broker import queue_depth
from services.common.localstack import ROOT, WHISTLE
from services.common.topology import Topology
from tests.integration.faults import harness
from tests.platform import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

DELAYS = (1.0, 2.0)


def whistle_dlq(rig, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, **rig.env, "WHISTLE_RETRY_DELAYS": ",".join(f"{d:g}s" for d in DELAYS)}
    return subprocess.run(
        [WHISTLE, "dlq", *args, harness.SERVICE],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def listed(rig) -> tuple[str, list[dict]]:
    done = whistle_dlq(rig, "list")
    assert done.returncode == 0, done.stderr
    first, *rest = done.stdout.splitlines()
    return first, [json.loads(line) for line in rest]


def test_a_poison_message_is_retried_dead_lettered_and_replayed_after_the_fix(make_rig):
    rig = make_rig(WHISTLE_RETRY_DELAYS="1s,2s")
    relay, consumer = rig.start("relay"), rig.start_consumer()
    [bad] = rig.emit(1, tag="bad", poison=True)
    behind = rig.emit(20, tag="good")

    wait_for(lambda: rig.stats_of(consumer).get("dead_lettered") == 1, timeout=30, what="the dead letter")
    with rig.sessions() as session:
        tried = session.scalars(
            select(harness.poison_attempts.c.at)
            .where(harness.poison_attempts.c.event_id == bad)
            .order_by(harness.poison_attempts.c.at)
        ).all()
        applied_at = session.scalars(select(harness.applications.c.applied_at)).all()
    # One first attempt, then one after each delay: the gaps are the configured delays.
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(tried, tried[1:], strict=False)]
    print(f"poison attempts at {[t.isoformat() for t in tried]}, gaps {gaps}")
    assert len(tried) == 1 + len(DELAYS)
    assert all(delay <= gap < delay + 1.5 for delay, gap in zip(DELAYS, gaps, strict=True)), gaps
    # The messages behind it were all applied while it was still being retried.
    assert len(applied_at) == len(behind) and max(applied_at) < tried[-1]
    assert rig.stats_of(consumer)["retried"] == len(DELAYS)

    # Listing does not consume: twice the same, and the relay's gauge still counts it.
    header, messages = listed(rig)
    assert header.endswith(": 1 message(s), showing 1")
    [dead] = messages
    assert (dead["id"], dead["type"], dead["attempt"]) == (bad, harness.EVENT_TYPE, 3)
    assert dead["error"].startswith("RuntimeError") and datetime.fromisoformat(dead["failed_at"]) >= tried[-1]
    assert sorted(dead["deaths"]) == sorted(
        f"{rig.env['WHISTLE_TOPOLOGY_PREFIX']}audit.events.retry.{d:g}s×1" for d in DELAYS
    )
    assert listed(rig) == (header, messages)
    wait_for(lambda: rig.stats_of(relay).get("dlq_depth") == 1, what="the DLQ depth gauge")

    with rig.sessions() as session, session.begin():  # the fix
        session.execute(delete(harness.poison))
    replayed = whistle_dlq(rig, "replay")
    assert replayed.returncode == 0 and "replayed 1 message(s)" in replayed.stdout, replayed.stderr
    assert rig.wait_applied([bad, *behind]).twice == {} and rig.applied()[bad] == 1
    assert listed(rig)[0].endswith(": 0 message(s), showing 0")
    wait_for(lambda: rig.stats_of(relay).get("dlq_depth") == 0, what="the DLQ depth gauge back to 0")


def test_purge_asks_first(make_rig):
    rig = make_rig()
    topology = Topology(rig.env["WHISTLE_TOPOLOGY_PREFIX"])
    dlq = topology.dlq_name(harness.SERVICE)
    with Connection(rig.env["WHISTLE_BROKER_URL"]) as conn:
        channel = conn.channel()
        topology.dlq(harness.SERVICE)(channel).declare()
        for n in range(3):
            channel.basic_publish(amqp.Message(b"{}", message_id=f"junk-{n}"), exchange="", routing_key=dlq)
        wait_for(lambda: queue_depth(conn, dlq) == 3, what="three dead letters")

        refused = whistle_dlq(rig, "purge", stdin="n\n")
        assert refused.returncode == 1 and "nothing purged" in refused.stdout
        assert queue_depth(conn, dlq) == 3

        purged = whistle_dlq(rig, "purge", "--yes")
        assert purged.returncode == 0 and "purged 3 message(s)" in purged.stdout, purged.stderr
        assert queue_depth(conn, dlq) == 0


def test_a_retry_the_broker_returns_leaves_the_message_unacked_and_it_comes_again(make_rig):
    """Its wait queue deleted under the consumer, the republish of a failed message is returned:
    the consumer acks nothing, drops its connection, declares the queue again on the next one, and
    the redelivered message takes its usual way to the DLQ."""
    rig = make_rig(WHISTLE_RETRY_DELAYS="1s")
    relay, consumer = rig.start("relay"), rig.start_consumer()
    topology = Topology(rig.env["WHISTLE_TOPOLOGY_PREFIX"])
    with Connection(rig.env["WHISTLE_BROKER_URL"]) as conn:
        conn.channel().queue_delete(topology.wait_queue_name(harness.SERVICE, 1.0))
    [bad] = rig.emit(1, tag="bad", poison=True)

    wait_for(lambda: rig.stats_of(consumer).get("dead_lettered") == 1, timeout=30, what="the dead letter")
    log = rig.log_of(consumer)
    assert "republish not confirmed" in log and "broker connection lost" in log, log
    with rig.sessions() as session:
        tried = session.scalars(select(harness.poison_attempts.c.at).where(harness.poison_attempts.c.event_id == bad))
        # The returned retry, its redelivery (which reached the wait queue), the one after the delay.
        assert len(tried.all()) == 3
    assert rig.stats_of(consumer)["retried"] == 1
    assert consumer.poll() is None and relay.poll() is None
