"""Signed webhooks against a real local receiver: signature, rotation, backoff under failure
(500, timeout, refused connection, recovery), permanent failure and retry through the API."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.notify.conftest import SECRET, task_assigned
from tests.integration.notify.receivers import Receiver, verify

NEW_SECRET = "n" * 40


def subscribe(notify, url, secret=SECRET, department="water", **extra):
    response = notify.client.put(
        f"/v1/subscriptions/{department}",
        headers=notify.platform.headers("admin"),
        json={"webhook_url": url, "secret": secret, **extra},
    )
    assert response.status_code == 200, response.json
    return response.json


def test_a_subscribed_event_is_posted_signed_once(notify, receiver):
    subscribe(notify, receiver.url)
    event = task_assigned()
    notify.feed(event)
    assert notify.send() == 1
    [hook] = receiver.accepted()
    assert hook["event"] == event
    assert hook["event_id"] == event["id"]
    assert hook["content_type"] == "application/cloudevents+json"
    [delivery] = notify.deliveries(event_id=event["id"])
    assert (delivery["channel"], delivery["status"], delivery["attempts"]) == ("webhook", "sent", 1)
    [sent] = notify.outbox("notification.sent")
    assert sent["data"]["delivery_id"] == delivery["id"] and sent["data"]["recipient"] == receiver.url
    assert sent["correlationid"] == event["correlationid"], "the trail ties the notice to its cause"
    assert notify.send() == 0, "nothing is sent twice"
    assert len(receiver.requests) == 1


def test_events_not_chosen_and_other_departments_get_nothing(notify, receiver):
    subscribe(notify, receiver.url, events=["task.overdue"])
    notify.feed(task_assigned())
    notify.feed(task_assigned(department="housing"))
    assert notify.send() == 0
    assert receiver.requests == []


def test_a_rotated_secret_signs_with_both_during_the_window(notify, receiver):
    subscribe(notify, receiver.url)
    shown = subscribe(notify, receiver.url, secret=NEW_SECRET)
    assert shown["secret"] == "whsec_…" + NEW_SECRET[-4:] and shown["previous_secret"] == "whsec_…" + SECRET[-4:]
    notify.feed(task_assigned())
    notify.send()
    [hook] = receiver.requests
    body = notify.deliveries()[0]
    assert hook["signature"].count("v1=") == 2
    raw = _raw_body(notify, body["id"])
    assert verify(SECRET, hook["signature"], raw) and verify(NEW_SECRET, hook["signature"], raw)

    notify.clock.advance(hours=24, seconds=1)  # the default window is over: the old secret is dropped
    notify.feed(task_assigned(task_id="6d2a9c1e-7b3f-4e8a-b6d4-1a2b3c4d5e6f"))
    notify.send()
    later = receiver.requests[1]
    raw = _raw_body(notify, notify.deliveries()[0]["id"])
    assert later["signature"].count("v1=") == 1
    assert verify(NEW_SECRET, later["signature"], raw) and not verify(SECRET, later["signature"], raw)
    got = notify.client.get("/v1/subscriptions/water", headers=notify.platform.headers("admin")).json
    assert got["previous_secret"] is None and SECRET not in str(got) and NEW_SECRET not in str(got)


def _raw_body(notify, delivery_id) -> bytes:
    from services.notify.models import Delivery

    with notify.runtime.transaction() as session:
        return session.get(Delivery, delivery_id).body.encode()


def test_failures_back_off_on_schedule_then_deliver_once(notify, receiver):
    """500, then a timeout, then a refused connection, then recovery: four attempts at 0, 5 s,
    35 s and 5 min 35 s, one accepted delivery, nothing sent between the scheduled times."""
    subscribe(notify, receiver.url)
    event = task_assigned()
    notify.feed(event)
    start = notify.clock()

    receiver.mode = "error"
    assert notify.send() == 1
    [delivery] = notify.deliveries()
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == ("pending", 1, "HTTP 500")
    assert delivery["next_attempt_at"] == (start + timedelta(seconds=5)).isoformat()

    notify.clock.advance(seconds=4.9)
    assert notify.send() == 0, "not before the backoff"
    receiver.mode, receiver.delay = "slow", 1.5  # longer than the 0.5 s read timeout
    notify.clock.advance(seconds=0.1)
    assert notify.send() == 1
    [delivery] = notify.deliveries()
    assert delivery["attempts"] == 2 and "Timeout" in delivery["last_error"]

    receiver.close()
    notify.clock.advance(seconds=30)
    assert notify.send() == 1
    [delivery] = notify.deliveries()
    assert delivery["attempts"] == 3 and "ConnectionError" in delivery["last_error"]

    receiver.mode = "ok"
    receiver.open()
    notify.clock.advance(minutes=4, seconds=59)
    assert notify.send() == 0
    notify.clock.advance(seconds=1)
    assert notify.send() == 1
    [delivery] = notify.deliveries()
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == ("sent", 4, None)
    assert [r["event_id"] for r in receiver.accepted()] == [event["id"]]
    notify.clock.advance(hours=2)
    assert notify.send() == 0
    assert len(receiver.accepted()) == 1
    assert [e["data"]["attempts"] for e in notify.outbox("notification.sent")] == [4]


def test_permanent_failure_is_failed_visible_and_retried_through_the_api(notify, receiver):
    receiver.mode = "error"
    subscribe(notify, receiver.url)
    notify.feed(task_assigned())
    for wait in (0, 5, 30, 300, 1800):
        notify.clock.advance(seconds=wait)
        assert notify.send() == 1
    notify.clock.advance(hours=5)
    assert notify.send() == 0, "five attempts, then it stops"
    assert len(receiver.requests) == 5

    [failed] = notify.deliveries(status="failed")
    assert (failed["attempts"], failed["last_error"], failed["next_attempt_at"]) == (5, "HTTP 500", None)
    [notice] = notify.outbox("notification.failed")
    assert notice["data"]["error"] == "HTTP 500" and notice["data"]["attempts"] == 5
    water = notify.platform.headers("department", department="water")
    assert notify.client.get("/v1/deliveries?status=failed", headers=water).json["items"][0]["id"] == failed["id"]

    housing = notify.platform.headers("department", department="housing")
    assert notify.client.post(f"/v1/deliveries/{failed['id']}/retry", headers=housing).status_code == 404
    assert notify.client.get("/v1/deliveries", headers=housing).json["items"] == []

    receiver.mode = "ok"
    retried = notify.client.post(f"/v1/deliveries/{failed['id']}/retry", headers=water)
    assert retried.status_code == 200, retried.json
    assert (retried.json["status"], retried.json["attempts"]) == ("pending", 0)
    assert notify.send() == 1
    [sent] = notify.deliveries(event_id=failed["event_id"])
    assert (sent["status"], sent["attempts"]) == ("sent", 1)
    assert len(receiver.accepted()) == 1
    again = notify.client.post(f"/v1/deliveries/{failed['id']}/retry", headers=water)
    assert (again.status_code, again.json["code"]) == (409, "INVALID_TRANSITION")


def test_case_events_reach_every_department_with_a_task_on_the_case(notify):
    water, housing, power = Receiver(SECRET), Receiver(SECRET), Receiver(SECRET)
    try:
        for department, receiver in (("water", water), ("housing", housing), ("power", power)):
            subscribe(notify, receiver.url, department=department, events=["case.escalated", "case.closed"])
        from tests.integration.notify.conftest import case_event

        notify.feed(task_assigned("water"))
        notify.feed(task_assigned("housing", task_id="7d2a9c1e-7b3f-4e8a-b6d4-1a2b3c4d5e6f"))
        notify.feed(case_event("case.escalated", level=1, reason="overdue"))
        notify.feed(case_event("case.closed"))
        notify.send()
        for receiver in (water, housing):
            assert sorted(r["event"]["type"] for r in receiver.accepted()) == ["case.closed", "case.escalated"]
        assert power.requests == []
    finally:
        for receiver in (water, housing, power):
            receiver.close()
