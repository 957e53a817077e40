"""Each service's migrations build exactly the schema its models describe, on SQLite and on
PostgreSQL, and its latest revision steps down and up again."""

from __future__ import annotations

import importlib

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.common.config import SERVICES
from services.common.db import make_engine
from services.common.migrations import alembic_config, upgrade


def differences(service: str, url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            metadata = importlib.import_module(f"services.{service}.models").metadata
            return compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_build_the_models_schema_and_the_last_one_reverses(service, database_url):
    upgrade(service, database_url)
    assert differences(service, database_url) == []
    command.downgrade(alembic_config(service, database_url), "-1")
    assert differences(service, database_url) != []  # the step down changed something
    upgrade(service, database_url)
    assert differences(service, database_url) == []


def test_intake_0003_files_every_located_case_under_its_cell(database_url):
    """Closed cases too: one may be reopened within the duplicate window."""
    from sqlalchemy import text

    from services.intake.duplicates import geo_cell

    upgrade("intake", database_url, "0002")
    engine = make_engine(database_url)
    located = {"east": (30.52, 114.31), "west": (-33.87, -70.65)}
    try:
        with engine.begin() as conn:
            for name, (lat, lon) in [*located.items(), ("nowhere", (None, None))]:
                conn.execute(
                    text(
                        "INSERT INTO cases (id, number, status, title, category, severity, channel, address,"
                        " media_urls, departments, notes, reported_by, created_at, updated_at, lat, lon)"
                        " VALUES (:id, :id, 'closed', 't', 'water_supply', 'normal', 'web', 'a', '[]', '[]', '[]',"
                        " 's', :at, :at, :lat, :lon)"
                    ),
                    {"id": name, "at": "2026-11-01T00:00:00+00:00", "lat": lat, "lon": lon},
                )
        upgrade("intake", database_url)
        with engine.connect() as conn:
            cells = dict(conn.execute(text("SELECT id, geo_cell FROM cases")).all())
    finally:
        engine.dispose()
    assert cells == {**{name: geo_cell(*point) for name, point in located.items()}, "nowhere": None}
