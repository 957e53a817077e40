"""Building blocks for audit tests on any database: events made by hand, appended the way the
consumer does, and the attacks a database owner could make on the stored trail."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, delete, select, text, update

from services.audit import chain, service
from services.audit.checkpoints import FILE_NAME, checkpoint_if_due
from services.audit.models import CheckpointEntry, TrailEntry
from services.common.events import Actor, build_event, parse_event

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def closed(case_id: str | None = None, note: str = "done", **kwargs) -> dict:
    return build_event(
        "case.closed", {"case_id": case_id or str(uuid.uuid4()), "note": note}, service="dispatch", **kwargs
    )


def append(runtime, *envelopes: dict, recorded_at: datetime | None = None) -> list:
    """Append in one transaction, as one consumer batch does."""
    with runtime.transaction() as session:
        return [service.append(session, parse_event(e), recorded_at or datetime.now(UTC)) for e in envelopes]


def task_event(kind: str, case_id: str, task_id: str, department: str, at: datetime, **data) -> dict:
    payload = {"case_id": case_id, "task_id": task_id, "department": department, **data}
    if kind == "task.assigned":
        payload.setdefault("role", "lead")
        payload.setdefault("severity", "urgent")
        payload.setdefault("resolve_due", (at + timedelta(hours=24)).isoformat())
    actor = (
        Actor("department", f"{department}-user", department)
        if kind in ("task.acknowledged", "task.completed", "task.returned")
        else None
    )
    return build_event(kind, payload, service="dispatch", time=at, actor=actor)


def feedback(case_id: str, satisfaction: str, at: datetime) -> dict:
    return build_event(
        "case.feedback_recorded", {"case_id": case_id, "satisfaction": satisfaction}, service="intake", time=at
    )


def awkward(case_id: str | None = None, *, structured: bool = False) -> dict:
    """An event whose hashed row is as awkward as an envelope allows: quotes, backslashes, control
    characters and Chinese in strings, ``data`` holding its own "department", "seq" and "type" and
    arrays of strings; ``structured``: an object for the subject and a list for the actor's department."""
    envelope = task_event("task.acknowledged", case_id or str(uuid.uuid4()), str(uuid.uuid4()), "water", T0)
    envelope["actorid"] = 'water "duty", \\ 值班\x01'
    envelope["actordept"] = ["water", 'fi,"re'] if structured else 'wa,"ter\\'
    envelope["subject"] = (
        {"department": "fire", "seq": 1, "type": "case.closed", "list": ["a", "b"]}
        if structured
        else 'a "subject", 主题'
    )
    envelope["data"]["extra"] = {"department": "fire", "seq": 99, "type": "x", "notes": ["到场", '"q",']}
    return envelope


QUERY_COLUMNS = {
    "event_id": lambda: str(uuid.uuid4()),
    "type": lambda: "case.reported",
    "case_id": lambda: str(uuid.uuid4()),
    "department": lambda: "fire",
    "actor_id": lambda: "someone-else",
    "outcome": lambda: "failure",
}


def change_query_column(runtime, seq: int, column: str) -> None:
    """Hide row ``seq`` from a filter on ``column`` without touching what was hashed."""
    with runtime.transaction() as session:
        session.execute(update(TrailEntry).where(TrailEntry.seq == seq).values({column: QUERY_COLUMNS[column]()}))


# ---- attacks by someone holding the owner's rights ----------------------------------------------


def drop_triggers(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in ("trail", "checkpoints"):
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        else:
            for table in ("trail", "checkpoints"):
                for action in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER {table}_no_{action}"))


def seed(runtime, signer) -> None:
    """Ten rows with signed checkpoints at 4 and at 10."""
    case_id = str(uuid.uuid4())
    append(runtime, *[closed(case_id, note=f"n{i}") for i in range(1, 5)])
    with runtime.transaction() as session:
        assert checkpoint_if_due(session, signer, datetime.now(UTC), force=True).size == 4
    append(runtime, *[closed(case_id, note=f"n{i}") for i in range(5, 11)])
    with runtime.transaction() as session:
        assert checkpoint_if_due(session, signer, datetime.now(UTC), force=True).size == 10


def _canonical(session, seq: int) -> bytes:
    return session.scalar(select(TrailEntry.canonical).where(TrailEntry.seq == seq))


def change_field(runtime, signer):
    with runtime.transaction() as session:
        forged = _canonical(session, 5).replace(b'"note":"n5"', b'"note":"n0"')
        session.execute(update(TrailEntry).where(TrailEntry.seq == 5).values(canonical=forged))
    return 5, None  # the walk stops at row 5: checkpoint 10 is never reached


def change_column(runtime, signer):
    """Hide a row from ``?department=`` without touching what was hashed."""
    with runtime.transaction() as session:
        session.execute(update(TrailEntry).where(TrailEntry.seq == 7).values(department="fire"))
    return 7, None


def delete_middle(runtime, signer):
    with runtime.transaction() as session:
        session.execute(delete(TrailEntry).where(TrailEntry.seq == 6))
    return 6, None


def swap_rows(runtime, signer):
    with runtime.transaction() as session:
        for old, new in ((3, -3), (4, 3), (-3, 4)):
            session.execute(update(TrailEntry).where(TrailEntry.seq == old).values(seq=new))
    return 3, None


def delete_newest(runtime, signer):
    """Drop the last rows and their checkpoint row too: the copy outside the database remains."""
    with runtime.transaction() as session:
        session.execute(delete(TrailEntry).where(TrailEntry.seq >= 9))
        session.execute(delete(CheckpointEntry).where(CheckpointEntry.size == 10))
    return 9, False


def rewrite_chain(runtime, signer):
    """Change row 6 and re-hash everything after it, consistently: only the checkpoint catches it."""
    with runtime.transaction() as session:
        previous = bytes.fromhex(session.scalar(select(TrailEntry.chain_hash).where(TrailEntry.seq == 5)))
        for seq in range(6, 11):
            canonical = _canonical(session, seq).replace(b'"note":"n6"', b'"note":"n0"')
            leaf = chain.leaf_hash(canonical)
            previous = chain.chain_hash(previous, leaf)
            session.execute(
                update(TrailEntry)
                .where(TrailEntry.seq == seq)
                .values(canonical=canonical, leaf_hash=leaf.hex(), chain_hash=previous.hex())
            )
    return 5, False  # the rows after checkpoint 4 are no longer vouched for


def forge_checkpoint(runtime, signer):
    """Re-sign checkpoint 10 with a key of one's own, and remove the file copy."""
    (Path(signer.directory) / FILE_NAME).unlink()
    with runtime.transaction() as session:
        cp = session.get(CheckpointEntry, 10)
        message = f"{cp.origin}\n{cp.size}\n{cp.head}\n{cp.time}\n".encode()
        forged = base64.b64encode(Ed25519PrivateKey.generate().sign(message)).decode()
        session.execute(update(CheckpointEntry).where(CheckpointEntry.size == 10).values(signature=forged))
    return None, False


TAMPERS = [change_field, change_column, delete_middle, swap_rows, delete_newest, rewrite_chain, forge_checkpoint]
