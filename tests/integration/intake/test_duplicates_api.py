"""Duplicate reports are linked to the open case they repeat; staff can unlink them."""

from __future__ import annotations

import pytest

from services.intake.duplicates import GEO_CELL_DEGREES, geo_cell

LEAK = {
    "title": "水管爆裂",
    "category": "water_supply",
    "location": {"address": "伟业佳苑 3 栋", "community": "武泰闸社区", "lat": 30.52, "lon": 114.31},
}
METRES_PER_DEGREE = 111_195  # of latitude, near enough for placing test points


def near(metres_north: float, **location) -> dict:
    lat = LEAK["location"]["lat"] + metres_north / METRES_PER_DEGREE
    return {**LEAK, "location": {**LEAK["location"], "address": f"{metres_north} 米外", "lat": lat, **location}}


@pytest.fixture
def app(fresh_intake):
    return fresh_intake


@pytest.mark.parametrize("metres, linked", [(0, True), (240, True), (260, False), (2000, False)])
def test_a_report_within_the_radius_is_linked(app, metres, linked):
    original = app.submit(LEAK)
    app.clock.advance(hours=1)
    second = app.submit(near(metres))
    assert (second["status"], second["duplicate_of"]) == (
        ("duplicate", original["id"]) if linked else ("reported", None)
    )
    assert app.read(original["id"])["reporter_count"] == (2 if linked else 1)
    [event] = app.events("case.reported", second["id"])
    assert event["data"]["duplicate_of"] == (original["id"] if linked else None)


def test_every_linked_report_counts_and_links_point_at_the_original(app):
    original = app.submit(LEAK)
    for metres in (10, 20, 30):
        app.clock.advance(minutes=10)
        assert app.submit(near(metres))["duplicate_of"] == original["id"]
    assert app.read(original["id"])["reporter_count"] == 4


def test_of_two_open_cases_nearby_the_earliest_reported_is_the_original(app):
    south = app.submit(near(-200))
    app.clock.advance(minutes=5)
    north = app.submit(near(200))  # 400 m from the first: a problem of its own
    assert north["duplicate_of"] is None
    app.clock.advance(minutes=5)
    between = app.submit(near(0))  # within the radius of both
    assert between["duplicate_of"] == south["id"]


def test_another_category_is_not_a_duplicate(app):
    app.submit(LEAK)
    assert app.submit({**near(5), "category": "drainage"})["status"] == "reported"


def test_the_window_is_72_hours(app):
    original = app.submit(LEAK)
    app.clock.advance(hours=71, minutes=59)
    assert app.submit(near(5))["duplicate_of"] == original["id"]
    app.clock.advance(minutes=2)
    assert app.submit(near(6))["status"] == "reported"


@pytest.mark.parametrize("status", ["closed", "rejected"])
def test_a_closed_or_rejected_case_is_not_an_original(app, status):
    original = app.submit(LEAK)
    app.deliver(
        f"case.{status}", {"case_id": original["id"], **({"reason": "不属部门职责"} if status == "rejected" else {})}
    )
    assert app.read(original["id"])["status"] == status
    assert app.submit(near(5))["status"] == "reported"


def test_a_resolved_case_still_gathers_reports(app):
    original = app.submit(LEAK)
    app.deliver("case.resolved", {"case_id": original["id"]})
    assert app.submit(near(5))["duplicate_of"] == original["id"]


@pytest.mark.parametrize(
    "first, second, linked",
    [
        ({"address": "伟业佳苑 3 栋"}, {"address": " 伟业佳苑３栋"}, True),  # same address, spaces and width aside
        ({"address": "伟业佳苑 3 栋", "community": "武泰闸社区"}, {"address": "伟业佳苑3栋"}, True),
        (
            {"address": "伟业佳苑 3 栋", "community": "武泰闸社区"},
            {"address": "伟业佳苑3栋", "community": "别的社区"},
            False,
        ),
        (
            {"address": "伟业佳苑 3 栋", "community": "武泰闸社区"},
            {"address": "伟业佳苑 4 栋", "community": "武泰闸社区"},
            False,
        ),  # a community alone is not enough
        ({"address": "伟业佳苑 3 栋", "lat": 30.52, "lon": 114.31}, {"address": "伟业佳苑 3 栋"}, True),
        ({"address": "伟业佳苑 3 栋"}, {"address": "伟业佳苑 3 栋", "lat": 30.52, "lon": 114.31}, True),
    ],
)
def test_without_coordinates_the_address_decides(app, first, second, linked):
    original = app.submit({**LEAK, "location": first})
    duplicate = app.submit({**LEAK, "location": second})
    assert duplicate["duplicate_of"] == (original["id"] if linked else None)


def test_a_duplicate_is_never_an_original(app):
    original = app.submit(LEAK)
    first = app.submit(near(200))
    second = app.submit(near(400))  # 200 m from the duplicate, 400 m from the original
    assert first["duplicate_of"] == original["id"] and second["status"] == "reported"


