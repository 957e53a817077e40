"""Case lifecycle beyond the scenarios: triage, whistles, duplicates, 退单 to the end of the line,
withdrawing a task, and staff reopening."""

from __future__ import annotations


def test_a_case_no_rule_covers_goes_to_triage_and_a_whistle_dispatches_it(desk):
    case_id = desk.report("other", title="楼道飞线充电")
    assert desk.case(case_id)["status"] == "triage"
    assert desk.types(case_id) == ["case.triaged"]
    assert desk.get(f"/v1/tasks?case_id={case_id}").json["items"] == []

    whistled = desk.post(
        f"/v1/cases/{case_id}/whistle",
        {"departments": ["property", "urban_mgmt", "fire"], "reason": "飞线充电", "lead": "urban_mgmt"},
    )
    assert whistled.status_code == 201, whistled.json
    roles = {t["department"]: t["role"] for t in whistled.json["tasks"]}
    assert roles == {"property": "assist", "urban_mgmt": "lead", "fire": "assist"}
    case = desk.case(case_id)
    assert case["status"] == "dispatched"
    ((_, dispatched),) = desk.events("case.dispatched", case_id=case_id)
    assert (dispatched["lead"], sorted(dispatched["departments"])) == ("urban_mgmt", ["fire", "property", "urban_mgmt"])


def test_whistling_a_department_already_on_the_case_gives_its_task_back(desk):
    case_id = desk.report("water_supply")
    water = desk.task_of(case_id, "water")
    first = desk.post(f"/v1/cases/{case_id}/whistle", {"departments": ["water", "housing"], "reason": "r"}).json
    again = desk.post(f"/v1/cases/{case_id}/whistle", {"departments": ["housing"], "reason": "催办"}).json
    assert first["tasks"][0]["id"] == water["id"]
    assert again["tasks"][0]["id"] == first["tasks"][1]["id"]
    assert len(desk.case(case_id)["tasks"]) == 2
    assert len(desk.events("task.assigned", case_id=case_id)) == 2
    assert len(desk.events("case.whistle_blown", case_id=case_id)) == 2


def test_staff_reject_a_triaged_case(desk):
    case_id = desk.report("other")
    rejected = desk.post(f"/v1/cases/{case_id}/reject", {"reason": "私人纠纷，非部门职责"})
    assert rejected.json["status"] == "rejected"
    assert desk.events("case.rejected") == [("case.rejected", {"case_id": case_id, "reason": "私人纠纷，非部门职责"})]
    assert desk.post(f"/v1/cases/{case_id}/whistle", {"departments": ["police"], "reason": "r"}).status_code == 409


def test_a_duplicate_is_not_dispatched_until_intake_unlinks_it(desk):
    original = desk.report("water_supply")
    duplicate = desk.report("water_supply", duplicate_of=original)
    assert desk.case(duplicate)["status"] == "duplicate" and desk.types(duplicate) == []
    unlinked = desk.deliver("case.duplicate_unlinked", {"case_id": duplicate, "duplicate_of": original})
    desk.redeliver(unlinked)  # at least once on the wire, once in effect
    assert desk.case(duplicate)["status"] == "dispatched"
    assert desk.types(duplicate) == ["task.assigned", "case.dispatched"]


def test_a_reported_case_delivered_twice_makes_one_set_of_tasks(desk):
    case_id = desk.report("building_safety")
    envelope = desk.deliver(
        "case.reported",
        {
            "case_id": case_id,
            "number": "WS-2026-000001",
            "title": "t",
            "category": "building_safety",
            "severity": "normal",
            "location": {"address": "a"},
            "reported_at": desk.clock().isoformat(),
        },
    )
    desk.redeliver(envelope)
    assert len(desk.case(case_id)["tasks"]) == 2


