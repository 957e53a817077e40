"""Who may do what: every dispatch endpoint × every role, in one table. A department never sees or
changes another's task; auditors and services only read; a refused request changes nothing."""

from __future__ import annotations

import pytest

from .conftest import START, Clock, Desk, desk_config

ROLES = ("anonymous", "staff", "water", "housing", "auditor", "admin", "service")
EVERYONE = {"staff", "water", "housing", "auditor", "admin", "service"}
STAFF = {"staff", "admin"}
OWNER = {"water", "admin"}  # the task is water's; admins may do everything


@pytest.fixture(scope="module")
def shared_desk(tmp_path_factory):
    clock = Clock(START)
    running = Desk(desk_config(tmp_path_factory.mktemp("authz"), clock), clock)
    yield running
    running.close()


def water_task(desk: Desk, *, acknowledged: bool = False) -> dict:
    case_id = desk.report("water_supply")
    task = desk.task_of(case_id, "water")
    return desk.act(task, "acknowledge", {}) if acknowledged else task


def resolved_case(desk: Desk) -> str:
    task = water_task(desk, acknowledged=True)
    desk.act(task, "complete", {"resolution": "修好了"})
    return task["case_id"]


# endpoint → (roles that succeed, roles answered 404 rather than 403, setup → (method, path, body))
ENDPOINTS = {
    "list departments": (EVERYONE, set(), lambda d: ("GET", "/v1/departments", None)),
    "put department": (
        {"admin"},
        set(),
        lambda d: ("PUT", "/v1/departments/fire", {"name_zh": "消防救援", "name_en": "Fire and rescue"}),
    ),
    "list rules": (EVERYONE, set(), lambda d: ("GET", "/v1/routing-rules", None)),
    "put rules": ({"admin"}, set(), lambda d: ("PUT", "/v1/routing-rules", d.get("/v1/routing-rules").json)),
    "list tasks": (EVERYONE, set(), lambda d: ("GET", f"/v1/tasks?case_id={water_task(d)['case_id']}", None)),
    "read task": (EVERYONE - {"housing"}, {"housing"}, lambda d: ("GET", f"/v1/tasks/{water_task(d)['id']}", None)),
    "acknowledge": (OWNER, {"housing"}, lambda d: ("POST", f"/v1/tasks/{water_task(d)['id']}/acknowledge", {})),
    "progress": (
        OWNER,
        {"housing"},
        lambda d: ("POST", f"/v1/tasks/{water_task(d, acknowledged=True)['id']}/progress", {"note": "在修"}),
    ),
    "return": (
        OWNER,
        {"housing"},
        lambda d: (
            "POST",
            f"/v1/tasks/{water_task(d)['id']}/return",
            {"reason_code": "wrong_area", "reason": "不归我们"},
        ),
    ),
    "complete": (
        OWNER,
        {"housing"},
        lambda d: ("POST", f"/v1/tasks/{water_task(d, acknowledged=True)['id']}/complete", {"resolution": "修好了"}),
    ),
    "cancel": (STAFF, set(), lambda d: ("POST", f"/v1/tasks/{water_task(d)['id']}/cancel", {"reason": "重复派单"})),
    "read case": (
        EVERYONE - {"housing"},
        {"housing"},
        lambda d: ("GET", f"/v1/cases/{water_task(d)['case_id']}", None),
    ),
    "whistle": (
        STAFF,
        set(),
        lambda d: (
            "POST",
            f"/v1/cases/{water_task(d)['case_id']}/whistle",
            {"departments": ["property"], "reason": "协助"},
        ),
    ),
    "verify": (STAFF, set(), lambda d: ("POST", f"/v1/cases/{resolved_case(d)}/verify", {"outcome": "closed"})),
    "reject": (STAFF, set(), lambda d: ("POST", f"/v1/cases/{d.report('other')}/reject", {"reason": "不属部门职责"})),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_endpoint_for_every_role(shared_desk, endpoint, role):
    desk = shared_desk
    allowed, hidden, setup = ENDPOINTS[endpoint]
    method, path, body = setup(desk)
    headers = {} if role == "anonymous" else desk.headers(role)
    before = desk.outbox_count()
    response = desk.client.open(path, method=method, json=body, headers=headers)

    if role == "anonymous":
        expected = 401
    elif role in allowed:
        expected = 201 if endpoint == "whistle" else 200
    else:
        expected = 404 if role in hidden else 403
    assert response.status_code == expected, (endpoint, role, response.json)
    if expected >= 400:
        assert desk.outbox_count() == before, "a refused request emits nothing"
    elif method != "GET":
        assert desk.outbox_count() > before, "a change is an event"
    if endpoint == "list tasks" and role == "housing":
        assert response.json["items"] == [], "another department's tasks stay invisible"
    elif endpoint == "list tasks" and expected == 200:
        assert [t["department"] for t in response.json["items"]] == ["water"]
