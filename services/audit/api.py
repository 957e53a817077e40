"""Audit's HTTP API (/audit/v1): read-only access to the trail for auditors. There is no route that
writes: the trail is written by the worker alone, from the bus."""

from __future__ import annotations

from flask import Response, current_app, g, stream_with_context
from flask_smorest import Blueprint
from sqlalchemy import select, tuple_

from services.common.auth import require
from services.common.errors import ApiError
from services.common.pagination import PageArgs, aware_datetime, decode_cursor, page
from services.common.runtime import runtime
from services.common.web import SECURITY

from . import access, checkpoints, export, reports
from .checkpoints import Signer
from .models import AccessLogEntry, CheckpointEntry, TrailEntry
from .queries import active_filters, entry_view, filtered
from .schemas import (
    AccessPage,
    CheckpointPage,
    ExportArgs,
    KeyOut,
    ReportArgs,
    ReportOut,
    SeqRange,
    TrailEventOut,
    TrailFilterArgs,
    TrailPage,
    VerifyOut,
)
from .verify import verify_trail

blp = Blueprint("audit", __name__, url_prefix="/v1", description="The tamper-evident trail (read-only)")

AUDIT_READERS = ("auditor", "admin")


def signer() -> Signer:
    return current_app.extensions["whistle_audit"]


def served(items: list) -> list:
    g.audit_rows = len(items)
    return items


@blp.after_request
def log_access(response):
    """Every read (and every refused attempt) lands in the access log; a streamed export logs
    itself when its last row has gone out."""
    if not g.get("audit_streaming"):
        access.record(runtime(), access.snapshot(response.status_code, g.get("audit_rows", 0)))
    return response


@blp.route("/events", methods=["GET"])
@blp.arguments(TrailFilterArgs(), location="query")
@blp.response(200, TrailPage)
@blp.doc(security=SECURITY)
@require(*AUDIT_READERS)
def list_events(args):
    """The trail in chain order, filtered; the cursor never skips or repeats a row."""
    query = filtered(select(TrailEntry), args)
    cursor = decode_cursor(args.get("cursor"), int)
    if cursor:
        query = query.where(TrailEntry.seq > cursor[0])
    query = query.order_by(TrailEntry.seq).limit(args["limit"] + 1)
    with runtime().transaction() as session:
        rows = [entry_view(e) for e in session.execute(query).scalars()]
    result = page(rows, args["limit"], lambda r: [r["seq"]])
    served(result["items"])
    return result


@blp.route("/events/<int:seq>", methods=["GET"])
@blp.response(200, TrailEventOut)
@blp.doc(security=SECURITY)
@require(*AUDIT_READERS)
def get_event(seq):
    with runtime().transaction() as session:
        entry = session.get(TrailEntry, seq)
        if entry is None:
            raise ApiError(404, "NOT_FOUND", f"No event with seq {seq} in the trail.")
        return served([entry_view(entry)])[0]


@blp.route("/cases/<case_id>/timeline", methods=["GET"])
@blp.arguments(PageArgs(), location="query")
@blp.response(200, TrailPage)
@blp.doc(security=SECURITY)
@require(*AUDIT_READERS)
def case_timeline(args, case_id):
    """Everything that happened to a case, oldest first (by the producers' event time)."""
    query = select(TrailEntry).where(TrailEntry.case_id == case_id)
    cursor = decode_cursor(args.get("cursor"), aware_datetime, int)
    if cursor:
        query = query.where(tuple_(TrailEntry.occurred_at, TrailEntry.seq) > tuple_(*cursor))
    query = query.order_by(TrailEntry.occurred_at, TrailEntry.seq).limit(args["limit"] + 1)
    with runtime().transaction() as session:
        entries = list(session.execute(query).scalars())
    keys = {e.seq: e.occurred_at.isoformat() for e in entries}
    result = page([entry_view(e) for e in entries], args["limit"], lambda r: [keys[r["seq"]], r["seq"]])
    served(result["items"])
    return result


