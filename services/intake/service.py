"""Intake's rules: taking a case in, and keeping its public status as dispatch reports progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.auth import Identity
from services.common.db import new_id
from services.common.events import Event
from services.common.masking import mask_name, mask_phone
from services.common.outbox import Outbox

from .categories import CATEGORIES
from .models import Case, CaseNumberCounter, Feedback


class CaseNotFound(LookupError):
    pass


class FeedbackNotAllowed(Exception):
    def __init__(self, status: str):
        super().__init__(f"Feedback is taken once a case is resolved; this one is {status}.")
        self.status = status


def next_case_number(session: Session, year: int) -> str:
    counter = session.execute(
        select(CaseNumberCounter).where(CaseNumberCounter.year == year).with_for_update()
    ).scalar_one_or_none()
    if counter is None:
        counter = CaseNumberCounter(year=year, last=0)
        session.add(counter)
    counter.last += 1
    session.flush()
    return f"WS-{year}-{counter.last:06d}"


def masked_reporter(case: Case) -> dict[str, Any] | None:
    if not (case.reporter_name or case.reporter_phone):
        return None
    return {"name": mask_name(case.reporter_name), "phone": mask_phone(case.reporter_phone)}


def submit_case(session: Session, outbox: Outbox, payload: dict[str, Any], who: Identity,
                now: datetime) -> Case:
    """Store the case and its ``case.reported`` in one transaction."""
    location = payload["location"]
    reporter = payload.get("reporter") or {}
    case = Case(
        id=new_id(),
        number=next_case_number(session, now.year),
        status="reported",
        title=payload["title"],
        description=payload.get("description"),
        category=payload["category"],
        severity=payload.get("severity") or CATEGORIES[payload["category"]]["severity"],
        channel=payload.get("channel") or "web",
        address=location["address"],
        street=location.get("street"),
        community=location.get("community"),
        grid=location.get("grid"),
        lat=location.get("lat"),
        lon=location.get("lon"),
        reporter_ref=new_id() if reporter else None,
        reporter_name=reporter.get("name"),
        reporter_phone=reporter.get("phone"),
        occurred_at=payload.get("occurred_at"),
        media_urls=payload.get("media_urls") or [],
        departments=[],
        notes=[],
        reported_by=who.sub,
        created_at=now,
        updated_at=now,
        status_changed_at=now,
    )
    session.add(case)
    session.flush()
    outbox.emit(session, "case.reported", reported_event_data(case), subject=case.id, actor=who.actor)
    return case


def reported_event_data(case: Case) -> dict[str, Any]:
    reporter = masked_reporter(case)
    if reporter is not None:
        reporter["ref"] = case.reporter_ref
    return {
        "case_id": case.id,
        "number": case.number,
        "title": case.title,
        "description": case.description,
        "category": case.category,
        "severity": case.severity,
        "channel": case.channel,
        "location": {"address": case.address, "street": case.street, "community": case.community,
                     "grid": case.grid, "lat": case.lat, "lon": case.lon},
        "reporter": reporter,
        "occurred_at": case.occurred_at.isoformat() if case.occurred_at else None,
        "reported_at": case.created_at.isoformat(),
        "duplicate_of": case.duplicate_of,
    }


def record_feedback(session: Session, outbox: Outbox, case: Case, payload: dict[str, Any],
                    who: Identity, now: datetime) -> Feedback:
    """回访: the resident's verdict on a resolved case."""
    if case.status not in ("resolved", "closed"):
        raise FeedbackNotAllowed(case.status)
    feedback = Feedback(id=new_id(), case_id=case.id, satisfaction=payload["satisfaction"],
                        comment=payload.get("comment"), recorded_by=who.sub, created_at=now)
    session.add(feedback)
    outbox.emit(session, "case.feedback_recorded",
                {"case_id": case.id, "satisfaction": feedback.satisfaction, "comment": feedback.comment},
                subject=case.id, actor=who.actor)
    return feedback


# ---- the public status read model ---------------------------------------------------------

# Case status an event moves the case to. Events may arrive out of order or twice: a change is
# applied only if the event is newer than the last status change it saw.
CASE_STATUS_BY_EVENT = {
    "case.dispatched": "dispatched",
    "case.triaged": "triage",
    "case.rejected": "rejected",
    "case.resolved": "resolved",
    "case.closed": "closed",
    "case.reopened": "dispatched",
    "task.acknowledged": "in_progress",
    "task.progressed": "in_progress",
}


def apply_status_event(session: Session, event: Event) -> None:
    case = session.get(Case, event.data.get("case_id"))
    if case is None:
        return  # not ours (or not yet committed): nothing to show
    note = {"at": event.time.isoformat(), "status": event.type,
            "note": event.data.get("note") or event.data.get("reason") or event.data.get("resolution"),
            "department": event.data.get("department")}
    case.notes = [*case.notes, note]
    department = event.data.get("department")
    if event.type == "task.assigned" and department and department not in case.departments:
        case.departments = [*case.departments, department]
    if event.type == "case.dispatched":
        case.departments = sorted(set(case.departments) | set(event.data["departments"]))
        case.expected_at = event.data["resolve_due"]
    new_status = CASE_STATUS_BY_EVENT.get(event.type)
    if new_status and (case.status_changed_at is None or event.time >= case.status_changed_at):
        if not (new_status == "in_progress" and case.status in ("resolved", "closed")):
            case.status = new_status
            case.status_changed_at = event.time
    case.updated_at = max(case.updated_at, event.time)
