"""Bad input on POST /intake/v1/cases: a 4xx in the one error shape naming the problem, and
nothing stored — no case row, no outbox event."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.intake.models import Case, outbox
from tests.platform import Platform, dev_config

GOOD = {"title": "路灯不亮", "category": "street_lighting", "location": {"address": "武泰闸路 12 号"}}


@pytest.fixture(scope="module")
def intake(tmp_path_factory):
    platform = Platform(dev_config(tmp_path_factory.mktemp("intake")), services=("intake",))
    yield platform
    platform.stop()


def counts(platform):
    with platform.runtime("intake").transaction() as session:
        return (session.scalar(select(func.count()).select_from(Case)),
                session.scalar(select(func.count()).select_from(outbox)))


STAFF = ("staff", {"community": "武泰闸社区"})


@pytest.mark.parametrize("label, body, status, code, names", [
    ("missing title", {k: v for k, v in GOOD.items() if k != "title"}, 422, "VALIDATION_ERROR", ["title"]),
    ("missing address", {**GOOD, "location": {"street": "紫阳街道"}}, 422, "VALIDATION_ERROR",
     ["location", "address"]),
    ("title not a string", {**GOOD, "title": 42}, 422, "VALIDATION_ERROR", ["title"]),
    ("unknown field", {**GOOD, "priority": "high"}, 422, "VALIDATION_ERROR", ["priority"]),
    ("unknown category", {**GOOD, "category": "ufo"}, 422, "VALIDATION_ERROR", ["category"]),
    ("bad severity", {**GOOD, "severity": "apocalyptic"}, 422, "VALIDATION_ERROR", ["severity"]),
    ("latitude out of range", {**GOOD, "location": {**GOOD["location"], "lat": 91}}, 422,
     "VALIDATION_ERROR", ["lat"]),
    ("bad phone", {**GOOD, "reporter": {"phone": "12345"}}, 422, "VALIDATION_ERROR", ["phone"]),
    ("description too long", {**GOOD, "description": "x" * 4001}, 422, "VALIDATION_ERROR", ["description"]),
    ("body is a list", [GOOD], 422, "VALIDATION_ERROR", []),
])
def test_invalid_fields(intake, label, body, status, code, names):
    before = counts(intake)
    response = intake.client("intake").post("/v1/cases", json=body, headers=intake.headers(STAFF[0], **STAFF[1]))
    assert response.status_code == status, (label, response.json)
    assert response.json["code"] == code and response.json["status"] == status
    for name in names:
        assert name in response.json["message"], (label, response.json["message"])
    assert counts(intake) == before


@pytest.mark.parametrize("label, kwargs, status, code", [
    ("invalid JSON", {"data": "{bad", "content_type": "application/json"}, 400, "BAD_REQUEST"),
    ("form body", {"data": "title=x", "content_type": "application/x-www-form-urlencoded"}, 415,
     "UNSUPPORTED_MEDIA_TYPE"),
    ("text body", {"data": "hello", "content_type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("huge body", {"json": {**GOOD, "description": "x" * 2_000_000}}, 413, "PAYLOAD_TOO_LARGE"),
])
def test_unreadable_bodies(intake, label, kwargs, status, code):
    before = counts(intake)
    response = intake.client("intake").post("/v1/cases", headers=intake.headers(STAFF[0], **STAFF[1]), **kwargs)
    assert (response.status_code, response.json["code"]) == (status, code), (label, response.json)
    assert counts(intake) == before


@pytest.mark.parametrize("label, headers, status, code", [
    ("no token", {}, 401, "UNAUTHENTICATED"),
    ("not bearer", {"Authorization": "Basic abc"}, 401, "UNAUTHENTICATED"),
    ("garbage token", {"Authorization": "Bearer abc.def.ghi"}, 401, "UNAUTHENTICATED"),
    ("department token", "department", 403, "FORBIDDEN"),
    ("auditor token", "auditor", 403, "FORBIDDEN"),
])
def test_who_may_submit(intake, label, headers, status, code):
    if headers == "department":
        headers = intake.headers("department", department="water")
    elif headers == "auditor":
        headers = intake.headers("auditor")
    before = counts(intake)
    response = intake.client("intake").post("/v1/cases", json=GOOD, headers=headers)
    assert (response.status_code, response.json["code"]) == (status, code), label
    assert counts(intake) == before


def test_a_good_case_writes_one_row_and_one_event(intake):
    before = counts(intake)
    response = intake.client("intake").post("/v1/cases", json=GOOD, headers=intake.headers(STAFF[0], **STAFF[1]))
    assert response.status_code == 201
    assert counts(intake) == (before[0] + 1, before[1] + 1)
