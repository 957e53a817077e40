"""Fixtures shared by every tier."""

from __future__ import annotations

import uuid

import pytest

from services.common.config import SERVICES
from tests import infra
from tests.platform import Platform, dev_config, unique_prefix


@pytest.fixture(scope="session")
def broker_url():
    """A RabbitMQ vhost of this test session's own."""
    name = f"whistle-test-{infra.RUN_ID}"
    url = infra.create_vhost(name)
    yield url
    infra.delete_vhost(name)


@pytest.fixture
def pg_databases():
    """Fresh PostgreSQL databases, one per service; dropped after the test."""
    created = []

    def make(tag: str = "") -> dict[str, str]:
        urls = {}
        for service in SERVICES:
            name = f"whistle_{infra.RUN_ID}_{tag or len(created)}_{service}"
            urls[f"{service.upper()}_DATABASE_URL"] = infra.create_database(name)
            created.append(name)
        return urls

    yield make
    for name in created:
        infra.drop_database(name)


@pytest.fixture
def pg_database_url(request):
    """A fresh PostgreSQL database of the test's own; dropped after the test."""
    name = f"whistle_{infra.RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = infra.create_database(name)  # skips (fails in CI) without PostgreSQL
    request.addfinalizer(lambda: infra.drop_database(name))
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh database of the test's own, on SQLite and again on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'own.db'}"
    return request.getfixturevalue("pg_database_url")


@pytest.fixture
def real_config(tmp_path, broker_url, pg_databases):
    """Everything real: RabbitMQ (own vhost, own queue prefix) and PostgreSQL (own databases)."""
    config = dev_config(tmp_path, BROKER_URL=broker_url, TOPOLOGY_PREFIX=unique_prefix(), BROKER_HEARTBEAT=10)
    config.update(pg_databases())
    return config


@pytest.fixture
def dev_platform(tmp_path):
    """The four services on SQLite and memory:// (the `whistle dev` wiring), workers running."""
    platform = Platform(dev_config(tmp_path)).start_workers()
    yield platform
    platform.stop()


@pytest.fixture
def real_platform(real_config):
    platform = Platform(real_config).start_workers()
    yield platform
    platform.stop()
