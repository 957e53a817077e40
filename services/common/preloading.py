"""Rows a consumer batch's handlers will look up one by one, loaded beforehand in one query.

A preloader (consumer.Preloader) calls ``preload``; handlers call ``lookup``. The rows are kept in
``session.info`` as {primary key: object or None}: None records that a row is not there, which the
identity map cannot say (a miss there is a query), and the map keeps the objects referenced, which
the identity map does not (it holds unchanged objects weakly, so they would be read again). The
map lives as long as the batch's session: a batch that fails is applied again in a new one.

A row the batch creates is recorded with ``added``: as its object, or, when it was written as a
plain row (``deferred.defer_insert``), as ``DEFERRED``, which a later lookup turns into the object
by writing what is deferred and reading it back.

Rules that fold events into a few columns and write them back with ``deferred.defer_update`` read
plain rows instead of objects: ``read_rows`` for the batch, ``preloaded_row`` for each event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from .deferred import write_deferred
from .lists import one_of

# Stands for a row the batch created as a deferred plain row: not written yet, no object yet.
DEFERRED = object()


def preload(session: Session, name: str, entity: type, keys: Iterable[Any], *, lock: bool = False) -> None:
    """Load the ``entity`` rows with these primary keys under ``name``; ``lock`` takes them FOR
    UPDATE, in key order as every batch does, so that two batches never deadlock."""
    keys = sorted(set(keys))
    found = {}
    if keys:
        query = _query(entity, lock)
        found = {inspect(row).identity[0]: row for row in session.scalars(query, {"keys": keys})}
    session.info[name] = {key: found.get(key) for key in keys}


@functools.cache
def _query(entity: type, lock: bool):
    """The entity's rows by a list of keys, built once: an ``IN`` of literal keys is rendered
    anew at every run."""
    column = inspect(entity).primary_key[0]
    query = select(entity).where(one_of(column, "keys")).order_by(column)
    return query.with_for_update() if lock else query


def read_rows(session: Session, statement, keys: Iterable[Any], make: Callable[[Any], Any] = dict) -> dict[Any, Any]:
    """{key: ``make(row's mapping)``, or None where there is no row}: ``statement`` is a Core select
    whose first column is the key, taking the keys as the list parameter ``keys`` (lists.one_of)."""
    keys = sorted(set(keys))
    rows = session.connection().execute(statement, {"keys": keys}) if keys else ()
    found = {row[0]: make(row._mapping) for row in rows}
    return {key: found.get(key) for key in keys}


def preloaded_row(session: Session, name: str, statement, key: Any, make: Callable[[Any], Any] = dict) -> Any:
    """The row read for the batch under ``name`` (``read_rows``), else read now and not kept: an
    event applied on its own, in a savepoint, reads what earlier savepoints left."""
    preloaded = session.info.get(name, {})
    if key in preloaded:
        return preloaded[key]
    return read_rows(session, statement, [key], make)[key]


def lookup(session: Session, name: str, entity: type, key: Any, **get_options: Any) -> Any:
    """The preloaded row (None: not there), or ``session.get`` when it was not preloaded."""
    preloaded = session.info.get(name, {})
    if key not in preloaded:
        return session.get(entity, key, **get_options)
    found = preloaded[key]
    if found is DEFERRED:  # created by this batch as a plain row: an object is wanted now
        write_deferred(session)
        found = preloaded[key] = session.get(entity, key, **get_options)
    return found


def added(session: Session, name: str, key: Any, row: Any = DEFERRED) -> None:
    """A row the batch created (its object, or DEFERRED): later lookups of ``key`` find it rather
    than the "not there"."""
    if name in session.info:
        session.info[name][key] = row
