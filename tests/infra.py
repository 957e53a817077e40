"""Test infrastructure: the real PostgreSQL and RabbitMQ of this machine, isolated per run.

Each test session gets its own RabbitMQ vhost and its own PostgreSQL databases (dropped at the
end). Without the servers those tests skip, unless ``WHISTLE_REQUIRE_BROKER=1`` (as in CI), where
their absence is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

PG_ADMIN_URL = os.environ.get("WHISTLE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_HOST = os.environ.get("WHISTLE_TEST_AMQP_HOST", "127.0.0.1:5672")
RUN_ID = uuid.uuid4().hex[:8]


def required() -> bool:
    return os.environ.get("WHISTLE_REQUIRE_BROKER") == "1"


def unavailable(what: str, why: object):
    message = f"{what} not reachable: {why}"
    if required():
        pytest.fail(message + " (WHISTLE_REQUIRE_BROKER=1)", pytrace=False)
    pytest.skip(message)


def pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(
        PG_ADMIN_URL.replace("postgresql://", "postgresql://", 1), autocommit=True, connect_timeout=5
    ) as conn:
        conn.execute(sql)


def create_database(name: str) -> str:
    try:
        _pg_admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - any failure means the server is not usable
        unavailable("PostgreSQL", exc)
    return pg_url(name)


def drop_database(name: str) -> None:
    try:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:  # noqa: BLE001 - best effort at teardown
        pass


def rabbitmqctl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)


def create_vhost(name: str) -> str:
    try:
        done = rabbitmqctl("add_vhost", name)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip() or done.stdout.strip())
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    except Exception as exc:  # noqa: BLE001
        unavailable("RabbitMQ", exc)
    return f"amqp://guest:guest@{AMQP_HOST}/{name}"


def delete_vhost(name: str) -> None:
    try:
        rabbitmqctl("delete_vhost", name)
    except Exception:  # noqa: BLE001 - best effort at teardown
        pass
