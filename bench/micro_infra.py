"""What the per-service figures share: throwaway PostgreSQL databases, gunicorn web processes (a
service, or the bare echo app as the HTTP floor), open-loop GET load from its own process, timing a
raw SQL query as the database floor, fast bulk seeding, and the shape of one named result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests
from sqlalchemy import make_url

from services.common.auth import issue_token
from services.common.localstack import WHISTLE, free_port, stop, wait_http

from . import report

ROOT = Path(__file__).resolve().parents[1]
# The server, without a database: TCP on loopback, or the local socket with
# "postgresql://postgres@?host=/var/run/postgresql".
PG_ADMIN = os.environ.get("WHISTLE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
JWT_SECRET = "micro-" + uuid.uuid4().hex


def with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` instead: the same server, even where its host is a socket
    path in the query, which cutting the URL at its last slash would lose."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def database_url(name: str) -> str:
    """The URL of database ``name`` on PG_ADMIN's server."""
    return with_database(PG_ADMIN, name)


def database_name(url: str) -> str:
    """The database a URL names (``database_url``'s inverse)."""
    return make_url(url).database


# ---- results --------------------------------------------------------------------------------
def result(
    figure: float | None,
    unit: str,
    target: float,
    *,
    higher_is_better: bool = False,
    floor: float | None = None,
    floor_name: str = "",
    **detail,
) -> dict:
    """One named figure: its target, pass/fail, the floor measured in the same run, figure/floor."""
    if figure is None:
        passed = False
    else:
        passed = figure >= target if higher_is_better else figure <= target
    ratio = round(figure / floor, 2) if figure is not None and floor else None
    return {
        "figure": figure,
        "unit": unit,
        "target": (">= " if higher_is_better else "<= ") + f"{target:g} {unit}",
        "pass": passed,
        "floor": floor,
        "floor_name": floor_name,
        "ratio": ratio,
        **detail,
    }


def skipped(reason: str) -> dict:
    return {"skipped": reason, "pass": None}


# ---- databases ------------------------------------------------------------------------------
class Databases:
    """Databases named ``whistle_micro_<suffix>_<name>``, all dropped by ``drop_all``."""

    def __init__(self) -> None:
        self.suffix = uuid.uuid4().hex[:8]
        self.urls: dict[str, str] = {}

    def create(self, name: str) -> str:
        db = f"whistle_micro_{self.suffix}_{name}"
        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        self.urls[name] = database_url(db)
        return self.urls[name]

    def drop_all(self) -> None:
        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            for url in self.urls.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')
        self.urls.clear()


def migrate(service: str, url: str) -> None:
    env = {**os.environ, f"WHISTLE_{service.upper()}_DATABASE_URL": url, "WHISTLE_LOG_LEVEL": "WARNING"}
    subprocess.run([WHISTLE, "migrate", service], env=env, check=True, capture_output=True, timeout=180, cwd=ROOT)


@contextmanager
def bulk_load(conn: psycopg.Connection, table: str) -> Iterator[None]:
    """Drop ``table``'s secondary indexes, load, then rebuild them exactly as they were (their
    definitions read back from pg_indexes) and ANALYZE: far faster than maintaining them per row."""
    rows = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        (table,),
    ).fetchall()
    for name, _ in rows:
        conn.execute(f'DROP INDEX "{name}"')
    conn.commit()
    yield
    conn.commit()
    conn.execute("SET maintenance_work_mem = '256MB'")
    for _, definition in rows:
        conn.execute(definition)
    conn.commit()
    conn.execute(f"ANALYZE {table}")
    conn.commit()


def sql_floor(url: str, sql: str, params=(), repeat: int = 200) -> dict:
    """The same query as the endpoint's, straight through psycopg: what the database alone costs."""
    times = []
    with psycopg.connect(url) as conn:
        for _ in range(5):
            conn.execute(sql, params).fetchall()
        for _ in range(repeat):
            started = time.perf_counter()
            conn.execute(sql, params).fetchall()
            times.append(time.perf_counter() - started)
            conn.rollback()
    return report.latency_summary(times)


# ---- web processes --------------------------------------------------------------------------
class Web:
    """A gunicorn web process under deploy/gunicorn.conf.py: ``whistle serve SERVICE``, or the
    bare echo app (``service=None``) with the same settings."""

    def __init__(self, workdir: Path, service: str | None, env: dict[str, str] | None = None):
        self.port = free_port()
        name = service or "echo"
        metrics = workdir / f"prometheus-{name}"
        metrics.mkdir(parents=True, exist_ok=True)
        full_env = {
            **os.environ,
            "WHISTLE_BIND": f"127.0.0.1:{self.port}",
            "WHISTLE_WEB_WORKERS": "2",
            "WHISTLE_LOG_LEVEL": "WARNING",
            "WHISTLE_JWT_SECRET": JWT_SECRET,
            "WHISTLE_DATA_DIR": str(workdir / "var"),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            **(env or {}),
        }
        if service:
            args = [WHISTLE, "serve", service]
        else:
            args = [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(ROOT / "deploy/gunicorn.conf.py"),
                "bench.echo:create_app()",
            ]
        with open(workdir / f"{name}-web.log", "ab") as log:
            self.process = subprocess.Popen(args, env=full_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        try:
            wait_http(f"{self.url}/healthz", process=self.process)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        stop(self.process)

    def __enter__(self) -> Web:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def token(role: str, **claims) -> str:
    return issue_token(JWT_SECRET, role=role, **claims)


def open_loop_get(workdir: Path, urls: list[str], auth: str, rate: float, duration: float) -> dict:
    """GET ``urls`` round robin at ``rate``/s from bench/micro_load.py; latency from the scheduled start."""
    warm(urls, auth)
    spec = workdir / f"urls-{time.time_ns()}.json"
    out = spec.with_suffix(".jsonl")
    spec.write_text(json.dumps(urls))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.micro_load",
            "--urls",
            str(spec),
            "--token",
            auth,
            "--rate",
            str(rate),
            "--duration",
            str(duration),
            "--out",
            str(out),
        ],
        check=True,
        cwd=ROOT,
        timeout=duration + 120,
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    bad = sum(1 for r in rows if r["status"] != 200)
    return {**report.latency_summary([r["done"] - r["scheduled"] for r in rows]), "errors": bad}


def warm(urls: list[str], auth: str, rounds: int = 10) -> None:
    """A few requests first, so each gunicorn worker's lazy first-request work is not measured."""
    with requests.Session() as http:
        for _ in range(rounds):
            for url in urls:
                http.get(url, headers={"Authorization": f"Bearer {auth}"}, timeout=30)


def post_open_loop(workdir: Path, url: str, auth: str, rate: float, duration: float) -> dict:
    """POST cases at ``rate``/s with bench/loadgen.py (as bench/run.py does)."""
    out = workdir / f"post-{time.time_ns()}.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--url",
            url,
            "--token",
            auth,
            "--out",
            str(out),
            "--duration",
            str(duration),
            "--rate",
            str(rate),
        ],
        check=True,
        cwd=ROOT,
        timeout=duration + 120,
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    bad = sum(1 for r in rows if r["status"] not in (200, 201))
    return {**report.latency_summary([r["accepted"] - r["scheduled"] for r in rows]), "errors": bad}


def timed(fn: Callable[[], object], repeat: int) -> tuple[dict, list]:
    """Run ``fn`` ``repeat`` times; the latency summary and what each call returned."""
    times, values = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        values.append(fn())
        times.append(time.perf_counter() - started)
    return report.latency_summary(times), values
