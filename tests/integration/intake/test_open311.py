"""Open311 GeoReport v2 at /open311/v2: discovery, services, posting a request (a case like any
other) and reading requests, in JSON and in XML (read back with a real XML parser)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest

from services.common.auth import issue_token

BASE = "/open311/v2"


def xml_items(response, item: str) -> list[dict]:
    assert response.content_type.startswith("text/xml")
    root = ET.fromstring(response.data)
    return [{child.tag: child.text for child in element} for element in root.iter(item)]


def items(response, fmt: str, item: str = "request") -> list[dict]:
    if fmt == "json":
        assert response.content_type.startswith("application/json")
        return response.json
    return xml_items(response, item)


def errors(response, fmt: str) -> list[dict]:
    found = items(response, fmt, "error")
    return [{"code": int(e["code"]), "description": e["description"]} for e in found]


@pytest.fixture
def api_key(fresh_intake):
    return fresh_intake.platform.token("staff", sub="city-app")


def post(app, fmt="json", **form):
    return app.client.post(f"{BASE}/requests.{fmt}", data=form)


FORM = {
    "service_code": "trees",
    "lat": "30.5200",
    "long": "114.3100",
    "address_string": "紫阳路 8 号",
    "description": "大树压住电线，住户电话13912345678",
    "first_name": "张",
    "last_name": "三",
    "phone": "13912345678",
    "email": "zhang@example.cn",
    "media_url": "https://img.example/tree.jpg",
    "jurisdiction_id": "wuchang.wuhan.cn",
    "attribute[height]": "10m",
}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_discovery_names_the_endpoint_and_formats(fresh_intake, fmt):
    response = fresh_intake.client.get(f"{BASE}/discovery.{fmt}")
    assert response.status_code == 200
    if fmt == "json":
        endpoint = response.json["endpoints"][0]
        formats = endpoint["formats"]
    else:
        root = ET.fromstring(response.data)
        endpoint = {child.tag: child.text for child in root.find("endpoints/endpoint")}
        formats = [f.text for f in root.findall("endpoints/endpoint/formats/format")]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert formats == ["application/json", "text/xml"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_services_are_the_categories(fresh_intake, fmt):
    services = items(fresh_intake.client.get(f"{BASE}/services.{fmt}"), fmt, "service")
    by_code = {s["service_code"]: s for s in services}
    assert len(by_code) == 11
    assert by_code["water_supply"]["service_name"] == "供水"
    assert by_code["water_supply"]["description"] == "Water supply"
    assert str(by_code["water_supply"]["metadata"]).lower() == "false"
    assert by_code["water_supply"]["type"] == "realtime"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_service_definition_and_an_unknown_one(fresh_intake, fmt):
    found = fresh_intake.client.get(f"{BASE}/services/water_supply.{fmt}")
    assert found.status_code == 200
    if fmt == "json":
        assert found.json == {"service_code": "water_supply", "attributes": []}
    else:
        root = ET.fromstring(found.data)
        assert (root.tag, root.findtext("service_code"), len(root.find("attributes"))) == (
            "service_definition",
            "water_supply",
            0,
        )
    missing = fresh_intake.client.get(f"{BASE}/services/ufo.{fmt}")
    assert missing.status_code == 404
    assert errors(missing, fmt) == [{"code": 404, "description": "service_code ufo not found"}]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_posted_request_becomes_an_ordinary_case(fresh_intake, api_key, fmt):
    app = fresh_intake
    response = post(app, fmt, api_key=api_key, **FORM)
    assert response.status_code == 201, response.data
    [created] = items(response, fmt)
    assert created["service_request_id"] == "WS-2026-000001"
    [event] = app.events("case.reported")
    data = event["data"]
    assert (data["channel"], data["category"], data["number"]) == ("open311", "trees", "WS-2026-000001")
    assert data["title"] == "园林树木：紫阳路 8 号"
    assert data["location"]["lat"] == 30.52 and data["location"]["lon"] == 114.31
    assert data["reporter"]["name"] == "张*" and data["reporter"]["phone"] == "139****5678"
    assert event["actorid"] == "city-app"
    case = app.read(data["case_id"])
    assert case["media_urls"] == ["https://img.example/tree.jpg"] and case["channel"] == "open311"
    contact = app.client.get(f"/v1/cases/{case['id']}/contact", headers=app.headers("admin")).json
    assert contact == {"name": "张 三", "phone": "13912345678"}


def test_coordinates_alone_make_an_address(fresh_intake, api_key):
    response = post(fresh_intake, api_key=api_key, service_code="sanitation", lat="30.1", long="114.2")
    assert response.status_code == 201
    [event] = fresh_intake.events("case.reported")
    assert event["data"]["location"]["address"] == "30.1,114.2"


def test_a_duplicate_request_says_so(fresh_intake, api_key):
    post(fresh_intake, api_key=api_key, **FORM)
    second = post(fresh_intake, api_key=api_key, **{**FORM, "address_string": "紫阳路 8 号对面"})
    assert "Merged" in second.json[0]["service_notice"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "label, form, status, needle",
    [
        ("no api_key", {"service_code": "trees", "address_string": "x"}, 403, "api_key"),
        ("garbage api_key", {"api_key": "nope", "service_code": "trees", "address_string": "x"}, 403, "api_key"),
        ("no service_code", {"address_string": "x"}, 400, "service_code"),
        ("unknown service_code", {"service_code": "ufo", "address_string": "x"}, 400, "service_code"),
        ("no location", {"service_code": "trees"}, 400, "address_string"),
        ("latitude out of range", {"service_code": "trees", "lat": "91", "long": "114"}, 400, "lat"),
        ("longitude not a number", {"service_code": "trees", "lat": "30", "long": "east"}, 400, "long"),
        ("latitude alone", {"service_code": "trees", "lat": "30", "address_string": "x"}, 400, "long"),
        ("bad phone", {"service_code": "trees", "address_string": "x", "phone": "555-0100"}, 400, "phone"),
        (
            "HTML description",
            {"service_code": "trees", "address_string": "x", "description": "<b>x</b>"},
            400,
            "description",
        ),
        (
            "long description",
            {"service_code": "trees", "address_string": "x", "description": "x" * 4001},
            400,
            "description",
        ),
        ("bad media_url", {"service_code": "trees", "address_string": "x", "media_url": "ftp://x"}, 400, "media_url"),
    ],
)
def test_bad_posts_get_the_spec_error_list_and_store_nothing(fresh_intake, api_key, fmt, label, form, status, needle):
    if "api_key" not in form and status != 403:
        form = {**form, "api_key": api_key}
    response = post(fresh_intake, fmt, **form)
    assert response.status_code == status, (label, response.data)
    found = errors(response, fmt)
    assert found and all(e["code"] == status for e in found)
    assert any(needle in e["description"] for e in found), (label, found)
    assert fresh_intake.counts() == (0, 0)


@pytest.mark.parametrize("role, claims", [("department", {"department": "water"}), ("auditor", {}), ("service", {})])
def test_only_staff_keys_may_post(fresh_intake, role, claims):
    key = fresh_intake.platform.token(role, **claims)
    response = post(fresh_intake, api_key=key, **FORM)
    assert response.status_code == 403 and fresh_intake.counts() == (0, 0)


def test_an_expired_key_is_refused(fresh_intake):
    key = issue_token(fresh_intake.runtime.settings.jwt_secret, role="staff", ttl=-1)
    assert post(fresh_intake, api_key=key, **FORM).status_code == 403


def test_a_huge_post_is_an_error_in_the_spec_shape(fresh_intake, api_key):
    response = post(fresh_intake, api_key=api_key, **{**FORM, "description": "x" * 2_000_000})
    assert response.status_code == 413 and response.json[0]["code"] == 413
    assert fresh_intake.counts() == (0, 0)


@pytest.fixture
def requests_seen(fresh_intake, api_key):
    """Three requests a day apart: trees (open), sanitation (resolved → closed), trees 100 days ago."""
    app = fresh_intake
    old = post(app, api_key=api_key, **{**FORM, "address_string": "旧 1 号"}).json[0]["service_request_id"]
    app.clock.advance(days=100)
    tree = post(app, api_key=api_key, **{**FORM, "address_string": "新 2 号", "lat": "31", "long": "115"}).json[0]
    app.clock.advance(days=1)
    bin_ = post(app, api_key=api_key, service_code="sanitation", address_string="新 3 号").json[0]
    case_id = app.events("case.reported")[-1]["data"]["case_id"]
    app.deliver(
        "case.dispatched",
        {
            "case_id": case_id,
            "severity": "normal",
            "lead": "urban_mgmt",
            "departments": ["urban_mgmt"],
            "resolve_due": "2026-09-20T00:00:00Z",
        },
    )
    app.clock.advance(hours=1)
    app.deliver("case.resolved", {"case_id": case_id})
    return {"old": old, "tree": tree["service_request_id"], "bin": bin_["service_request_id"]}


def ids(response, fmt):
    assert response.status_code == 200, response.data
    return [r["service_request_id"] for r in items(response, fmt)]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_listing_requests(fresh_intake, requests_seen, fmt):
    app, seen = fresh_intake, requests_seen
    get = lambda query: app.client.get(f"{BASE}/requests.{fmt}?{query}")  # noqa: E731
    assert ids(get(""), fmt) == [seen["bin"], seen["tree"]], "default: the last 90 days, newest first"
    assert ids(get("service_code=trees"), fmt) == [seen["tree"]]
    assert ids(get("service_code=trees,sanitation&status=closed"), fmt) == [seen["bin"]]
    assert ids(get("status=open"), fmt) == [seen["tree"]]
    start = (app.clock.now - timedelta(days=120)).isoformat().replace("+00:00", "Z")
    end = (app.clock.now - timedelta(days=95)).isoformat().replace("+00:00", "Z")
    assert ids(get(f"start_date={start}&end_date={end}"), fmt) == [seen["old"]]
    assert ids(get(f"service_request_id={seen['old']},{seen['bin']}&status=open"), fmt) == [seen["bin"], seen["old"]]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_one_request_shows_its_public_status_and_nothing_personal(fresh_intake, requests_seen, fmt):
    response = fresh_intake.client.get(f"{BASE}/requests/{requests_seen['bin']}.{fmt}")
    [request] = items(response, fmt)
    assert request["status"] == "closed" and "Resolved" in request["status_notes"]
    assert request["agency_responsible"] == "urban_mgmt"
    assert request["service_code"] == "sanitation" and request["address"] == "新 3 号"
    assert request["expected_datetime"] == "2026-09-20T00:00:00Z"
    assert request["requested_datetime"].endswith("Z") and request["updated_datetime"] > request["requested_datetime"]
    tree = fresh_intake.client.get(f"{BASE}/requests/{requests_seen['tree']}.{fmt}")
    assert "13912345678" not in tree.text and "张" not in tree.text
    assert "139****5678" in tree.text, "the description is shown with the phone masked"


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "query, needle",
    [
        ("start_date=yesterday", "start_date"),
        ("start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", "90"),
        ("status=pending", "status"),
        ("end_date=2026-06-01T00:00:00", "end_date"),
    ],
)
def test_bad_list_queries_are_400(fresh_intake, fmt, query, needle):
    response = fresh_intake.client.get(f"{BASE}/requests.{fmt}?{query}")
    assert response.status_code == 400
    assert needle in errors(response, fmt)[0]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unknown_request_is_404(fresh_intake, fmt):
    response = fresh_intake.client.get(f"{BASE}/requests/WS-1999-000001.{fmt}")
    assert response.status_code == 404 and errors(response, fmt)[0]["code"] == 404


def test_open311_gets_need_no_token_and_v1_still_does(fresh_intake):
    assert fresh_intake.client.get(f"{BASE}/requests.json").status_code == 200
    assert fresh_intake.client.get("/v1/cases").status_code == 401


def test_a_request_posted_again_with_its_key_is_one_case(fresh_intake, api_key):
    """The answer is remembered as data: a retry may ask for the other format, and carry a renewed key."""
    app = fresh_intake
    key = {"Idempotency-Key": "city-app-77"}
    first = app.client.post(f"{BASE}/requests.json", data={"api_key": api_key, **FORM}, headers=key)
    renewed = app.platform.token("staff", sub="city-app", ttl=7200)
    again = app.client.post(f"{BASE}/requests.xml", data={"api_key": renewed, **FORM}, headers=key)
    assert (first.status_code, again.status_code) == (201, 201), again.data
    assert items(again, "xml")[0]["service_request_id"] == items(first, "json")[0]["service_request_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = app.client.post(
        f"{BASE}/requests.json", data={"api_key": api_key, **FORM, "description": "另一棵树"}, headers=key
    )
    assert other.status_code == 409 and errors(other, "json")[0]["code"] == 409
    assert len(app.events("case.reported")) == 1
