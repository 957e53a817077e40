"""The trail's read queries, shared by the API and the export."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from .models import TrailEntry

FILTERS = {
    "case_id": TrailEntry.case_id,
    "department": TrailEntry.department,
    "actor": TrailEntry.actor_id,
    "type": TrailEntry.type,
    "outcome": TrailEntry.outcome,
}


def filtered(query: Select, args: dict[str, Any]) -> Select:
    for name, column in FILTERS.items():
        if args.get(name):
            query = query.where(column == args[name])
    if args.get("since"):
        query = query.where(TrailEntry.occurred_at >= args["since"])
    if args.get("until"):
        query = query.where(TrailEntry.occurred_at < args["until"])
    return query


def active_filters(args: dict[str, Any]) -> dict[str, str]:
    return {name: str(args[name]) for name in (*FILTERS, "since", "until") if args.get(name)}


def entry_view(entry: TrailEntry) -> dict:
    """A row as an auditor reads it: the hashed content itself, then its hashes."""
    row = json.loads(entry.canonical)
    row["leaf_hash"] = entry.leaf_hash
    row["chain_hash"] = entry.chain_hash
    return row


def trail_head(session: Session) -> int:
    return session.scalar(select(func.max(TrailEntry.seq))) or 0


def chain_hash_at(session: Session, seq: int) -> str | None:
    return session.scalar(select(TrailEntry.chain_hash).where(TrailEntry.seq == seq))


def with_predecessor(args: dict[str, Any]) -> Select:
    """Rows with the chain hash of the row before each, so that a filtered export still lets every
    row's link be re-computed offline."""
    previous = aliased(TrailEntry)
    # Plain columns, not entities: a million exported rows must not pile up in the session.
    query = (
        select(*TrailEntry.__table__.c, previous.chain_hash.label("prev_chain_hash"))
        .outerjoin(previous, previous.seq == TrailEntry.seq - 1)
        .order_by(TrailEntry.seq)
    )
    return filtered(query, args)
