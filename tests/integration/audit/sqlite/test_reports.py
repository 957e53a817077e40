"""Department scores from the trail alone, on a scripted set of cases with known answers."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.integration.audit.sqlite import trail
from tests.integration.audit.sqlite.trail import T0, feedback, task_event


def minutes(n: float):
    return T0 + timedelta(minutes=n)


@pytest.fixture
def scripted(rt):
    a, b, c, d, old = (str(uuid.uuid4()) for _ in range(5))
    w1, h1, w2, w3, p1, h2, l1, w4 = (str(uuid.uuid4()) for _ in range(8))

    def assigned(case, task, dept, at, ack_within):
        return task_event("task.assigned", case, task, dept, minutes(at), ack_due=minutes(at + ack_within).isoformat())

    events = [
        # Case A: water on time, housing late; the resident first dissatisfied, then satisfied.
        assigned(a, w1, "water", 0, 30),
        assigned(a, h1, "housing", 0, 30),
        task_event("task.acknowledged", a, w1, "water", minutes(10)),
        task_event("task.acknowledged", a, h1, "housing", minutes(40)),
        task_event("task.completed", a, w1, "water", minutes(60)),
        task_event("task.completed", a, h1, "housing", minutes(120)),
        feedback(a, "dissatisfied", minutes(60 * 24)),
        feedback(a, "satisfied", minutes(60 * 48)),
        # Case B: water never reports for duty and goes overdue.
        assigned(b, w2, "water", 60, 30),
        task_event("task.overdue", b, w2, "water", minutes(90), deadline="acknowledge", due_at=minutes(90).isoformat()),
        # Case C: water returns it (退单); power takes it, completes, is reopened, completes again.
        assigned(c, w3, "water", 120, 30),
        task_event("task.returned", c, w3, "water", minutes(130), reason_code="not_our_duty", reason="供电问题"),
        assigned(c, p1, "power", 135, 120),
        task_event("task.acknowledged", c, p1, "power", minutes(140)),
        task_event("task.completed", c, p1, "power", minutes(180)),
        task_event(
            "task.reopened",
            c,
            p1,
            "power",
            minutes(240),
            ack_due=minutes(270).isoformat(),
            resolve_due=minutes(600).isoformat(),
        ),
        task_event("task.completed", c, p1, "power", minutes(300)),
        feedback(c, "dissatisfied", minutes(60 * 30)),
        # Case D: tasks withdrawn by staff count for nobody.
        assigned(d, h2, "housing", 180, 30),
        task_event("task.cancelled", d, h2, "housing", minutes(185)),
        assigned(d, l1, "landscaping", 180, 30),
        task_event("task.cancelled", d, l1, "landscaping", minutes(185)),
        # Before the window.
        assigned(old, w4, "water", -60 * 24, 30),
        task_event("task.acknowledged", old, w4, "water", minutes(-60 * 24)),
    ]
    trail.append(rt, *reversed(events))  # arrival order must not matter


def test_department_scores(client, auditor, scripted):
    response = client.get("/v1/reports/departments?since=2026-03-02T08:00:00Z", headers=auditor)
    assert response.status_code == 200
    assert response.json["items"] == [
        {
            "department": "housing",
            "tasks": 2,
            "response_rate": 0.0,
            "resolution_rate": 1.0,
            "satisfaction_rate": 1.0,
            "median_ack_minutes": 40.0,
            "median_complete_minutes": 120.0,
            "returned": 0,
            "overdue": 0,
        },
        {
            "department": "landscaping",
            "tasks": 1,
            "response_rate": None,
            "resolution_rate": None,
            "satisfaction_rate": None,
            "median_ack_minutes": None,
            "median_complete_minutes": None,
            "returned": 0,
            "overdue": 0,
        },
        {
            "department": "power",
            "tasks": 1,
            "response_rate": 1.0,
            "resolution_rate": 1.0,
            "satisfaction_rate": 0.0,
            "median_ack_minutes": 5.0,
            "median_complete_minutes": 165.0,
            "returned": 0,
            "overdue": 0,
        },
        {
            "department": "water",
            "tasks": 3,
            "response_rate": 0.3333,
            "resolution_rate": 0.3333,
            "satisfaction_rate": 1.0,
            "median_ack_minutes": 10.0,
            "median_complete_minutes": 60.0,
            "returned": 1,
            "overdue": 1,
        },
    ]


def test_the_window_selects_tasks_by_assignment_time(client, auditor, scripted):
    items = client.get(
        "/v1/reports/departments?since=2026-03-02T08:00:00Z&until=2026-03-02T10:00:00Z", headers=auditor
    ).json["items"]
    assert [(i["department"], i["tasks"]) for i in items] == [("housing", 1), ("water", 2)]
    everything = client.get("/v1/reports/departments", headers=auditor).json["items"]
    water = next(i for i in everything if i["department"] == "water")
    assert (water["tasks"], water["response_rate"], water["median_ack_minutes"]) == (4, 0.5, 5.0)


def test_an_empty_trail_has_no_scores(client, auditor):
    assert client.get("/v1/reports/departments", headers=auditor).json == {"items": []}
