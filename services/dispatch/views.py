"""What the dispatch views share: the unit of work for a request, and tasks and cases as JSON."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from flask import current_app, request

from services.common.auth import Identity, current_identity
from services.common.errors import ApiError
from services.common.runtime import runtime

from .cases import CASE_ACTIONS
from .models import LIVE, DispatchCase, Task
from .tasks import ACTIONS
from .work import Work

TIERS_KEY = "dispatch_tiers"


def actor_label(who: Identity) -> str:
    return f"{who.role}:{who.department or who.sub}"


@contextmanager
def unit_of_work() -> Iterator[Work]:
    """The request's transaction: committed when the view returns, rolled back on any error."""
    rt = runtime()
    with rt.transaction() as session:
        yield Work(session, rt.outbox, rt.now(), current_app.extensions[TIERS_KEY], by=actor_label(current_identity()))


def own_department() -> str | None:
    """The department a caller is limited to, or None for staff, admins, auditors and services."""
    who = current_identity()
    return who.department if who.role == "department" else None


def if_match() -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    try:
        return int(raw.strip().removeprefix("W/").strip('"'))
    except ValueError as exc:
        raise ApiError(
            400,
            "BAD_REQUEST",
            "If-Match takes the task's version, e.g. 'If-Match: 3'.",
            {"headers": {"If-Match": ["Not a version number."]}},
        ) from exc


def task_view(task: Task, case: DispatchCase | None, now: datetime) -> dict:
    live = task.status in LIVE
    overdue = live and ((task.acknowledged_at is None and now > task.ack_due) or now > task.resolve_due)
    return {
        "id": task.id,
        "case_id": task.case_id,
        "case_number": case.number if case else None,
        "department": task.department,
        "role": task.role,
        "status": task.status,
        "severity": task.severity,
        "title": case.title if case else None,
        "address": case.address if case else None,
        "ack_due": task.ack_due,
        "resolve_due": task.resolve_due,
        "acknowledged_at": task.acknowledged_at,
        "completed_at": task.completed_at,
        "eta": task.eta,
        "resolution": task.resolution,
        "overdue": overdue,
        "version": task.version,
        "allowed": list(ACTIONS[task.status]),
        "history": task.history,
        "created_at": task.created_at,
    }


def case_view(case: DispatchCase, tasks: list[Task], now: datetime) -> dict:
    return {
        "case_id": case.id,
        "number": case.number,
        "title": case.title,
        "category": case.category,
        "address": case.address,
        "status": case.status,
        "severity": case.severity,
        "escalation_level": case.escalation_level,
        "allowed": list(CASE_ACTIONS[case.status]),
        "tasks": [task_view(t, case, now) for t in tasks],
        "history": case.history,
    }
