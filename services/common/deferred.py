"""Rows a transaction writes together, just before it commits.

A consumer batch applies fifty events; if each wrote its rows as it went, the batch would cost a
round trip per row. ``defer_insert`` and ``defer_update`` keep rows in the session and write them
just before the transaction commits, or the savepoint they were deferred in is released: the
session's pending ORM changes first, then one statement per table and kind (INSERT, or an UPDATE
sent with every row's values at once), in the order their first row was deferred.
A rolled-back savepoint or transaction forgets the rows deferred inside it. (Rows deferred outside
a savepoint are written when a savepoint opened after them is released.)
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Table, bindparam, event, update
from sqlalchemy.orm import Session, SessionTransaction

from .db import insert_ignore_many

KEY = "whistle.deferred"  # session.info: [((kind, table), savepoint or None, row)]
INSERT, INSERT_IGNORE, UPDATE = "insert", "insert ignoring conflicts", "update"
PRIMARY_KEY = "deferred_primary_key"  # an update's row names its row under this key


def defer_insert(session: Session, table: Table, rows: list[dict[str, Any]], *, ignore_conflicts: bool = False) -> None:
    """Insert ``rows`` when the transaction commits; ``ignore_conflicts`` skips rows whose key
    exists (ON CONFLICT DO NOTHING), the others fail the commit on a conflict."""
    _defer(session, (INSERT_IGNORE if ignore_conflicts else INSERT, table), rows)


def defer_update(session: Session, table: Table, key: Any, values: dict[str, Any]) -> None:
    """Set ``values`` on the row of ``table`` whose primary key is ``key`` when the transaction
    commits. Every update deferred for one table must set the same columns: they go out as one
    statement with a parameter set per row, in the order first deferred (a row updated twice is
    written once, with the later values)."""
    _defer(session, (UPDATE, table), [{**values, PRIMARY_KEY: key}])


def _defer(session: Session, group: tuple[str, Table], rows: list[dict[str, Any]]) -> None:
    savepoint = session.get_nested_transaction()
    session.info.setdefault(KEY, []).extend((group, savepoint, row) for row in rows)


def write_deferred(session: Session) -> int:
    """Write what is deferred now (a commit does it anyway); returns how many rows were deferred."""
    pending = session.info.pop(KEY, None)
    if not pending:
        return 0
    session.flush()  # rows the ORM holds first: a deferred row may refer to one of them
    groups: dict[tuple[str, Table], list[dict[str, Any]]] = {}
    for group, _savepoint, row in pending:
        groups.setdefault(group, []).append(row)
    for (kind, table), rows in groups.items():
        if kind == INSERT_IGNORE:
            insert_ignore_many(session, table, rows)
            continue
        if kind == UPDATE:
            # A row updated twice (a case's dispatch and its first task, in one consumer batch) goes
            # out once, with its later values: every update of a table sets the same columns, so the
            # later one carries all that the earlier did. The row keeps its first place.
            rows = list({row[PRIMARY_KEY]: row for row in rows}.values())
        # A list of parameter sets: SQLAlchemy compiles the one-row statement once (cached) and
        # sends the rows as few multi-row INSERTs, or one executemany UPDATE; on the connection,
        # as in db.insert_ignore_many.
        session.connection().execute(_insert_statement(table) if kind == INSERT else _update_statement(table), rows)
    return len(pending)


@functools.cache
def _insert_statement(table: Table):
    """INSERT into ``table``, built once per table. Inline: without it SQLAlchemy adds ``RETURNING``
    of the primary key to a one-row INSERT on PostgreSQL, and builds a result to read the key back,
    for a key nobody here reads (a submission's one event, a quiet batch's one row)."""
    return table.insert().inline()


@functools.cache
def _update_statement(table: Table):
    """UPDATE ``table`` by primary key, built once per table as db.insert_ignore_statement is; the
    SET clause comes from the parameters' other keys."""
    (key_column,) = table.primary_key.columns
    return update(table).where(key_column == bindparam(PRIMARY_KEY))


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
        session.info[KEY] = [item for item in pending if item[1] is not transaction]
    elif transaction.parent is None:
        del session.info[KEY]
