"""Dispatch's figures: one department's ``GET /v1/tasks`` with many tasks stored, and the deadline
timers — a scan that finds nothing due among many pending timers, and a batch of due timers fired —
by calling services/dispatch/timers.py's ``fire_due`` with an injected ``now`` on a seeded database.
Each next to the same query (or the same writes) in raw SQL, and the echo app for HTTP."""

from __future__ import annotations

import importlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from .micro_infra import Databases, Web, bulk_load, migrate, open_loop_get, result, skipped, sql_floor, timed, token

GET_RATE = 25.0
DEPARTMENTS = (
    "water",
    "housing",
    "urban_management",
    "power",
    "gas",
    "telecom",
    "landscaping",
    "police",
    "sanitation",
    "transport",
)
DUE = 1000

# The columns seeded for each table; a NOT NULL column without a default missing here means the
# schema moved on, and the part reports itself skipped rather than guess.
COLUMNS = {
    "cases": "id, number, title, category, severity, address, street, community, status, duplicate_of, "
    "escalation_level, fallback, reopened_by_feedback, history, created_at, updated_at",
    "tasks": "id, case_id, department, role, status, severity, ack_due, resolve_due, acknowledged_at, completed_at, "
    "eta, resolution, version, history, created_at, updated_at",
    "timers": "task_id, case_id, kind, due_at, fired_at, outcome",
}
SEED_CASES = """INSERT INTO cases ({cols})
SELECT md5('c' || i)::uuid::text, 'WS-SEED-' || lpad(i::text, 8, '0'), '地下车库渗漏 #' || i, 'water_supply',
       'urgent', '伟业佳苑地下停车场 ' || i || '号', '紫阳街道', '武泰闸社区', 'dispatched', NULL, 0, '[]', false, '[]',
       %(t0)s - make_interval(secs => i * 30), %(t0)s - make_interval(secs => i * 30)
FROM generate_series(1, %(n)s) AS i"""
SEED_TASKS = """INSERT INTO tasks ({cols})
SELECT md5('t' || i)::uuid::text, md5('c' || i)::uuid::text, (%(departments)s::text[])[1 + mod(i, %(d)s)], 'lead',
       'assigned', 'urgent', %(t0)s + interval '2 hours', %(t0)s + interval '24 hours', NULL, NULL, NULL, NULL, 1,
       '[]', %(t0)s - make_interval(secs => i * 30), %(t0)s - make_interval(secs => i * 30)
FROM generate_series(1, %(n)s) AS i"""
# Pending timers far in the future, and DUE more that fall due a minute after t0 (half due_soon,
# half overdue), all on live, unacknowledged tasks so that each really fires.
SEED_TIMERS = """INSERT INTO timers ({cols})
SELECT md5('t' || (1 + mod(i, %(n)s)))::uuid::text, md5('c' || (1 + mod(i, %(n)s)))::uuid::text,
       'resolve.overdue', %(t0)s + interval '1 day' + make_interval(secs => i), NULL::timestamptz, NULL::text
FROM generate_series(1, %(pending)s) AS i
UNION ALL
SELECT md5('t' || i)::uuid::text, md5('c' || i)::uuid::text,
       CASE WHEN mod(i, 2) = 0 THEN 'acknowledge.due_soon' ELSE 'resolve.overdue' END,
       %(t0)s + interval '60 seconds' + make_interval(secs => i * 0.001), NULL, NULL
FROM generate_series(1, %(due)s) AS i"""
SCAN_SQL = (
    "SELECT id, task_id, case_id, kind FROM timers WHERE fired_at IS NULL AND due_at <= %s "
    "ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED"
)
FIRE_FLOOR_SQL = [
    "UPDATE timers SET fired_at = %(now)s, outcome = 'fired' WHERE id IN (SELECT id FROM timers WHERE fired_at IS NULL "
    "AND due_at <= %(now)s ORDER BY due_at LIMIT %(due)s FOR UPDATE SKIP LOCKED)",
    "INSERT INTO outbox (event_id, type, body, status, attempts, created_at) SELECT gen_random_uuid()::text, "
    "'task.overdue', repeat('x', 600), 'pending', 0, %(now)s FROM generate_series(1, %(due)s)",
]
LIST_SQL = (
    "SELECT * FROM tasks t JOIN cases c ON c.id = t.case_id WHERE t.department = 'water' "
    "ORDER BY t.created_at DESC, t.id DESC LIMIT 51"
)