def test_when_every_fallback_returns_it_the_case_goes_to_triage(desk):
    case_id = desk.report("building_safety")
    desk.act(desk.task_of(case_id, "housing"), "return", {"reason_code": "not_our_duty", "reason": "非房屋问题"})
    desk.act(desk.task_of(case_id, "street_office"), "return", {"reason_code": "wrong_area", "reason": "不在辖区"})
    case = desk.case(case_id)
    assert case["status"] == "triage"
    assert desk.events("case.triaged", case_id=case_id)[-1][1]["reason"] == "every department returned it"
    assert {t["department"]: t["status"] for t in case["tasks"]} == {
        "housing": "returned",
        "urban_mgmt": "assigned",
        "street_office": "returned",
    }


def test_a_returned_assist_task_just_ends_and_the_lead_resolves_the_case(desk):
    case_id = desk.report("trees")
    desk.act(desk.task_of(case_id, "power"), "return", {"reason_code": "not_our_duty", "reason": "线路已断电"})
    assert desk.case(case_id)["status"] == "dispatched"
    assert not desk.events("task.assigned", case_id=case_id)[2:], "no one replaces an assist"
    lead = desk.act(desk.task_of(case_id, "landscaping"), "acknowledge", {})
    desk.act(lead, "complete", {"resolution": "修剪完成"})
    assert desk.case(case_id)["status"] == "resolved"


def test_staff_withdraw_a_task_and_its_alarms_stop(desk):
    case_id = desk.report("trees")
    power = desk.task_of(case_id, "power")
    cancelled = desk.act(power, "cancel", {"reason": "不需要断电"}, who="staff")
    assert cancelled["status"] == "cancelled" and desk.pending_timers(power["id"]) == set()
    assert desk.events("task.cancelled")[0][1]["reason"] == "不需要断电"
    assert desk.case(case_id)["status"] == "dispatched", "landscaping still works on it"
    desk.act(desk.task_of(case_id, "landscaping"), "cancel", {"reason": "已由业主自行处理"}, who="staff")
    assert desk.case(case_id)["status"] == "triage", "a case nobody works on goes back to staff"


def test_staff_reopen_a_resolved_case_and_completed_tasks_start_again(desk, clock):
    case_id = desk.report("street_lighting", "normal")
    task = desk.act(desk.task_of(case_id, "power"), "acknowledge", {})
    desk.act(task, "complete", {"resolution": "换灯"})
    clock.advance(hours=5)
    reopened = desk.post(f"/v1/cases/{case_id}/verify", {"outcome": "reopened", "note": "灯又灭了"})
    assert reopened.json["status"] == "dispatched"
    (task_view,) = reopened.json["tasks"]
    assert (task_view["status"], task_view["acknowledged_at"], task_view["completed_at"]) == ("assigned", None, None)
    assert task_view["ack_due"] == clock.advance(hours=24).isoformat()
    assert desk.events("case.reopened")[0][1] == {"case_id": case_id, "reason": "灯又灭了", "by": "staff"}
    assert desk.events("task.reopened")[0][1]["reason"] == "灯又灭了"


def test_a_case_view_shows_history_and_a_department_only_its_own_cases(desk):
    case_id = desk.report("water_supply")
    view = desk.get(f"/v1/cases/{case_id}", "water").json
    assert [h["status"] for h in view["history"]] == ["reported", "dispatched"]
    assert set(view) >= {"case_id", "status", "severity", "escalation_level", "tasks", "history"}
    assert desk.get(f"/v1/cases/{case_id}", "police").status_code == 404


def test_a_whistle_sent_again_with_its_key_gets_the_first_answer(desk):
    case_id = desk.report("other", title="楼道飞线充电")
    path, body, key = f"/v1/cases/{case_id}/whistle", {"departments": ["property"], "reason": "飞线充电"}, "w-1"
    first = desk.post(path, body, **{"Idempotency-Key": key})
    desk.clock.advance(minutes=5)
    again = desk.post(path, body, **{"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (201, 201), again.json
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    other = desk.post(path, {"departments": ["fire"], "reason": "飞线充电"}, **{"Idempotency-Key": key})
    assert (other.status_code, other.json["code"]) == (409, "IDEMPOTENCY_MISMATCH")
    assert len(desk.events("case.dispatched", case_id=case_id)) == 1
    assert [t["department"] for t in desk.get(f"/v1/tasks?case_id={case_id}").json["items"]] == ["property"]
