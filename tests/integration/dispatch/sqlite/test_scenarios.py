"""The cases Whistle was built for, each as the sequence of calls and events it takes."""

from __future__ import annotations


def test_leaking_water_main_water_leads_staff_whistle_housing_and_property_all_report_and_close(desk, clock):
    case_id = desk.report("water_supply", "normal", title="地下车库自来水主管网渗漏，高峰期水压不够")
    water = desk.task_of(case_id, "water")
    assert (water["role"], water["status"]) == ("lead", "assigned")
    assert desk.types(case_id) == ["task.assigned", "case.dispatched"]

    clock.advance(hours=1)  # the coordination meeting: the street summons housing and the property company
    whistled = desk.post(
        f"/v1/cases/{case_id}/whistle",
        {"departments": ["housing", "property"], "reason": "协调会：管网在小区红线内", "respond_within_minutes": 60},
    )
    assert whistled.status_code == 201, whistled.json
    assert [(t["department"], t["role"]) for t in whistled.json["tasks"]] == [
        ("housing", "assist"),
        ("property", "assist"),
    ]
    assert whistled.json["tasks"][0]["ack_due"] == clock.advance(minutes=60).isoformat()
    ((_, blown),) = desk.events("case.whistle_blown")
    assert blown["departments"] == ["housing", "property"]

    clock.advance(minutes=-30)  # everyone reports for duty within the half hour
    tasks = {d: desk.task_of(case_id, d) for d in ("water", "housing", "property")}
    for task in tasks.values():
        acknowledged = desk.act(task, "acknowledge", {"note": "已到现场", "eta": "2026-06-10T08:00:00Z"})
        assert acknowledged["status"] == "acknowledged" and acknowledged["version"] == 2
        assert desk.pending_timers(task["id"]) == {"resolve.due_soon", "resolve.overdue"}
    assert all(d["within_deadline"] for _, d in desk.events("task.acknowledged"))
    assert desk.case(case_id)["status"] == "in_progress"

    clock.advance(days=2)
    for task in tasks.values():
        assert desk.act(task, "progress", {"note": "更换阀门，分段试压"})["status"] == "in_progress"
    clock.advance(days=4)  # the one-week repair, inside the normal tier's seven days
    assert desk.tick() == 3  # the resolve deadline's due-soon warnings (80 % of 7 days)
    for department in ("housing", "property"):
        desk.act(tasks[department], "complete", {"resolution": "配合完成"})
        assert desk.case(case_id)["status"] == "in_progress", "water is still working"
    desk.act(tasks["water"], "complete", {"resolution": "主管网已修复，水压恢复"})
    assert desk.case(case_id)["status"] == "resolved"

    closed = desk.post(f"/v1/cases/{case_id}/verify", {"outcome": "closed", "note": "居民确认"})
    assert closed.status_code == 200, closed.json
    assert closed.json["status"] == "closed" and closed.json["escalation_level"] == 0
    types = desk.types(case_id)
    assert types.count("task.completed") == 3 and types[-2:] == ["case.resolved", "case.closed"]
    assert "task.overdue" not in types and "case.escalated" not in types


def test_shared_boundary_wall_housing_returns_it_the_fallback_department_resolves_it(desk, clock):
    case_id = desk.report("building_safety", "normal", title="两小区共用围墙开裂", address="伟业佳苑与武泰闸小区交界")
    housing, urban = desk.task_of(case_id, "housing"), desk.task_of(case_id, "urban_mgmt")
    assert (housing["role"], urban["role"]) == ("lead", "assist")

    clock.advance(hours=3)
    returned = desk.act(housing, "return", {"reason_code": "unclear_ownership", "reason": "围墙产权不清，两小区未移交"})
    assert returned["status"] == "returned" and returned["allowed"] == []
    assert desk.pending_timers(housing["id"]) == set()
    street = desk.task_of(case_id, "street_office")
    assert (street["role"], street["status"]) == ("lead", "assigned")
    assert desk.events("task.returned")[0][1]["reason_code"] == "unclear_ownership"
    assert desk.types(case_id)[-2:] == ["task.returned", "task.assigned"]
    assert desk.case(case_id)["status"] == "dispatched"

    late = desk.act(housing, "acknowledge", {}, status=409)  # a returned task is finished for housing
    assert late["code"] == "INVALID_TRANSITION" and late["allowed"] == []

    desk.act(urban, "acknowledge", {"note": "设置警示带"})
    desk.act(urban, "complete", {"resolution": "围挡已设"})
    desk.act(street, "acknowledge", {"note": "组织两小区协调"})
    desk.act(street, "progress", {"note": "两小区物业同意分摊费用"})
    clock.advance(days=5)
    desk.act(street, "complete", {"resolution": "围墙加固完成"})
    assert desk.case(case_id)["status"] == "resolved"
    assert desk.post(f"/v1/cases/{case_id}/verify", {"outcome": "closed"}).json["status"] == "closed"


