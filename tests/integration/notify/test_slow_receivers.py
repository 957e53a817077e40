"""A slow receiver holds one sending thread, not the others' deliveries; the sender loop stops
promptly when its worker stops."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.integration.notify.conftest import SECRET, task_assigned
from tests.integration.notify.receivers import Receiver


@pytest.fixture
def notify_config(notify_config):
    return {**notify_config, "WEBHOOK_READ_TIMEOUT": 5, "NOTIFY_THREADS": 4}


def test_two_slow_receivers_do_not_hold_up_a_fast_one(notify):
    slow = [Receiver(SECRET, mode="slow", delay=1.5), Receiver(SECRET, mode="slow", delay=1.5)]
    fast = Receiver(SECRET)
    admin = notify.platform.headers("admin")
    try:
        for department, receiver in (("housing", slow[0]), ("power", slow[1]), ("water", fast)):
            notify.client.put(
                f"/v1/subscriptions/{department}", headers=admin, json={"webhook_url": receiver.url, "secret": SECRET}
            )
        notify.feed(task_assigned("housing"))
        notify.feed(task_assigned("power"))
        for _ in range(30):
            notify.feed(task_assigned("water", task_id=str(uuid.uuid4()), case_id=str(uuid.uuid4())))

        stop = threading.Event()
        loop = threading.Thread(target=notify.sender.run, args=(stop,))
        started = time.monotonic()
        loop.start()
        try:
            deadline = time.monotonic() + 10
            while len(fast.accepted()) < 30 and time.monotonic() < deadline:
                time.sleep(0.01)
            fast_done = time.monotonic() - started
            assert len(fast.accepted()) == 30
            assert fast_done < 1.2, f"the fast receiver waited {fast_done:.2f}s behind the slow ones"
            while sum(len(r.accepted()) for r in slow) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert all(len(r.accepted()) == 1 for r in slow)
            assert max(r["at"] for r in fast.accepted()) < min(r["at"] for s in slow for r in s.accepted())
        finally:
            stop.set()
            loop.join(10)
        assert {d["status"] for d in notify.deliveries(limit=100)} == {"sent"}
    finally:
        for receiver in (*slow, fast):
            receiver.close()


def test_the_sender_loop_stops_promptly_and_hands_back_unstarted_claims(notify):
    # Four threads: two sends under way and four claims per recipient at most, so several receivers.
    slow = [Receiver(SECRET, mode="slow", delay=1.0) for _ in range(4)]
    try:
        for department, receiver in zip(("water", "housing", "power", "gas"), slow, strict=True):
            notify.client.put(
                f"/v1/subscriptions/{department}",
                headers=notify.platform.headers("admin"),
                json={"webhook_url": receiver.url, "secret": SECRET},
            )
            for _ in range(3):
                notify.feed(task_assigned(department, task_id=str(uuid.uuid4()), case_id=str(uuid.uuid4())))
        stop = threading.Event()
        loop = threading.Thread(target=notify.sender.run, args=(stop,))
        loop.start()
        deadline = time.monotonic() + 5
        while len(notify.sender.in_flight) < 8 and time.monotonic() < deadline:  # four start, four wait
            time.sleep(0.01)
        time.sleep(0.1)
        asked = time.monotonic()
        stop.set()
        loop.join(5)
        assert not loop.is_alive() and time.monotonic() - asked < 2.0, "stops after the sends under way"
        items = notify.deliveries(limit=100)
        assert sum(d["status"] == "sent" for d in items) == 4
        due_now = [d for d in items if d["status"] == "pending" and d["next_attempt_at"] == notify.clock().isoformat()]
        assert len(due_now) == 8, "claims never started are due again at once, not after their lease"
    finally:
        for receiver in slow:
            receiver.close()