@blp.route("/verify", methods=["GET"])
@blp.arguments(SeqRange(), location="query")
@blp.response(200, VerifyOut)
@blp.doc(security=SECURITY)
@require(*AUDIT_READERS)
def verify(args):
    """Re-hash the stored rows, re-link the chain and hold it against every signed checkpoint."""
    with runtime().transaction() as session:
        verdict = verify_trail(
            session, checkpoints.known(session, signer()), signer().public_key, args["from_seq"], args["to_seq"]
        )
    g.audit_rows = verdict["checked"]
    return verdict


@blp.route("/checkpoints", methods=["GET"])
@blp.arguments(PageArgs(), location="query")
@blp.response(200, CheckpointPage)
@blp.doc(security=SECURITY)
@require(*AUDIT_READERS)
def list_checkpoints(args):
    """Signed checkpoints, newest first."""
    query = select(CheckpointEntry).order_by(CheckpointEntry.size.desc()).limit(args["limit"] + 1)
    cursor = decode_cursor(args.get("cursor"), int)
    if cursor:
        query = query.where(CheckpointEntry.size < cursor[0])
    with runtime().transaction() as session:
        rows = [
            checkpoints.Checkpoint(c.origin, c.size, c.head, c.time, c.key_id, c.signature).as_dict()
            for c in session.execute(query).scalars()
        ]
    result = page(rows, args["limit"], lambda r: [r["size"]])
    served(result["items"])
    return result


@blp.route("/checkpoints/key", methods=["GET"])
@blp.response(200, KeyOut)
@blp.doc(security=SECURITY)
@require(*AUDIT_READERS)
def checkpoint_key():
    """The Ed25519 public key checkpoints are signed with (PEM): keep a copy to verify exports."""
    public_key = signer().public_key
    return {
        "algorithm": "Ed25519",
        "key_id": checkpoints.key_id(public_key),
        "public_key_pem": checkpoints.public_pem(public_key),
    }


@blp.route("/export", methods=["GET"])
@blp.arguments(ExportArgs(), location="query")
@blp.doc(security=SECURITY, responses={"200": {"description": "JSON Lines or CSV, streamed"}})
@require(*AUDIT_READERS)
def export_trail(args):
    """The trail (filtered like /events), streamed: JSON Lines verifiable offline, or CSV."""
    rt, known_signer = runtime(), signer()
    entry = access.snapshot(200, 0)
    g.audit_streaming = True

    def body():
        try:
            with rt.transaction() as session:
                if args["format"] == "csv":
                    yield from export.csv_rows(session, args, lambda n: entry.update(rows=n))
                else:
                    known = checkpoints.known(session, known_signer)
                    yield from export.jsonl(session, args, active_filters(args), known, lambda n: entry.update(rows=n))
        finally:  # also when the client goes away mid-stream; after the reading transaction has ended
            access.record(rt, entry)

    mimetype = "text/csv" if args["format"] == "csv" else "application/x-ndjson"
    return Response(
        stream_with_context(body()),
        mimetype=mimetype,
        headers={"Content-Disposition": f"attachment; filename=audit-export.{args['format']}"},
    )


@blp.route("/reports/departments", methods=["GET"])
@blp.arguments(ReportArgs(), location="query")
@blp.response(200, ReportOut)
@blp.doc(security=SECURITY)
@require(*AUDIT_READERS)
def department_scores(args):
    """响应率, 解决率, 满意率 and more per department, computed from the trail alone."""
    with runtime().transaction() as session:
        items = reports.department_report(session, args["since"], args["until"])
    return {"items": served(items)}


@blp.route("/access-log", methods=["GET"])
@blp.arguments(PageArgs(), location="query")
@blp.response(200, AccessPage)
@blp.doc(security=SECURITY)
@require("admin")
def access_log(args):
    """Who read the trail, newest first (admin only)."""
    query = select(AccessLogEntry).order_by(AccessLogEntry.id.desc()).limit(args["limit"] + 1)
    cursor = decode_cursor(args.get("cursor"), int)
    if cursor:
        query = query.where(AccessLogEntry.id < cursor[0])
    with runtime().transaction() as session:
        rows = list(session.execute(query).scalars())
    result = page(rows, args["limit"], lambda r: [r.id])
    served(result["items"])
    return result
