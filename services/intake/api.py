"""Intake's HTTP API (/intake/v1): community staff submit cases and read their status."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import url_for
from flask_smorest import Blueprint
from sqlalchemy import select

from services.common.auth import current_identity, require
from services.common.errors import ApiError
from services.common.pagination import decode_cursor, page
from services.common.runtime import runtime
from services.common.web import SECURITY

from . import service
from .models import Case
from .schemas import CaseIn, CaseListArgs, CaseOut, CasePage, ContactOut, FeedbackIn, FeedbackOut

log = logging.getLogger(__name__)
blp = Blueprint("cases", __name__, url_prefix="/v1", description="Cases as reported by communities")

EVERYONE_BUT_DEPARTMENTS = ("staff", "admin", "auditor", "service")


def case_view(case: Case) -> dict:
    return {
        "id": case.id, "number": case.number, "status": case.status, "title": case.title,
        "description": case.description, "category": case.category, "severity": case.severity,
        "channel": case.channel, "occurred_at": case.occurred_at,
        "location": {"address": case.address, "street": case.street, "community": case.community,
                     "grid": case.grid, "lat": case.lat, "lon": case.lon},
        "reporter": service.masked_reporter(case), "media_urls": case.media_urls,
        "duplicate_of": case.duplicate_of, "departments": case.departments,
        "expected_at": case.expected_at, "notes": case.notes,
        "created_at": case.created_at, "updated_at": case.updated_at,
    }


def load_case(session, case_id: str) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise ApiError(404, "NOT_FOUND", f"No case {case_id}.")
    return case


@blp.route("/cases", methods=["POST"])
@blp.arguments(CaseIn)
@blp.response(201, CaseOut)
@blp.doc(security=SECURITY)
@require("staff", "admin")
def submit_case(payload):
    """Submit a case (社区呼叫)."""
    who = current_identity()
    rt = runtime()
    with rt.transaction() as session:
        case = service.submit_case(session, rt.outbox, payload, who, runtime().now())
        body = case_view(case)
    return body, 201, {"Location": url_for("cases.read_case", case_id=case.id)}


@blp.route("/cases", methods=["GET"])
@blp.arguments(CaseListArgs, location="query")
@blp.response(200, CasePage)
@blp.doc(security=SECURITY)
@require(*EVERYONE_BUT_DEPARTMENTS)
def list_cases(args):
    """Cases, newest first, filtered by status, category, community and time."""
    query = select(Case).order_by(Case.created_at.desc(), Case.id.desc())
    for name in ("status", "category", "community"):
        if args.get(name):
            query = query.where(getattr(Case, name) == args[name])
    if args.get("since"):
        query = query.where(Case.created_at >= args["since"])
    if args.get("until"):
        query = query.where(Case.created_at < args["until"])
    cursor = decode_cursor(args.get("cursor"))
    if cursor:
        created, case_id = datetime.fromisoformat(cursor[0]), cursor[1]
        query = query.where((Case.created_at < created) | ((Case.created_at == created) & (Case.id < case_id)))
    with runtime().transaction() as session:
        rows = session.execute(query.limit(args["limit"] + 1)).scalars().all()
        result = page([case_view(c) for c in rows], args["limit"],
                      lambda c: [c["created_at"].isoformat(), c["id"]])
    return result


@blp.route("/cases/<case_id>", methods=["GET"])
@blp.response(200, CaseOut)
@blp.doc(security=SECURITY)
@require(*EVERYONE_BUT_DEPARTMENTS)
def read_case(case_id):
    """One case and its public status."""
    with runtime().transaction() as session:
        return case_view(load_case(session, case_id))


@blp.route("/cases/<case_id>/contact", methods=["GET"])
@blp.response(200, ContactOut)
@blp.doc(security=SECURITY)
@require("staff", "service", "admin")
def read_contact(case_id):
    """The reporter's full contact: staff of the case's community and the service role only."""
    who = current_identity()
    with runtime().transaction() as session:
        case = load_case(session, case_id)
        if who.role == "staff" and who.community != case.community:
            raise ApiError(403, "FORBIDDEN", "Only staff of the case's community may read the contact.")
        log.info("contact read", extra={"case_id": case.id, "reader": who.sub, "role": who.role})
        return {"name": case.reporter_name, "phone": case.reporter_phone}


@blp.route("/cases/<case_id>/feedback", methods=["POST"])
@blp.arguments(FeedbackIn)
@blp.response(201, FeedbackOut)
@blp.doc(security=SECURITY)
@require("staff", "admin")
def give_feedback(payload, case_id):
    """回访: record the resident's satisfaction once the case is resolved."""
    who = current_identity()
    rt = runtime()
    with rt.transaction() as session:
        case = load_case(session, case_id)
        try:
            feedback = service.record_feedback(session, rt.outbox, case, payload, who, runtime().now())
        except service.FeedbackNotAllowed as exc:
            raise ApiError(409, "INVALID_STATE", str(exc)) from exc
        return {"id": feedback.id, "case_id": case.id, "satisfaction": feedback.satisfaction,
                "comment": feedback.comment, "created_at": feedback.created_at}
