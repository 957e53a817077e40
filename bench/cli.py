"""`whistle bench [--quick]`: run the benchmark and write its table, JSON and chart."""

from __future__ import annotations

import json
import time
from pathlib import Path

from . import report

RESULTS = Path(__file__).resolve().parent / "results"


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmark the platform as real processes (bench/README.md)")
    p.add_argument("--quick", action="store_true", help="a shorter run, under two minutes")
    p.add_argument("--rates", default=None, help="open-loop rates in cases/s, e.g. 25,50,100,200")
    p.add_argument("--out", default=str(RESULTS))
    # ---- per-service figures (bench/micro.py) ----
    p.add_argument("--micro-only", action="store_true", help="only the per-service figures, each beside its floor")
    # ---- where a case's CPU goes (bench/burst.py) ----
    p.add_argument("--burst", type=int, metavar="N", help="only a burst of N cases: CPU and database work a case")
    p.add_argument("--py-spy", action="store_true", help="with --burst: sample the workers with py-spy meanwhile")
    p.set_defaults(func=run_bench)


def run_bench(args) -> int:
    if getattr(args, "micro_only", False):
        return run_micro_only(args)
    if getattr(args, "burst", None):
        from .burst import run_burst

        return run_burst(args.burst, args.py_spy, Path(args.out))
    from .run import Bench

    rates = (
        [float(r) for r in args.rates.split(",")]
        if args.rates
        else ([25, 50, 100] if args.quick else [25, 50, 100, 200])
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results = Bench(args.quick, rates, out).run()
    results["wall_s"] = round(time.time() - started, 1)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report.write_json(out / f"bench-{stamp}.json", results)
    report.write_json(out / "latest.json", results)
    charted = report.chart(out / "latency.png", results["open_loop"])
    print(summary(results))
    print(f"\nwritten: {out / 'latest.json'}" + (f", {out / 'latency.png'}" if charted else ""))
    return 0


# ---- per-service figures (bench/micro.py) ----
def run_micro_only(args) -> int:
    from .micro import run_micro
    from .micro import summary as micro_summary

    out = Path(args.out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    started = time.time()
    results = run_micro(args.quick, out / f"micro-{stamp}")
    report.write_json(
        out / f"micro-{stamp}.json",
        {"quick": args.quick, "wall_s": round(time.time() - started, 1), "results": results},
    )
    print(micro_summary(results))
    print(f"\nwritten: {out / f'micro-{stamp}.json'} ({time.time() - started:.0f} s)")
    return 0 if all(r.get("pass") is not False for r in results.values()) else 1


def summary(r: dict) -> str:
    broker, http = r["floor_broker"], r["floor_http"]
    python = f"Python {r['machine']['python']} ({r['machine'].get('python_executable', '?')})"
    lines = [
        python,
        f"Floors: broker publish+confirm → consume+ack {broker['end_to_end_per_s']} msg/s; "
        f"bare Flask/gunicorn {http['max_per_s']} req/s",
        "",
    ]
    rows = []
    for phase in r["open_loop"]:
        s = phase["stages"]
        floor_p99 = http["open_loop"].get(str(phase["rate"]), {}).get("p99")
        rows.append(
            [
                f"{phase['rate']:g}/s",
                f"{phase['completed']}/{phase['accepted']}",
                s["post"]["p50"],
                s["post"]["p99"],
                floor_p99,
                s["accepted_to_task"]["p99"],
                s["accepted_to_webhook"]["p50"],
                s["accepted_to_webhook"]["p99"],
                s["accepted_to_audit"]["p99"],
            ]
        )
    lines.append(
        report.table(
            rows,
            [
                "load",
                "through",
                "POST p50",
                "POST p99",
                "echo p99",
                "→task p99",
                "→hook p50",
                "→hook p99",
                "→audit p99",
            ],
        )
    )
    c, b, cpus = r["closed_loop"], r["burst"], r["machine"]["cpus"]
    lines += [
        "",
        f"Closed loop: {c['accepted_per_s']} cases/s accepted, {c['through_audit_per_s']} cases/s "
        f"through audit ({c['through_audit_per_s'] / http['max_per_s']:.2f} of the bare Flask floor)",
        f"Burst: {b['accepted']}/{b['cases']} accepted in {b['submit_s']} s, drained "
        f"{b['drain_after_last_accept_s']} s after the last, {b['through_audit_per_s']} cases/s, "
        f"lost {b['lost']}",
        *phase_cost("Closed loop", c, cpus),
        *phase_cost("Burst", b, cpus),
        "",
        report.table(
            [[n, p["peak_rss_mb"], p["cpu_ms_per_case"]] for n, p in r["processes"].items()],
            ["process", "peak RSS MB", "CPU ms/case"],
        ),
        f"CPU per case, all Whistle processes: {r['cpu_ms_per_case_total']} ms; PostgreSQL "
        f"{r['infrastructure_cpu_ms_per_case']['postgresql']} ms, RabbitMQ "
        f"{r['infrastructure_cpu_ms_per_case']['rabbitmq']} ms; the whole machine "
        f"{r['machine_cpu_ms_per_case']} ms",
    ]
    return "\n".join(lines)


def phase_cost(name: str, phase: dict, cpus: int) -> list[str]:
    """Where a case's CPU went over a saturated phase, and the most cases/s the machine's cores
    carry at that cost. Nothing for results written before phases were metered."""
    cpu = phase.get("cpu")
    if cpu is None:
        return []
    machine = cpu["machine_cpu_ms_per_case"]
    processes = ", ".join(f"{process} {ms:.2f}" for process, ms in cpu["cpu_ms_per_case"].items() if ms >= 0.05)
    infrastructure = cpu["infrastructure_cpu_ms_per_case"]
    measuring = "".join(f", {part} {ms:.2f}" for part, ms in cpu.get("measuring_cpu_ms_per_case", {}).items())
    return [
        f"{name}, CPU ms a case: Whistle {cpu['whistle_cpu_ms_per_case']} ({processes}); PostgreSQL "
        f"{infrastructure['postgresql']:.2f}, RabbitMQ {infrastructure['rabbitmq']:.2f}{measuring}; "
        f"the machine {machine}, {100 * cpu['machine_busy_share']:.0f} % busy: at that cost {cpus} cores "
        f"carry at most {cpus * 1000 / max(machine, 1e-9):.0f} cases/s"
    ]


def dump(path: Path) -> None:
    print(summary(json.loads(path.read_text())))
