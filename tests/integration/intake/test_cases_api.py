"""POST and GET /intake/v1/cases: the full case, its number, the masked reporter, the event it
emits, and the filtered, keyset-paginated list."""

from __future__ import annotations

import pytest

from tests.integration.intake.conftest import make_intake

LEAK = {
    "title": "地下车库自来水主管网渗漏",
    "description": "高峰期水压不够",
    "category": "water_supply",
    "severity": "emergency",
    "channel": "walk_in",
    "occurred_at": "2026-06-03T00:10:00Z",
    "location": {
        "address": "伟业佳苑地下停车场",
        "street": "紫阳街道",
        "community": "武泰闸社区",
        "grid": "G-07",
        "lat": 30.52,
        "lon": 114.31,
    },
    "reporter": {"name": "尹师傅", "phone": "13800138000"},
    "media_urls": ["https://img.example/leak.jpg"],
}


def test_the_full_case_is_stored_and_shown_with_the_reporter_masked(fresh_intake):
    response = fresh_intake.client.post("/v1/cases", json=LEAK, headers=fresh_intake.headers())
    assert response.status_code == 201
    case = response.json
    assert response.headers["Location"].endswith(f"/v1/cases/{case['id']}")
    assert case["number"] == "WS-2026-000001" and case["status"] == "reported"
    assert {k: case[k] for k in ("title", "description", "category", "severity", "channel", "media_urls")} == {
        k: LEAK[k] for k in ("title", "description", "category", "severity", "channel", "media_urls")
    }
    assert case["location"] == LEAK["location"]
    assert case["occurred_at"].startswith("2026-06-03T00:10:00")
    assert case["reporter"] == {"name": "尹*", "phone": "138****8000"}
    assert (case["duplicate_of"], case["reporter_count"], case["departments"], case["notes"]) == (None, 1, [], [])
    assert fresh_intake.read(case["id"]) == case
    assert "13800138000" not in response.text


def test_case_reported_carries_a_reporter_reference_and_masks_only(fresh_intake):
    case = fresh_intake.submit({**LEAK, "description": "楼下住户电话 13912345678"})
    [event] = fresh_intake.events("case.reported", case["id"])
    data = event["data"]
    assert data["reporter"]["phone"] == "138****8000" and data["reporter"]["name"] == "尹*"
    assert len(data["reporter"]["ref"]) == 36
    assert data["description"] == "楼下住户电话 139****5678"
    assert (data["number"], data["severity"], data["channel"], data["duplicate_of"]) == (
        case["number"],
        "emergency",
        "walk_in",
        None,
    )
    assert event["actorrole"] == "staff"


@pytest.mark.parametrize(
    "category, severity", [("water_supply", "urgent"), ("parking", "normal"), ("neighbour_dispute", "complex")]
)
def test_severity_defaults_from_the_category(intake, category, severity):
    case = intake.submit({"title": "问题", "category": category, "location": {"address": f"{category} 1 号"}})
    assert (case["severity"], case["channel"]) == (severity, "web")


def test_case_numbers_count_per_year_in_local_time(fresh_intake):
    body = {"title": "路灯不亮", "category": "street_lighting", "location": {"address": "A"}}
    fresh_intake.clock.now = fresh_intake.clock.now.replace(month=12, day=31, hour=15, minute=0)
    assert fresh_intake.submit(body)["number"] == "WS-2026-000001"
    fresh_intake.clock.advance(hours=1)  # 16:00 UTC is midnight in Beijing: a new year
    assert fresh_intake.submit({**body, "location": {"address": "B"}})["number"] == "WS-2027-000001"
    assert fresh_intake.submit({**body, "location": {"address": "C"}})["number"] == "WS-2027-000002"


def test_a_categories_file_adds_codes_and_severities(tmp_path):
    path = tmp_path / "categories.yaml"
    path.write_text("lift_failure: {name_zh: 电梯故障, name_en: Lift failure, severity: emergency}\n", "utf-8")
    app = make_intake(tmp_path, CATEGORIES_FILE=str(path))
    try:
        case = app.submit({"title": "电梯困人", "category": "lift_failure", "location": {"address": "3 栋"}})
        assert case["severity"] == "emergency"
        services = app.client.get("/open311/v2/services.json").json
        assert {"service_code": "lift_failure", "service_name": "电梯故障"}.items() <= services[-1].items()
    finally:
        app.platform.stop()


def test_a_broken_categories_file_stops_the_app_at_start(tmp_path):
    path = tmp_path / "categories.yaml"
    path.write_text("lift_failure: {severity: soon}\n", "utf-8")
    with pytest.raises(ValueError, match="lift_failure"):
        make_intake(tmp_path, CATEGORIES_FILE=str(path))


@pytest.fixture(scope="module")
def listed(tmp_path_factory):
    """Twelve cases an hour apart in two communities and three categories."""
    app = make_intake(tmp_path_factory.mktemp("list"))
    cases = []
    for i in range(12):
        app.clock.advance(hours=1)
        cases.append(
            app.submit(
                {
                    "title": f"第{i}件",
                    "category": ["parking", "trees", "sanitation"][i % 3],
                    "location": {"address": f"{i} 号", "community": ["甲社区", "乙社区"][i % 2]},
                }
            )
        )
    yield app, cases
    app.platform.stop()


