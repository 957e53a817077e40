"""The thinnest real flow: staff submit, dispatch routes, the department sees its task, notify
posts the signed webhook, audit records the trail — on the dev wiring and on the real servers."""

from __future__ import annotations

import pytest

from tests.platform import wait_for
from tests.receiver import WebhookReceiver

SECRET = "s" * 40

LEAK = {
    "title": "地下车库自来水主管网渗漏",
    "description": "高峰期水压不够",
    "category": "water_supply",
    "severity": "urgent",
    "channel": "walk_in",
    "location": {
        "address": "伟业佳苑地下停车场",
        "street": "紫阳街道",
        "community": "武泰闸社区",
        "grid": "G-07",
        "lat": 30.52,
        "lon": 114.31,
    },
    "reporter": {"name": "尹师傅", "phone": "13800138000"},
}


@pytest.fixture(
    params=["dev_platform", pytest.param("real_platform", marks=[pytest.mark.broker, pytest.mark.postgres])]
)
def platform(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def receiver():
    r = WebhookReceiver(SECRET)
    yield r
    r.close()


def test_a_case_flows_from_intake_to_department_webhook_and_audit(platform, receiver):
    admin = platform.headers("admin")
    put = platform.client("notify").put(
        "/v1/subscriptions/water", headers=admin, json={"webhook_url": receiver.url, "secret": SECRET}
    )
    assert put.status_code == 200, put.json
    assert put.json["secret"].endswith(SECRET[-4:]) and SECRET not in put.json["secret"]

    staff = platform.headers("staff", community="武泰闸社区")
    created = platform.client("intake").post("/v1/cases", headers=staff, json=LEAK)
    assert created.status_code == 201, created.json
    case = created.json
    assert case["number"].startswith("WS-") and case["status"] == "reported"
    assert case["reporter"] == {"name": "尹*", "phone": "138****8000"}
    assert created.headers["Location"].endswith(f"/v1/cases/{case['id']}")

    water = platform.headers("department", department="water")
    tasks = wait_for(
        lambda: platform.client("dispatch").get(f"/v1/tasks?case_id={case['id']}", headers=water).json["items"],
        what="the water task",
    )
    assert [(t["department"], t["role"], t["status"]) for t in tasks] == [("water", "lead", "assigned")]
    assert tasks[0]["case_number"] == case["number"]

    housing = platform.headers("department", department="housing")
    assert platform.client("dispatch").get(f"/v1/tasks?case_id={case['id']}", headers=housing).json["items"] == []
    assert platform.client("dispatch").get(f"/v1/tasks/{tasks[0]['id']}", headers=housing).status_code == 404

    hooks = wait_for(lambda: receiver.events_for(case["id"]), what="the signed webhook")
    assert hooks[0]["verified"], "signature must verify with the subscriber's secret"
    assert hooks[0]["event"]["type"] == "task.assigned"
    assert hooks[0]["content_type"] == "application/cloudevents+json"
    assert hooks[0]["event_id"] == hooks[0]["event"]["id"]

    auditor = platform.headers("auditor")

    def trail_types():
        items = platform.client("audit").get(f"/v1/events?case_id={case['id']}", headers=auditor).json["items"]
        return {e["type"] for e in items} >= {"case.reported", "case.dispatched", "task.assigned"} and items

    trail = wait_for(trail_types, what="the audit trail")
    correlation_ids = {e["correlation_id"] for e in trail}
    assert len(correlation_ids) == 1, "every event caused by the request shares its correlation id"
    assert "13800138000" not in str(trail)
    assert platform.client("audit").get(f"/v1/events?case_id={case['id']}", headers=staff).status_code == 403

    status = wait_for(
        lambda: (
            platform.client("intake").get(f"/v1/cases/{case['id']}", headers=staff).json
            if platform.client("intake").get(f"/v1/cases/{case['id']}", headers=staff).json["status"] == "dispatched"
            else None
        ),
        what="public status 'dispatched'",
    )
    assert status["departments"] == ["water"]
