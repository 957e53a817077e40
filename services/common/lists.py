"""``column IN`` a list given as one parameter, for the statements built once that read or change
a batch's rows by key.

On PostgreSQL the list goes as one array, ``column = ANY($1)``: the statement's text is the same
whatever the list's length, so PostgreSQL parses and plans it once (psycopg prepares it after a few
runs) and SQLAlchemy renders nothing when it runs. An expanding ``IN ($1, $2, …)`` is rendered
afresh on every run, with a placeholder per item, and is a new statement for PostgreSQL at every
new length (bench/README.md has what the change saved). Elsewhere (SQLite) the expanding ``IN``.
"""

from __future__ import annotations

from sqlalchemy import Boolean, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class InList(ColumnElement[bool]):
    """``column`` is (``negate``: is not) one of the list bound as ``name``."""

    type = Boolean()
    _is_implicitly_boolean = True  # a condition itself: SQLite's rendering adds no "= 1"
    inherit_cache = False  # its own state, below, makes its part of the cache key
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
        ("negate", InternalTraversal.dp_boolean),
    ]

    def __init__(self, column: ColumnElement, name: str, negate: bool = False):
        self.column = column
        self.name = name
        self.negate = negate


def one_of(column: ColumnElement, name: str) -> InList:
    return InList(column, name)


def none_of(column: ColumnElement, name: str) -> InList:
    return InList(column, name, negate=True)


@compiles(InList)
def _expanding(element: InList, compiler, **kw) -> str:
    param = bindparam(element.name, expanding=True)
    clause = element.column.not_in(param) if element.negate else element.column.in_(param)
    return compiler.process(clause, **kw)


@compiles(InList, "postgresql")
def _array(element: InList, compiler, **kw) -> str:
    column = compiler.process(element.column, **kw)
    param = compiler.process(bindparam(element.name, type_=ARRAY(element.column.type)), **kw)
    return f"{column} <> ALL ({param})" if element.negate else f"{column} = ANY ({param})"
