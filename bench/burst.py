"""`python -m bench --burst N [--py-spy]`: where a case's CPU goes. The platform as in `make bench`,
one burst of N cases as fast as intake takes them, followed until every case is through audit; then
the CPU a case cost in each process, PostgreSQL, RabbitMQ and the whole machine, the transactions
and rows a case cost in each service's database, and the tables those rows were read from, and how.
With ``--py-spy`` every worker and intake's web workers are sampled meanwhile (py-spy, only while
holding the GIL), and their collapsed stacks written beside the run for a flame graph. To compare two
versions of the code, run it for each, one right after the other (bench/README.md, "Every figure
beside a floor")."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

from . import procs
from .micro_infra import database_name, database_url
from .receiver import Receiver
from .run import SECRET, Bench, pids, service_of

DB_COUNTERS = ("xact_commit", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated")
# Per table, how its rows were reached: sequential scans and the rows they read (a part of the
# database's "rows returned"), index scans and the rows they fetched (its "rows fetched").
TABLE_COUNTERS = ("seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch")


def database_counters(bench: Bench) -> dict[str, tuple[int, ...]]:
    with psycopg.connect(database_url("postgres")) as conn:
        rows = conn.execute(
            f"SELECT datname, {', '.join(DB_COUNTERS)} FROM pg_stat_database WHERE datname = ANY(%s)",
            ([database_name(url) for url in bench.databases.values()],),
        ).fetchall()
    return {service_of(name): tuple(values) for name, *values in rows}


def table_counters(bench: Bench) -> dict[tuple[str, str], tuple[int, ...]]:
    """(service, table): the scans and the rows they read, from each database's pg_stat_user_tables."""
    counters = {}
    for url in bench.databases.values():
        service = service_of(database_name(url))
        with psycopg.connect(url) as conn:
            for table, *values in conn.execute(f"SELECT relname, {', '.join(TABLE_COUNTERS)} FROM pg_stat_user_tables"):
                counters[service, table] = tuple(value or 0 for value in values)
    return counters


def start_py_spy(pids: dict[str, int], out: Path) -> list[subprocess.Popen]:
    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--py-spy needs py-spy on the PATH (pip install py-spy)")
    return [
        subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--rate",
                "200",
                "--gil",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(out / f"{name.replace('/', '-')}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]


def run_burst(count: int, py_spy: bool, out_dir: Path) -> int:
    bench = Bench(quick=True, rates=[], out_dir=out_dir)
    bench.setup()
    stack, receiver, stopping = None, Receiver(SECRET), threading.Event()
    try:
        stack, token = bench.start_platform(receiver)
        bench.vacuum_until(stopping)
        url = f"{stack.url('intake')}/v1/cases"
        bench.loadgen(url, token, concurrency=8, count=100)  # warm up: pools, prepared statements
        bench.vacuum_once()
        time.sleep(3)
        counters_before, tables_before = database_counters(bench), table_counters(bench)
        meter = procs.PhaseMeter(pids(stack))
        sampled = {
            name: figures["pid"]
            for name, figures in meter.before.items()
            if name.endswith("worker") or name.startswith("intake-web/")
        }
        spies = start_py_spy(sampled, bench.workdir) if py_spy else []
        results = bench.loadgen(url, token, concurrency=48, count=count)
        accepted = [r for r in results if r["status"] == 201]
        begin = min(r["started"] for r in results)
        done, finished = bench.follow(accepted, receiver, timeout=600)
        for spy in spies:
            spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
        for spy in spies:
            spy.wait(60)
        cost = meter.read(len(accepted))
        time.sleep(0.6)  # PostgreSQL's statistics are sent every 500 ms
        counters_after, tables_after = database_counters(bench), table_counters(bench)
    finally:
        stopping.set()
        receiver.close()
        if stack is not None:
            stack.down()
        bench.teardown()
    cases = max(len(accepted), 1)
    print(f"Python {sys.version.split()[0]} ({sys._base_executable})")
    print(
        f"{len(accepted)} cases accepted, {len(done)} through audit in {finished - begin:.1f} s: "
        f"{len(done) / (finished - begin):.1f} cases/s"
    )
    print("\nCPU ms a case")
    for name, ms in cost["cpu_ms_per_case"].items():
        if ms >= 0.01:
            print(f"  {name:18s} {ms:6.2f}")
    infra = cost["infrastructure_cpu_ms_per_case"]
    for name, ms in {**infra, **cost["measuring_cpu_ms_per_case"]}.items():
        print(f"  {name:18s} {ms:6.2f}")
    print(
        f"  {'whole machine':18s} {cost['machine_cpu_ms_per_case']:6.2f}, "
        f"{100 * cost['machine_busy_share']:.0f} % of its cores busy"
    )
    # This machine's speed moves between runs minutes apart. RabbitMQ carries the
    # same messages a case whatever Whistle's Python does, so for a change that leaves the messaging
    # alone, Whistle's CPU relative to RabbitMQ's compares two runs better than milliseconds do.
    whistle = cost["whistle_cpu_ms_per_case"]
    if infra.get("rabbitmq"):
        print(
            f"  Whistle's processes {whistle:.2f} ms, {whistle / infra['rabbitmq']:.2f} × RabbitMQ's CPU; "
            f"PostgreSQL {infra['postgresql'] / infra['rabbitmq']:.2f} ×"
        )
    print("\nper case, in each service's database")
    for service, values in sorted(counters_after.items()):
        deltas = (
            f"{name.replace('tup_', 'rows ')} {(a - b) / cases:7.2f}"
            for name, a, b in zip(DB_COUNTERS, values, counters_before[service], strict=True)
        )
        print(f"  {service:9s} " + "  ".join(deltas))
    print("\nper case, the tables read most (rows read by sequential scans and fetched through indexes)")
    unread = (0,) * len(TABLE_COUNTERS)  # a table created meanwhile
    reads = {
        key: [(a - b) / cases for a, b in zip(values, tables_before.get(key, unread), strict=True)]
        for key, values in tables_after.items()
    }
    busiest = sorted(reads.items(), key=lambda item: item[1][1] + item[1][3], reverse=True)[:8]
    for (service, table), (seq_scans, seq_rows, index_scans, index_rows) in busiest:
        print(
            f"  {service + '.' + table:32s} seq scans {seq_scans:5.2f} reading {seq_rows:8.2f} rows  "
            f"index scans {index_scans:5.2f} fetching {index_rows:8.2f}"
        )
    if spies:
        print(f"\npy-spy collapsed stacks: {bench.workdir}/*.txt")
    return 0 if len(done) == len(accepted) else 1
