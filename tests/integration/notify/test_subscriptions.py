"""Subscriptions through the API: who may change which, secrets never shown, bad input refused
with the field named and nothing stored."""

from __future__ import annotations

import pytest

from services.notify.models import CommunitySubscription, Subscription
from tests.integration.notify.conftest import SECRET

GOOD = {
    "webhook_url": "http://10.0.0.7:8080/hooks",
    "secret": SECRET,
    "emails": ["duty@water.example"],
    "sms": ["13900000000"],
    "events": ["task.assigned", "case.closed"],
}


def count(notify, model) -> int:
    with notify.runtime.transaction() as session:
        return len(session.query(model).all())


def test_a_department_reads_and_replaces_its_own_subscription(notify):
    water = notify.platform.headers("department", department="water")
    put = notify.client.put("/v1/subscriptions/water", headers=water, json=GOOD)
    assert put.status_code == 200, put.json
    got = notify.client.get("/v1/subscriptions/water", headers=water).json
    assert got["secret"] == "whsec_…" + SECRET[-4:] and SECRET not in str(got)
    assert (got["emails"], got["sms"], got["events"]) == (GOOD["emails"], GOOD["sms"], GOOD["events"])

    # Without a secret the current one stays; without events the defaults apply.
    again = notify.client.put("/v1/subscriptions/water", headers=water, json={"webhook_url": GOOD["webhook_url"]})
    assert again.status_code == 200, again.json
    assert again.json["secret"] == got["secret"] and again.json["emails"] == []
    assert again.json["events"] == ["task.assigned", "task.due_soon", "task.overdue", "case.escalated", "case.reopened"]

    housing = notify.platform.headers("department", department="housing")
    assert notify.client.get("/v1/subscriptions/water", headers=housing).status_code == 403
    assert notify.client.put("/v1/subscriptions/water", headers=housing, json=GOOD).status_code == 403
    staff = notify.platform.headers("staff", community="武泰闸社区")
    assert notify.client.put("/v1/subscriptions/water", headers=staff, json=GOOD).status_code == 403


@pytest.mark.parametrize(
    "change, field",
    [
        ({"webhook_url": "ftp://10.0.0.7/hooks"}, "webhook_url"),
        ({"webhook_url": "javascript:alert(1)"}, "webhook_url"),
        ({"secret": "too-short-secret"}, "secret"),
        ({"events": ["task.assigned", "task.exploded"]}, "events"),
        ({"events": ["notification.sent"]}, "events"),
        ({"emails": ["duty@water.example", "not-an-address"]}, "emails"),
        ({"sms": ["12345"]}, "sms"),
        ({"webhook_url": None, "emails": [], "sms": []}, "webhook_url"),
        ({"secret": None, "emails": [], "sms": []}, "secret"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_subscriptions_are_refused_naming_the_field(notify, change, field):
    response = notify.client.put(
        "/v1/subscriptions/water", headers=notify.platform.headers("admin"), json={**GOOD, **change}
    )
    assert response.status_code == 422, response.json
    assert response.json["code"] == "VALIDATION_ERROR"
    assert field in response.json["errors"]["json"], response.json
    assert field in response.json["message"]
    assert count(notify, Subscription) == 0


def test_loopback_and_private_webhook_hosts_are_allowed(notify):
    admin = notify.platform.headers("admin")
    for url in (
        "http://127.0.0.1:9999/h",
        "https://192.168.1.20/h",
        "http://localhost:8080/h",
        "https://dept.example/hooks/whistle",
    ):
        response = notify.client.put(
            "/v1/subscriptions/water", headers=admin, json={"webhook_url": url, "secret": SECRET}
        )
        assert response.status_code == 200, (url, response.json)


def test_community_staff_manage_their_own_community_subscription(notify):
    mine = notify.platform.headers("staff", community="武泰闸社区")
    other = notify.platform.headers("staff", community="别的社区")
    body = {"emails": ["staff@wutaizha.example"], "events": ["case.reported", "case.resolved"]}
    put = notify.client.put("/v1/community-subscriptions/武泰闸社区", headers=mine, json=body)
    assert put.status_code == 200, put.json
    assert notify.client.get("/v1/community-subscriptions/武泰闸社区", headers=mine).json["emails"] == body["emails"]
    assert notify.client.put("/v1/community-subscriptions/武泰闸社区", headers=other, json=body).status_code == 403
    assert notify.client.get("/v1/community-subscriptions/武泰闸社区", headers=other).status_code == 403
    water = notify.platform.headers("department", department="water")
    assert notify.client.get("/v1/community-subscriptions/武泰闸社区", headers=water).status_code == 403
    admin = notify.platform.headers("admin")
    assert notify.client.get("/v1/community-subscriptions/别的社区", headers=admin).status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"emails": []}, "emails"),
        ({"emails": ["nope"]}, "emails"),
        ({"events": ["case.closed"]}, "emails"),
        ({"emails": ["a@b.example"], "events": ["case.vanished"]}, "events"),
        ({"emails": ["a@b.example"], "webhook_url": "http://127.0.0.1/h"}, "webhook_url"),
    ],
)
def test_bad_community_subscriptions_are_refused(notify, body, field):
    response = notify.client.put(
        "/v1/community-subscriptions/武泰闸社区", headers=notify.platform.headers("admin"), json=body
    )
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert count(notify, CommunitySubscription) == 0
