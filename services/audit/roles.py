"""The insert-only PostgreSQL role the audit web process and worker connect as.

Run as the database owner (the one ``whistle migrate audit`` uses). The role may read everything
and insert into the trail, the checkpoints, the access log and the inbox; it may not UPDATE,
DELETE or TRUNCATE any of them (and the triggers refuse those to the owner's own application
code too). The outbox is audit's only table it may update: the relay marks rows there, and audit
never writes any.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

READ_INSERT = ("trail", "checkpoints", "access_log", "inbox")
READ_UPDATE = ("outbox",)
NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_insert_only(engine: Engine, role: str, *, login: bool = True) -> None:
    if not NAME.match(role):
        raise ValueError(f"not a plain role name: {role!r}")
    if engine.dialect.name != "postgresql":
        raise ValueError("roles exist on PostgreSQL only; SQLite relies on the triggers")
    with engine.begin() as conn:
        database = conn.scalar(text("SELECT current_database()"))
        exists = conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        if not exists:
            conn.execute(text(f'CREATE ROLE "{role}" {"LOGIN" if login else "NOLOGIN"}'))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        # Nothing more than these, even if an earlier grant said otherwise.
        conn.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"'))
        for table in READ_INSERT:
            conn.execute(text(f'GRANT SELECT, INSERT ON {table} TO "{role}"'))
        for table in READ_UPDATE:
            conn.execute(text(f'GRANT SELECT, UPDATE ON {table} TO "{role}"'))
        conn.execute(text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
