"""Figures from raw timings: percentiles, the terminal tables and summary, the JSON file and the chart."""

from __future__ import annotations

import json
from pathlib import Path


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency_summary(values_s: list[float]) -> dict:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        **{f"p{p}": _round(percentile(ms, p)) for p in (50, 90, 99)},
        "max": _round(max(ms) if ms else None),
    }


def _round(value):
    return None if value is None else round(value, 1)


def table(rows: list[list], headers: list[str]) -> str:
    cells = [[str(h) for h in headers]] + [["—" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: Path, results: dict) -> None:
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False))


def chart(path: Path, open_loop: list[dict]) -> bool:
    """Latency percentiles (accepted → webhook) against offered load; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rates = [r["rate"] for r in open_loop]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, style in (("p50", "o-"), ("p90", "s-"), ("p99", "^-")):
        ax.plot(rates, [r["stages"]["accepted_to_webhook"][key] for r in open_loop], style, label=key)
    ax.set_xlabel("offered load (cases/s)")
    ax.set_ylabel("accepted → webhook received (ms)")
    ax.set_title("Whistle end-to-end latency against offered load")
    ax.axhline(500, color="grey", linestyle=":", linewidth=1)  # the target at 50 cases/s
    ax.set_yscale("log")  # from a few hundred milliseconds to tens of seconds
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


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
        table(
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
        table(
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
