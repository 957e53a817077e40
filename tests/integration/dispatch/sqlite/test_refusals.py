"""Bad input and bad transitions: a 4xx naming the problem, nothing changed, no event."""

from __future__ import annotations

import pytest
from sqlalchemy.orm.exc import StaleDataError

from services.dispatch import errors

from .conftest import START, Clock, Desk, desk_config


@pytest.fixture(scope="module")
def shared_desk(tmp_path_factory):
    clock = Clock(START)
    running = Desk(desk_config(tmp_path_factory.mktemp("refusals"), clock), clock)
    yield running
    running.close()


def fresh(desk: Desk) -> dict:
    """A case with water's task assigned, housing's acknowledged, a resolved one and a triaged one."""
    case_id = desk.report("water_supply")
    water = desk.task_of(case_id, "water")
    housing = desk.post(f"/v1/cases/{case_id}/whistle", {"departments": ["housing"], "reason": "r"}).json["tasks"][0]
    housing = desk.act(housing, "acknowledge", {})
    done = desk.report("drainage")
    drain = desk.act(desk.task_of(done, "drainage"), "acknowledge", {})
    desk.act(drain, "complete", {"resolution": "ok"})
    return {
        "case": case_id,
        "water": water["id"],
        "housing": housing["id"],
        "resolved": done,
        "triage": desk.report("other"),
    }


def rule(**override) -> dict:
    return {"category": "water_supply", "lead": "water", "assists": [], "fallback": ["street_office"], **override}


# (who, method, path template, body, extra headers, status, code, the field or "allowed" expected)
CASES = {
    "unknown field": (
        "water",
        "POST",
        "/v1/tasks/{water}/acknowledge",
        {"note": "x", "colour": "red"},
        {},
        422,
        "VALIDATION_ERROR",
        "colour",
    ),
    "progress without a note": (
        "housing",
        "POST",
        "/v1/tasks/{housing}/progress",
        {},
        {},
        422,
        "VALIDATION_ERROR",
        "note",
    ),
    "bad return reason": (
        "water",
        "POST",
        "/v1/tasks/{water}/return",
        {"reason_code": "busy", "reason": "x"},
        {},
        422,
        "VALIDATION_ERROR",
        "reason_code",
    ),
    "return without reason": (
        "water",
        "POST",
        "/v1/tasks/{water}/return",
        {"reason_code": "other"},
        {},
        422,
        "VALIDATION_ERROR",
        "reason",
    ),
    "naive eta": (
        "water",
        "POST",
        "/v1/tasks/{water}/acknowledge",
        {"eta": "2026-06-04T08:00:00"},
        {},
        422,
        "VALIDATION_ERROR",
        "eta",
    ),
    "complete before 报到": (
        "water",
        "POST",
        "/v1/tasks/{water}/complete",
        {"resolution": "x"},
        {},
        409,
        "INVALID_TRANSITION",
        ["acknowledge", "return", "cancel"],
    ),
    "acknowledge twice": (
        "housing",
        "POST",
        "/v1/tasks/{housing}/acknowledge",
        {},
        {},
        409,
        "INVALID_TRANSITION",
        ["progress", "return", "complete", "cancel"],
    ),
    "stale If-Match": (
        "water",
        "POST",
        "/v1/tasks/{water}/acknowledge",
        {},
        {"If-Match": "7"},
        412,
        "PRECONDITION_FAILED",
        None,
    ),
    "unreadable If-Match": (
        "water",
        "POST",
        "/v1/tasks/{water}/acknowledge",
        {},
        {"If-Match": "v1"},
        400,
        "BAD_REQUEST",
        "If-Match",
    ),
    "unknown task": (
        "water",
        "POST",
        "/v1/tasks/00000000-0000-4000-8000-000000000000/acknowledge",
        {},
        {},
        404,
        "NOT_FOUND",
        None,
    ),
    "whistle an unknown department": (
        "staff",
        "POST",
        "/v1/cases/{case}/whistle",
        {"departments": ["ghosts"], "reason": "r"},
        {},
        422,
        "VALIDATION_ERROR",
        "departments",
    ),
    "whistle a lead not summoned": (
        "staff",
        "POST",
        "/v1/cases/{case}/whistle",
        {"departments": ["police"], "reason": "r", "lead": "fire"},
        {},
        422,
        "VALIDATION_ERROR",
        "lead",
    ),
    "whistle a second lead": (
        "staff",
        "POST",
        "/v1/cases/{case}/whistle",
        {"departments": ["police"], "reason": "r", "lead": "police"},
        {},
        409,
        "CONFLICT",
        None,
    ),
    "whistle zero minutes": (
        "staff",
        "POST",
        "/v1/cases/{case}/whistle",
        {"departments": ["police"], "reason": "r", "respond_within_minutes": 0},
        {},
        422,
        "VALIDATION_ERROR",
        "respond_within_minutes",
    ),
    "whistle a resolved case": (
        "staff",
        "POST",
        "/v1/cases/{resolved}/whistle",
        {"departments": ["police"], "reason": "r"},
        {},
        409,
        "INVALID_TRANSITION",
        ["verify"],
    ),
    "verify an open case": (
        "staff",
        "POST",
        "/v1/cases/{case}/verify",
        {"outcome": "closed"},
        {},
        409,
        "INVALID_TRANSITION",
        ["whistle"],
    ),
    "reopen without a note": (
        "staff",
        "POST",
        "/v1/cases/{resolved}/verify",
        {"outcome": "reopened"},
        {},
        422,
        "VALIDATION_ERROR",
        "note",
    ),
    "reject outside triage": (
        "staff",
        "POST",
        "/v1/cases/{case}/reject",
        {"reason": "r"},
        {},
        409,
        "INVALID_TRANSITION",
        ["whistle"],
    ),
    "unknown case": (
        "staff",
        "POST",
        "/v1/cases/00000000-0000-4000-8000-000000000000/verify",
        {"outcome": "closed"},
        {},
        404,
        "NOT_FOUND",
        None,
    ),
    "rule for an unknown department": (
        "admin",
        "PUT",
        "/v1/routing-rules",
        {"items": [rule(lead="ghosts")]},
        {},
        422,
        "VALIDATION_ERROR",
        "lead",
    ),
    "lead also an assist": (
        "admin",
        "PUT",
        "/v1/routing-rules",
        {"items": [rule(assists=["water"])]},
        {},
        422,
        "VALIDATION_ERROR",
        "assists",
    ),
    "two rules for one scope": (
        "admin",
        "PUT",
        "/v1/routing-rules",
        {"items": [rule(), rule(lead="housing")]},
        {},
        422,
        "VALIDATION_ERROR",
        "category",
    ),
    "unknown category": (
        "admin",
        "PUT",
        "/v1/routing-rules",
        {"items": [rule(category="ufo")]},
        {},
        422,
        "VALIDATION_ERROR",
        "category",
    ),
    "bad department code": (
        "admin",
        "PUT",
        "/v1/departments/Water Co",
        {"name_zh": "水", "name_en": "W"},
        {},
        422,
        "VALIDATION_ERROR",
        "code",
    ),
    "deactivate a department rules name": (
        "admin",
        "PUT",
        "/v1/departments/water",
        {"name_zh": "自来水公司", "name_en": "Water company", "active": False},
        {},
        409,
        "CONFLICT",
        None,
    ),
}


