"""Statements that run all the time keep to their indexes on PostgreSQL however it plans them:
with the parameters at hand (a custom plan) or once for any values (a generic plan, which it may
switch to once psycopg has prepared a statement run five times), and before a new table was ever
analyzed. A wrong plan here does not fail a functional test: it reads every row, and grows with the
table."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

import psycopg.sql
import pytest
from sqlalchemy import MetaData, insert, text
from sqlalchemy.orm import Session

from services.common.config import Settings
from services.common.db import bus_tables, make_engine, make_sessionmaker
from services.common.migrations import upgrade
from services.common.pruning import oldest
from services.common.relay import Relay
from services.intake.duplicates import AT_ADDRESS, NEAR_POINT, NOT_OPEN, _bounding_box, cells_covering, geo_cell
from services.intake.models import Case

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def explain(session: Session, statement, params: dict, *, generic: bool) -> dict:
    """EXPLAIN ANALYZE of ``statement`` prepared, under a generic or a custom plan."""
    # The engine's paramstyle numbers the placeholders ($1, $2, …) as PREPARE wants them.
    expanded = statement.compile(dialect=session.bind.dialect).construct_expanded_state(params)
    sql = expanded.statement
    conn = session.connection()
    conn.exec_driver_sql(f"SET LOCAL plan_cache_mode = {'force_generic_plan' if generic else 'force_custom_plan'}")
    conn.exec_driver_sql(f"PREPARE probe AS {sql}")
    try:
        # As literals: EXECUTE under EXPLAIN takes no bound parameters.
        values = psycopg.sql.SQL(", ").join(psycopg.sql.Literal(value) for value in expanded.positional_parameters)
        plan = conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE probe({values.as_string(conn.connection.driver_connection)})"
        ).scalar()
    finally:
        conn.exec_driver_sql("DEALLOCATE probe")
    return plan[0]["Plan"]


def rows_thrown_away(plan: dict) -> int:
    """Rows the plan's scans read only to drop them."""
    return (
        plan.get("Rows Removed by Filter", 0)
        + plan.get("Rows Removed by Index Recheck", 0)
        + sum(rows_thrown_away(child) for child in plan.get("Plans", []))
    )


def returned(plan: dict) -> int:
    return plan["Actual Rows"]


def analyze(engine, table: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"ANALYZE {table}"))


@pytest.fixture
def outbox_on(pg_database_url):
    """Makes an outbox holding ``rows`` (each given only what differs from a sent row); yields
    its engine, sessions and table."""
    metadata = MetaData()
    outbox, _ = bus_tables(metadata)
    engine = make_engine(pg_database_url)
    metadata.create_all(engine)
    sessions = make_sessionmaker(engine)

    def make(rows: list[dict]):
        sent = {"type": "case.reported", "body": "{}", "status": "sent", "attempts": 0, "created_at": NOW}
        with sessions() as session, session.begin():
            session.execute(insert(outbox), [{**sent, "event_id": str(uuid.uuid4()), **row} for row in rows])
        return engine, sessions, outbox

    yield make
    engine.dispose()


@pytest.mark.parametrize("analyzed", [False, True])
@pytest.mark.parametrize("generic", [False, True])
def test_the_relay_reads_only_pending_rows_of_a_long_outbox(outbox_on, analyzed, generic):
    engine, sessions, outbox = outbox_on([{}] * 5000 + [{"status": "pending"}] * 3)
    if analyzed:
        analyze(engine, "outbox")
    relay = Relay(Settings.load("intake"), sessions, outbox, threading.Event())
    with sessions() as session, session.begin():
        plan = explain(session, relay._due, {"now": NOW, "limit": 500}, generic=generic)
    assert returned(plan) == 3
    assert rows_thrown_away(plan) < 50, plan


@pytest.mark.parametrize("generic", [False, True])
def test_pruning_reads_only_the_rows_it_forgets(outbox_on, generic):
    engine, sessions, outbox = outbox_on(
        [{"sent_at": NOW - timedelta(days=8 if n < 10 else 1, seconds=n)} for n in range(5000)]
    )
    analyze(engine, "outbox")  # a table grown long enough to prune has been analyzed
    with sessions() as session, session.begin():
        plan = explain(
            session,
            oldest([outbox.c.seq], outbox.c.sent_at),
            {"cutoff": NOW - timedelta(days=7), "chunk": 1000},
            generic=generic,
        )
    assert returned(plan) == 10
    assert rows_thrown_away(plan) == 0, plan


@pytest.fixture
def intake_cases(pg_database_url):
    """Intake's schema holding 3,000 open water cases of the last day, spread over a city 30 km
    across, each at its own address; not yet analyzed."""
    upgrade("intake", pg_database_url)
    engine = make_engine(pg_database_url)
    spread = random.Random(7)
    cases = []
    for n in range(3000):
        lat, lon = 30.40 + spread.random() * 0.27, 114.10 + spread.random() * 0.31
        cases.append(
            dict(
                id=str(uuid.uuid4()),
                number=f"WS-2026-{n:06d}",
                status="dispatched",
                title="停水",
                category="water_supply",
                severity="normal",
                channel="web",
                address=f"紫阳路{n}号",
                address_key=f"紫阳路{n}号",
                lat=lat,
                lon=lon,
                geo_cell=geo_cell(lat, lon),
                media_urls=[],
                departments=[],
                notes=[],
                progress={},
                reporter_count=1,
                reopen_count=0,
                reported_by="staff-1",
                created_at=NOW - timedelta(minutes=n % 1440),
                updated_at=NOW,
            )
        )
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        session.execute(insert(Case.__table__), cases)
    yield engine, sessions, cases
    engine.dispose()


def duplicate_check_params(case: dict, **extra) -> dict:
    return {
        "category": "water_supply",
        "since": NOW - timedelta(hours=72),
        "id": str(uuid.uuid4()),
        "address_key": case["address_key"],
        "not_open": list(NOT_OPEN),
        **extra,
    }


@pytest.mark.parametrize("analyzed", [False, True])
@pytest.mark.parametrize("generic", [False, True])
def test_the_duplicate_check_looks_an_address_up(intake_cases, analyzed, generic):
    engine, sessions, cases = intake_cases
    if analyzed:
        analyze(engine, "cases")
    with sessions() as session, session.begin():
        plan = explain(session, AT_ADDRESS, duplicate_check_params(cases[1234]), generic=generic)
    assert returned(plan) == 1
    assert rows_thrown_away(plan) == 0, plan


@pytest.mark.parametrize("generic", [False, True])
def test_the_duplicate_check_looks_up_the_cells_around_a_point(intake_cases, generic):
    """Once the table was analyzed, as autovacuum does after its first fifty-odd cases: before,
    PostgreSQL guesses that a category holds one case in two hundred and reads them all."""
    engine, sessions, cases = intake_cases
    analyze(engine, "cases")
    target = cases[1234]
    box = _bounding_box(target["lat"], target["lon"], 250.0)
    with sessions() as session, session.begin():
        plan = explain(
            session, NEAR_POINT, duplicate_check_params(target, cells=cells_covering(box), **box), generic=generic
        )
    in_box = sum(
        1
        for c in cases
        if box["lat_min"] <= c["lat"] <= box["lat_max"] and box["lon_min"] <= c["lon"] <= box["lon_max"]
    )
    assert returned(plan) == in_box >= 1
    assert rows_thrown_away(plan) < 50, plan  # the few in the cells but outside the box
