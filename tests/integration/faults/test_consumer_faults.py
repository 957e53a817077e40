"""The consumer side: killed inside the handler, and killed after the commit but before the ack —
once at a time to show where each failpoint fires, then ten times while 1,000 events flow."""

from __future__ import annotations

import random
import signal
import threading
import time

import pytest

from tests.platform import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]


def killed_at(rig, failpoint: str, **env: str):
    process = rig.start("consume", WHISTLE_FAILPOINT=failpoint, **env)
    assert process.wait(30) == -signal.SIGKILL, rig.log_of(process)
    assert f"failpoint {failpoint}: killing" in rig.log_of(process)
    return process


def test_killed_inside_the_handler_nothing_is_committed_and_the_event_comes_back(make_rig):
    rig = make_rig()
    rig.start("relay")
    [event] = rig.emit(1)
    killed_at(rig, "consumer.in_handler")
    assert rig.applied_count() == 0  # the handler ran, its transaction died with the process

    again = rig.start_consumer()
    assert (rig.wait_applied([event]).lost, rig.applied()[event]) == ([], 1)
    assert rig.stats_of(again)["duplicate"] == 0  # nothing had been committed: a first application


def test_killed_after_the_commit_before_the_ack_the_redelivery_is_absorbed(make_rig):
    rig = make_rig()
    rig.start("relay")
    [event] = rig.emit(1)
    killed_at(rig, "consumer.after_commit")
    assert rig.applied()[event] == 1  # committed before the process died, but never acked

    again = rig.start_consumer()
    wait_for(lambda: rig.stats_of(again).get("duplicate") == 1, what="the redelivery")
    assert rig.applied()[event] == 1


def test_ten_kills_after_commit_while_1000_events_flow_lose_nothing_and_apply_nothing_twice(make_rig):
    rig = make_rig(WHISTLE_BATCH_SIZE="10")
    rig.start("relay")
    sent: list[str] = []

    def produce():
        for _ in range(10):
            sent.extend(rig.emit(100))
            time.sleep(0.3)

    producer = threading.Thread(target=produce)
    producer.start()
    started = time.monotonic()
    for _ in range(10):
        # Each incarnation commits a few batches, then dies holding the last one unacked.
        killed_at(rig, "consumer.after_commit", WHISTLE_FAILPOINT_AFTER=str(random.randint(1, 3)))
    producer.join()
    assert rig.applied_count() < len(sent), "the kills should have happened while events were flowing"

    rig.start_consumer()
    result = rig.wait_applied(sent, timeout=60)
    elapsed = time.monotonic() - started
    print(
        f"10 kills, {len(sent)} events: {result} in {elapsed:.1f}s; {rig.total('duplicate'):.0f} redeliveries absorbed"
    )
    assert len(sent) == 1000
    assert (len(result.lost), len(result.twice)) == (0, 0), str(result)
    assert rig.total("duplicate") > 0
