"""A web process whose database connections were cut (a PostgreSQL restart, an administrator's
pg_terminate_backend): a connection that sat idle is tested before use and replaced, so the request
succeeds; one cut while in use answers 503 with Retry-After (under Open311, in its error list), and
the next request succeeds."""

from __future__ import annotations

import time

import psycopg
import pytest

from services.common.db import PING_AFTER_IDLE
from tests import infra
from tests.platform import Platform, dev_config

pytestmark = [pytest.mark.postgres]


def cut_connections(database_url: str) -> int:
    database = database_url.rsplit("/", 1)[1]
    with psycopg.connect(infra.pg_url("postgres"), autocommit=True) as admin:
        return len(
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
            ).fetchall()
        )


@pytest.fixture
def intake(tmp_path, pg_databases):
    config = dev_config(tmp_path)
    config.update(pg_databases())
    platform = Platform(config, services=("intake",))
    yield platform, config["INTAKE_DATABASE_URL"]
    platform.stop()


def list_cases(platform: Platform):
    return platform.client("intake").get("/v1/cases", headers=platform.headers("admin"))


def test_an_idle_connection_that_was_cut_is_replaced_before_use(intake):
    platform, url = intake
    assert list_cases(platform).status_code == 200
    assert cut_connections(url) >= 1
    time.sleep(PING_AFTER_IDLE + 0.2)
    assert list_cases(platform).status_code == 200


def test_a_connection_cut_while_in_use_answers_503_then_recovers(intake):
    platform, url = intake
    assert list_cases(platform).status_code == 200
    assert cut_connections(url) >= 1
    response = list_cases(platform)  # at once: the pooled connection is taken without a ping
    assert response.status_code == 503
    assert response.json["code"] == "UNAVAILABLE"
    assert response.headers["Retry-After"] == "1"
    assert list_cases(platform).status_code == 200


def test_under_open311_the_503_comes_in_the_spec_shape(intake):
    platform, url = intake
    services = "/open311/v2/requests.json"
    client = platform.client("intake")
    assert client.get(services).status_code == 200
    assert cut_connections(url) >= 1
    response = client.get(services)
    assert response.status_code == 503
    assert response.json == [{"code": 503, "description": "The database is unavailable; try again shortly."}]
    assert response.headers["Retry-After"] == "1"
    assert client.get(services).status_code == 200
