"""SQLAlchemy 2 engines and sessions; the outbox and inbox tables every service carries."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both SQLite (which forgets the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# 'pending' written into the SQL as a constant, where a parameter would hide it from the planner:
# psycopg prepares a statement run often and PostgreSQL may then plan it once for any status, as
# if half the rows matched, and walk the whole table in ``seq`` order past every row long sent to
# reach the few still pending. With the constant it knows 'pending' is rare and uses the index.
PENDING = literal_column("'pending'")

# BIGINT on PostgreSQL, INTEGER on SQLite (whose autoincrement needs exactly INTEGER PRIMARY KEY).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def bus_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The transactional outbox and the consumer inbox, added to a service's metadata."""
    outbox = Table(
        "outbox",
        metadata,
        Column("seq", BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("type", String(64), nullable=False),
        Column("body", Text, nullable=False),  # the CloudEvent exactly as it will be published
        Column("status", String(8), nullable=False, default="pending"),  # pending | sent
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", UTCDateTime, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("created_at", UTCDateTime, nullable=False, default=utcnow),
        Column("sent_at", UTCDateTime, nullable=True),
        Index("ix_outbox_pending", "status", "seq"),
        Index("ix_outbox_sent_at", "sent_at"),  # pruning.py finds the rows sent long ago
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("source", String(64), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("type", String(64), nullable=False),
        Column("handled_at", UTCDateTime, nullable=False, default=utcnow),
        Index("ix_inbox_handled_at", "handled_at"),  # pruning.py finds the events handled long ago
    )
    return outbox, inbox


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the dev server's reader threads run beside the writer; the busy timeout makes a
    # writer wait for the lock instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin_immediate(conn) -> None:
    # Take the write lock at BEGIN so that two writers queue on busy_timeout instead of one
    # failing later when it upgrades a read lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, pool_size: int = 5, pre_ping: bool = True) -> Engine:
    """``pre_ping`` tests a connection before use when it has sat in the pool for a while
    (``PING_AFTER_IDLE``): web requests want that, so that the first request after a database
    restart does not fail; a worker's loops retry after any database error anyway and skip it."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "isolation_level": None})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # Placeholders numbered as PostgreSQL's own ($1, $2, …), sent as they are by psycopg's RawCursor.
    # With the default %(name)s style psycopg rewrites every statement to that form, and caches the
    # rewrite only for statements under 4 kB and 50 parameters: every multi-row INSERT of a consumer
    # batch was parsed again, a fifth of audit's worker.
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=10,
        paramstyle="numeric_dollar",
        connect_args={"cursor_factory": psycopg.RawCursor},
    )
    # Many rows in one INSERT statement ("insertmanyvalues"), not one execution per row: a consumer
    # batch writes its trail rows, timers and events this way (see deferred.py).
    engine.dialect.use_insertmanyvalues_wo_returning = True
    if pre_ping:
        _ping_when_idle(engine)
    return engine


# A database restart takes longer than this: every connection opened before it has been idle at
# least this long when next checked out, and is pinged. Under load connections come back within
# milliseconds, and a ping on every checkout (SQLAlchemy's pool_pre_ping) cost a round trip each.
PING_AFTER_IDLE = 1.0  # seconds


def _ping_when_idle(engine: Engine) -> None:
    def checkin(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool drops this connection and checks out another (a fresh one, in the end).
            raise DisconnectionError("connection lost while idle") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def signal_on_commit(factory: sessionmaker[Session], flag: str, signal: threading.Event) -> None:
    """Set ``signal`` once a transaction that set ``session.info[flag]`` has committed, so that a
    loop in the same process (a relay, a sender) looks at what it wrote at once instead of at its
    next poll. SQLAlchemy also calls after_commit when a savepoint is released, when nothing is
    visible to other connections yet: only the outermost commit counts."""

    def after_commit(session: Session) -> None:
        if session.get_nested_transaction() is None and session.info.pop(flag, False):
            signal.set()

    event.listen(factory, "after_commit", after_commit)


def insert_ignore(session: Session, table: Table, values: dict) -> bool:
    """INSERT that does nothing on a key conflict; True when the row was inserted."""
    return bool(insert_ignore_many(session, table, [values]))


@functools.cache
def insert_ignore_statement(dialect_name: str, table: Table):
    """INSERT … ON CONFLICT DO NOTHING RETURNING the primary key, for a database of this dialect.
    Built once per table: inboxes take one a batch, and constructing a statement costs more than
    running it from SQLAlchemy's cache."""
    insert = pg_insert if dialect_name == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)


def insert_ignore_many(session: Session, table: Table, rows: list[dict]) -> list:
    """One INSERT of ``rows`` skipping key conflicts (also between the rows); returns the primary
    keys of the rows inserted."""
    if not rows:
        return []
    # RETURNING rather than rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING; and
    # with RETURNING SQLAlchemy sends the rows as one multi-row INSERT, where without it an ON
    # CONFLICT INSERT goes one statement a row. The rows as a parameter list rather than
    # .values(rows): the one-row statement is compiled once and cached. On the session's connection:
    # a Core statement through the ORM's execute path costs more Python than the statement itself.
    return session.connection().execute(insert_ignore_statement(session.get_bind().dialect.name, table), rows).all()


def is_postgres(session_or_engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
