"""Audit on the real PostgreSQL: a database of its own per test, migrated by the owner, and an
insert-only login role named for this run (roles are cluster-wide)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

from services.audit.roles import grant_insert_only
from services.common.db import make_engine
from tests import infra
from tests.platform import Platform, dev_config


@pytest.fixture(scope="session")
def app_role():
    name = f"whistle_audit_{infra.RUN_ID}"
    yield name
    try:  # after every test database is gone, the role owns and holds nothing
        with psycopg.connect(infra.PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')
    except psycopg.Error:
        pass


@pytest.fixture
def audit_db():
    """The owner's URL of a fresh, empty database."""
    name = f"whistle_{infra.RUN_ID}_audit_{uuid.uuid4().hex[:6]}"
    yield infra.create_database(name)
    infra.drop_database(name)


@pytest.fixture
def pg_audit(tmp_path, audit_db, app_role):
    """Audit migrated by the owner; its web app connects as the insert-only role."""
    engine = make_engine(audit_db)
    try:
        from services.common.migrations import upgrade

        upgrade("audit", audit_db)
        grant_insert_only(engine, app_role)
    finally:
        engine.dispose()
    app_url = make_url(audit_db).set(username=app_role).render_as_string(hide_password=False)
    config = dev_config(
        tmp_path,
        AUDIT_DATABASE_URL=audit_db,
        AUDIT_APP_DATABASE_URL=app_url,
        AUDIT_CHECKPOINT_DIR=str(tmp_path / "cps"),
    )
    platform = Platform(config, services=("audit",))
    platform.owner_url, platform.app_url = audit_db, app_url
    yield platform
    platform.stop()
