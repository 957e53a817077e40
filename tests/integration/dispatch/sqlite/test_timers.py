"""Deadline timers: due soon at 80 %, overdue when passed, escalation one level per overdue (max 2),
cancelled by 报到 and completion, fired by the worker's own thread at the injected time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.dispatch.tiers import DEFAULT_TIERS, Tier, parse_tiers
from tests.platform import wait_for

from .conftest import Desk, desk_config


def test_an_unanswered_emergency_escalates_to_the_district_and_no_further(desk, clock):
    case_id = desk.report("trees", "emergency")  # landscaping leads, power assists: two tasks
    clock.advance(minutes=31)
    assert desk.tick() == 4  # two due-soon and two overdue acknowledge alarms
    assert [d["level"] for _, d in desk.events("case.escalated")] == [1, 2]
    clock.advance(hours=2)
    assert desk.tick() == 4  # the resolve alarms
    assert len(desk.events("task.overdue")) == 4
    assert [d["level"] for _, d in desk.events("case.escalated")] == [1, 2], "level 2 is the top"
    assert desk.case(case_id)["escalation_level"] == 2
    assert desk.tick() == 0


def test_acknowledging_stops_the_acknowledge_alarms_and_completing_the_resolve_alarms(desk, clock):
    case_id = desk.report("water_supply", "urgent")
    task = desk.task_of(case_id, "water")
    assert desk.pending_timers(task["id"]) == {
        "acknowledge.due_soon",
        "acknowledge.overdue",
        "resolve.due_soon",
        "resolve.overdue",
    }
    desk.act(task, "acknowledge", {})
    clock.advance(hours=3)
    assert desk.tick() == 0
    desk.act(task, "complete", {"resolution": "ok"})
    clock.advance(days=2)
    assert desk.tick() == 0
    assert desk.events("task.due_soon", "task.overdue") == []


def test_due_soon_comes_at_eighty_percent_of_each_deadline(desk, clock):
    desk.report("water_supply", "urgent")  # 2 h to acknowledge, 24 h to resolve
    clock.advance(minutes=95)
    assert desk.tick() == 0
    clock.advance(minutes=1)  # 96 min = 80 % of 2 h
    assert desk.tick() == 1
    clock.advance(hours=19.2 - 1.6 - 0.01)
    desk.tick()
    assert [d["deadline"] for _, d in desk.events("task.due_soon")] == ["acknowledge"]
    clock.advance(minutes=1)
    desk.tick()
    assert [d["deadline"] for _, d in desk.events("task.due_soon")] == ["acknowledge", "resolve"]


def test_tiers_are_configurable(tmp_path, clock):
    desk = Desk(desk_config(tmp_path, clock, SEVERITY_TIERS="emergency=10m/1h"), clock)
    try:
        task = desk.task_of(desk.report("water_supply", "emergency"), "water")
        assert task["ack_due"] == (clock() + timedelta(minutes=10)).isoformat()
        assert task["resolve_due"] == (clock() + timedelta(hours=1)).isoformat()
        normal = desk.task_of(desk.report("water_supply", "normal"), "water")
        assert normal["resolve_due"] == (clock() + timedelta(days=7)).isoformat()
    finally:
        desk.close()


@pytest.mark.parametrize(
    "raw, problem", [("emergency=10m", "ACK/RESOLVE"), ("calm=1h/2h", "unknown severity"), ("urgent=0s/1h", "positive")]
)
def test_unclear_tiers_are_refused(raw, problem):
    with pytest.raises(ValueError, match=problem):
        parse_tiers(raw)


def test_tiers_default_to_the_design():
    assert parse_tiers(None) == DEFAULT_TIERS
    assert parse_tiers({"complex": ("1d", "30d")})["complex"] == Tier(timedelta(days=1), timedelta(days=30))


def test_the_worker_thread_fires_due_timers_at_the_injected_time(tmp_path, clock):
    desk = Desk(desk_config(tmp_path, clock, TIMER_INTERVAL=0.02), clock)
    try:
        desk.report("water_supply", "emergency")
        desk.worker.consume = False  # only the relay and the timers: the consumer side is driven above
        desk.worker.start()
        clock.advance(minutes=31)
        wait_for(lambda: len(desk.events("task.overdue")) == 1, timeout=10, what="the overdue event")
        assert len(desk.events("task.due_soon")) == 1
    finally:
        desk.worker.stop()
        desk.close()
