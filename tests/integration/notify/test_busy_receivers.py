"""A burst of deliveries to slow receivers takes only their share of the sending threads: a fast
receiver's deliveries, due after the burst, still arrive at once."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.integration.notify.conftest import SECRET, task_assigned
from tests.integration.notify.receivers import Receiver


@pytest.fixture
def notify_config(notify_config):
    # Eight threads: at most two sends (and four claims) per recipient.
    return {**notify_config, "WEBHOOK_READ_TIMEOUT": 5, "NOTIFY_THREADS": 8}


def test_a_burst_to_slow_receivers_does_not_hold_up_a_fast_one(notify):
    slow = [Receiver(SECRET, mode="slow", delay=1.0), Receiver(SECRET, mode="slow", delay=1.0)]
    fast = Receiver(SECRET)
    admin = notify.platform.headers("admin")
    try:
        for department, receiver in (("housing", slow[0]), ("power", slow[1]), ("water", fast)):
            notify.client.put(
                f"/v1/subscriptions/{department}", headers=admin, json={"webhook_url": receiver.url, "secret": SECRET}
            )
        for i in range(32):  # due first: taken in time order they would fill every thread four times over
            notify.feed(task_assigned(("housing", "power")[i % 2], task_id=str(uuid.uuid4())))
        notify.clock.advance(seconds=1)
        for _ in range(20):
            notify.feed(task_assigned("water", task_id=str(uuid.uuid4()), case_id=str(uuid.uuid4())))

        stop = threading.Event()
        loop = threading.Thread(target=notify.sender.run, args=(stop,))
        started = time.monotonic()
        loop.start()
        try:
            deadline = started + 5
            while len(fast.accepted()) < 20 and time.monotonic() < deadline:
                time.sleep(0.01)
            fast_done = time.monotonic() - started
            assert len(fast.accepted()) == 20
            assert fast_done < 0.9, f"the fast receiver waited {fast_done:.2f}s behind the burst"
        finally:
            stop.set()  # the sends under way finish; the claims not started go back
            loop.join(10)
        # No slow send had answered yet when the loop stopped: what they received is what was under
        # way at once, two each at most.
        assert [len(r.accepted()) for r in slow] == [2, 2]
        assert max(r["at"] for r in fast.accepted()) < min(r["at"] for s in slow for r in s.accepted())
        items = notify.deliveries(limit=100)
        assert sum(d["status"] == "sent" for d in items) == 24
        assert sum(d["status"] == "pending" for d in items) == 28, "the rest of the burst waits its turn"
    finally:
        for receiver in (*slow, fast):
            receiver.close()
