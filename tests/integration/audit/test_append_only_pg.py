"""On PostgreSQL the app connects as an insert-only role, and triggers refuse UPDATE, DELETE and
TRUNCATE even to the owner; tampering by an owner who disables them is caught by /verify."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from services.common.db import make_engine
from tests.integration.audit.sqlite import trail

pytestmark = pytest.mark.postgres

STATEMENTS = ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}", "TRUNCATE {t}"]
COLUMNS = {"trail": "type", "checkpoints": "head", "access_log": "path"}


def seeded(pg_audit):
    runtime = pg_audit.runtime("audit")
    signer = pg_audit.apps["audit"].extensions["whistle_audit"]
    trail.seed(runtime, signer)
    pg_audit.client("audit").get("/v1/events", headers=pg_audit.headers("auditor"))  # an access-log row
    return runtime, signer


def test_the_app_runs_as_the_insert_only_role(pg_audit, app_role):
    runtime, _signer = seeded(pg_audit)
    with runtime.engine.connect() as conn:
        assert conn.scalar(text("SELECT current_user")) == app_role
    verdict = pg_audit.client("audit").get("/v1/verify", headers=pg_audit.headers("auditor")).json
    assert (verdict["ok"], verdict["checked"], verdict["checkpoint"]) == (True, 10, {"size": 10, "ok": True})


@pytest.mark.parametrize("table", list(COLUMNS))
@pytest.mark.parametrize("statement", STATEMENTS)
def test_the_app_role_may_not_change_anything(pg_audit, table, statement):
    runtime, _signer = seeded(pg_audit)
    with pytest.raises(ProgrammingError, match="permission denied"), runtime.engine.begin() as conn:
        conn.execute(text(statement.format(t=table, c=COLUMNS[table])))


@pytest.mark.parametrize("table", list(COLUMNS))
@pytest.mark.parametrize("statement", STATEMENTS)
def test_triggers_refuse_even_the_owner(pg_audit, table, statement):
    seeded(pg_audit)
    owner = make_engine(pg_audit.owner_url)
    try:
        with pytest.raises(ProgrammingError, match="append-only"), owner.begin() as conn:
            conn.execute(text(statement.format(t=table, c=COLUMNS[table])))
        with owner.connect() as conn:
            assert conn.scalar(text(f"SELECT count(*) FROM {table}")) >= 1
    finally:
        owner.dispose()


@pytest.mark.parametrize("tamper", trail.TAMPERS, ids=lambda t: t.__name__)
def test_tampering_by_the_owner_is_caught(pg_audit, tamper):
    _runtime, signer = seeded(pg_audit)

    class Owner:  # the attacker's session: the owner's URL, triggers disabled
        engine = make_engine(pg_audit.owner_url)

        @staticmethod
        def transaction():
            from sqlalchemy.orm import Session

            session = Session(Owner.engine)
            session.begin()
            return _Committing(session)

    try:
        trail.drop_triggers(Owner.engine)
        first_bad, checkpoint_ok = tamper(Owner, signer)
    finally:
        Owner.engine.dispose()
    verdict = pg_audit.client("audit").get("/v1/verify", headers=pg_audit.headers("auditor")).json
    assert (verdict["ok"], verdict["first_bad_seq"], verdict["checkpoint"]) == (
        False,
        first_bad,
        {"size": 10, "ok": checkpoint_ok},
    ), verdict


class _Committing:
    def __init__(self, session):
        self.session = session

    def __enter__(self):
        return self.session

    def __exit__(self, kind, *_):
        if kind is None:
            self.session.commit()
        self.session.close()


def test_whistle_audit_grant_runs_as_the_owner_and_is_repeatable(pg_audit, app_role, monkeypatch, capsys):
    from services.cli import main

    monkeypatch.setenv("WHISTLE_AUDIT_DATABASE_URL", pg_audit.owner_url)
    assert main(["audit", "grant", app_role]) == 0
    assert "WHISTLE_AUDIT_APP_DATABASE_URL" in capsys.readouterr().out
    assert main(["audit", "grant", "robert'); drop table trail;--"]) == 2
    runtime, _signer = seeded(pg_audit)  # the app, as the re-granted role, still appends and reads
    with pytest.raises(ProgrammingError, match="permission denied"), runtime.engine.begin() as conn:
        conn.execute(text("DELETE FROM trail"))
