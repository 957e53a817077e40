"""Audit's rules: appending an event to the chain, exactly once, in one order."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select, text
from sqlalchemy.orm import Session, SessionTransaction

from services.common.db import is_postgres
from services.common.deferred import defer_insert
from services.common.events import Event
from services.common.lists import one_of
from services.common.masking import mask_name, mask_phone

from . import chain
from .models import TrailEntry

# Any number will do as long as every audit writer uses the same one.
CHAIN_LOCK = 0x5768697374  # "Whist"
# Built once: constructing a statement costs more than running it from SQLAlchemy's cache.
CHAIN_LOCK_STATEMENT = text("SELECT pg_advisory_xact_lock(:key)")
HEAD = select(TrailEntry.seq, TrailEntry.chain_hash).order_by(TrailEntry.seq.desc()).limit(1)
RECORDED_AMONG = select(TrailEntry.event_id).where(one_of(TrailEntry.event_id, "ids"))

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


HEAD_KEY = "whistle.audit.head"  # session.info: (root transaction, seq, chain hash) while it holds the lock
SAVED_HEADS = "whistle.audit.saved_heads"  # session.info: {savepoint: the head when it began}
RECORDED = "whistle.audit.recorded"  # session.info: {event id: already in the trail?}, see preload


@sa_event.listens_for(Session, "after_transaction_create")
def _remember_head(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested and HEAD_KEY in session.info:
        session.info.setdefault(SAVED_HEADS, {})[transaction] = session.info[HEAD_KEY]


@sa_event.listens_for(Session, "after_soft_rollback")
def _restore_head(session: Session, previous: SessionTransaction) -> None:
    """A rolled-back savepoint undid the rows appended in it (deferred ones are forgotten, see
    services.common.deferred): the head goes back to what it was when the savepoint began. With
    no head then, or on a full rollback, the next append takes the lock and reads the head again
    (on PostgreSQL a lock taken inside a rolled-back savepoint is released)."""
    if HEAD_KEY not in session.info and RECORDED not in session.info:
        return
    session.info.pop(RECORDED, None)  # some were marked recorded inside what was undone
    saved = session.info.get(SAVED_HEADS, {}).pop(previous, None) if previous.nested else None
    if saved is not None:
        session.info[HEAD_KEY] = saved
    else:
        session.info.pop(HEAD_KEY, None)


def _head(session: Session) -> tuple[int, bytes]:
    """The chain's head for this transaction, read once under the chain lock and then kept."""
    root = session.get_transaction()
    cached = session.info.get(HEAD_KEY)
    if cached and cached[0] is root:
        return cached[1], cached[2]
    connection = session.connection()  # Core statements: the ORM's execute path only costs Python
    if is_postgres(session):
        # Several audit consumers may run; one transaction at a time extends the chain, so it never
        # forks. The lock is held until commit, so rows also become visible in seq order.
        connection.execute(CHAIN_LOCK_STATEMENT, {"key": CHAIN_LOCK})
    row = connection.execute(HEAD).first()
    seq, head = (row.seq, bytes.fromhex(row.chain_hash)) if row else (0, chain.GENESIS)
    session.info[HEAD_KEY] = (root, seq, head)
    return seq, head


def preload(session: Session, events: list[Event], _now: datetime) -> None:
    """Which of a consumer batch's events are already in the trail, in one query (see
    consumer.Preloader); ``append`` otherwise asks for each."""
    ids = [e.id for e in events]
    found = set(session.connection().execute(RECORDED_AMONG, {"ids": ids}).scalars())
    session.info[RECORDED] = {event_id: event_id in found for event_id in ids}


def _recorded(session: Session, event_id: str) -> bool:
    known = session.info.get(RECORDED, {})
    if event_id in known:
        return known[event_id]
    return session.connection().execute(RECORDED_AMONG, {"ids": [event_id]}).first() is not None


def trail_row(seq: int, event: Event, recorded_at: datetime) -> dict[str, Any]:
    """The row as hashed: everything an auditor needs, personal data masked. verify.py reads the query
    columns back out of these bytes by their place among the sorted top-level keys: adding or renaming
    a key means changing ``verify._content_problem`` too."""
    envelope = event.envelope
    return {
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


def append(session: Session, event: Event, recorded_at: datetime) -> SimpleNamespace | None:
    """Append ``event``; None when it is already in the trail. Cheap inside a batch: the lock is
    taken and the head read once per transaction, and the rows are written together at the commit
    (or the release of the savepoint they were appended in)."""
    if _recorded(session, event.id):
        return None
    seq, previous = _head(session)
    seq += 1
    row = trail_row(seq, event, recorded_at)
    canonical = chain.canonical(row)
    leaf = chain.leaf_hash(canonical)
    head = chain.chain_hash(previous, leaf)
    values = dict(
        seq=seq,
        event_id=event.id,
        type=event.type,
        source=event.source,
        case_id=row["case_id"],
        department=row["department"],
        actor_role=event.actor.role,
        actor_id=event.actor.id,
        outcome=row["outcome"],
        occurred_at=event.time,
        recorded_at=recorded_at,
        canonical=canonical,
        leaf_hash=leaf.hex(),
        chain_hash=head.hex(),
    )
    # Under the chain lock nothing else extends the chain; event_id is unique, so the same event
    # appended by two consumers at once fails one commit, and its message is retried.
    defer_insert(session, TrailEntry.__table__, [values])
    session.info.setdefault(RECORDED, {})[event.id] = True
    session.info[HEAD_KEY] = (session.get_transaction(), seq, head)
    return SimpleNamespace(**values)  # the row's values, named as TrailEntry's (not an ORM object: cheaper)
