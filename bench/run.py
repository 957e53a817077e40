"""The benchmark: the platform as in production on this machine, driven from a separate process.

Phases: the floors (broker, bare Flask), open-loop load at fixed rates, a closed-loop maximum, and
a burst whose backlog is timed until it drains. Every case is followed to the end: accepted by
intake → task visible in dispatch → signed webhook received → its events recorded in audit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests
from tqdm import tqdm

from services.common.config import SERVICES
from services.common.localstack import LocalStack, free_port, stop, wait_http

from . import floor, procs, report
from .micro_infra import database_name, database_url
from .receiver import Receiver

ROOT = Path(__file__).resolve().parents[1]
AMQP = os.environ.get("WHISTLE_BENCH_AMQP", "guest:guest@127.0.0.1:5672")
SECRET = "bench-webhook-secret-0123456789abcdef!"
BASE_TYPES = ("case.reported", "case.dispatched", "task.assigned")


class Bench:
    def __init__(self, quick: bool, rates: list[float], out_dir: Path):
        self.quick = quick
        self.rates = rates
        self.out_dir = out_dir
        self.run_id = uuid.uuid4().hex[:6]
        self.workdir = out_dir / f"run-{self.run_id}"
        self.databases: dict[str, str] = {}
        self.vhost = f"whistle-bench-{self.run_id}"
        self.results: dict = {
            "started": datetime.now(UTC).isoformat(),
            "commit": commit(),
            "quick": quick,
            "machine": machine(),
        }
        self.peak_rss: dict[str, float] = {}
        self.offset = 0  # case numbers already used (each run's cases get addresses of their own)
        self.submitted = 0  # requests the load generator made

    # ---- infrastructure ---------------------------------------------------------------
    def setup(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["rabbitmqctl", "add_vhost", self.vhost], check=True, capture_output=True)
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            for service in SERVICES:
                name = f"whistle_bench_{self.run_id}_{service}"
                conn.execute(f'CREATE DATABASE "{name}"')
                self.databases[f"{service.upper()}_DATABASE_URL"] = database_url(name)

    def teardown(self) -> None:
        subprocess.run(["rabbitmqctl", "delete_vhost", self.vhost], capture_output=True)
        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            for url in self.databases.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')

    @property
    def broker_url(self) -> str:
        return f"amqp://{AMQP}/{self.vhost}"

    # ---- load -------------------------------------------------------------------------
    def loadgen(self, url: str, token: str, *, rate=None, concurrency=None, duration=0.0, count=0) -> list[dict]:
        out = self.workdir / f"load-{time.time_ns()}.jsonl"
        args = [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--url",
            url,
            "--token",
            token,
            "--out",
            str(out),
            "--duration",
            str(duration),
            "--offset",
            str(self.offset),
        ]
        args += ["--rate", str(rate)] if rate else ["--concurrency", str(concurrency), "--count", str(count)]
        subprocess.run(args, check=True, cwd=ROOT, timeout=900)
        results = [json.loads(line) for line in out.read_text().splitlines()]
        self.offset += len(results) + 1
        self.submitted += len(results)
        return results

    # ---- floors -----------------------------------------------------------------------
    def floors(self) -> None:
        self.results["floor_broker"] = floor.broker_floor(self.broker_url, messages=5000 if self.quick else 20000)
        port = free_port()
        env = {**os.environ, "WHISTLE_BIND": f"127.0.0.1:{port}", "WHISTLE_WEB_WORKERS": "2"}
        echo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(ROOT / "deploy/gunicorn.conf.py"),
                "bench.echo:create_app()",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}/echo"
            wait_http(f"http://127.0.0.1:{port}/healthz", process=echo)
            closed = self.loadgen(url, "none", concurrency=16, duration=4 if self.quick else 8)
            span = max(r["accepted"] for r in closed) - min(r["started"] for r in closed)
            open_loop = {}
            for rate in self.rates:
                results = self.loadgen(url, "none", rate=rate, duration=3 if self.quick else 6)
                open_loop[str(rate)] = report.latency_summary([r["accepted"] - r["scheduled"] for r in results])
            self.results["floor_http"] = {"max_per_s": round(len(closed) / span), "open_loop": open_loop}
        finally:
            stop(echo)

    # ---- following cases through the platform -----------------------------------------
    def completed(self, case_ids: list[str], receiver: Receiver) -> dict[str, dict]:
        """For each case whose webhook arrived and whose base events are all in audit: its stage times."""
        with psycopg.connect(self.databases["AUDIT_DATABASE_URL"]) as conn:
            rows = conn.execute(
                "SELECT case_id, count(DISTINCT type) FILTER (WHERE type = ANY(%s)), max(recorded_at) "
                "FROM trail WHERE case_id = ANY(%s) GROUP BY case_id",
                (list(BASE_TYPES), case_ids),
            ).fetchall()
        audited = {r[0]: r[2].timestamp() for r in rows if r[1] == len(BASE_TYPES)}
        with receiver.lock:
            hooks = dict(receiver.arrivals)
        return {c: {"audit": audited[c], "webhook": hooks[c]} for c in case_ids if c in audited and c in hooks}

    def follow(self, accepted: list[dict], receiver: Receiver, timeout: float) -> tuple[dict, float]:
        """Wait until every accepted case is through; returns per-case times and when the last finished.
        The times come from the receiver's clock and audit's ``recorded_at``, not from when this
        loop looks: it waits for the webhooks in memory first and then asks audit once a second,
        so that the measurement itself does not load the database it measures."""
        ids = [r["case_id"] for r in accepted]
        deadline = time.time() + timeout
        with tqdm(total=len(ids), desc="  webhooks", leave=False, unit="case") as bar:
            while time.time() < deadline:
                with receiver.lock:
                    arrived = sum(1 for c in ids if c in receiver.arrivals)
                bar.update(arrived - bar.n)
                if arrived == len(ids):
                    break
                time.sleep(0.5)
        done: dict[str, dict] = {}
        while len(done) < len(ids) and time.time() < deadline:
            pending = [c for c in ids if c not in done]
            for start in range(0, len(pending), 5000):
                done.update(self.completed(pending[start : start + 5000], receiver))
            if len(done) < len(ids):
                time.sleep(1.0)
        # Settle: the last audit rows of each case (e.g. notification.sent) may trail the base ones.
        time.sleep(1.0)
        done.update(self.completed(list(done), receiver))
        finished = max((max(v["audit"], v["webhook"]) for v in done.values()), default=time.time())
        return done, finished

    def task_times(self, case_ids: list[str]) -> dict[str, float]:
        with psycopg.connect(self.databases["DISPATCH_DATABASE_URL"]) as conn:
            rows = conn.execute(
                "SELECT case_id, min(created_at) FROM tasks WHERE case_id = ANY(%s) GROUP BY case_id", (case_ids,)
            ).fetchall()
        return {r[0]: r[1].timestamp() for r in rows}

    def stages(self, accepted: list[dict], done: dict[str, dict]) -> dict:
        tasks = self.task_times([r["case_id"] for r in accepted])
        post, to_task, to_hook, to_audit = [], [], [], []
        for r in accepted:
            post.append(r["accepted"] - r["scheduled"])
            times = done.get(r["case_id"])
            if times is None:
                continue
            if r["case_id"] in tasks:
                to_task.append(max(0.0, tasks[r["case_id"]] - r["accepted"]))
            to_hook.append(times["webhook"] - r["accepted"])
            to_audit.append(times["audit"] - r["accepted"])
        return {
            "post": report.latency_summary(post),
            "accepted_to_task": report.latency_summary(to_task),
            "accepted_to_webhook": report.latency_summary(to_hook),
            "accepted_to_audit": report.latency_summary(to_audit),
        }

    # ---- phases -----------------------------------------------------------------------
    def open_loop(self, stack: LocalStack, token: str, receiver: Receiver) -> None:
        phases = []
        for rate in self.rates:
            duration = 6 if self.quick else 20
            print(f"open loop: {rate:g} cases/s for {duration}s")
            results = self.loadgen(f"{stack.url('intake')}/v1/cases", token, rate=rate, duration=duration)
            accepted = [r for r in results if r["status"] == 201]
            done, _ = self.follow(accepted, receiver, timeout=120)
            phases.append(
                {
                    "rate": rate,
                    "duration_s": duration,
                    "sent": len(results),
                    "accepted": len(accepted),
                    "completed": len(done),
                    "stages": self.stages(accepted, done),
                }
            )
        self.results["open_loop"] = phases

    def closed_loop(self, stack: LocalStack, token: str, receiver: Receiver) -> None:
        duration = 10 if self.quick else 30
        print(f"closed loop: 32 clients for {duration}s")
        meter = procs.PhaseMeter(pids(stack))
        results = self.loadgen(f"{stack.url('intake')}/v1/cases", token, concurrency=32, duration=duration)
        accepted = [r for r in results if r["status"] == 201]
        begin = min(r["started"] for r in results)
        accept_span = max(r["accepted"] for r in results) - begin
        done, finished = self.follow(accepted, receiver, timeout=300)
        self.results["closed_loop"] = {
            "clients": 32,
            "accepted": len(accepted),
            "completed": len(done),
            "accepted_per_s": round(len(accepted) / accept_span, 1),
            "through_audit_per_s": round(len(done) / (finished - begin), 1),
            "stages": self.stages(accepted, done),
            "cpu": meter.read(len(done)),
        }

    def burst(self, stack: LocalStack, token: str, receiver: Receiver) -> None:
        count = 1000 if self.quick else 10000
        print(f"burst: {count} cases as fast as intake takes them, then drain")
        meter = procs.PhaseMeter(pids(stack))
        results = self.loadgen(f"{stack.url('intake')}/v1/cases", token, concurrency=48, count=count)
        accepted = [r for r in results if r["status"] == 201]
        begin = min(r["started"] for r in results)
        last_accepted = max(r["accepted"] for r in results)
        done, finished = self.follow(accepted, receiver, timeout=900)
        self.results["burst"] = {
            "cases": count,
            "accepted": len(accepted),
            "completed": len(done),
            "lost": len(accepted) - len(done),
            "submit_s": round(last_accepted - begin, 1),
            "drain_after_last_accept_s": round(max(0.0, finished - last_accepted), 1),
            "through_audit_per_s": round(len(done) / (finished - begin), 1),
            "cpu": meter.read(len(done)),
        }

    # ---- the whole run ----------------------------------------------------------------
    def start_platform(self, receiver: Receiver) -> tuple[LocalStack, str]:
        """Every service as real processes, the water department subscribed to ``receiver``'s
        webhook; returns the stack and a staff member's token for submitting cases."""
        stack = LocalStack(
            self.workdir / "stack", self.broker_url, self.databases, extra_env={"WHISTLE_LOG_LEVEL": "WARNING"}
        ).up()
        try:
            requests.put(
                f"{stack.url('notify')}/v1/subscriptions/water",
                headers=stack.headers("admin"),
                timeout=10,
                json={"webhook_url": receiver.url, "secret": SECRET},
            ).raise_for_status()
        except BaseException:
            stack.down()
            raise
        return stack, stack.headers("staff", community="武泰闸社区")["Authorization"].split()[1]

    def vacuum_until(self, stop_event: threading.Event) -> None:
        """Vacuum this run's databases in the background until ``stop_event``, when the server's
        autovacuum is off (see ``vacuum``)."""
        if not autovacuum_on():
            threading.Thread(target=self.vacuum, args=(stop_event, autovacuum_naptime()), daemon=True).start()

    def vacuum(self, stop_event: threading.Event, naptime: float) -> None:
        """What autovacuum does on a PostgreSQL configured as usual — and this machine's runs with
        it off: without it the outbox and delivery queues fill with dead rows that every poll
        reads again, and the tables are never analyzed, so the figures would degrade with the
        run's length rather than show the platform. As autovacuum's launcher does, each database
        is visited once per ``naptime`` (the server's ``autovacuum_naptime``, a minute by
        default), the visits spread evenly over it, and there each table its thresholds take is
        vacuumed or analyzed; the cost lands in PostgreSQL's CPU, as autovacuum's would."""
        urls = list(self.databases.values())
        turn = 0
        while not stop_event.wait(naptime / len(urls)):
            self.vacuum_database(urls[turn % len(urls)])
            turn += 1

    def vacuum_once(self) -> None:
        """Vacuum and analyze every table of the run, as autovacuum does a table's first fifty-odd
        rows (the statistics that count them may lag by seconds)."""
        for url in self.databases.values():
            self.vacuum_database(url, every_table=True)

    @staticmethod
    def vacuum_database(url: str, every_table: bool = False) -> None:
        """Vacuum or analyze the tables autovacuum's thresholds would take now."""
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                for table, vacuum, analyze in conn.execute(AUTOVACUUM_DUE).fetchall():
                    command = VACUUM_COMMANDS[(vacuum or every_table, analyze or every_table)]
                    if command:
                        conn.execute(f'{command} "{table}"')
        except psycopg.Error as exc:
            print(f"vacuum: {exc}")

    def sample_memory(self, stack: LocalStack, stop_event: threading.Event) -> None:
        while not stop_event.wait(1.0):
            for name, figures in procs.snapshot(pids(stack)).items():
                self.peak_rss[name] = max(self.peak_rss.get(name, 0.0), figures["rss_mb"])

    def run(self) -> dict:
        self.setup()
        stack = None
        receiver = Receiver(SECRET)
        try:
            print("floors: raw broker and bare Flask/gunicorn")
            self.floors()
            stack, token = self.start_platform(receiver)
            whole_run = procs.PhaseMeter(pids(stack))
            first_case = self.submitted  # the floors' requests went through the load generator too
            sampling = threading.Event()
            sampler = threading.Thread(target=self.sample_memory, args=(stack, sampling), daemon=True)
            sampler.start()
            self.vacuum_until(sampling)
            self.open_loop(stack, token, receiver)
            self.closed_loop(stack, token, receiver)
            self.burst(stack, token, receiver)
            sampling.set()
            cases = self.submitted - first_case
            # Everything the machine did meanwhile, the load generator and the receiver included.
            cost = whole_run.read(cases)
            self.results["cases"] = cases
            self.results["processes"] = {
                name: {"peak_rss_mb": round(self.peak_rss.get(name, 0.0), 1), "cpu_ms_per_case": ms}
                for name, ms in cost["cpu_ms_per_case"].items()
            }
            self.results["cpu_ms_per_case_total"] = cost["whistle_cpu_ms_per_case"]
            self.results["infrastructure_cpu_ms_per_case"] = cost["infrastructure_cpu_ms_per_case"]
            self.results["machine_cpu_ms_per_case"] = cost["machine_cpu_ms_per_case"]
            self.results["webhooks"] = {"received": receiver.total, "bad_signatures": receiver.bad_signatures}
        finally:
            receiver.close()
            if stack is not None:
                stack.down()
            self.teardown()
        return self.results


