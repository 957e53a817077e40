"""Audit's HTTP API (/audit/v1): read-only access to the trail for auditors."""

from __future__ import annotations

import json

from flask_smorest import Blueprint
from sqlalchemy import select

from services.common.auth import require
from services.common.pagination import decode_cursor, page
from services.common.runtime import runtime
from services.common.web import SECURITY

from .models import TrailEntry
from .schemas import TrailFilterArgs, TrailPage

blp = Blueprint("audit", __name__, url_prefix="/v1", description="The tamper-evident trail (read-only)")

AUDIT_READERS = ("auditor", "admin")


def entry_view(entry: TrailEntry) -> dict:
    row = json.loads(entry.canonical)
    row["leaf_hash"] = entry.leaf_hash
    row["chain_hash"] = entry.chain_hash
    return row


def filtered(args: dict):
    query = select(TrailEntry)
    simple = {"case_id": TrailEntry.case_id, "department": TrailEntry.department,
              "actor": TrailEntry.actor_id, "type": TrailEntry.type, "outcome": TrailEntry.outcome}
    for name, column in simple.items():
        if args.get(name):
            query = query.where(column == args[name])
    if args.get("since"):
        query = query.where(TrailEntry.occurred_at >= args["since"])
    if args.get("until"):
        query = query.where(TrailEntry.occurred_at < args["until"])
    return query


@blp.route("/events", methods=["GET"])
@blp.arguments(TrailFilterArgs, location="query")
@blp.response(200, TrailPage)
@blp.doc(security=SECURITY)
@require(*AUDIT_READERS)
def list_events(args):
    """The trail in chain order, filtered; the cursor never skips or repeats a row."""
    query = filtered(args)
    cursor = decode_cursor(args.get("cursor"))
    if cursor:
        query = query.where(TrailEntry.seq > int(cursor[0]))
    query = query.order_by(TrailEntry.seq).limit(args["limit"] + 1)
    with runtime().transaction() as session:
        rows = [entry_view(e) for e in session.execute(query).scalars()]
    return page(rows, args["limit"], lambda r: [r["seq"]])
