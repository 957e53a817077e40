"""Admins edit departments and routing rules; routing follows at once; every change is an event."""

from __future__ import annotations


def test_replacing_the_rules_changes_routing_and_is_announced(desk):
    rules = desk.get("/v1/routing-rules").json["items"]
    narrow = {
        "category": "water_supply",
        "street": "紫阳街道",
        "community": "武泰闸社区",
        "lead": "property",
        "assists": ["water"],
        "fallback": ["street_office", "water"],
        "severity": "urgent",
    }
    put = desk.put("/v1/routing-rules", {"items": [*rules, narrow]})
    assert put.status_code == 200, put.json
    ((_, event),) = desk.events("routing_rules.updated")
    assert event["rules"][-1] == narrow
    assert desk.get("/v1/routing-rules").json["items"][-1] == narrow

    here = desk.report("water_supply", street="紫阳街道", community="武泰闸社区")
    elsewhere = desk.report("water_supply", street="其他街道", community="别的社区")
    assert {t["department"]: t["role"] for t in desk.case(here)["tasks"]} == {"property": "lead", "water": "assist"}
    assert [t["department"] for t in desk.case(elsewhere)["tasks"]] == ["water"]


def test_a_returned_lead_follows_the_fallback_order_skipping_departments_already_tried(desk):
    rules = [{"category": "parking", "lead": "property", "assists": [], "fallback": ["police", "street_office"]}]
    assert desk.put("/v1/routing-rules", {"items": rules}).status_code == 200
    case_id = desk.report("parking")
    desk.act(desk.task_of(case_id, "property"), "return", {"reason_code": "other", "reason": "两小区之间"})
    desk.act(desk.task_of(case_id, "police"), "return", {"reason_code": "not_our_duty", "reason": "非治安"})
    assert desk.task_of(case_id, "street_office")["role"] == "lead"
    assert desk.case(case_id)["status"] == "dispatched"


def test_departments_are_listed_and_edited(desk):
    listed = desk.get("/v1/departments", "water").json["items"]
    assert {
        "water",
        "housing",
        "urban_mgmt",
        "drainage",
        "landscaping",
        "power",
        "fire",
        "police",
        "property",
        "street_office",
    } <= {d["code"] for d in listed}
    assert next(d for d in listed if d["code"] == "water")["name_zh"] == "自来水公司"

    created = desk.put("/v1/departments/gas", {"name_zh": "燃气公司", "name_en": "Gas company"})
    assert created.json == {"code": "gas", "name_zh": "燃气公司", "name_en": "Gas company", "active": True}
    retired = desk.put("/v1/departments/gas", {"name_zh": "燃气公司", "name_en": "Gas company", "active": False})
    assert retired.json["active"] is False
    assert [d["active"] for _, d in desk.events("department.updated")] == [True, False]

    case_id = desk.report("other")
    refused = desk.post(f"/v1/cases/{case_id}/whistle", {"departments": ["gas"], "reason": "燃气泄漏"})
    assert refused.status_code == 422, "an inactive department cannot be summoned"
