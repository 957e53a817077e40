"""Dispatch's rules: routing a reported case to departments and creating their tasks (吹哨报到)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.db import new_id
from services.common.outbox import Outbox

from .models import DispatchCase, RoutingRule, Task
from .routing import Rule, choose_rule

# Severity tier → (time to acknowledge 报到, time to resolve).
DEADLINES: dict[str, tuple[timedelta, timedelta]] = {
    "emergency": (timedelta(minutes=30), timedelta(hours=2)),
    "urgent": (timedelta(hours=2), timedelta(hours=24)),
    "normal": (timedelta(hours=24), timedelta(days=7)),
    "complex": (timedelta(hours=24), timedelta(days=15)),
}


def load_rules(session: Session) -> list[Rule]:
    rows = session.execute(select(RoutingRule).order_by(RoutingRule.id)).scalars()
    return [Rule(category=r.category, lead=r.lead, street=r.street, community=r.community,
                 assists=tuple(r.assists), fallback=tuple(r.fallback), severity=r.severity) for r in rows]


def history_entry(at: datetime, status: str, by: str = "system", note: str | None = None) -> dict:
    return {"at": at.isoformat(), "status": status, "by": by, "note": note}


def receive_case(session: Session, outbox: Outbox, data: dict[str, Any], now: datetime) -> DispatchCase:
    """On ``case.reported``: remember the case; route it unless it duplicates an open one."""
    location = data["location"]
    case = DispatchCase(
        id=data["case_id"], number=data["number"], title=data["title"], category=data["category"],
        severity=data["severity"], address=location["address"], street=location.get("street"),
        community=location.get("community"), status="reported", duplicate_of=data.get("duplicate_of"),
        escalation_level=0, history=[history_entry(now, "reported")], created_at=now, updated_at=now,
    )
    session.add(case)
    if case.duplicate_of:
        case.status = "duplicate"
        return case
    dispatch_case(session, outbox, case, now)
    return case


def dispatch_case(session: Session, outbox: Outbox, case: DispatchCase, now: datetime) -> None:
    rule = choose_rule(load_rules(session), case.category, case.street, case.community)
    if rule is None:
        case.status = "triage"
        case.history = [*case.history, history_entry(now, "triage", note="no routing rule matches")]
        outbox.emit(session, "case.triaged", {"case_id": case.id, "reason": "no routing rule matches"})
        return
    tasks = [create_task(session, outbox, case, rule.lead, "lead", now)]
    tasks += [create_task(session, outbox, case, dept, "assist", now) for dept in rule.assists
              if dept != rule.lead]
    case.status = "dispatched"
    case.history = [*case.history, history_entry(now, "dispatched", note=", ".join(t.department for t in tasks))]
    outbox.emit(session, "case.dispatched", {
        "case_id": case.id, "severity": case.severity, "lead": rule.lead,
        "departments": [t.department for t in tasks], "resolve_due": tasks[0].resolve_due.isoformat(),
    })


def create_task(session: Session, outbox: Outbox, case: DispatchCase, department: str, role: str,
                now: datetime) -> Task:
    ack_within, resolve_within = DEADLINES[case.severity]
    task = Task(
        id=new_id(), case_id=case.id, department=department, role=role, status="assigned",
        severity=case.severity, ack_due=now + ack_within, resolve_due=now + resolve_within,
        version=1, history=[history_entry(now, "assigned")], created_at=now, updated_at=now,
    )
    session.add(task)
    outbox.emit(session, "task.assigned", {
        "task_id": task.id, "case_id": case.id, "department": department, "role": role,
        "severity": task.severity, "case_number": case.number, "title": case.title,
        "address": case.address, "community": case.community, "version": task.version,
        "ack_due": task.ack_due.isoformat(), "resolve_due": task.resolve_due.isoformat(),
    })
    return task
