"""The access log: every read of the trail — who, in which role, what, when, how many rows. It is
kept outside the chain (reading must not extend the record of events) and is append-only too."""

from __future__ import annotations

import logging

from flask import g, request
from sqlalchemy import text

from services.common.db import is_postgres
from services.common.runtime import Runtime

from .models import AccessLogEntry

log = logging.getLogger(__name__)


def snapshot(status: int, rows: int) -> dict:
    """What to record about the current request, taken while it is still current."""
    identity = g.get("identity")
    return {
        "subject": identity.sub if identity else "anonymous",
        "role": identity.role if identity else "none",
        "path": request.path[:300],
        "query": request.query_string.decode(errors="replace"),
        "rows": rows,
        "status": status,
    }


def record(runtime: Runtime, entry: dict) -> None:
    try:
        with runtime.transaction() as session:
            if is_postgres(session):
                # The reader waits for this commit: do not also make it wait for the disk. A crash
                # of PostgreSQL itself may lose the last fraction of a second of access lines (never
                # trail rows); a flush stalled behind other writers cost reads over 100 ms.
                session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            session.add(AccessLogEntry(at=runtime.now(), **entry))
    except Exception:  # noqa: BLE001 - a failed log line must not turn a served read into an error
        log.exception("could not record an audit access: %s", entry)
