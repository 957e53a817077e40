"""Intake's HTTP API (/intake/v1): community staff submit cases, follow their status, unlink
duplicates and record 回访 feedback; notify reads a reporter's contact."""

from __future__ import annotations

from flask import jsonify, request, url_for
from flask_smorest import Blueprint

from services.common.auth import current_identity, require
from services.common.idempotency import HEADER, IdempotencyStore, StoredResponse, fingerprint, read_key
from services.common.pagination import page
from services.common.runtime import runtime
from services.common.web import SECURITY

from . import queries, service
from .models import Case, idempotency_keys
from .options import intake_options
from .schemas import CaseIn, CaseListArgs, CaseOut, CasePage, ContactOut, FeedbackIn, FeedbackOut, UnlinkIn

blp = Blueprint("cases", __name__, url_prefix="/v1", description="Cases as reported by communities")

EVERYONE_BUT_DEPARTMENTS = ("staff", "admin", "auditor", "service")
IDEMPOTENCY = IdempotencyStore(idempotency_keys)
CASE_OUT = CaseOut()  # built once: a marshmallow schema copies its fields when instantiated
IDEMPOTENCY_DOC = {"in": "header", "name": HEADER, "required": False, "schema": {"type": "string", "maxLength": 255},
                   "description": "Send the same key again to get the first response back instead of a second case."}


def case_view(case: Case) -> dict:
    return {
        "id": case.id, "number": case.number, "status": case.status, "title": case.title,
        "description": case.description, "category": case.category, "severity": case.severity,
        "channel": case.channel, "occurred_at": case.occurred_at,
        "location": {"address": case.address, "street": case.street, "community": case.community,
                     "grid": case.grid, "lat": case.lat, "lon": case.lon},
        "reporter": service.masked_reporter(case), "media_urls": case.media_urls,
        "duplicate_of": case.duplicate_of, "reporter_count": case.reporter_count,
        "departments": case.departments, "expected_at": case.expected_at, "notes": case.notes,
        "created_at": case.created_at, "updated_at": case.updated_at,
    }


@blp.route("/cases", methods=["POST"])
@require("staff", "admin")
@blp.arguments(CaseIn())
@blp.response(201, CaseOut)
@blp.doc(security=SECURITY, parameters=[IDEMPOTENCY_DOC])
def submit_case(payload):
    """Submit a case (社区呼叫). A case near an open one of the same category is linked to it as a duplicate."""
    who, rt = current_identity(), runtime()
    key = read_key(request.headers)

    def work(session) -> StoredResponse:
        case = service.submit_case(session, rt.outbox, payload, who, rt.now(), intake_options())
        return StoredResponse(201, CASE_OUT.dump(case_view(case)),
                              {"Location": url_for("cases.read_case", case_id=case.id)})

    with rt.transaction() as session:
        if key is None:
            response, replayed = work(session), False
        else:
            response, replayed = IDEMPOTENCY.run(
                session, caller=who.sub, endpoint="POST /v1/cases", key=key,
                body_fingerprint=fingerprint(request.get_json()), now=rt.now(), work=lambda: work(session))
    reply = jsonify(response.body)
    reply.status_code = response.status
    reply.headers.update(response.headers)
    if replayed:
        reply.headers["Idempotent-Replayed"] = "true"
    return reply


@blp.route("/cases", methods=["GET"])
@require(*EVERYONE_BUT_DEPARTMENTS)
@blp.arguments(CaseListArgs(), location="query")
@blp.response(200, CasePage)
@blp.doc(security=SECURITY)
def list_cases(args):
    """Cases, newest first, filtered by status, category, community and time (since ≤ created_at < until)."""
    query = queries.after_cursor(queries.filtered(args), args.get("cursor"))
    with runtime().transaction() as session:
        rows = session.execute(query.limit(args["limit"] + 1)).scalars().all()
        return page([case_view(c) for c in rows], args["limit"], lambda c: [c["created_at"].isoformat(), c["id"]])


@blp.route("/cases/<case_id>", methods=["GET"])
@require(*EVERYONE_BUT_DEPARTMENTS)
@blp.response(200, CaseOut)
@blp.doc(security=SECURITY)
def read_case(case_id):
    """One case and its public status."""
    with runtime().transaction() as session:
        return case_view(service.get_case(session, case_id))


@blp.route("/cases/<case_id>/contact", methods=["GET"])
@require("staff", "service", "admin")
@blp.response(200, ContactOut)
@blp.doc(security=SECURITY)
def read_contact(case_id):
    """The reporter's full contact: staff of the case's community, admin and services; every read is logged."""
    rt = runtime()
    with rt.transaction() as session:
        return service.read_contact(session, service.get_case(session, case_id), current_identity(), rt.now())


@blp.route("/cases/<case_id>/unlink", methods=["POST"])
@require("staff", "admin")
@blp.arguments(UnlinkIn())
@blp.response(200, CaseOut)
@blp.doc(security=SECURITY)
def unlink_case(payload, case_id):
    """A linked duplicate is a problem of its own after all: back to ``reported``, dispatch routes it."""
    rt = runtime()
    with rt.transaction() as session:
        case = service.get_case(session, case_id, lock=True)
        service.unlink_duplicate(session, rt.outbox, case, payload.get("reason"), current_identity(), rt.now())
        return case_view(case)


@blp.route("/cases/<case_id>/feedback", methods=["POST"])
@require("staff", "admin")
@blp.arguments(FeedbackIn())
@blp.response(201, FeedbackOut)
@blp.doc(security=SECURITY)
def give_feedback(payload, case_id):
    """回访: the resident's satisfaction, once per resolution of the case."""
    rt = runtime()
    with rt.transaction() as session:
        case = service.get_case(session, case_id, lock=True)
        feedback = service.record_feedback(session, rt.outbox, case, payload, current_identity(), rt.now())
        return {"id": feedback.id, "case_id": case.id, "round": feedback.round,
                "satisfaction": feedback.satisfaction, "comment": feedback.comment,
                "created_at": feedback.created_at}