def walk(app, query: str, limit: int) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        url = f"/v1/cases?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = app.client.get(url, headers=app.headers("auditor"))
        assert response.status_code == 200, response.json
        items += response.json["items"]
        cursor, pages = response.json["next_cursor"], pages + 1
        assert len(response.json["items"]) <= limit
        if not cursor:
            return items


@pytest.mark.parametrize(
    "query, expect",
    [
        ("", lambda i, c: True),
        ("category=trees", lambda i, c: i % 3 == 1),
        ("community=乙社区", lambda i, c: i % 2 == 1),
        ("category=parking&community=甲社区", lambda i, c: i % 6 == 0),
        ("status=reported", lambda i, c: True),
        ("status=closed", lambda i, c: False),
    ],
)
@pytest.mark.parametrize("limit", [1, 5, 50])
def test_lists_filter_and_page_newest_first_without_gaps(listed, query, expect, limit):
    app, cases = listed
    wanted = [c["id"] for i, c in reversed(list(enumerate(cases))) if expect(i, c)]
    assert [c["id"] for c in walk(app, query, limit)] == wanted


def test_lists_filter_by_time_window(listed):
    app, cases = listed
    since, until = cases[3]["created_at"], cases[7]["created_at"]
    items = walk(app, f"since={since.replace('+', '%2B')}&until={until.replace('+', '%2B')}", 2)
    assert [c["id"] for c in items] == [c["id"] for c in reversed(cases[3:7])]


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("status=lost", "status"),
        ("since=yesterday", "since"),
        ("until=2026-06-03T00:00:00", "until"),
    ],
)
def test_bad_list_parameters_are_named(listed, query, field):
    response = listed[0].client.get(f"/v1/cases?{query}", headers=listed[0].headers())
    assert response.status_code == 422 and field in response.json["message"]


@pytest.mark.parametrize("cursor", ["garbage!", "WyJub3QgYSBkYXRlIiwgIngiXQ", "WzFd", "eyJhIjogMX0"])
def test_a_forged_cursor_is_a_400(listed, cursor):
    response = listed[0].client.get(f"/v1/cases?cursor={cursor}", headers=listed[0].headers())
    assert (response.status_code, response.json["code"]) == (400, "BAD_CURSOR")


def test_departments_may_not_read_cases_and_unknown_cases_are_404(listed):
    app, cases = listed
    assert app.client.get("/v1/cases", headers=app.headers("department")).status_code == 403
    assert app.client.get(f"/v1/cases/{cases[0]['id']}", headers=app.headers("department")).status_code == 403
    missing = app.client.get("/v1/cases/0b7e0000-0000-4000-8000-000000000000", headers=app.headers())
    assert (missing.status_code, missing.json["code"]) == (404, "NOT_FOUND")


def test_idempotency_key_replays_the_first_response(fresh_intake):
    key = {"Idempotency-Key": "visit-2026-06-03-001"}
    first = fresh_intake.client.post("/v1/cases", json=LEAK, headers={**fresh_intake.headers(), **key})
    fresh_intake.clock.advance(minutes=5)
    again = fresh_intake.client.post(
        "/v1/cases", json=dict(reversed(LEAK.items())), headers={**fresh_intake.headers(), **key}
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json and again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert fresh_intake.counts() == (1, 1)

    other = fresh_intake.client.post(
        "/v1/cases", json={**LEAK, "title": "另一件事"}, headers={**fresh_intake.headers(), **key}
    )
    assert (other.status_code, other.json["code"]) == (409, "IDEMPOTENCY_MISMATCH")
    someone_else = fresh_intake.client.post(
        "/v1/cases", json=LEAK, headers={**fresh_intake.headers(sub="other-worker"), **key}
    )
    assert someone_else.status_code == 201 and someone_else.json["id"] != first.json["id"]
    assert fresh_intake.counts() == (2, 2)


def test_a_refused_request_does_not_use_up_its_key(fresh_intake):
    key = {"Idempotency-Key": "k-refused"}
    refused = fresh_intake.client.post(
        "/v1/cases", json={**LEAK, "category": "ufo"}, headers={**fresh_intake.headers(), **key}
    )
    assert refused.status_code == 422
    accepted = fresh_intake.client.post("/v1/cases", json=LEAK, headers={**fresh_intake.headers(), **key})
    assert accepted.status_code == 201 and fresh_intake.counts() == (1, 1)


def test_a_malformed_idempotency_key_is_a_400(fresh_intake):
    response = fresh_intake.client.post(
        "/v1/cases", json=LEAK, headers={**fresh_intake.headers(), "Idempotency-Key": "x" * 300}
    )
    assert response.status_code == 400 and "Idempotency-Key" in response.json["errors"]["headers"]
    assert fresh_intake.counts() == (0, 0)


def test_keys_expire_after_a_day(fresh_intake):
    key = {"Idempotency-Key": "k-day"}
    first = fresh_intake.client.post("/v1/cases", json=LEAK, headers={**fresh_intake.headers(), **key})
    fresh_intake.clock.advance(hours=24, seconds=1)
    later = fresh_intake.client.post(
        "/v1/cases", json={**LEAK, "location": {"address": "别处"}}, headers={**fresh_intake.headers(), **key}
    )
    assert later.status_code == 201 and later.json["id"] != first.json["id"]
