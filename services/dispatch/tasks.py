"""A department's task on a case and its lifecycle:
``assigned → acknowledged (报到) → in_progress → completed``; ``assigned|acknowledged → returned
(退单)``; any live status ``→ cancelled`` (staff withdraw it); ``completed → assigned`` on reopening.

These functions change one task, its timers and its event; what that means for the case is in
cases.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

from services.common.db import new_id
from services.common.deferred import defer_insert

from . import timers
from .errors import InvalidTransition, PreconditionFailed
from .models import DispatchCase, Task
from .work import Work

TASKS = Task.__table__

# status → the actions a task in it allows (named in a 409's "allowed").
ACTIONS: dict[str, tuple[str, ...]] = {
    "assigned": ("acknowledge", "return", "cancel"),
    "acknowledged": ("progress", "return", "complete", "cancel"),
    "in_progress": ("progress", "complete", "cancel"),
    "completed": (),
    "returned": (),
    "cancelled": (),
}


def check(task: Task, action: str, if_match: int | None = None) -> None:
    if if_match is not None and if_match != task.version:
        raise PreconditionFailed(f"The task is at version {task.version}, not {if_match}.", version=task.version)
    if action not in ACTIONS[task.status]:
        allowed = list(ACTIONS[task.status])
        raise InvalidTransition(
            f"A task that is {task.status} cannot {action}; allowed: {', '.join(allowed) or 'nothing'}.", allowed
        )


def create_task(
    work: Work, case: DispatchCase | SimpleNamespace, department: str, role: str, ack_within: timedelta | None = None
) -> SimpleNamespace:
    """A new task, written with the transaction's other rows at its commit (deferred.py): a
    consumer batch routing fifty cases sends their tasks in one INSERT, and an ORM object would
    only cost its instrumented construction and a unit of work. Returns its values as attributes
    named like a Task's; what reads tasks back in the same transaction (cases.case_tasks) writes
    the deferred rows first."""
    tier = work.tiers[case.severity]
    values = dict(
        id=new_id(),
        case_id=case.id,
        department=department,
        role=role,
        status="assigned",
        severity=case.severity,
        ack_due=work.now + (ack_within or tier.acknowledge),
        resolve_due=work.now + tier.resolve,
        acknowledged_at=None,
        completed_at=None,
        eta=None,
        resolution=None,
        version=1,
        history=[work.entry("assigned")],
        created_at=work.now,
        updated_at=work.now,
    )
    defer_insert(work.session, TASKS, [values])
    task = SimpleNamespace(**values)
    timers.schedule(work.session, task, work.now)
    work.emit(
        "task.assigned",
        {
            "task_id": task.id,
            "case_id": case.id,
            "department": department,
            "role": role,
            "severity": task.severity,
            "case_number": case.number,
            "title": case.title,
            "address": case.address,
            "community": case.community,
            "version": task.version,
            "ack_due": task.ack_due.isoformat(),
            "resolve_due": task.resolve_due.isoformat(),
        },
    )
    return task


def _move(work: Work, task: Task, status: str, note: str | None = None) -> None:
    task.status = status
    task.updated_at = work.now
    task.history = [*task.history, work.entry(status, note)]
    # The UPDATE runs here, guarded by the version it read (StaleDataError if another won), and
    # the event then carries the version after the change.
    work.session.flush()


def _event(task: Task, **data) -> dict:
    return {"task_id": task.id, "case_id": task.case_id, "department": task.department, "version": task.version, **data}


def acknowledge(work: Work, task: Task, note: str | None = None, eta: datetime | None = None) -> None:
    """报到: the department reports for duty; the acknowledge alarms stop."""
    in_time = work.now <= task.ack_due
    task.acknowledged_at = work.now
    task.eta = eta
    _move(work, task, "acknowledged", note)
    timers.cancel(work.session, task.id, work.now, "acknowledge")
    work.emit(
        "task.acknowledged", _event(task, note=note, within_deadline=in_time, eta=eta.isoformat() if eta else None)
    )


def progress(work: Work, task: Task, note: str) -> None:
    _move(work, task, "in_progress", note)
    work.emit("task.progressed", _event(task, note=note))


def return_task(work: Work, task: Task, reason_code: str, reason: str) -> None:
    """退单: the department says the task is not its to do."""
    _move(work, task, "returned", f"{reason_code}: {reason}")
    timers.cancel(work.session, task.id, work.now)
    work.emit("task.returned", _event(task, reason_code=reason_code, reason=reason))


def complete(work: Work, task: Task, resolution: str | None) -> None:
    task.completed_at = work.now
    task.resolution = resolution
    _move(work, task, "completed", resolution)
    timers.cancel(work.session, task.id, work.now)
    work.emit("task.completed", _event(task, resolution=resolution))


def cancel(work: Work, task: Task, reason: str | None) -> None:
    """Staff withdraw a task (the department is not needed after all)."""
    _move(work, task, "cancelled", reason)
    timers.cancel(work.session, task.id, work.now)
    work.emit("task.cancelled", _event(task, reason=reason))


def promote(work: Work, task: Task, note: str) -> None:
    """A live assist task becomes the lead (its department was next in line)."""
    task.role = "lead"
    task.updated_at = work.now
    task.history = [*task.history, work.entry(task.status, note)]
    work.session.flush()


def reopen(work: Work, task: Task, reason: str) -> None:
    """A completed task goes back to ``assigned`` with fresh deadlines and alarms."""
    tier = work.tiers[task.severity]
    task.ack_due, task.resolve_due = work.now + tier.acknowledge, work.now + tier.resolve
    task.acknowledged_at = task.completed_at = task.eta = None
    _move(work, task, "assigned", f"reopened: {reason}")
    timers.schedule(work.session, task, work.now)
    work.emit(
        "task.reopened",
        _event(task, reason=reason, ack_due=task.ack_due.isoformat(), resolve_due=task.resolve_due.isoformat()),
    )