def unseeded_columns(conn: psycopg.Connection) -> list[str]:
    missing = []
    for table, cols in COLUMNS.items():
        given = {c.strip() for c in cols.split(",")}
        for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND is_nullable = 'NO' AND column_default IS NULL",
            (table,),
        ):
            if name not in given:
                missing.append(f"{table}.{name}")
    return missing


def run(dbs: Databases, workdir: Path, quick: bool, echo: Web) -> dict:
    names = ("dispatch.list_tasks.p99", "dispatch.timer_scan_nothing_due.p99", "dispatch.fire_1000_due.seconds")
    try:
        timers = importlib.import_module("services.dispatch.timers")
        fire_due = timers.fire_due
        from services.common.config import Settings
        from services.common.runtime import Runtime
        from services.dispatch.models import metadata
    except (ImportError, AttributeError) as exc:
        return {name: skipped(f"not available: {exc}") for name in names}
    url = dbs.create("dispatch")
    migrate("dispatch", url)
    tasks = pending = 30_000 if quick else 100_000
    get_s, scans = (3, 50) if quick else (10, 200)
    t0 = datetime.now(UTC).replace(microsecond=0)
    params = {
        "t0": t0,
        "n": tasks,
        "pending": pending,
        "due": DUE,
        "departments": list(DEPARTMENTS),
        "d": len(DEPARTMENTS),
    }
    with psycopg.connect(url) as conn:
        missing = unseeded_columns(conn)
        if missing:
            return {name: skipped(f"not available: schema has unseeded columns {missing}") for name in names}
        started = time.perf_counter()
        for table, sql in (("cases", SEED_CASES), ("tasks", SEED_TASKS), ("timers", SEED_TIMERS)):
            with bulk_load(conn, table):
                conn.execute(sql.format(cols=COLUMNS[table]), params)
        seed_s = round(time.perf_counter() - started, 1)
    out: dict = {}
    echo_get = open_loop_get(workdir, [f"{echo.url}/healthz"], "none", GET_RATE, get_s)
    with Web(workdir, "dispatch", {"WHISTLE_DISPATCH_DATABASE_URL": url}) as web:
        latency = open_loop_get(
            workdir, [f"{web.url}/v1/tasks"], token("department", department="water"), GET_RATE, get_s
        )
    sql = sql_floor(url, LIST_SQL, repeat=100 if quick else 300)
    out[names[0]] = result(
        latency["p99"],
        "ms",
        50.0,
        floor=round(echo_get["p99"] + sql["p99"], 1),
        floor_name=f"echo GET p99 at {GET_RATE:g}/s + same SQL p99",
        tasks=tasks,
        department_tasks=tasks // len(DEPARTMENTS),
        seed_s=seed_s,
        rate=GET_RATE,
        latency=latency,
        floor_echo=echo_get,
        floor_sql=sql,
    )

    runtime = Runtime.build(
        Settings.load("dispatch", {"DISPATCH_DATABASE_URL": url, "DATA_DIR": str(workdir / "var")}), metadata
    )
    try:
        scan, fired = timed(lambda: fire_due(runtime, t0), scans)
        floor = sql_floor(url, SCAN_SQL, (t0,), repeat=scans)
        out[names[1]] = result(
            scan["p99"],
            "ms",
            50.0,
            floor=floor["p99"],
            floor_name="same SELECT in raw SQL",
            pending_timers=pending + DUE,
            fired=sum(fired),
            latency=scan,
            floor_latency=floor,
        )
        later = t0 + timedelta(seconds=120)
        with psycopg.connect(url) as conn:  # the same writes in raw SQL, rolled back
            started = time.perf_counter()
            for statement in FIRE_FLOOR_SQL:
                conn.execute(statement, {"now": later, "due": DUE})
            floor_s = time.perf_counter() - started
            conn.rollback()
        started = time.perf_counter()
        count = fire_due(runtime, later)
        seconds = time.perf_counter() - started
        with psycopg.connect(url) as conn:
            outcomes = dict(
                conn.execute(
                    "SELECT outcome, count(*) FROM timers WHERE fired_at = %s GROUP BY outcome", (later,)
                ).fetchall()
            )
        out[names[2]] = result(
            round(seconds, 3),
            "s",
            2.0,
            floor=round(floor_s, 3),
            floor_name=f"UPDATE {DUE} timers + INSERT {DUE} outbox rows in raw SQL",
            due=DUE,
            handled=count,
            outcomes=outcomes,
            pending_timers=pending,
        )
    finally:
        runtime.engine.dispose()
    return out
