"""Bad input on POST /intake/v1/cases: a 4xx in the one error shape naming the problem, and
nothing stored — no case row, no outbox event."""

from __future__ import annotations

import time

import jwt
import pytest

from services.common.auth import issue_token

GOOD = {"title": "路灯不亮", "category": "street_lighting", "location": {"address": "武泰闸路 12 号"}}
LOCATION = GOOD["location"]
OTHER_SECRET = "another-secret-of-at-least-32-bytes!"


def with_location(**fields):
    return {**GOOD, "location": {**LOCATION, **fields}}


@pytest.mark.parametrize(
    "label, body, names",
    [
        ("missing title", {k: v for k, v in GOOD.items() if k != "title"}, ["title"]),
        ("missing category", {k: v for k, v in GOOD.items() if k != "category"}, ["category"]),
        ("missing location", {k: v for k, v in GOOD.items() if k != "location"}, ["location"]),
        ("missing address", {**GOOD, "location": {"street": "紫阳街道"}}, ["location.address"]),
        ("empty title", {**GOOD, "title": ""}, ["title"]),
        ("title not a string", {**GOOD, "title": 42}, ["title"]),
        ("title too long", {**GOOD, "title": "灯" * 201}, ["title"]),
        ("location not an object", {**GOOD, "location": "武泰闸路"}, ["location"]),
        ("unknown field", {**GOOD, "priority": "high"}, ["priority"]),
        ("unknown location field", with_location(floor=3), ["location.floor"]),
        ("unknown category", {**GOOD, "category": "ufo"}, ["category"]),
        ("category not a string", {**GOOD, "category": ["water_supply"]}, ["category"]),
        ("bad severity", {**GOOD, "severity": "apocalyptic"}, ["severity"]),
        ("bad channel", {**GOOD, "channel": "pigeon"}, ["channel"]),
        ("latitude out of range", with_location(lat=91, lon=114.3), ["location.lat"]),
        ("longitude out of range", with_location(lat=30.5, lon=-180.5), ["location.lon"]),
        ("latitude not a number", with_location(lat="north", lon=114.3), ["location.lat"]),
        ("latitude without longitude", with_location(lat=30.5), ["location.lon"]),
        ("longitude without latitude", with_location(lon=114.3), ["location.lat"]),
        ("bad phone", {**GOOD, "reporter": {"phone": "12345"}}, ["reporter.phone"]),
        ("phone with letters", {**GOOD, "reporter": {"phone": "1380013800O"}}, ["reporter.phone"]),
        ("phone a number", {**GOOD, "reporter": {"phone": 13800138000}}, ["reporter.phone"]),
        ("description too long", {**GOOD, "description": "x" * 4001}, ["description"]),
        ("HTML in description", {**GOOD, "description": "漏水<script>alert(1)</script>"}, ["description"]),
        ("HTML in title", {**GOOD, "title": "<b>路灯</b>不亮"}, ["title"]),
        ("HTML in address", with_location(address='<a href="x">12 号</a>'), ["location.address"]),
        ("HTML in reporter name", {**GOOD, "reporter": {"name": "<img src=x>"}}, ["reporter.name"]),
        ("occurred_at without zone", {**GOOD, "occurred_at": "2026-06-03T00:30:00"}, ["occurred_at"]),
        ("occurred_at in the future", {**GOOD, "occurred_at": "2027-01-01T00:00:00Z"}, ["occurred_at"]),
        ("media_urls not URLs", {**GOOD, "media_urls": ["javascript:alert(1)"]}, ["media_urls"]),
        (
            "too many media_urls",
            {**GOOD, "media_urls": [f"https://img.example/{i}.jpg" for i in range(21)]},
            ["media_urls"],
        ),
        ("body is a list", [GOOD], []),
    ],
)
def test_invalid_fields_are_named_and_nothing_is_stored(intake, label, body, names):
    before = intake.counts()
    response = intake.client.post("/v1/cases", json=body, headers=intake.headers())
    assert response.status_code == 422, (label, response.json)
    assert response.json["code"] == "VALIDATION_ERROR" and response.json["status"] == 422
    for name in names:
        assert name in response.json["message"], (label, response.json["message"])
    assert intake.counts() == before


def test_description_of_exactly_4000_characters_is_accepted(intake):
    case = intake.submit({**GOOD, "description": "水" * 4000})
    assert len(case["description"]) == 4000


def test_plain_text_with_angle_brackets_is_not_markup(intake):
    case = intake.submit({**GOOD, "description": "水压 < 0.1 MPa，流量 > 3 吨"})
    assert case["description"] == "水压 < 0.1 MPa，流量 > 3 吨"


@pytest.mark.parametrize(
    "label, kwargs, status, code",
    [
        ("invalid JSON", {"data": "{bad", "content_type": "application/json"}, 400, "BAD_REQUEST"),
        (
            "form body",
            {"data": "title=x", "content_type": "application/x-www-form-urlencoded"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        ("text body", {"data": "hello", "content_type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("huge body", {"json": {**GOOD, "description": "x" * 2_000_000}}, 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_unreadable_bodies(intake, label, kwargs, status, code):
    before = intake.counts()
    response = intake.client.post("/v1/cases", headers=intake.headers(), **kwargs)
    assert (response.status_code, response.json["code"]) == (status, code), (label, response.json)
    assert intake.counts() == before


def bad_tokens(intake):
    secret = intake.runtime.settings.jwt_secret
    now = int(time.time())
    return {
        "no token": {},
        "not bearer": {"Authorization": "Basic abc"},
        "garbage token": {"Authorization": "Bearer abc.def.ghi"},
        "expired token": {"Authorization": "Bearer " + issue_token(secret, role="staff", ttl=-60)},
        "other secret": {"Authorization": "Bearer " + issue_token(OTHER_SECRET, role="staff")},
        "unknown role": {
            "Authorization": "Bearer "
            + jwt.encode({"sub": "x", "role": "mayor", "exp": now + 60}, secret, algorithm="HS256")
        },
        "no expiry": {
            "Authorization": "Bearer " + jwt.encode({"sub": "x", "role": "staff"}, secret, algorithm="HS256")
        },
    }


@pytest.mark.parametrize(
    "label", ["no token", "not bearer", "garbage token", "expired token", "other secret", "unknown role", "no expiry"]
)
def test_bad_tokens_are_401_even_with_a_bad_body(intake, label):
    before = intake.counts()
    headers = bad_tokens(intake)[label]
    for body in (GOOD, {"title": 1}):
        response = intake.client.post("/v1/cases", json=body, headers=headers)
        assert (response.status_code, response.json["code"]) == (401, "UNAUTHENTICATED"), label
    assert intake.counts() == before


@pytest.mark.parametrize("role", ["department", "auditor", "service"])
def test_roles_that_may_not_submit(intake, role):
    before = intake.counts()
    response = intake.client.post("/v1/cases", json=GOOD, headers=intake.headers(role))
    assert (response.status_code, response.json["code"]) == (403, "FORBIDDEN")
    assert intake.counts() == before


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_a_good_case_writes_one_row_and_one_event(intake, role):
    before = intake.counts()
    response = intake.client.post("/v1/cases", json=GOOD, headers=intake.headers(role))
    assert response.status_code == 201
    assert intake.counts() == (before[0] + 1, before[1] + 1)
