"""Rows a consumer batch's handlers will look up one by one, loaded beforehand in one query.

A preloader (consumer.Preloader) calls ``preload``; handlers call ``lookup``. The rows are kept in
``session.info`` as {primary key: object or None}: None records that a row is not there, which the
identity map cannot say (a miss there is a query), and the map keeps the objects referenced, which
the identity map does not (it holds unchanged objects weakly, so they would be read again). The
map lives as long as the batch's session: a batch that fails is applied again in a new one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session


def preload(session: Session, name: str, entity: type, keys: Iterable[Any], *, lock: bool = False) -> None:
    """Load the ``entity`` rows with these primary keys under ``name``; ``lock`` takes them FOR
    UPDATE, in key order as every batch does, so that two batches never deadlock."""
    keys = sorted(set(keys))
    column = inspect(entity).primary_key[0]
    found = {}
    if keys:
        query = select(entity).where(column.in_(keys)).order_by(column)
        found = {inspect(row).identity[0]: row for row in session.scalars(query.with_for_update() if lock else query)}
    session.info[name] = {key: found.get(key) for key in keys}


def lookup(session: Session, name: str, entity: type, key: Any, **get_options: Any) -> Any:
    """The preloaded row (None: not there), or ``session.get`` when it was not preloaded."""
    preloaded = session.info.get(name, {})
    if key in preloaded:
        return preloaded[key]
    return session.get(entity, key, **get_options)


def added(session: Session, name: str, key: Any, row: Any) -> None:
    """A row the batch created: later lookups of ``key`` find it rather than the "not there"."""
    if name in session.info:
        session.info[name][key] = row