def test_burst_valve_at_seven_emergency_unanswered_escalates_then_is_handled_the_same_day(desk, clock):
    case_id = desk.report(
        "water_supply", "emergency", title="三不管楼栋阀门爆裂，244户停水，路面结冰", address="武泰闸社区某无物业楼栋"
    )
    water = desk.task_of(case_id, "water")
    assert water["ack_due"] == "2026-06-03T07:30:00+00:00" and water["resolve_due"] == "2026-06-03T09:00:00+00:00"

    clock.advance(minutes=24)  # 80 % of the half hour
    assert desk.tick() == 1
    ((_, soon),) = desk.events("task.due_soon")
    assert (soon["deadline"], soon["department"]) == ("acknowledge", "water")
    clock.advance(minutes=7)  # 07:31 and nobody has reported for duty
    desk.tick()
    ((_, overdue),) = desk.events("task.overdue")
    assert (overdue["deadline"], overdue["due_at"]) == ("acknowledge", "2026-06-03T07:30:00+00:00")
    ((_, escalated),) = desk.events("case.escalated")
    assert (escalated["level"], escalated["department"]) == (1, "water")
    assert desk.case(case_id)["escalation_level"] == 1
    listed = desk.get("/v1/tasks?overdue=true", "water").json["items"]
    assert [t["id"] for t in listed] == [water["id"]]
    assert desk.tick() == 0, "a timer fires once"

    clock.advance(minutes=9)  # 07:40: the water plant shuts the main; the property company is summoned
    acknowledged = desk.act(water, "acknowledge", {"note": "关闭总阀"})
    assert desk.events("task.acknowledged")[0][1]["within_deadline"] is False
    assert acknowledged["overdue"] is False
    whistled = desk.post(
        f"/v1/cases/{case_id}/whistle",
        {"departments": ["property"], "reason": "抢修阀门", "respond_within_minutes": 15},
    )
    property_task = whistled.json["tasks"][0]
    desk.act(property_task, "acknowledge", {})
    clock.advance(minutes=50)  # 08:30
    desk.act(property_task, "complete", {"resolution": "阀门更换完成"})
    desk.act(water, "complete", {"resolution": "恢复供水，路面除冰"})
    assert desk.case(case_id)["status"] == "resolved"
    clock.advance(hours=3)  # past every resolve deadline: nothing more fires for finished tasks
    desk.tick()
    assert len(desk.events("task.overdue")) == 1
    closed = desk.post(f"/v1/cases/{case_id}/verify", {"outcome": "closed"}).json
    assert (closed["status"], closed["escalation_level"]) == ("closed", 1)
    assert clock().date().isoformat() == "2026-06-03"


def test_a_dissatisfied_resident_reopens_the_case_once_and_it_is_resolved_again(desk, clock):
    case_id = desk.report("drainage", "urgent", title="小区污水井外溢")
    task = desk.task_of(case_id, "drainage")
    desk.act(task, "acknowledge", {})
    desk.act(task, "complete", {"resolution": "疏通完成"})
    desk.post(f"/v1/cases/{case_id}/verify", {"outcome": "closed"})

    clock.advance(days=1)  # 回访: the resident says it still overflows
    desk.deliver("case.feedback_recorded", {"case_id": case_id, "satisfaction": "dissatisfied", "comment": "还在外溢"})
    ((_, reopened),) = desk.events("case.reopened")
    assert reopened == {"case_id": case_id, "reason": "还在外溢", "by": "feedback"}
    again = desk.task_of(case_id, "drainage")
    assert (again["id"], again["status"]) == (task["id"], "assigned")
    assert again["ack_due"] == clock.advance(hours=2).isoformat()
    clock.advance(hours=-2)
    assert desk.pending_timers(task["id"]) == {
        "acknowledge.due_soon",
        "acknowledge.overdue",
        "resolve.due_soon",
        "resolve.overdue",
    }
    assert desk.case(case_id)["status"] == "dispatched"

    desk.act(again, "acknowledge", {})
    desk.act(again, "complete", {"resolution": "更换管段"})
    assert desk.case(case_id)["status"] == "resolved"
    desk.deliver("case.feedback_recorded", {"case_id": case_id, "satisfaction": "dissatisfied"})
    assert desk.case(case_id)["status"] == "resolved", "feedback reopens a case only once; then staff decide"
    assert len(desk.events("case.reopened")) == 1
    assert desk.types(case_id).count("task.reopened") == 1
