"""Audit's figures: verifying the hash chain (services/audit/verify.py's ``verify_trail``) in events
per second against reading the same rows in raw SQL, and ``GET /v1/events?case_id=`` with a large
trail stored against the echo app plus the same query in raw SQL. The trail is seeded by computing
the chain in Python exactly as ``service.append`` does (row → canonical JSON → leaf → chain) and
bulk-loading it with COPY."""

from __future__ import annotations

import hashlib
import importlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from .micro_infra import Databases, Web, bulk_load, migrate, open_loop_get, result, skipped, sql_floor, token

GET_RATE = 25.0
EVENTS_PER_CASE = 10
TYPES = (
    "case.reported",
    "case.dispatched",
    "task.assigned",
    "task.acknowledged",
    "task.progressed",
    "task.completed",
    "case.resolved",
    "case.closed",
    "notification.sent",
    "task.due_soon",
)
COLUMNS = (
    "seq",
    "event_id",
    "type",
    "source",
    "case_id",
    "department",
    "actor_role",
    "actor_id",
    "outcome",
    "occurred_at",
    "recorded_at",
    "canonical",
    "leaf_hash",
    "chain_hash",
)
LIST_SQL = "SELECT * FROM trail WHERE case_id = %s ORDER BY seq LIMIT 51"
READ_SQL = (
    "SELECT seq, canonical, leaf_hash, chain_hash, event_id, type, case_id, department, actor_id, outcome "
    "FROM trail ORDER BY seq"
)


def case_id(n: int) -> str:
    return str(uuid.UUID(int=n + 1))


def seed(url: str, events: int) -> float:
    """``events`` rows; event i concerns case i mod (events / EVENTS_PER_CASE), so a case's events are
    spread over the whole trail as they would be. Canonical bytes are sorted-key, separator-free JSON
    of strings and integers only: for such rows that is exactly RFC 8785 (JCS)."""
    started = time.perf_counter()
    cases = max(1, events // EVENTS_PER_CASE)
    t0 = datetime.now(UTC) - timedelta(days=30)
    previous = bytes(32)
    sha256 = hashlib.sha256
    with psycopg.connect(url) as conn:
        with bulk_load(conn, "trail"), conn.cursor().copy(f"COPY trail ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for seq in range(1, events + 1):
                at = t0 + timedelta(milliseconds=seq)
                stamp = at.isoformat().replace("+00:00", "Z")
                kind, case = TYPES[seq % len(TYPES)], case_id(seq % cases)
                row = {
                    "seq": seq,
                    "event_id": str(uuid.uuid4()),
                    "type": kind,
                    "source": "/whistle/dispatch",
                    "subject": case,
                    "case_id": case,
                    "department": "water",
                    "actor": {"role": "department", "id": "water-duty", "department": "water"},
                    "outcome": "ok",
                    "occurred_at": stamp,
                    "recorded_at": stamp,
                    "correlation_id": str(uuid.uuid4()),
                    "data": {"case_id": case, "department": "water", "note": "已到场处理", "version": 1},
                }
                canonical = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
                leaf = sha256(b"\x00" + canonical).digest()
                previous = sha256(previous + leaf).digest()
                copy.write_row(
                    (
                        seq,
                        row["event_id"],
                        kind,
                        row["source"],
                        case,
                        "water",
                        "department",
                        "water-duty",
                        "ok",
                        at,
                        at,
                        canonical,
                        leaf.hex(),
                        previous.hex(),
                    )
                )
    return round(time.perf_counter() - started, 1)


def raw_read(url: str) -> tuple[int, float]:
    """The floor for verifying: stream the same columns in the same order with a server-side cursor."""
    started = time.perf_counter()
    rows = 0
    with psycopg.connect(url) as conn, conn.cursor(name="floor") as cursor:
        cursor.itersize = 5000
        cursor.execute(READ_SQL)
        for _ in cursor:
            rows += 1
    return rows, time.perf_counter() - started


def run(dbs: Databases, workdir: Path, quick: bool, echo: Web) -> dict:
    names = ("audit.verify_events_per_s", "audit.list_events_by_case.p99")
    try:
        verify_trail = importlib.import_module("services.audit.verify").verify_trail
        from services.audit.models import metadata
        from services.common.config import Settings
        from services.common.runtime import Runtime
    except (ImportError, AttributeError) as exc:
        return {name: skipped(f"not available: {exc}") for name in names}
    url = dbs.create("audit")
    migrate("audit", url)
    with psycopg.connect(url) as conn:
        missing = [
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'trail' AND is_nullable = 'NO' "
                "AND column_default IS NULL"
            )
            if name not in COLUMNS
        ]
    if missing:
        return {name: skipped(f"not available: trail has unseeded columns {missing}") for name in names}
    events = 100_000 if quick else 1_000_000
    get_s = 3 if quick else 10
    seed_s = seed(url, events)
    out: dict = {}

    runtime = Runtime.build(
        Settings.load("audit", {"AUDIT_DATABASE_URL": url, "DATA_DIR": str(workdir / "var")}), metadata
    )
    try:
        started = time.perf_counter()
        with runtime.transaction() as session:
            verdict = verify_trail(session, [], None)
        seconds = time.perf_counter() - started
    finally:
        runtime.engine.dispose()
    rows, floor_s = raw_read(url)
    out[names[0]] = result(
        round(verdict["checked"] / seconds),
        "events/s",
        100_000,
        higher_is_better=True,
        floor=round(rows / floor_s),
        floor_name="same rows streamed in raw SQL, rows/s",
        events=events,
        seconds=round(seconds, 2),
        ok=verdict["ok"],
        first_bad_seq=verdict["first_bad_seq"],
        seed_s=seed_s,
    )

    echo_get = open_loop_get(workdir, [f"{echo.url}/healthz"], "none", GET_RATE, get_s)
    cases = [case_id(n) for n in range(0, events // EVENTS_PER_CASE, max(1, events // EVENTS_PER_CASE // 50))]
    with Web(workdir, "audit", {"WHISTLE_AUDIT_DATABASE_URL": url}) as web:
        latency = open_loop_get(
            workdir, [f"{web.url}/v1/events?case_id={c}" for c in cases], token("auditor"), GET_RATE, get_s
        )
    sql = sql_floor(url, LIST_SQL, (cases[len(cases) // 2],), repeat=100 if quick else 300)
    out[names[1]] = result(
        latency["p99"],
        "ms",
        50.0,
        floor=round(echo_get["p99"] + sql["p99"], 1),
        floor_name=f"echo GET p99 at {GET_RATE:g}/s + same SQL p99",
        events=events,
        events_per_case=EVENTS_PER_CASE,
        rate=GET_RATE,
        latency=latency,
        floor_echo=echo_get,
        floor_sql=sql,
    )
    return out
