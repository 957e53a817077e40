"""Figures from raw timings: percentiles, the terminal tables and summary, the JSON file and the chart."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"
RESULTS = Path(__file__).resolve().parent / "results"
# The targets (bench/README.md, "Targets"): accepted → webhook p99 at a rate, cases/s through audit
# with nothing lost, and every process's resident memory.
WEBHOOK_P99_TARGET_MS = {50: 500, 100: 1000}
THROUGHPUT_TARGET = 200
RSS_TARGET_MB = 150


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
    ax.axhline(WEBHOOK_P99_TARGET_MS[50], color="grey", linestyle=":", linewidth=1)  # the target at 50/s
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
        floor_p99 = echo_p99(http, phase["rate"])
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
        f"through audit ({ratio(c['through_audit_per_s'], http['max_per_s'])} of the bare Flask floor)",
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
    carry at that cost. Nothing for results without the phase's CPU figures."""
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
        f"carry at most {ceiling(cpu, cpus):.0f} cases/s"
    ]


def echo_p99(floor_http: dict, rate: float) -> float | None:
    """The bare Flask app's p99 at ``rate``, measured in the same run: the HTTP floor at that load."""
    return floor_http["open_loop"].get(str(rate), {}).get("p99")


def ceiling(cpu: dict, cpus: int) -> float:
    """The most cases/s ``cpus`` cores carry at a saturated phase's machine CPU a case."""
    return cpus * 1000 / max(cpu["machine_cpu_ms_per_case"], 1e-9)


def ratio(value: float | None, floor: float | None) -> str | None:
    """A figure over its floor, to three significant digits."""
    return None if value is None or not floor else f"{value / floor:.3g}"


def started_at(results: dict) -> str:
    """When a run started, to the minute in UTC ("2026-11-29 21:17 UTC"); a date alone as it is."""
    started = results.get("started")
    if not started:
        return "at an unknown time"
    if "T" not in started:
        return started
    return datetime.fromisoformat(started).strftime("%Y-%m-%d %H:%M UTC")


# ---- the README's figures, written from a results file ------------------------------------------
def markdown_table(rows: list[list], headers: list[str]) -> str:
    def cell(value) -> str:
        return "—" if value is None else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows])


def latest_markdown(r: dict) -> str:
    """A full or quick run's figures for bench/README.md: the targets, each figure beside its floor
    measured in the same run and its ratio to it; then the open-loop stages, the CPU a case and the
    processes."""
    m, broker, http, cpus = r["machine"], r["floor_broker"], r["floor_http"], r["machine"]["cpus"]
    autovacuum = "on" if m.get("postgresql_autovacuum") else "off (the run does its work itself)"
    commit = f" at {r['commit']}" if r.get("commit") else ""
    webhooks = r.get("webhooks", {})
    return "\n\n".join(
        [
            f"{'Quick' if r['quick'] else 'Full'} run (`python -m bench{' --quick' if r['quick'] else ''}`{commit}), "
            f"started {started_at(r)}: {r['wall_s']:g} s, {r['cases']:,} cases; {cpus} cores, Python {m['python']} "
            f"(`{m.get('python_executable', '?')}`), PostgreSQL's autovacuum {autovacuum}. Floors in the same run: "
            f"RabbitMQ publish+confirm → consume+ack **{broker['end_to_end_per_s']:,} msg/s**, bare Flask/gunicorn "
            f"**{http['max_per_s']:,} req/s**.",
            markdown_table(target_rows(r), ["target", "aim", "figure", "floor (same run)", "ratio", "met"]),
            "Open loop, latency in ms from each request's scheduled start (POST) or from intake's `201`:",
            markdown_table(
                stage_rows(r),
                [
                    "offered",
                    "through",
                    "POST p50 / p99",
                    "bare Flask p99",
                    "POST p99 ÷ floor",
                    "→ task p99",
                    "→ webhook p50 / p99",
                    "→ audit p99",
                ],
            ),
            f"CPU ms a case (the ceiling: the most cases/s {cpus} cores carry at the machine's CPU a case); "
            f"signed webhooks received {webhooks.get('received', 0):,}, "
            f"bad signatures {webhooks.get('bad_signatures', 0)}:",
            markdown_table(
                cost_rows(r),
                ["phase", "machine", "cores busy", "ceiling", "Whistle", "PostgreSQL", "RabbitMQ", "measuring"],
            ),
            markdown_table(
                [[name, p["peak_rss_mb"], p["cpu_ms_per_case"]] for name, p in r["processes"].items()],
                ["process", "peak RSS MB", "CPU ms a case, whole run"],
            ),
        ]
    )


