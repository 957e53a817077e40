"""Audit's rules: appending an event to the chain, exactly once, in one order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from services.common.db import is_postgres
from services.common.events import Event
from services.common.masking import mask_name, mask_phone

from . import chain
from .models import TrailEntry

# Any number will do as long as every audit writer uses the same one.
CHAIN_LOCK = 0x5768697374 # "Whist"

FAILURE_TYPES = {"notification.failed", "task.returned", "case.rejected"}


def outcome_of(event: Event) -> str:
    return "failure" if event.type in FAILURE_TYPES else "success"


def mask_data(data: Any) -> Any:
    """Defence in depth: producers already mask, audit masks again anything that looks personal."""
    if isinstance(data, dict):
        masked = {k: mask_data(v) for k, v in data.items()}
        reporter = masked.get("reporter")
        if isinstance(reporter, dict):
            if reporter.get("phone") and "****" not in str(reporter["phone"]):
                reporter["phone"] = mask_phone(reporter["phone"])
            if reporter.get("name") and not str(reporter["name"]).endswith("*"):
                reporter["name"] = mask_name(reporter["name"])
        return masked
    if isinstance(data, list):
        return [mask_data(v) for v in data]
    return data


def append(session: Session, event: Event, recorded_at: datetime) -> TrailEntry | None:
    """Append ``event``; None when it is already in the trail."""
    if is_postgres(session):
        # Several audit consumers may run; one at a time extends the chain, so it never forks.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    if session.scalar(select(TrailEntry.seq).where(TrailEntry.event_id == event.id)) is not None:
        return None
    head = session.execute(
        select(TrailEntry.seq, TrailEntry.chain_hash).order_by(TrailEntry.seq.desc()).limit(1)
    ).first()
    seq = (head.seq + 1) if head else 1
    previous = bytes.fromhex(head.chain_hash) if head else chain.GENESIS
    envelope = event.envelope
    row = {
        "seq": seq,
        "event_id": event.id,
        "type": event.type,
        "source": event.source,
        "subject": envelope.get("subject"),
        "case_id": event.case_id,
        "department": event.data.get("department") or event.actor.department,
        "actor": {"role": event.actor.role, "id": event.actor.id, "department": event.actor.department},
        "outcome": outcome_of(event),
        "occurred_at": envelope["time"],
        "recorded_at": recorded_at.isoformat().replace("+00:00", "Z"),
        "correlation_id": event.correlation_id,
        "data": mask_data(envelope.get("data") or {}),
    }
    canonical = chain.canonical(row)
    leaf = chain.leaf_hash(canonical)
    entry = TrailEntry(
        seq=seq, event_id=event.id, type=event.type, source=event.source, case_id=row["case_id"],
        department=row["department"], actor_role=event.actor.role, actor_id=event.actor.id,
        outcome=row["outcome"], occurred_at=event.time, recorded_at=recorded_at, canonical=canonical,
        leaf_hash=leaf.hex(), chain_hash=chain.chain_hash(previous, leaf).hex(),
    )
    session.add(entry)
    session.flush()
    return entry
