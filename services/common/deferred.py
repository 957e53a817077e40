"""Rows a transaction writes together, just before it commits.

A consumer batch applies fifty events; if each wrote its rows as it went, the batch would cost a
round trip per row. ``defer_insert`` keeps rows in the session and writes them just before the
transaction commits, or the savepoint they were deferred in is released: the session's pending
ORM changes first, then one INSERT per table, tables in the order their first row was deferred.
A rolled-back savepoint or transaction forgets the rows deferred inside it. (Rows deferred outside
a savepoint are written when a savepoint opened after them is released.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.orm import Session, SessionTransaction

from .db import insert_ignore_many

KEY = "whistle.deferred"  # session.info: [(table, ignore_conflicts, savepoint or None, row)]


def defer_insert(session: Session, table: Table, rows: list[dict[str, Any]], *,
                 ignore_conflicts: bool = False) -> None:
    """Insert ``rows`` when the transaction commits; ``ignore_conflicts`` skips rows whose key
    exists (ON CONFLICT DO NOTHING), the others fail the commit on a conflict."""
    savepoint = session.get_nested_transaction()
    session.info.setdefault(KEY, []).extend((table, ignore_conflicts, savepoint, row) for row in rows)


def write_deferred(session: Session) -> int:
    """Write what is deferred now (a commit does it anyway); returns how many rows."""
    pending = session.info.pop(KEY, None)
    if not pending:
        return 0
    session.flush()  # rows the ORM holds first: a deferred row may refer to one of them
    groups: dict[tuple[Table, bool], list[dict[str, Any]]] = {}
    for table, ignore_conflicts, _savepoint, row in pending:
        groups.setdefault((table, ignore_conflicts), []).append(row)
    for (table, ignore_conflicts), rows in groups.items():
        if ignore_conflicts:
            insert_ignore_many(session, table, rows)
        else:
            # A list of parameter sets: SQLAlchemy compiles the one-row statement once (cached)
            # and sends the rows as few multi-row INSERTs; on the connection, as in db.insert_ignore_many.
            session.connection().execute(table.insert(), rows)
    return len(pending)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    # Called for the outermost commit and for every savepoint's release.
    if session.info.get(KEY):
        write_deferred(session)


@event.listens_for(Session, "after_transaction_end")
def _forget_rolled_back(session: Session, transaction: SessionTransaction) -> None:
    """Rows still deferred when a transaction ends were deferred in it and rolled back with it (a
    commit writes them first): a savepoint forgets its own rows, the outermost transaction all."""
    pending = session.info.get(KEY)
    if not pending:
        return
    if transaction.nested:
        session.info[KEY] = [item for item in pending if item[2] is not transaction]
    elif transaction.parent is None:
        del session.info[KEY]
