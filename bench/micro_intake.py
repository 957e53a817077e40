"""Intake's figures: ``POST /v1/cases`` at a fixed open-loop rate on a fresh database, and
``GET /v1/cases`` (plain, filtered, a deep cursor page) with a large table seeded in SQL — each next
to the bare echo app under the same gunicorn settings and, for reads, the same query in raw SQL."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import psycopg

from services.common.pagination import encode_cursor
from services.intake.duplicates import GEO_CELL_COLUMNS, GEO_CELL_DEGREES

from .micro_infra import Databases, Web, bulk_load, migrate, open_loop_get, post_open_loop, result, sql_floor, token

POST_RATE = 100.0
GET_RATE = 25.0
TARGET_MS = 50.0
STATUSES = ("reported", "dispatched", "in_progress", "resolved", "closed", "triage", "duplicate", "rejected")
CATEGORIES = (
    "water_supply",
    "drainage",
    "building_safety",
    "ev_charging",
    "parking",
    "trees",
    "street_lighting",
    "heating",
    "sanitation",
    "neighbour_dispute",
    "other",
)
COMMUNITIES = 53  # prime, so a community does not determine a category or a status

# Every column of intake's cases table (services/intake/models.py, migrations 0001–0003), NOT NULLs
# all given, geo_cell as duplicates.geo_cell files the point; created_at steps back 30 s per row, so
# a million rows cover about a year.
SEED = f"""
INSERT INTO cases (id, number, status, title, description, category, severity, channel, address, address_key,
                   street, community, grid, lat, lon, reporter_ref, reporter_name, reporter_phone, occurred_at,
                   media_urls, duplicate_of, reporter_count, departments, expected_at, notes, progress,
                   status_changed_at, reopen_count, reported_by, created_at, updated_at, geo_cell)
SELECT gen_random_uuid()::text, 'WS-SEED-' || lpad(i::text, 8, '0'),
       (ARRAY{list(STATUSES)})[1 + mod(i, {len(STATUSES)})], '地下车库自来水主管网渗漏 #' || i, '高峰期水压不够',
       (ARRAY{list(CATEGORIES)})[1 + mod(i, {len(CATEGORIES)})], 'normal', 'grid',
       '伟业佳苑地下停车场 ' || i || '号', '伟业佳苑地下停车场' || i || '号', '紫阳街道',
       '社区' || (mod(i::bigint * 7919, {COMMUNITIES})), 'G-' || mod(i, 20), 30.5 + mod(i, 1000) * 0.0001,
       114.3 + mod(i, 997) * 0.0001, gen_random_uuid()::text, '尹师傅', '13800138000', NULL,
       '[]', NULL, 1, '["water"]', NULL, '[]', '{{}}', NULL, 0, 'seed',
       now() - make_interval(secs => i * 30), now() - make_interval(secs => i * 30),
       floor((30.5 + mod(i, 1000) * 0.0001) / {GEO_CELL_DEGREES})::bigint * {GEO_CELL_COLUMNS}
       + floor((114.3 + mod(i, 997) * 0.0001) / {GEO_CELL_DEGREES})::bigint
FROM generate_series(1, %s) AS i
"""

LIST_SQL = "SELECT * FROM cases {where} ORDER BY created_at DESC, id DESC LIMIT 51"


def seed_cases(url: str, rows: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        with bulk_load(conn, "cases"):
            conn.execute(SEED, (rows,))
    return round(time.perf_counter() - started, 1)


def run(dbs: Databases, workdir: Path, quick: bool, echo: Web) -> dict:
    url = dbs.create("intake")
    migrate("intake", url)
    rows = 100_000 if quick else 1_000_000
    post_s, get_s = (6, 3) if quick else (20, 10)
    out: dict = {}
    staff = token("staff", community="武泰闸社区")
    echo_post = post_open_loop(workdir, f"{echo.url}/echo", "none", POST_RATE, post_s)
    echo_get = open_loop_get(workdir, [f"{echo.url}/healthz"], "none", GET_RATE, get_s)
    with Web(workdir, "intake", {"WHISTLE_INTAKE_DATABASE_URL": url}) as web:
        post = post_open_loop(workdir, f"{web.url}/v1/cases", staff, POST_RATE, post_s)
        out["intake.post_cases.p99"] = result(
            post["p99"],
            "ms",
            TARGET_MS,
            floor=echo_post["p99"],
            floor_name=f"echo POST p99 at {POST_RATE:g}/s",
            rate=POST_RATE,
            duration_s=post_s,
            latency=post,
            floor_latency=echo_post,
        )
        seeded_s = seed_cases(url, rows)
        with psycopg.connect(url) as conn:
            created, case_id = conn.execute(
                "SELECT created_at, id FROM cases ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
                (int(rows * 0.9),),
            ).fetchone()
        community = f"社区{7919 % COMMUNITIES}"
        variants = {
            "plain": ("", "", ()),
            "status": ("status=dispatched", "WHERE status = %s", ("dispatched",)),
            "category_community": (
                f"category=water_supply&community={quote(community)}",
                "WHERE category = %s AND community = %s",
                ("water_supply", community),
            ),
            "deep_cursor": (
                f"cursor={encode_cursor([created.isoformat(), case_id])}",
                "WHERE (created_at, id) < (%s, %s)",
                (created, case_id),
            ),
        }
        for name, (query, where, params) in variants.items():
            latency = open_loop_get(workdir, [f"{web.url}/v1/cases?{query}"], staff, GET_RATE, get_s)
            sql = sql_floor(url, LIST_SQL.format(where=where), params, repeat=100 if quick else 300)
            floor = round(echo_get["p99"] + sql["p99"], 1)
            out[f"intake.list_cases.{name}.p99"] = result(
                latency["p99"],
                "ms",
                TARGET_MS,
                floor=floor,
                floor_name=f"echo GET p99 at {GET_RATE:g}/s + same SQL p99",
                rows=rows,
                seed_s=seeded_s,
                rate=GET_RATE,
                duration_s=get_s,
                latency=latency,
                floor_echo=echo_get,
                floor_sql=sql,
            )
    return out
