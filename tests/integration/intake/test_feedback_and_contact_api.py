"""回访 feedback once per resolution, and who may read a reporter's full contact (every read logged)."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from services.intake.models import ContactRead

CASE = {
    "title": "楼道灯坏",
    "category": "street_lighting",
    "location": {"address": "伟业佳苑 5 栋", "community": "武泰闸社区"},
    "reporter": {"name": "尹师傅", "phone": "13800138000"},
}


@pytest.fixture
def case(fresh_intake):
    return fresh_intake.submit(CASE)


def feedback(app, case_id, body=None, role="staff"):
    body = {"satisfaction": "satisfied"} if body is None else body
    return app.client.post(f"/v1/cases/{case_id}/feedback", json=body, headers=app.headers(role))


@pytest.mark.parametrize("status", ["reported", "triage", "dispatched", "in_progress", "rejected", "duplicate"])
def test_feedback_waits_for_resolution(fresh_intake, case, status):
    app = fresh_intake
    events = {
        "triage": ("case.triaged", {"reason": "无规则"}),
        "rejected": ("case.rejected", {"reason": "不受理"}),
        "dispatched": (
            "case.dispatched",
            {"severity": "normal", "lead": "power", "departments": ["power"], "resolve_due": "2026-06-10T00:00:00Z"},
        ),
        "in_progress": (
            "task.acknowledged",
            {"task_id": "0b7e0000-0000-4000-8000-000000000001", "department": "power"},
        ),
    }
    target = case
    if status == "duplicate":
        target = app.submit(CASE)
    elif status in events:
        app.deliver(events[status][0], {"case_id": case["id"], **events[status][1]})
    assert app.read(target["id"])["status"] == status
    response = feedback(app, target["id"])
    assert (response.status_code, response.json["code"]) == (409, "INVALID_STATE")
    assert app.events("case.feedback_recorded") == []


@pytest.mark.parametrize("final", ["case.resolved", "case.closed"])
def test_feedback_once_per_resolution(fresh_intake, case, final):
    app = fresh_intake
    app.deliver(final, {"case_id": case["id"]})
    first = feedback(app, case["id"], {"satisfaction": "dissatisfied", "comment": "还是不亮，电话13800138000"})
    assert first.status_code == 201, first.json
    assert {k: first.json[k] for k in ("case_id", "round", "satisfaction")} == {
        "case_id": case["id"],
        "round": 0,
        "satisfaction": "dissatisfied",
    }
    [event] = app.events("case.feedback_recorded")
    assert event["data"] == {
        "case_id": case["id"],
        "satisfaction": "dissatisfied",
        "comment": "还是不亮，电话138****8000",
        "round": 0,
    }

    second = feedback(app, case["id"], {"satisfaction": "satisfied"})
    assert (second.status_code, second.json["code"]) == (409, "FEEDBACK_ALREADY_RECORDED")

    app.clock.advance(hours=1)
    app.deliver("case.reopened", {"case_id": case["id"], "reason": "居民不满意", "by": "feedback"})
    assert feedback(app, case["id"]).status_code == 409  # dispatched again: wait for the new resolution
    app.clock.advance(hours=1)
    app.deliver("case.resolved", {"case_id": case["id"]})
    again = feedback(app, case["id"], {"satisfaction": "basically_satisfied"})
    assert (again.status_code, again.json["round"]) == (201, 1)
    assert len(app.events("case.feedback_recorded")) == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "satisfaction"),
        ({"satisfaction": "meh"}, "satisfaction"),
        ({"satisfaction": "satisfied", "comment": "<i>好</i>"}, "comment"),
        ({"satisfaction": "satisfied", "comment": "好" * 2001}, "comment"),
        ({"satisfaction": "satisfied", "stars": 5}, "stars"),
    ],
)
def test_bad_feedback_is_named(fresh_intake, case, body, field):
    fresh_intake.deliver("case.resolved", {"case_id": case["id"]})
    response = feedback(fresh_intake, case["id"], body)
    assert response.status_code == 422 and field in response.json["message"]
    assert fresh_intake.events("case.feedback_recorded") == []


@pytest.mark.parametrize("role, status", [("department", 403), ("auditor", 403), ("admin", 201)])
def test_who_records_feedback(fresh_intake, case, role, status):
    fresh_intake.deliver("case.resolved", {"case_id": case["id"]})
    assert feedback(fresh_intake, case["id"], role=role).status_code == status


def test_feedback_on_an_unknown_case_is_404(fresh_intake):
    assert feedback(fresh_intake, "0b7e0000-0000-4000-8000-000000000000").status_code == 404


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def contact_log():
    handler, logger = Lines(), logging.getLogger("services.intake.service")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    "role, claims, status",
    [
        ("staff", {"community": "武泰闸社区"}, 200),
        ("admin", {}, 200),
        ("service", {"sub": "notify"}, 200),
        ("staff", {"community": "别的社区"}, 403),
        ("staff", {"community": None}, 403),
        ("department", {"department": "water"}, 403),
        ("auditor", {}, 403),
    ],
)
def test_who_reads_the_full_contact_and_every_read_is_recorded(fresh_intake, case, contact_log, role, claims, status):
    app = fresh_intake
    headers = app.platform.headers(role, **{k: v for k, v in claims.items() if v is not None})
    response = app.client.get(f"/v1/cases/{case['id']}/contact", headers=headers)
    assert response.status_code == status, response.json
    with app.runtime.transaction() as session:
        reads = session.execute(select(ContactRead)).scalars().all()
    if status == 200:
        assert response.json == {"name": "尹师傅", "phone": "13800138000"}
        assert [(r.case_id, r.role, r.read_at) for r in reads] == [(case["id"], role, app.clock.now)]
        assert reads[0].reader == (claims.get("sub") or f"{role}-user")
        [line] = [r for r in contact_log if r.getMessage() == "contact read"]
        assert (line.case_id, line.role) == (case["id"], role)
        assert "13800138000" not in json.dumps(line.__dict__, default=str)
    else:
        assert "13800138000" not in response.text and reads == []


def test_the_full_phone_is_nowhere_but_the_contact_endpoint(fresh_intake, case):
    app = fresh_intake
    for url in (f"/v1/cases/{case['id']}", "/v1/cases", "/open311/v2/requests.json", "/open311/v2/requests.xml"):
        assert "13800138000" not in app.client.get(url, headers=app.headers("admin")).text, url


def test_feedback_sent_again_with_its_key_gets_the_first_answer(fresh_intake, case):
    app = fresh_intake
    app.deliver("case.resolved", {"case_id": case["id"]})
    path, key = f"/v1/cases/{case['id']}/feedback", {"Idempotency-Key": "回访-1".encode().hex()}
    first = app.client.post(path, json={"satisfaction": "satisfied"}, headers={**app.headers(), **key})
    again = app.client.post(path, json={"satisfaction": "satisfied"}, headers={**app.headers(), **key})
    assert (first.status_code, again.status_code) == (201, 201), again.json
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = app.client.post(path, json={"satisfaction": "dissatisfied"}, headers={**app.headers(), **key})
    assert (other.status_code, other.json["code"]) == (409, "IDEMPOTENCY_MISMATCH")
    assert len(app.events("case.feedback_recorded")) == 1