def target_rows(r: dict) -> list[list]:
    """Each target's figure beside its floor measured in the same run, the ratio, and whether it is met."""
    http, rows = r["floor_http"], []
    for phase in r["open_loop"]:
        target = WEBHOOK_P99_TARGET_MS.get(phase["rate"])
        if target is not None:
            p99, floor = phase["stages"]["accepted_to_webhook"]["p99"], echo_p99(http, phase["rate"])
            rows.append(
                [
                    f"accepted → webhook p99 at {phase['rate']:g} cases/s",
                    f"≤ {target:,} ms",
                    f"{p99} ms",
                    f"{floor} ms (bare Flask p99 at {phase['rate']:g}/s)",
                    ratio(p99, floor),
                    yes(p99 is not None and p99 <= target),
                ]
            )
    c, b = r["closed_loop"], r["burst"]
    for name, phase, lost in (
        (f"closed loop ({c['clients']} clients), through audit", c, c["accepted"] - c["completed"]),
        (f"burst of {b['cases']:,}, through audit", b, b["lost"]),
    ):
        rate = phase["through_audit_per_s"]
        rows.append(
            [
                name,
                f"≥ {THROUGHPUT_TARGET} cases/s, none lost",
                f"{rate} cases/s, {lost} lost",
                f"{http['max_per_s']:,} req/s (bare Flask)",
                ratio(rate, http["max_per_s"]),
                yes(rate >= THROUGHPUT_TARGET and lost == 0),
            ]
        )
    largest = max(r["processes"], key=lambda name: r["processes"][name]["peak_rss_mb"])
    rss = r["processes"][largest]["peak_rss_mb"]
    rows.append(
        [
            "largest process, peak resident",
            f"≤ {RSS_TARGET_MB} MB",
            f"{rss} MB ({largest})",
            None,
            None,
            yes(rss <= RSS_TARGET_MB),
        ]
    )
    return rows


def stage_rows(r: dict) -> list[list]:
    rows = []
    for phase in r["open_loop"]:
        s, floor = phase["stages"], echo_p99(r["floor_http"], phase["rate"])
        rows.append(
            [
                f"{phase['rate']:g}/s",
                f"{phase['completed']}/{phase['accepted']}",
                f"{s['post']['p50']} / {s['post']['p99']}",
                floor,
                ratio(s["post"]["p99"], floor),
                s["accepted_to_task"]["p99"],
                f"{s['accepted_to_webhook']['p50']} / {s['accepted_to_webhook']['p99']}",
                s["accepted_to_audit"]["p99"],
            ]
        )
    return rows


def cost_rows(r: dict) -> list[list]:
    """The CPU a case in the saturated phases that were metered, with the ceiling it sets; then the whole run's."""
    rows = []
    for name, phase in (("closed loop", r["closed_loop"]), ("burst", r["burst"])):
        cpu = phase.get("cpu")
        if cpu:
            rows.append(
                [
                    name,
                    cpu["machine_cpu_ms_per_case"],
                    f"{100 * cpu['machine_busy_share']:.0f} %",
                    f"{ceiling(cpu, r['machine']['cpus']):.0f} cases/s",
                    cpu["whistle_cpu_ms_per_case"],
                    *infrastructure(cpu["infrastructure_cpu_ms_per_case"]),
                    two_places(sum(cpu["measuring_cpu_ms_per_case"].values()))
                    if "measuring_cpu_ms_per_case" in cpu
                    else None,
                ]
            )
    whole = [r["machine_cpu_ms_per_case"], None, None, r["cpu_ms_per_case_total"]]
    return [*rows, ["the whole run", *whole, *infrastructure(r["infrastructure_cpu_ms_per_case"]), None]]


def infrastructure(ms: dict) -> list[str | None]:
    return [two_places(ms.get("postgresql")), two_places(ms.get("rabbitmq"))]


def two_places(ms: float | None) -> str | None:
    return None if ms is None else f"{ms:.2f}"


def yes(met: bool) -> str:
    return "yes" if met else "**no**"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with what stands between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` replaced by
    ``body``; the markers and everything outside them stay as they are."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"no {begin} … {end} section")
    return f"{text[: start + len(begin)]}\n{body.strip()}\n{text[stop:]}"


def write_readme(results: dict, path: Path = README) -> str:
    """Rewrite the README's section for ``results``: a run's (``latest``) or ``--micro-only``'s
    (``micro``). Returns the section's name."""
    if "open_loop" in results:
        name, body = "latest", latest_markdown(results)
    else:
        from .micro import markdown as micro_markdown

        name, body = "micro", micro_markdown(results)
    text = path.read_text(encoding="utf-8")
    rewritten = replace_section(text, name, body)
    if rewritten != text:
        path.write_text(rewritten, encoding="utf-8")
    return name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.report", description="a results file's summary, or its section of bench/README.md"
    )
    p.add_argument(
        "results", nargs="?", default=str(RESULTS / "latest.json"), help="default: bench/results/latest.json"
    )
    p.add_argument("--readme", action="store_true", help="rewrite the results' section of bench/README.md")
    args = p.parse_args(argv)
    results = json.loads(Path(args.results).read_text(encoding="utf-8"))
    if args.readme:
        print(f"{README}: section {write_readme(results)!r} rewritten from {args.results}")
    elif "open_loop" in results:
        print(summary(results))
    else:
        from .micro import summary as micro_summary

        print(micro_summary(results["results"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
