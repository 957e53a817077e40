"""deploy/postgres-init/10-create-databases.sh, run as the postgres image would against this
machine's PostgreSQL: a database and a login role per service, and audit's insert-only role; then
audit's part of compose, `whistle migrate audit` and `whistle audit grant` as the owner."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg
import pytest
from scramp import ScramMechanism

from tests import infra
from tests.e2e.deploy.files import INIT_SCRIPT, SERVICES


def test_init_script_is_executable():
    # The postgres image sources (instead of runs) a .sh file without the execute bit.
    assert os.access(INIT_SCRIPT, os.X_OK)
    subprocess.run(["sh", "-n", str(INIT_SCRIPT)], check=True)


def _connect(**params) -> psycopg.Connection:
    return psycopg.connect(autocommit=True, connect_timeout=5, **params)


def _whistle() -> str:
    """The `whistle` console script of the environment running the tests."""
    script = Path(sys.executable).with_name("whistle")
    found = str(script) if os.access(script, os.X_OK) else shutil.which("whistle")
    assert found, "the whistle command is not installed (pip install -e .)"
    return found


def _password_is(verifier: str, password: str) -> bool:
    """Whether PostgreSQL's stored ``verifier`` (pg_authid.rolpassword, SCRAM-SHA-256) is of ``password``.

    The verifier is ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` (RFC 5803's
    layout); scramp derives the keys that ``password`` gives with that salt and count.
    """
    assert verifier.startswith("SCRAM-SHA-256$"), verifier[:14]
    iterations_salt, keys = verifier.removeprefix("SCRAM-SHA-256$").split("$")
    iterations, salt = iterations_salt.split(":")
    _, stored_key, server_key, _ = ScramMechanism("SCRAM-SHA-256").make_auth_info(
        password, iteration_count=int(iterations), salt=base64.b64decode(salt)
    )
    return [base64.b64encode(key).decode() for key in (stored_key, server_key)] == keys.split(":")


_TRAIL_ROW = (
    "insert into trail (seq, event_id, type, source, actor_role, actor_id, outcome, occurred_at, recorded_at,"
    " canonical, leaf_hash, chain_hash) values (%s, %s, 'case.created', 'intake', 'system', 'test', 'ok',"
    " now(), now(), '\\x00', repeat('0', 64), repeat('0', 64))"
)


@pytest.mark.postgres
def test_init_script_creates_a_database_and_role_per_service():
    """Run the script as the image would, against this machine's PostgreSQL (tests/infra.py), then
    audit's part of compose: `whistle migrate audit` and `whistle audit grant` as the owner."""
    admin = urlsplit(infra.PG_ADMIN_URL)
    server = {"host": admin.hostname or "127.0.0.1", "port": admin.port or 5432}
    admin_login = {**server, "user": admin.username or "postgres", "password": admin.password}
    try:
        _connect(**admin_login, dbname="postgres").close()
    except Exception as exc:  # noqa: BLE001 - any failure means the server is not usable
        infra.unavailable("PostgreSQL", exc)
    if not shutil.which("psql"):
        infra.unavailable("psql", "not installed")

    prefix = f"whistle_t{infra.RUN_ID}_"  # roles are cluster-wide: a name per run
    app_role = f"{prefix}audit_app"
    password, owner_password, app_password = "it's a secret", "the owner's @ secret", "the app's secret"
    env = {
        **os.environ,
        "PGHOST": server["host"],
        "PGPORT": str(server["port"]),
        "PGPASSWORD": admin.password or "",
        "POSTGRES_USER": admin_login["user"],
        "WHISTLE_DB_PREFIX": prefix,
        "WHISTLE_DB_PASSWORD": password,
        "WHISTLE_AUDIT_DB_PASSWORD": owner_password,
        "WHISTLE_AUDIT_APP_DB_PASSWORD": app_password,
    }
    try:
        result = subprocess.run([str(INIT_SCRIPT)], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        with _connect(**admin_login, dbname="postgres") as conn:
            owners = conn.execute(
                "select datname, pg_get_userbyid(datdba) from pg_database where datname like %s order by oid",
                (prefix + "%",),
            ).fetchall()
            roles = conn.execute(
                "select rolname, rolcanlogin, rolcreaterole, rolcreatedb, rolsuper from pg_roles"
                " where rolname like %s order by rolname",
                (prefix + "%",),
            ).fetchall()
        assert owners == [(f"{prefix}{s}", f"{prefix}{s}") for s in SERVICES]
        # Plain logins, all five: the owners make no roles (audit's is made here, above).
        assert roles == sorted((f"{prefix}{s}", True, False, False, False) for s in [*SERVICES, "audit_app"])

        # Each role logs in with the password and works in its own database...
        own = {**server, "user": f"{prefix}intake", "password": password}
        with _connect(**own, dbname=f"{prefix}intake") as conn:
            conn.execute("create table t (x int); drop table t")
        # ...and cannot even connect to another service's.
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            _connect(**own, dbname=f"{prefix}audit").close()

        # audit's insert-only role may connect to audit's database, and to no other.
        app = {**server, "user": app_role, "password": app_password, "dbname": f"{prefix}audit"}
        _connect(**app).close()
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            _connect(**{**app, "dbname": f"{prefix}intake"}).close()
        # Each role has its password, audit's two their own (read from the catalogue: a server
        # that trusts local logins, like this machine's, would let any password in).
        with _connect(**admin_login, dbname="postgres") as conn:
            kept = dict(
                conn.execute(
                    "select rolname, rolpassword from pg_authid where rolname like %s", (prefix + "%",)
                ).fetchall()
            )
        assert all(_password_is(kept[f"{prefix}{s}"], password) for s in SERVICES if s != "audit")
        assert _password_is(kept[f"{prefix}audit"], owner_password)
        assert _password_is(kept[app_role], app_password)
        assert not _password_is(kept[f"{prefix}audit"], password) and not _password_is(kept[app_role], owner_password)

        # What compose's migrate and audit-grant run, as the owner (who has no CREATEROLE: the
        # grant finds the role and only grants).
        owner_url = (
            f"postgresql://{prefix}audit:{quote(owner_password, safe='')}@"
            f"{server['host']}:{server['port']}/{prefix}audit"
        )
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_AUDIT_")}
        cli_env["WHISTLE_AUDIT_DATABASE_URL"] = owner_url
        migrated = subprocess.run([_whistle(), "migrate", "audit"], env=cli_env, capture_output=True, text=True)
        assert migrated.returncode == 0, migrated.stderr
        with _connect(**app) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from trail")  # nothing before the grant
        granted = subprocess.run([_whistle(), "audit", "grant", app_role], env=cli_env, capture_output=True, text=True)
        assert granted.returncode == 0, granted.stderr

        with _connect(**app) as conn:
            conn.execute(_TRAIL_ROW, (1, "00000000-0000-4000-8000-000000000001"))
            assert conn.execute("select seq, actor_id from trail").fetchall() == [(1, "test")]
            # Refused by the privileges, before the append-only triggers could be reached.
            for statement in ("update trail set actor_id = 'someone else'", "delete from trail", "truncate trail"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
            assert conn.execute("select count(*) from trail").fetchone() == (1,)
    finally:
        with _connect(**admin_login, dbname="postgres") as conn:
            for service in SERVICES:
                conn.execute(f'drop database if exists "{prefix}{service}" with (force)')
                conn.execute(f'drop role if exists "{prefix}{service}"')
            conn.execute(f'drop role if exists "{app_role}"')  # after the database its grants were in
