"""Dispatch's case API (/dispatch/v1/cases): the dispatch view of a case, and what staff do with
it — whistle departments (吹哨), verify the work (销号 or reopen), reject a case in triage."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from services.common.auth import current_identity, require
from services.common.idempotency import IdempotencyStore, StoredResponse
from services.common.web import IDEMPOTENCY_DOC, SECURITY, stored_reply

from . import cases
from .errors import NotFound
from .models import idempotency_keys
from .schemas import CaseOut, RejectIn, VerifyIn, WhistleIn, WhistleOut
from .views import case_view, own_department, task_view, unit_of_work

blp = Blueprint("dispatch_cases", __name__, url_prefix="/v1", description="吹哨: cases, whistles and 销号")

READERS = ("staff", "department", "admin", "auditor", "service")
STAFF = ("staff", "admin")
IDEMPOTENCY = IdempotencyStore(idempotency_keys)
WHISTLE_OUT = WhistleOut()  # built once: a marshmallow schema copies its fields when instantiated


def _case_now(work, case_id: str) -> dict:
    case = cases.get_case(work, case_id, lock=False)
    return case_view(case, cases.case_tasks(work, case), work.now)


@blp.route("/cases/<case_id>", methods=["GET"])
@blp.response(200, CaseOut)
@blp.doc(security=SECURITY)
@require(*READERS)
def read_case(case_id):
    """The case as dispatch sees it: status, escalation, every task and the history."""
    department = own_department()
    with unit_of_work() as work:
        view = _case_now(work, case_id)
    if department and department not in {t["department"] for t in view["tasks"]}:
        raise NotFound(f"No case {case_id}.")  # a department sees only cases it has a task on
    return view


@blp.route("/cases/<case_id>/whistle", methods=["POST"])
@blp.arguments(WhistleIn())
@blp.response(201, WhistleOut)
@blp.doc(security=SECURITY, parameters=[IDEMPOTENCY_DOC])
@require(*STAFF)
def whistle(body, case_id):
    """吹哨: summon departments; one that already has a live task on the case gets it back."""
    with unit_of_work() as work:

        def summon() -> StoredResponse:
            tasks = cases.whistle(work, case_id, **body)
            case = cases.get_case(work, case_id, lock=False)
            return StoredResponse(201, WHISTLE_OUT.dump({"tasks": [task_view(t, case, work.now) for t in tasks]}))

        response, replayed = IDEMPOTENCY.once(
            work.session,
            request.headers,
            caller=current_identity().sub,
            endpoint=f"POST /v1/cases/{case_id}/whistle",
            body=request.get_json(),
            now=work.now,
            work=summon,
        )
    return stored_reply(response, replayed)


@blp.route("/cases/<case_id>/verify", methods=["POST"])
@blp.arguments(VerifyIn())
@blp.response(200, CaseOut)
@blp.doc(security=SECURITY)
@require(*STAFF)
def verify(body, case_id):
    """销号 (``closed``) or ``reopened`` with a note; only a resolved case."""
    with unit_of_work() as work:
        cases.verify(work, case_id, body["outcome"], body["note"])
        return _case_now(work, case_id)


@blp.route("/cases/<case_id>/reject", methods=["POST"])
@blp.arguments(RejectIn())
@blp.response(200, CaseOut)
@blp.doc(security=SECURITY)
@require(*STAFF)
def reject(body, case_id):
    """Not a matter for departments; only a case in triage."""
    with unit_of_work() as work:
        cases.reject(work, case_id, body["reason"])
        return _case_now(work, case_id)