def test_thresholds_come_from_config(tmp_path):
    from tests.integration.intake.conftest import make_intake

    app = make_intake(tmp_path, DUPLICATE_RADIUS_M="1000", DUPLICATE_WINDOW_HOURS="1")
    try:
        original = app.submit(LEAK)
        assert app.submit(near(900))["duplicate_of"] == original["id"]
        app.clock.advance(hours=1, seconds=1)
        assert app.submit(near(10))["status"] == "reported"
    finally:
        app.platform.stop()


def test_a_radius_of_kilometres_is_checked_too(tmp_path):
    from tests.integration.intake.conftest import make_intake

    app = make_intake(tmp_path, DUPLICATE_RADIUS_M="4000")  # too many lattice cells: the box alone
    try:
        original = app.submit(LEAK)
        assert app.submit(near(3900))["duplicate_of"] == original["id"]
        assert app.submit(near(-4100))["status"] == "reported"
    finally:
        app.platform.stop()


def test_reports_either_side_of_a_lattice_corner_are_linked(app):
    """Points are filed under cells of a fixed lattice (duplicates.geo_cell); a neighbour across a
    corner of it, in another row and column, is found all the same."""
    lat, lon = 6782 * GEO_CELL_DEGREES, 25402 * GEO_CELL_DEGREES  # a corner in 武汉
    step = 30 / METRES_PER_DEGREE
    south_west = {**LEAK, "location": {**LEAK["location"], "lat": lat - step, "lon": lon - step}}
    north_east = {**LEAK, "location": {**LEAK["location"], "address": "对面", "lat": lat + step, "lon": lon + step}}
    cells = {geo_cell(c["location"]["lat"], c["location"]["lon"]) for c in (south_west, north_east)}
    assert len(cells) == 2
    original = app.submit(south_west)
    assert app.submit(north_east)["duplicate_of"] == original["id"]


def test_staff_unlink_a_duplicate_which_goes_back_to_reported(app):
    original = app.submit(LEAK)
    duplicate = app.submit(near(5))
    app.clock.advance(minutes=30)
    response = app.client.post(
        f"/v1/cases/{duplicate['id']}/unlink", json={"reason": "是另一处漏点"}, headers=app.headers()
    )
    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["duplicate_of"]) == ("reported", None)
    assert response.json["notes"][-1]["event"] == "case.duplicate_unlinked"
    assert app.read(original["id"])["reporter_count"] == 1
    [event] = app.events("case.duplicate_unlinked", duplicate["id"])
    assert event["data"] == {"case_id": duplicate["id"], "duplicate_of": original["id"], "reason": "是另一处漏点"}

    again = app.client.post(f"/v1/cases/{duplicate['id']}/unlink", json={}, headers=app.headers())
    assert (again.status_code, again.json["code"]) == (409, "INVALID_STATE")
    assert len(app.events("case.duplicate_unlinked")) == 1


def test_the_unlinked_case_follows_dispatch_from_then_on(app):
    app.submit(LEAK)
    duplicate = app.submit(near(5))
    app.client.post(f"/v1/cases/{duplicate['id']}/unlink", json={}, headers=app.headers())
    app.deliver(
        "case.dispatched",
        {
            "case_id": duplicate["id"],
            "severity": "urgent",
            "lead": "water",
            "departments": ["water"],
            "resolve_due": "2026-06-04T00:30:00Z",
        },
    )
    assert app.read(duplicate["id"])["status"] == "dispatched"


@pytest.mark.parametrize("role, status", [("department", 403), ("auditor", 403), ("service", 403), ("admin", 200)])
def test_who_may_unlink(app, role, status):
    app.submit(LEAK)
    duplicate = app.submit(near(5))
    before = len(app.events())
    response = app.client.post(f"/v1/cases/{duplicate['id']}/unlink", json={}, headers=app.headers(role))
    assert response.status_code == status
    assert len(app.events()) == before + (1 if status == 200 else 0)


@pytest.mark.parametrize(
    "body, field", [({"reason": "<b>x</b>"}, "reason"), ({"why": "x"}, "why"), ({"reason": "x" * 501}, "reason")]
)
def test_bad_unlink_bodies_are_named(app, body, field):
    app.submit(LEAK)
    duplicate = app.submit(near(5))
    response = app.client.post(f"/v1/cases/{duplicate['id']}/unlink", json=body, headers=app.headers())
    assert response.status_code == 422 and field in response.json["message"]
    assert app.read(duplicate["id"])["status"] == "duplicate"


def test_unlinking_an_unknown_case_is_404(app):
    response = app.client.post("/v1/cases/0b7e0000-0000-4000-8000-000000000000/unlink", json={}, headers=app.headers())
    assert (response.status_code, response.json["code"]) == (404, "NOT_FOUND")
