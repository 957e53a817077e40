"""Intake's HTTP API (/intake/v1): community staff submit cases, follow their status, unlink
duplicates and record 回访 feedback; notify reads a reporter's contact."""

from __future__ import annotations

from flask import request, url_for
from flask_smorest import Blueprint

from services.common.auth import current_identity, require
from services.common.idempotency import IdempotencyStore, StoredResponse
from services.common.pagination import page
from services.common.runtime import runtime
from services.common.web import IDEMPOTENCY_DOC, SECURITY, stored_reply

from . import queries, service
from .models import Case, idempotency_keys
from .options import intake_options
from .schemas import CaseIn, CaseListArgs, CaseOut, CasePage, ContactOut, FeedbackIn, FeedbackOut, UnlinkIn

blp = Blueprint("cases", __name__, url_prefix="/v1", description="Cases as reported by communities")

EVERYONE_BUT_DEPARTMENTS = ("staff", "admin", "auditor", "service")
IDEMPOTENCY = IdempotencyStore(idempotency_keys)
# Built once: a marshmallow schema copies its fields when instantiated.
CASE_OUT, FEEDBACK_OUT = CaseOut(), FeedbackOut()


def case_view(case: Case) -> dict:
    return {
        "id": case.id,
        "number": case.number,
        "status": case.status,
        "title": case.title,
        "description": case.description,
        "category": case.category,
        "severity": case.severity,
        "channel": case.channel,
        "occurred_at": case.occurred_at,
        "location": {
            "address": case.address,
            "street": case.street,
            "community": case.community,
            "grid": case.grid,
            "lat": case.lat,
            "lon": case.lon,
        },
        "reporter": service.masked_reporter(case),
        "media_urls": case.media_urls,
        "duplicate_of": case.duplicate_of,
        "reporter_count": case.reporter_count,
        "departments": case.departments,
        "expected_at": case.expected_at,
        "notes": case.notes,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
    }


@blp.route("/cases", methods=["POST"])
@require("staff", "admin")
@blp.arguments(CaseIn())
@blp.response(201, CaseOut)
@blp.doc(security=SECURITY, parameters=[IDEMPOTENCY_DOC])
def submit_case(payload):
    """Submit a case (社区呼叫). A case near an open one of the same category is linked to it as a duplicate."""
    who, rt = current_identity(), runtime()

    def work(session) -> StoredResponse:
        case = service.submit_case(session, rt.outbox, payload, who, rt.now(), intake_options())
        return StoredResponse(
            201, CASE_OUT.dump(case_view(case)), {"Location": url_for("cases.read_case", case_id=case.id)}
        )

    with rt.transaction() as session:
        response, replayed = IDEMPOTENCY.once(
            session,
            request.headers,
            caller=who.sub,
            endpoint="POST /v1/cases",
            body=request.get_json(),
            now=rt.now(),
            work=lambda: work(session),
        )
    return stored_reply(response, replayed)


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
@blp.doc(security=SECURITY, parameters=[IDEMPOTENCY_DOC])
def give_feedback(payload, case_id):
    """回访: the resident's satisfaction, once per resolution of the case."""
    who, rt = current_identity(), runtime()

    def work(session) -> StoredResponse:
        case = service.get_case(session, case_id, lock=True)
        feedback = service.record_feedback(session, rt.outbox, case, payload, who, rt.now())
        return StoredResponse(
            201,
            FEEDBACK_OUT.dump(
                {
                    "id": feedback.id,
                    "case_id": case.id,
                    "round": feedback.round,
                    "satisfaction": feedback.satisfaction,
                    "comment": feedback.comment,
                    "created_at": feedback.created_at,
                }
            ),
        )

    with rt.transaction() as session:
        response, replayed = IDEMPOTENCY.once(
            session,
            request.headers,
            caller=who.sub,
            endpoint=f"POST /v1/cases/{case_id}/feedback",
            body=request.get_json(),
            now=rt.now(),
            work=lambda: work(session),
        )
    return stored_reply(response, replayed)
