"""The public status read model folds dispatch's events into each case, whatever order they arrive
in and however often: the handlers are called directly with hand-built events."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest

from services.intake import handlers
from tests.integration.intake.sqlite.conftest import T0

WATER_TASK, PROPERTY_TASK = str(uuid.uuid4()), str(uuid.uuid4())
DUE = T0 + timedelta(hours=24)


def lifecycle(model, case_id):
    """reported → dispatched (water lead, property assist) → in_progress → resolved → closed."""
    due = DUE.isoformat()
    task = {"severity": "urgent", "ack_due": (T0 + timedelta(hours=2)).isoformat(), "resolve_due": due}
    return [
        model.event(
            "case.dispatched",
            case_id,
            1,
            severity="urgent",
            lead="water",
            departments=["water", "property"],
            resolve_due=due,
        ),
        model.event(
            "task.assigned", case_id, 1.01, task_id=WATER_TASK, department="water", role="lead", version=1, **task
        ),
        model.event(
            "task.assigned",
            case_id,
            1.02,
            task_id=PROPERTY_TASK,
            department="property",
            role="assist",
            version=1,
            **task,
        ),
        model.event(
            "task.acknowledged", case_id, 20, task_id=WATER_TASK, department="water", version=2, note="已到现场"
        ),
        model.event(
            "task.progressed",
            case_id,
            60,
            task_id=WATER_TASK,
            department="water",
            version=3,
            note="关闸抢修，联系人 13900001111",
        ),
        model.event(
            "task.completed", case_id, 200, task_id=WATER_TASK, department="water", version=4, resolution="已更换阀门"
        ),
        model.event("task.completed", case_id, 201, task_id=PROPERTY_TASK, department="property", version=2),
        model.event("case.resolved", case_id, 201.5),
        model.event("case.closed", case_id, 300, note="社区核实销号"),
    ]


def public(case):
    return {
        "status": case.status,
        "departments": case.departments,
        "expected_at": case.expected_at,
        "notes": [(n["event"], n["at"], n["note"]) for n in case.notes],
    }


@pytest.fixture
def in_order(model):
    case_id = model.add_case()
    model.deliver(*lifecycle(model, case_id))
    return public(model.case(case_id))


def test_events_in_order_lead_to_closed(model, in_order):
    assert in_order["status"] == "closed"
    assert in_order["departments"] == ["property", "water"]
    assert in_order["expected_at"] == DUE
    assert [n[0] for n in in_order["notes"]] == [
        "case.dispatched",
        "task.assigned",
        "task.assigned",
        "task.acknowledged",
        "task.progressed",
        "task.completed",
        "task.completed",
        "case.resolved",
        "case.closed",
    ]


@pytest.mark.parametrize("seed", range(6))
def test_any_order_leads_to_the_same_public_status(model, in_order, seed):
    case_id = model.add_case()
    events = lifecycle(model, case_id)
    if seed == 0:
        events.reverse()
    else:
        random.Random(seed).shuffle(events)
    model.deliver(*events)
    assert public(model.case(case_id)) == {**in_order, "notes": in_order["notes"]}


@pytest.mark.parametrize("seed", range(3))
def test_a_consumer_batch_of_several_cases_in_any_order_leads_to_the_same_public_status(model, in_order, seed):
    cases = [model.add_case() for _ in range(3)]
    events = [event for case_id in cases for event in lifecycle(model, case_id)]
    random.Random(seed).shuffle(events)
    assert model.deliver_batch(*events) == ["ack"] * len(events)
    assert all(public(model.case(case_id)) == in_order for case_id in cases)


def test_an_event_whose_handler_fails_in_a_batch_leaves_nothing_behind_and_the_others_applied(model, in_order):
    case_id = model.add_case()
    events = lifecycle(model, case_id)
    rejected = model.event("case.rejected", case_id, 500, reason="不属于受理范围")  # the latest: it would win
    outcomes = model.deliver_batch(*events[:3], rejected, *events[3:], failing=rejected["id"])
    assert outcomes == ["ack"] * 3 + ["retry"] + ["ack"] * (len(events) - 3)
    assert public(model.case(case_id)) == in_order


def test_every_event_delivered_twice_is_applied_once(model, in_order):
    case_id = model.add_case()
    events = lifecycle(model, case_id)
    model.deliver(*[e for event in events for e in (event, event)])
    model.deliver(*events)
    assert public(model.case(case_id)) == in_order


def test_a_late_older_event_never_moves_a_case_backwards(model):
    case_id = model.add_case()
    events = lifecycle(model, case_id)
    model.deliver(events[0], events[7])  # dispatched, resolved
    assert model.case(case_id).status == "resolved"
    model.deliver(events[3], events[4])  # acknowledged and progressed, from before the resolution
    assert model.case(case_id).status == "resolved"
    model.deliver(events[0])  # the dispatch again
    assert model.case(case_id).status == "resolved"


def test_reopening_moves_a_resolved_case_back_to_dispatched_then_work_resumes(model):
    case_id = model.add_case()
    events = lifecycle(model, case_id)
    model.deliver(*events[:8])
    assert model.case(case_id).status == "resolved"
    new_due = T0 + timedelta(days=2)
    reopened = model.event("case.reopened", case_id, 400, reason="居民不满意", by="feedback")
    model.deliver(
        reopened,
        model.event(
            "task.reopened",
            case_id,
            400.1,
            task_id=WATER_TASK,
            department="water",
            version=5,
            ack_due=(T0 + timedelta(hours=30)).isoformat(),
            resolve_due=new_due.isoformat(),
        ),
    )
    case = model.case(case_id)
    assert (case.status, case.reopen_count, case.expected_at) == ("dispatched", 1, new_due)
    model.deliver(reopened, events[7])  # the reopening again, and the old resolution late
    assert (model.case(case_id).status, model.case(case_id).reopen_count) == ("dispatched", 1)
    model.deliver(model.event("task.acknowledged", case_id, 420, task_id=WATER_TASK, department="water", version=6))
    assert model.case(case_id).status == "in_progress"


def test_events_at_the_same_instant_keep_the_one_further_along(model):
    case_id = model.add_case()
    model.deliver(
        model.event("case.resolved", case_id, 5),
        model.event("task.completed", case_id, 5, task_id=WATER_TASK, department="water"),
    )
    assert model.case(case_id).status == "resolved"


def test_a_returned_task_drops_its_department_and_the_fallback_appears(model):
    case_id = model.add_case()
    events = lifecycle(model, case_id)
    fallback_task = str(uuid.uuid4())
    returned = model.event(
        "task.returned",
        case_id,
        30,
        task_id=PROPERTY_TASK,
        department="property",
        version=2,
        reason_code="unclear_ownership",
        reason="产权不清",
    )
    assigned = model.event(
        "task.assigned",
        case_id,
        30.1,
        task_id=fallback_task,
        department="street_office",
        role="assist",
        version=1,
        severity="urgent",
        ack_due=DUE.isoformat(),
        resolve_due=DUE.isoformat(),
    )
    model.deliver(returned, assigned, *events[:3])  # the return arrives before the assignment it ends
    assert model.case(case_id).departments == ["street_office", "water"]


def test_named_departments_show_before_their_tasks_arrive(model):
    case_id = model.add_case()
    model.deliver(lifecycle(model, case_id)[0])
    case = model.case(case_id)
    assert (case.status, case.departments, case.expected_at) == ("dispatched", ["property", "water"], DUE)


def test_intake_statuses_give_way_to_any_dispatch_event(model):
    case_id = model.add_case(status="reported", created_at=T0 + timedelta(days=1))  # a clock ahead of dispatch
    model.deliver(model.event("case.triaged", case_id, 1, reason="no routing rule matches"))
    assert model.case(case_id).status == "triage"


def test_notes_mask_phone_numbers_typed_by_departments(model):
    case_id = model.add_case()
    model.deliver(*lifecycle(model, case_id))
    notes = [n["note"] for n in model.case(case_id).notes if n["note"]]
    assert "关闸抢修，联系人 139****1111" in notes
    assert not any("13900001111" in n for n in notes)


def test_events_for_cases_intake_does_not_have_are_ignored(model):
    model.deliver(
        model.event(
            "case.dispatched",
            str(uuid.uuid4()),
            1,
            severity="urgent",
            lead="water",
            departments=["water"],
            resolve_due=DUE.isoformat(),
        )
    )


def test_intake_does_not_handle_its_own_events():
    assert {"case.reported", "case.duplicate_unlinked", "case.feedback_recorded"}.isdisjoint(handlers.HANDLERS)
    assert {"case.dispatched", "case.reopened", "task.acknowledged", "task.returned"} <= set(handlers.HANDLERS)
