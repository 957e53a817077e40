"""Deadline timers as rows: scheduled with a task, cancelled by 报到 and completion, fired once.

The worker scans unfired timers that are due (a partial index on ``due_at``, ``LIMIT`` per batch),
emits ``task.due_soon`` / ``task.overdue`` (and ``case.escalated``) and marks them fired in the same
transaction as the outbox rows: a crash before the commit leaves them unfired, one after leaves
them fired, so each fires exactly once across restarts. On PostgreSQL ``FOR UPDATE SKIP LOCKED``
keeps two workers off the same timers.

Failpoints (services/common/failpoints.py): ``timers.after_fire`` — events written and timers
marked, not yet committed; ``timers.after_commit`` — a batch committed.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.common import failpoints
from services.common.deferred import defer_insert, write_deferred
from services.common.runtime import Runtime

from .models import LIVE, DispatchCase, Task, Timer
from .tiers import DUE_SOON_AT
from .work import Work

MAX_ESCALATION = 2  # 1: street supervisor, 2: district
BATCH = 500


def schedule(session: Session, task: Task | SimpleNamespace, start: datetime) -> None:
    """Four alarms per task: due soon and overdue, for acknowledging and for resolving. Written
    at the commit with the other rows of the transaction (a batch routing fifty cases sends its
    two hundred timers in one INSERT)."""
    rows = []
    for deadline, due in (("acknowledge", task.ack_due), ("resolve", task.resolve_due)):
        soon = start + (due - start) * DUE_SOON_AT
        rows += [
            {"task_id": task.id, "case_id": task.case_id, "kind": f"{deadline}.due_soon", "due_at": soon},
            {"task_id": task.id, "case_id": task.case_id, "kind": f"{deadline}.overdue", "due_at": due},
        ]
    defer_insert(session, Timer.__table__, rows)


def cancel(session: Session, task_id: str, now: datetime, deadline: str | None = None) -> None:
    """Cancel a task's unfired timers (all, or one deadline's)."""
    write_deferred(session)  # timers scheduled earlier in this transaction are cancelled too
    statement = update(Timer).where(Timer.task_id == task_id, Timer.fired_at.is_(None))
    if deadline:
        statement = statement.where(Timer.kind.like(f"{deadline}.%"))
    session.execute(statement.values(fired_at=now, outcome="cancelled"))


def still_relevant(task: Task | None, deadline: str) -> bool:
    if task is None or task.status not in LIVE:
        return False
    return deadline == "resolve" or task.acknowledged_at is None


def fire_due(runtime: Runtime, now: datetime, batch: int = BATCH) -> int:
    """The worker's scan: fire every timer due by ``now``, one transaction per batch."""
    total = 0
    while True:
        with runtime.transaction() as session:
            fired = fire_batch(Work(session, runtime.outbox, now), batch)
        if fired:
            failpoints.hit("timers.after_commit")
        total += fired
        if fired < batch:
            return total


def fire_batch(work: Work, batch: int) -> int:
    session = work.session
    rows = session.execute(
        select(Timer.id, Timer.task_id, Timer.case_id, Timer.kind)
        .where(Timer.fired_at.is_(None), Timer.due_at <= work.now)
        .order_by(Timer.due_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return 0
    # Skip the cases a request is changing right now (it holds their lock); their timers wait for
    # the next scan. Never waiting here is what keeps this scan and the requests free of deadlocks.
    cases = {
        c.id: c
        for c in session.execute(
            select(DispatchCase).where(DispatchCase.id.in_({r.case_id for r in rows})).with_for_update(skip_locked=True)
        ).scalars()
    }
    tasks = {
        t.id: t
        for t in session.execute(
            select(Task).where(Task.id.in_({r.task_id for r in rows if r.case_id in cases}))
        ).scalars()
    }
    fired, dropped = [], []
    # Escalated cases are flushed once at the end, in one batch, not before every outbox row.
    with session.no_autoflush:
        for row in rows:
            if row.case_id not in cases:
                continue
            deadline, what = row.kind.split(".")
            task = tasks.get(row.task_id)
            if not still_relevant(task, deadline):
                dropped.append(row.id)
                continue
            fire(work, cases[row.case_id], task, deadline, what)
            fired.append(row.id)
    for ids, outcome in ((fired, "fired"), (dropped, "cancelled")):
        if ids:
            session.execute(update(Timer).where(Timer.id.in_(ids)).values(fired_at=work.now, outcome=outcome))
    failpoints.hit("timers.after_fire")
    return len(fired) + len(dropped)


def fire(work: Work, case: DispatchCase, task: Task, deadline: str, what: str) -> None:
    due = task.ack_due if deadline == "acknowledge" else task.resolve_due
    work.emit(
        f"task.{what}",
        {
            "case_id": task.case_id,
            "task_id": task.id,
            "department": task.department,
            "version": task.version,
            "deadline": deadline,
            "due_at": due.isoformat(),
        },
    )
    if what == "overdue" and case.escalation_level < MAX_ESCALATION:
        # One level per missed deadline: first the street supervisor, then the district.
        case.escalation_level += 1
        reason = f"{task.department} missed the {deadline} deadline"
        case.history = [*case.history, work.entry("escalated", reason)]
        work.emit(
            "case.escalated",
            {
                "case_id": case.id,
                "level": case.escalation_level,
                "task_id": task.id,
                "department": task.department,
                "reason": reason,
            },
        )
