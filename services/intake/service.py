"""Intake's rules: taking a case in (numbering it, linking duplicates), unlinking, 回访 feedback and
reading a reporter's contact. No Flask here: views call these inside one transaction."""

from __future__ import annotations

import logging
import threading
import weakref
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.auth import Identity
from services.common.db import is_postgres, new_id
from services.common.masking import mask_name, mask_phone
from services.common.outbox import Outbox

from .duplicates import LOCK_SCOPE, find_original, geo_cell, normalise_address, scope_keys
from .models import Case, CaseNumberCounter, ContactRead, Feedback
from .options import IntakeOptions
from .text import mask_phones_in_text

log = logging.getLogger(__name__)

FEEDBACK_STATUSES = ("resolved", "closed")


class CaseNotFound(LookupError):
    def __init__(self, case_id: str):
        super().__init__(f"No case {case_id}.")


class InvalidState(Exception):
    """The case's status does not allow this (feedback before resolution, unlinking a non-duplicate)."""


class FeedbackAlreadyRecorded(Exception):
    def __init__(self) -> None:
        super().__init__(
            "Feedback for this resolution is already recorded; a reopened and again resolved case takes a new one."
        )


class ContactForbidden(PermissionError):
    def __init__(self) -> None:
        super().__init__("Only staff of the case's community, admin and services may read the contact.")


def take_number(session: Session, year: int, scope: list[int]) -> str:
    """WS-2026-000123, numbered per year. On PostgreSQL from one sequence a year, in the
    submission's own transaction: a sequence never holds a lock until commit, so submitters do not
    queue on it (a submission that then fails leaves a gap in the numbers). The same round trip
    takes the advisory locks on ``scope`` (duplicates.scope_keys, LOCK_SCOPE). On SQLite, whose
    writers are serialized anyway (nothing to lock), one atomic upsert of the year's counter row."""
    connection = session.connection()  # Core statements: the ORM's execute path only costs Python
    if is_postgres(session):
        params = {"sequence": year_sequence(session, year), "keys": scope}
        return f"WS-{year}-{connection.execute(NUMBER_IN_SCOPE, params).scalar_one():06d}"
    return f"WS-{year}-{connection.execute(NEXT_NUMBER, {'year': year}).scalar_one():06d}"


# Per database (engine): the year sequences known to exist, created by this process or another.
_known_sequences: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()
_creating = threading.Lock()


def year_sequence(session: Session, year: int) -> str:
    """The year's sequence, created on its first case. Created on a connection of its own in
    autocommit, so it exists for every submitter at once whatever becomes of this submission. It
    starts after the year's counter row, which numbered that year's cases before sequences did."""
    name, engine = f"case_number_{int(year)}", session.get_bind()
    known = _known_sequences.setdefault(engine, set())
    if name in known:
        return name
    with _creating, engine.connect().execution_options(isolation_level="AUTOCOMMIT") as own:
        last = own.execute(select(CaseNumberCounter.last).where(CaseNumberCounter.year == year)).scalar() or 0
        try:
            own.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {name} START WITH {last + 1}"))
        except IntegrityError:
            pass  # another process created it at the same moment (IF NOT EXISTS does not lock)
    known.add(name)
    return name


NUMBER_IN_SCOPE = text(f"SELECT nextval(CAST(:sequence AS regclass)), {LOCK_SCOPE}").bindparams(
    bindparam("keys", type_=ARRAY(BIGINT))
)
# Built once: constructing a statement costs more than running it from SQLAlchemy's cache.
NEXT_NUMBER = (
    sqlite_insert(CaseNumberCounter.__table__)
    .values(year=bindparam("year"), last=1)
    .on_conflict_do_update(
        index_elements=[CaseNumberCounter.__table__.c.year], set_={"last": CaseNumberCounter.__table__.c.last + 1}
    )
    .returning(CaseNumberCounter.__table__.c.last)
)
INSERT_CASE = insert(Case.__table__)


def get_case(session: Session, case_id: str, *, lock: bool = False) -> Case:
    case = session.get(Case, case_id, with_for_update=lock)
    if case is None:
        raise CaseNotFound(case_id)
    return case


def masked_reporter(case: Case | SimpleNamespace) -> dict[str, Any] | None:
    if not (case.reporter_name or case.reporter_phone):
        return None
    return {"name": mask_name(case.reporter_name), "phone": mask_phone(case.reporter_phone)}


def submit_case(
    session: Session, outbox: Outbox, payload: dict[str, Any], who: Identity, now: datetime, options: IntakeOptions
) -> SimpleNamespace:
    """Store the case and its ``case.reported`` in one transaction, linked to an open case it duplicates;
    returns the new case's values, as attributes named like a Case's."""
    location = payload["location"]
    reporter = payload.get("reporter") or {}
    values = dict(
        id=new_id(),
        number=None,
        status="reported",
        title=payload["title"],
        description=payload.get("description"),
        category=payload["category"],
        severity=payload.get("severity") or options.categories[payload["category"]]["severity"],
        channel=payload.get("channel") or "web",
        address=location["address"],
        address_key=normalise_address(location["address"]),
        street=location.get("street"),
        community=location.get("community"),
        grid=location.get("grid"),
        lat=location.get("lat"),
        lon=location.get("lon"),
        geo_cell=geo_cell(location["lat"], location["lon"]) if location.get("lat") is not None else None,
        reporter_ref=new_id() if (reporter.get("name") or reporter.get("phone")) else None,
        reporter_name=reporter.get("name"),
        reporter_phone=reporter.get("phone"),
        occurred_at=payload.get("occurred_at"),
        media_urls=payload.get("media_urls") or [],
        duplicate_of=None,
        reporter_count=1,
        departments=[],
        expected_at=None,
        notes=[],
        progress={},
        status_changed_at=None,
        reopen_count=0,
        reported_by=who.sub,
        created_at=now,
        updated_at=now,
    )
    # The new case's values as attributes, for the rules below and the response: written with one
    # Core INSERT, an ORM object would only cost its instrumented construction.
    case = SimpleNamespace(**values)
    case.number = values["number"] = take_number(
        session, now.astimezone(options.timezone).year, scope_keys(case, options.duplicate_radius_m)
    )
    original = find_original(
        session, case, radius_m=options.duplicate_radius_m, window=options.duplicate_window, now=now
    )
    if original is not None:
        case.status = values["status"] = "duplicate"
        case.duplicate_of = values["duplicate_of"] = original.id
        # In SQL: unlinking may run beside us.
        session.execute(
            update(Case)
            .where(Case.id == original.id)
            .values(reporter_count=Case.reporter_count + 1)
            .execution_options(synchronize_session=False)
        )
    session.connection().execute(INSERT_CASE, values)
    outbox.emit(session, "case.reported", reported_event_data(case), subject=case.id, actor=who.actor)
    return case


