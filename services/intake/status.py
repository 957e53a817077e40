"""The public status read model: dispatch's case.* and task.* events kept as each case's status,
responsible departments, expected resolution time and notes, so intake answers without asking.

Events arrive at least once and in any order. The rules that keep the model right:
- a status is replaced only by an event that is newer (event time), or equally new and further
  along (status rank) — a late older event never moves a case backwards, while a reopening (newer)
  may move a resolved case back to ``dispatched``;
- intake's own statuses (``reported``, ``duplicate``) give way to any dispatch event;
- each task's state is kept by task version (by event time when there is none), so a late
  ``task.assigned`` does not undo the ``task.acknowledged`` that followed it;
- notes are keyed by event id: an event applied twice leaves one note.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common import preloading
from services.common.deferred import defer_update
from services.common.events import Event
from services.common.lists import one_of

from .models import Case
from .text import mask_phones_in_text

RANK = {
    "reported": 0,
    "duplicate": 0,
    "triage": 1,
    "dispatched": 2,
    "in_progress": 3,
    "resolved": 4,
    "closed": 5,
    "rejected": 5,
}
STATUS_BY_EVENT = {
    "case.dispatched": "dispatched",
    "case.whistle_blown": "dispatched",
    "case.triaged": "triage",
    "case.rejected": "rejected",
    "case.resolved": "resolved",
    "case.closed": "closed",
    "case.reopened": "dispatched",
    "task.acknowledged": "in_progress",
    "task.progressed": "in_progress",
    "task.completed": "in_progress",
}
TASK_STATUS_BY_EVENT = {
    "task.assigned": "assigned",
    "task.acknowledged": "acknowledged",
    "task.progressed": "in_progress",
    "task.completed": "completed",
    "task.returned": "returned",
    "task.cancelled": "cancelled",
    "task.reopened": "assigned",
}
NOT_RESPONSIBLE = ("returned", "cancelled")
# Deadline reminders are dispatch's business with the department, not news for residents.
NOT_NOTED = ("task.due_soon", "task.overdue")


LOCKED = "intake.status.cases"  # session.info: a consumer batch's cases, {id: read model's columns or None}
CASES = Case.__table__
# The read model's columns of some cases, locked (in id order, as every batch takes them: no
# deadlocks). Core statements on plain rows: an event changes a handful of columns of a case, and
# the ORM's loading and unit of work cost more than the rules themselves.
READ = (
    select(
        CASES.c.id,
        CASES.c.status,
        CASES.c.status_changed_at,
        CASES.c.progress,
        CASES.c.notes,
        CASES.c.reopen_count,
        CASES.c.updated_at,
    )
    .where(one_of(CASES.c.id, "keys"))
    .order_by(CASES.c.id)
    .with_for_update()
)


def preload(session: Session, events: list[Event], _now: datetime) -> None:
    """Lock and read the cases of a consumer batch in one query; ``apply_event`` then finds them
    without a round trip each, and the batch's changes are written in one statement at the commit."""
    session.info[LOCKED] = preloading.read_rows(
        session, READ, (e.data["case_id"] for e in events if e.data.get("case_id"))
    )


def locked_case(session: Session, case_id: str | None) -> dict[str, Any] | None:
    """The case's read-model columns, locked: as preloaded for the batch, else read now."""
    return None if case_id is None else preloading.preloaded_row(session, LOCKED, READ, case_id)


def apply_event(session: Session, event: Event) -> bool:
    """Fold one event into its case; False when the case is not intake's (nothing to show). The new
    values are worked out first and then taken all at once, so a rule that raises changes nothing."""
    case = locked_case(session, event.data.get("case_id"))
    if case is None:
        return False
    progress = _copy(case["progress"])
    reopen_count = case["reopen_count"]
    if event.type in ("case.dispatched", "case.whistle_blown"):
        progress["named"] = sorted(set(progress.get("named", [])) | set(event.data["departments"]))
    if event.type == "case.dispatched":
        progress["resolve_due"] = event.data["resolve_due"].isoformat()
    if event.type == "case.reopened":
        progress["reopened"] = sorted({*progress.get("reopened", []), event.id})
        reopen_count = len(progress["reopened"])
    if event.type in TASK_STATUS_BY_EVENT:
        _apply_task(progress, event)
    status, status_changed_at = _status_after(case, event)
    changes = {
        "progress": progress,
        "departments": responsible_departments(progress),
        "expected_at": expected_at(progress),
        "reopen_count": reopen_count,
        "status": status,
        "status_changed_at": status_changed_at,
        "notes": _notes_after(case["notes"], event),
        "updated_at": max(case["updated_at"], event.time),
    }
    case.update(changes)
    defer_update(session, CASES, case["id"], changes)
    return True


def _copy(progress: dict[str, Any] | None) -> dict[str, Any]:
    # A copy: the case as read stays as it was until the new values are taken all at once.
    progress = dict(progress or {})
    progress["tasks"] = {task_id: dict(task) for task_id, task in progress.get("tasks", {}).items()}
    return progress


def _newer(event_time: datetime, event_version: int | None, seen: dict[str, Any]) -> bool:
    if event_version is not None and seen.get("version") is not None:
        return event_version > seen["version"]
    return "at" not in seen or event_time > datetime.fromisoformat(seen["at"])


def _apply_task(progress: dict[str, Any], event: Event) -> None:
    data = event.data
    task = progress["tasks"].setdefault(data["task_id"], {"department": data["department"]})
    if data.get("resolve_due") is not None and (event.type == "task.reopened" or "resolve_due" not in task):
        task["resolve_due"] = data["resolve_due"].isoformat()
    if _newer(event.time, data.get("version"), task):
        task.update(status=TASK_STATUS_BY_EVENT[event.type], at=event.time.isoformat(), version=data.get("version"))


def responsible_departments(progress: dict[str, Any]) -> list[str]:
    """Departments with a live task, and departments a dispatch named whose task is not known yet."""
    tasks = progress.get("tasks", {}).values()
    live = {t["department"] for t in tasks if t.get("status") not in NOT_RESPONSIBLE}
    known = {t["department"] for t in tasks}
    return sorted(live | (set(progress.get("named", [])) - known))


def expected_at(progress: dict[str, Any]) -> datetime | None:
    dues = [
        t["resolve_due"]
        for t in progress.get("tasks", {}).values()
        if t.get("resolve_due") and t.get("status") not in NOT_RESPONSIBLE
    ]
    due = max(dues) if dues else progress.get("resolve_due")
    return datetime.fromisoformat(due) if due else None


def _status_after(case: dict[str, Any], event: Event) -> tuple[str, datetime | None]:
    """(status, status_changed_at) once ``event`` is applied."""
    current = case["status"], case["status_changed_at"]
    new_status = STATUS_BY_EVENT.get(event.type)
    if new_status is None:
        return current
    changed_at = case["status_changed_at"]
    if changed_at is not None:
        if event.time < changed_at:
            return current
        if event.time == changed_at and RANK[new_status] <= RANK.get(case["status"], 0):
            return current
    return new_status, event.time


def _notes_after(notes: list[dict[str, Any]], event: Event) -> list[dict[str, Any]]:
    if event.type in NOT_NOTED or any(note.get("id") == event.id for note in notes):
        return notes
    data = event.data
    text = data.get("note") or data.get("reason") or data.get("resolution")
    note = {
        "id": event.id,
        "at": event.time.isoformat(),
        "event": event.type,
        "status": STATUS_BY_EVENT.get(event.type),
        "note": mask_phones_in_text(text),
        "department": data.get("department"),
    }
    return sorted([*notes, note], key=lambda n: n["at"])