# The tables autovacuum would vacuum or analyze now, by its thresholds as this server sets them
# (PostgreSQL's docs, "The Autovacuum Daemon"): dead rows, rows inserted since the last vacuum, and
# rows changed since the last analyze, each against a base plus a fraction of the table's size. A
# table never analyzed counts as empty, as autovacuum counts it.
AUTOVACUUM_DUE = """
SELECT s.relname,
       s.n_dead_tup > current_setting('autovacuum_vacuum_threshold')::float
                      + current_setting('autovacuum_vacuum_scale_factor')::float * greatest(c.reltuples, 0)
       OR s.n_ins_since_vacuum > current_setting('autovacuum_vacuum_insert_threshold')::float
                      + current_setting('autovacuum_vacuum_insert_scale_factor')::float * greatest(c.reltuples, 0),
       s.n_mod_since_analyze > current_setting('autovacuum_analyze_threshold')::float
                      + current_setting('autovacuum_analyze_scale_factor')::float * greatest(c.reltuples, 0)
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
"""
VACUUM_COMMANDS = {
    (True, True): "VACUUM (ANALYZE)",
    (True, False): "VACUUM",
    (False, True): "ANALYZE",
    (False, False): None,
}  # (vacuum due, analyze due) → what autovacuum runs


def service_of(database: str) -> str:
    """The service a bench database belongs to: ``Bench.setup`` names them
    whistle_bench_<run>_<service>."""
    return database.rsplit("_", 1)[1]


def pids(stack: LocalStack) -> dict[str, int]:
    """The stack's processes by name, as procs' snapshots and meters follow them."""
    return {name: process.pid for name, process in stack.processes.items()}


def autovacuum_on() -> bool:
    with psycopg.connect(database_url("postgres")) as conn:
        return conn.execute("SHOW autovacuum").fetchone()[0] == "on"


def autovacuum_naptime() -> float:
    """Seconds between autovacuum's visits to each database, as this server sets them."""
    with psycopg.connect(database_url("postgres")) as conn:
        return float(conn.execute("SELECT setting FROM pg_settings WHERE name = 'autovacuum_naptime'").fetchone()[0])


def commit() -> str | None:
    """The checkout's commit (``-dirty`` with uncommitted changes), so that figures name the code that ran."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=7"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    return described.stdout.strip() or None


def machine() -> dict:
    # The interpreter's path says which build ran the platform: the same code costs more CPU on a
    # build without profile-guided optimisation (bench/README.md, "The interpreter").
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "python_executable": sys._base_executable,
        "uname": " ".join(os.uname()[2:4]),
        "postgresql_autovacuum": autovacuum_on(),
    }
