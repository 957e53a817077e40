"""``Idempotency-Key`` on creating POSTs (API.md): the same key and body get the first response again;
the same key with another body gets 409 ``IDEMPOTENCY_MISMATCH``.

Keys are scoped per caller (the token's ``sub``) and endpoint, so two clients never collide. The key
row is claimed in the same transaction as the work it guards and filled with the response before
the commit: either both the change and the remembered response are stored, or neither is. Two
concurrent requests with one key queue on the row (PostgreSQL waits on the conflicting insert;
SQLite serialises writers), and the second one replays what the first committed.
Only successful work is remembered: a request refused with an error may be sent again with its key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, select, update
from sqlalchemy.orm import Session

from .db import UTCDateTime, insert_ignore
from .errors import ApiError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
DEFAULT_TTL = timedelta(hours=24)


def idempotency_table(metadata: MetaData) -> Table:
    """The remembered responses, added to a service's metadata (like ``bus_tables``)."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("caller", String(100), primary_key=True),
        Column("endpoint", String(100), primary_key=True),
        Column("key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),  # null while the claiming transaction runs
        Column("body", Text, nullable=True),
        Column("headers", Text, nullable=True),
        Column("created_at", UTCDateTime, nullable=False),
        Column("expires_at", UTCDateTime, nullable=False),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def read_key(headers: Mapping[str, str]) -> str | None:
    """The request's key, or None; a malformed key is a 400 naming the header."""
    key = headers.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ApiError(
            400,
            "BAD_REQUEST",
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            {"headers": {HEADER: ["Not a valid idempotency key."]}},
        )
    return key


def fingerprint(body: Any) -> str:
    """SHA-256 of the body as canonical JSON: key order and whitespace do not make a body differ."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class IdempotencyStore:
    table: Table
    ttl: timedelta = DEFAULT_TTL

    def run(
        self,
        session: Session,
        *,
        caller: str,
        endpoint: str,
        key: str,
        body_fingerprint: str,
        now: datetime,
        work: Callable[[], StoredResponse],
    ) -> tuple[StoredResponse, bool]:
        """Do ``work`` once per (caller, endpoint, key) inside the caller's transaction.

        Returns the response and whether it is a replay. Raises 409 ``IDEMPOTENCY_MISMATCH`` when the
        key was used with another body."""
        where = (self.table.c.caller == caller, self.table.c.endpoint == endpoint, self.table.c.key == key)
        claim = {
            "fingerprint": body_fingerprint,
            "status_code": None,
            "body": None,
            "headers": None,
            "created_at": now,
            "expires_at": now + self.ttl,
        }
        claimed = insert_ignore(session, self.table, {"caller": caller, "endpoint": endpoint, "key": key, **claim})
        if not claimed:
            # An expired key may be used afresh; the WHERE makes only one of two racing callers win it.
            claimed = (
                session.execute(
                    update(self.table).where(*where, self.table.c.expires_at <= now).values(**claim)
                ).rowcount
                == 1
            )
        if not claimed:
            row = session.execute(select(self.table).where(*where)).one()
            if row.fingerprint != body_fingerprint:
                raise ApiError(409, "IDEMPOTENCY_MISMATCH", f"This {HEADER} was used with a different request body.")
            if row.status_code is None:  # only if a claim was left unfinished in the same transaction
                raise ApiError(409, "CONFLICT", f"A request with this {HEADER} is still being processed.")
            return StoredResponse(row.status_code, json.loads(row.body), json.loads(row.headers or "{}")), True
        response = work()
        session.execute(
            update(self.table)
            .where(*where)
            .values(
                status_code=response.status,
                body=json.dumps(response.body, ensure_ascii=False),
                headers=json.dumps(response.headers, ensure_ascii=False),
            )
        )
        return response, False

    def once(
        self,
        session: Session,
        headers: Mapping[str, str],
        *,
        caller: str,
        endpoint: str,
        body: Any,
        now: datetime,
        work: Callable[[], StoredResponse],
    ) -> tuple[StoredResponse, bool]:
        """``run`` for a request that carries a key in ``headers``; ``work`` alone for one without."""
        key = read_key(headers)
        if key is None:
            return work(), False
        return self.run(
            session, caller=caller, endpoint=endpoint, key=key, body_fingerprint=fingerprint(body), now=now, work=work
        )

    def purge_expired(self, session: Session, now: datetime) -> int:
        """Forget keys past their time; returns how many."""
        return session.execute(self.table.delete().where(self.table.c.expires_at <= now)).rowcount

    def purge(self, runtime, now: datetime) -> int:
        """``purge_expired`` in a transaction of its own: the job of a worker's periodic timer."""
        with runtime.transaction() as session:
            return self.purge_expired(session, now)
