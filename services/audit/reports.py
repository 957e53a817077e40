"""Department scores (部门考核), computed from the trail alone.

For each department, over the tasks assigned to it in [since, until):
- 响应率 response_rate: acknowledged (报到) no later than the task's ``ack_due``;
- 解决率 resolution_rate: completed (and not reopened since);
- 满意率 satisfaction_rate: of the cases with 回访 feedback (the latest one counts) on which the
  department completed a task, those ``satisfied`` or ``basically_satisfied``.
Cancelled tasks are nobody's fault and are left out of the response and resolution rates. A rate
with nothing to rate is None.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import TrailEntry

TYPES = (
    "task.assigned",
    "task.acknowledged",
    "task.completed",
    "task.reopened",
    "task.returned",
    "task.cancelled",
    "task.overdue",
    "case.feedback_recorded",
)
CONTENT = ("satisfied", "basically_satisfied")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class TaskFacts:
    department: str
    case_id: str
    assigned_at: datetime
    ack_due: datetime
    acknowledged_at: datetime | None = None
    completed_at: datetime | None = None
    reopened_at: datetime | None = None
    returned: bool = False
    cancelled: bool = False
    overdue: bool = False

    @property
    def responded(self) -> bool:
        return self.acknowledged_at is not None and self.acknowledged_at <= self.ack_due

    @property
    def completed(self) -> bool:
        return self.completed_at is not None and (self.reopened_at is None or self.completed_at > self.reopened_at)


def _minutes(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _median(values: list[float]) -> float | None:
    return round(median(values), 1) if values else None


def collect(rows: Iterable[dict], since: datetime | None, until: datetime | None):
    """Fold the trail's rows (in any order) into per-task facts and the latest feedback per case."""
    tasks: dict[str, TaskFacts] = {}
    later: list[dict] = []
    feedback: dict[str, tuple[datetime, str]] = {}
    for row in rows:
        data, at = row["data"], _time(row["occurred_at"])
        if row["type"] == "task.assigned":
            if (since and at < since) or (until and at >= until) or data["task_id"] in tasks:
                continue
            tasks[data["task_id"]] = TaskFacts(data["department"], data["case_id"], at, _time(data["ack_due"]))
        elif row["type"] == "case.feedback_recorded":
            if data["case_id"] not in feedback or feedback[data["case_id"]][0] < at:
                feedback[data["case_id"]] = (at, data["satisfaction"])
        else:
            later.append(row)  # its task.assigned may come later in the trail (events can be reordered)
    for row in later:
        facts = tasks.get(row["data"].get("task_id"))
        if facts is None:
            continue
        at, kind = _time(row["occurred_at"]), row["type"]
        if kind == "task.acknowledged":
            facts.acknowledged_at = min(facts.acknowledged_at or at, at)
        elif kind == "task.completed":
            facts.completed_at = max(facts.completed_at or at, at)
        elif kind == "task.reopened":
            facts.reopened_at = max(facts.reopened_at or at, at)
        elif kind == "task.returned":
            facts.returned = True
        elif kind == "task.cancelled":
            facts.cancelled = True
        elif kind == "task.overdue":
            facts.overdue = True
    return tasks, {case: satisfaction for case, (_at, satisfaction) in feedback.items()}


def scores(tasks: dict[str, TaskFacts], feedback: dict[str, str]) -> list[dict]:
    by_department: dict[str, list[TaskFacts]] = {}
    for facts in tasks.values():
        by_department.setdefault(facts.department, []).append(facts)
    items = []
    for department, facts in sorted(by_department.items()):
        rated = [f for f in facts if not f.cancelled]
        completed_cases = {f.case_id for f in facts if f.completed}
        rated_feedback = [feedback[case] for case in completed_cases if case in feedback]
        items.append(
            {
                "department": department,
                "tasks": len(facts),
                "response_rate": _rate(sum(f.responded for f in rated), len(rated)),
                "resolution_rate": _rate(sum(f.completed for f in rated), len(rated)),
                "satisfaction_rate": _rate(sum(s in CONTENT for s in rated_feedback), len(rated_feedback)),
                "median_ack_minutes": _median(
                    [_minutes(f.acknowledged_at, f.assigned_at) for f in facts if f.acknowledged_at]
                ),
                "median_complete_minutes": _median(
                    [_minutes(f.completed_at, f.assigned_at) for f in facts if f.completed]
                ),
                "returned": sum(f.returned for f in facts),
                "overdue": sum(f.overdue for f in facts),
            }
        )
    return items


def department_report(session: Session, since: datetime | None, until: datetime | None) -> list[dict]:
    query = select(TrailEntry.canonical).where(TrailEntry.type.in_(TYPES)).order_by(TrailEntry.seq)
    if since:  # nothing about a task assigned in the window happens before the window
        query = query.where(TrailEntry.occurred_at >= since)
    with session.execute(query.execution_options(yield_per=2000)) as stream:
        return scores(*collect((json.loads(canonical) for canonical in stream.scalars()), since, until))