def reported_event_data(case: Case | SimpleNamespace) -> dict[str, Any]:
    """Only a reference and masks of the reporter ride the bus; phone numbers typed into the text
    are masked too, since every consumer and the audit trail keep what they receive."""
    reporter = masked_reporter(case)
    if reporter is not None:
        reporter["ref"] = case.reporter_ref
    return {
        "case_id": case.id,
        "number": case.number,
        "title": mask_phones_in_text(case.title),
        "description": mask_phones_in_text(case.description),
        "category": case.category,
        "severity": case.severity,
        "channel": case.channel,
        "location": {
            "address": case.address,
            "street": case.street,
            "community": case.community,
            "grid": case.grid,
            "lat": case.lat,
            "lon": case.lon,
        },
        "reporter": reporter,
        "occurred_at": case.occurred_at.isoformat() if case.occurred_at else None,
        "reported_at": case.created_at.isoformat(),
        "duplicate_of": case.duplicate_of,
    }


def unlink_duplicate(
    session: Session, outbox: Outbox, case: Case, reason: str | None, who: Identity, now: datetime
) -> Case:
    """Staff decide a linked report is a problem of its own: it goes back to ``reported`` and
    dispatch, on ``case.duplicate_unlinked``, routes it like a new case."""
    if case.status != "duplicate" or not case.duplicate_of:
        raise InvalidState(f"Only a duplicate can be unlinked; this case is {case.status}.")
    original = session.get(Case, case.duplicate_of, with_for_update=True)
    if original is not None:
        original.reporter_count = max(1, original.reporter_count - 1)
        original.updated_at = max(original.updated_at, now)
    former = case.duplicate_of
    case.status, case.duplicate_of, case.status_changed_at, case.updated_at = "reported", None, None, now
    case.notes = [
        *case.notes,
        {
            "id": new_id(),
            "at": now.isoformat(),
            "event": "case.duplicate_unlinked",
            "status": "reported",
            "note": reason,
            "department": None,
        },
    ]
    outbox.emit(
        session,
        "case.duplicate_unlinked",
        {"case_id": case.id, "duplicate_of": former, "reason": mask_phones_in_text(reason)},
        subject=case.id,
        actor=who.actor,
    )
    return case


def record_feedback(
    session: Session, outbox: Outbox, case: Case, payload: dict[str, Any], who: Identity, now: datetime
) -> Feedback:
    """回访: the resident's verdict, once per resolution (a reopened case is resolved anew and asked
    again). A dissatisfied answer is what lets dispatch reopen the case."""
    if case.status not in FEEDBACK_STATUSES:
        raise InvalidState(f"Feedback is taken once a case is resolved or closed; this one is {case.status}.")
    round_ = case.reopen_count
    if session.scalar(select(Feedback.id).where(Feedback.case_id == case.id, Feedback.round == round_)):
        raise FeedbackAlreadyRecorded()
    feedback = Feedback(
        id=new_id(),
        case_id=case.id,
        round=round_,
        satisfaction=payload["satisfaction"],
        comment=payload.get("comment"),
        recorded_by=who.sub,
        created_at=now,
    )
    try:
        with session.begin_nested():  # two answers racing: the unique (case, round) keeps one
            session.add(feedback)
    except IntegrityError as exc:
        raise FeedbackAlreadyRecorded() from exc
    outbox.emit(
        session,
        "case.feedback_recorded",
        {
            "case_id": case.id,
            "satisfaction": feedback.satisfaction,
            "comment": mask_phones_in_text(feedback.comment),
            "round": round_,
        },
        subject=case.id,
        actor=who.actor,
    )
    return feedback


def read_contact(session: Session, case: Case, who: Identity, now: datetime) -> dict[str, str | None]:
    """The reporter's full contact, for staff of the case's community, admin and services (notify
    texting a resident). Every read is recorded: who, in which role, which case, when."""
    allowed = who.role in ("admin", "service") or (
        who.role == "staff" and who.community is not None and who.community == case.community
    )
    if not allowed:
        log.warning("contact read refused", extra={"case_id": case.id, "reader": who.sub, "role": who.role})
        raise ContactForbidden()
    session.add(
        ContactRead(id=new_id(), case_id=case.id, reader=who.sub, role=who.role, community=who.community, read_at=now)
    )
    log.info("contact read", extra={"case_id": case.id, "reader": who.sub, "role": who.role})
    return {"name": case.reporter_name, "phone": case.reporter_phone}