def snapshot(desk: Desk, ids: dict) -> tuple:
    views = [desk.case(ids[k]) for k in ("case", "resolved", "triage")]
    return (views, desk.get("/v1/routing-rules").json, desk.get("/v1/departments").json, desk.outbox_count())


@pytest.mark.parametrize("name", CASES)
def test_refused_requests_change_nothing(shared_desk, name):
    who, method, path, body, headers, status, code, detail = CASES[name]
    ids = fresh(shared_desk)
    before = snapshot(shared_desk, ids)
    response = shared_desk.client.open(
        path.format(**ids), method=method, json=body, headers={**shared_desk.headers(who), **headers}
    )
    assert (response.status_code, response.json["code"]) == (status, code), response.json
    assert response.json["status"] == status and response.json["message"]
    if isinstance(detail, list):
        assert response.json["allowed"] == detail
    elif detail:
        assert detail in str(response.json["errors"]), response.json
    assert snapshot(shared_desk, ids) == before


def test_a_matching_if_match_is_accepted(shared_desk):
    ids = fresh(shared_desk)
    task = shared_desk.get(f"/v1/tasks/{ids['water']}", "water").json
    response = shared_desk.post(f"/v1/tasks/{ids['water']}/acknowledge", {}, "water", **{"If-Match": '"1"'})
    assert (response.status_code, task["version"], response.json["version"]) == (200, 1, 2)


@pytest.mark.parametrize(
    "exception, status, code",
    [
        (errors.NotFound("x"), 404, "NOT_FOUND"),
        (errors.InvalidTransition("x", ["acknowledge"]), 409, "INVALID_TRANSITION"),
        (errors.Conflict("x"), 409, "CONFLICT"),
        (StaleDataError("x"), 409, "CONFLICT"),
        (errors.PreconditionFailed("x", version=2), 412, "PRECONDITION_FAILED"),
        (errors.Invalid("x", {"json": {"lead": ["bad"]}}), 422, "VALIDATION_ERROR"),
    ],
)
def test_each_domain_error_has_one_status_and_code(exception, status, code):
    api_error = errors.to_api_error(exception)
    assert (api_error.status, api_error.code, api_error.body()["status"]) == (status, code, status)
