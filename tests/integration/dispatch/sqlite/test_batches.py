"""A consumer batch writes its new cases and tasks as plain rows at the commit: later events of the
same batch must still find them, as they would find rows written one event at a time."""

from __future__ import annotations

from services.common.events import build_event


def envelope(desk, event_type: str, data: dict) -> dict:
    return build_event(event_type, data, service="intake", time=desk.clock())


def test_a_duplicate_unlinked_in_the_batch_that_reported_it_is_routed(desk):
    original = desk.report(title="伟业佳苑停车场漏水")
    linked = desk.reported(title="停车场又漏水了", duplicate_of=original)
    desk.redeliver(
        envelope(desk, "case.reported", linked),
        envelope(
            desk,
            "case.duplicate_unlinked",
            {"case_id": linked["case_id"], "duplicate_of": original, "reason": "另一处管道"},
        ),
    )

    case = desk.case(linked["case_id"])
    assert case["status"] == "dispatched"
    assert [(t["department"], t["role"], t["status"]) for t in case["tasks"]] == [("water", "lead", "assigned")]
    assert [h["status"] for h in case["history"]] == ["reported", "duplicate", "dispatched"]
    assert desk.types(linked["case_id"]) == ["task.assigned", "case.dispatched"]


def test_a_case_reported_twice_in_one_batch_is_one_case_with_one_set_of_tasks(desk):
    first, second = desk.reported(), desk.reported(category="heating", title="暖气不热")
    desk.redeliver(
        envelope(desk, "case.reported", first),
        envelope(desk, "case.reported", second),
        envelope(desk, "case.reported", first),
    )  # the same case again, under a new event id

    for data, department in ((first, "water"), (second, "housing")):
        case = desk.case(data["case_id"])
        assert (case["status"], case["number"]) == ("dispatched", data["number"])
        assert [t["department"] for t in case["tasks"]] == [department]
        assert desk.types(data["case_id"]) == ["task.assigned", "case.dispatched"]
    assert desk.pending_timers(desk.case(first["case_id"])["tasks"][0]["id"]) == {
        "acknowledge.due_soon",
        "acknowledge.overdue",
        "resolve.due_soon",
        "resolve.overdue",
    }
