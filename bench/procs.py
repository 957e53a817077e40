"""Resident memory and CPU time of a process tree, and the whole machine's CPU, read from /proc (Linux)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from services.common.cpu_load import cpu_ticks

TICKS = os.sysconf("SC_CLK_TCK")


def children_by_parent() -> dict[int, list[int]]:
    """Every process's children, from one pass over /proc: the memory sampler takes a snapshot
    every second while the platform runs, and a pass per process it follows would cost the machine
    a few per cent of a core."""
    found: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found.setdefault(int(fields[1]), []).append(int(entry.name))
    return found


def tree(pid: int, children: dict[int, list[int]]) -> list[int]:
    pids = [pid]
    for child in sorted(children.get(pid, [])):
        pids += tree(child, children)
    return pids


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time of the process and of its children that have exited and been waited for (a
    gunicorn master's recycled workers), so that no work disappears with a replaced worker."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICKS  # utime + stime + cutime + cstime


def snapshot(named: dict[str, int]) -> dict[str, dict[str, float]]:
    """{process name: {"rss_mb", "cpu_s"}} for each named process and each of its children."""
    result, children = {}, children_by_parent()
    for name, pid in named.items():
        for i, member in enumerate(tree(pid, children)):
            label = name if i == 0 else f"{name}/{i}"
            result[label] = {"pid": member, "rss_mb": round(rss_mb(member), 1), "cpu_s": cpu_seconds(member)}
    return result


INFRASTRUCTURE = {"postgresql": "postgres", "rabbitmq": "beam.smp"}  # name → process name (comm)


def infrastructure_cpu() -> dict[str, float]:
    """CPU seconds used so far by every PostgreSQL and RabbitMQ process on the machine (the
    platform's share of them while the benchmark runs on an otherwise idle machine)."""
    totals = dict.fromkeys(INFRASTRUCTURE, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        for name, process_name in INFRASTRUCTURE.items():
            if comm == process_name:
                totals[name] += cpu_seconds(int(entry.name))
    return totals


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, everything but idle and iowait), read
    as the consumers read their load (services/common/cpu_load.py)."""
    total, idle = cpu_ticks() or (0, 0)
    return (total - idle) / TICKS


class PhaseMeter:
    """CPU over one phase, from when the meter is made: each named process's (a gunicorn master's
    workers each under its own name, as ``snapshot`` names them), PostgreSQL's, RabbitMQ's and the
    whole machine's, and the share of the machine's cores that was busy. Where a phase keeps the
    machine busy, the machine's CPU a case sets its ceiling: n cores carry at most n × 1,000 / (ms a
    case) cases/s."""

    def __init__(self, named: dict[str, int]) -> None:
        self.named = named
        self.own_before = os.times()
        self.before = snapshot(named)
        self.infrastructure_before = infrastructure_cpu()
        self.busy_before, self.started = machine_busy_seconds(), time.monotonic()

    def read(self, cases: int) -> dict:
        after, infrastructure, before = snapshot(self.named), infrastructure_cpu(), self.infrastructure_before
        busy, wall = machine_busy_seconds() - self.busy_before, time.monotonic() - self.started
        own, own_before = os.times(), self.own_before

        def per_case(seconds: float) -> float:
            return round(1000 * seconds / max(cases, 1), 3)

        processes = {
            name: per_case(figures["cpu_s"] - self.before.get(name, {}).get("cpu_s", 0.0))
            for name, figures in after.items()
        }
        return {
            "cpu_ms_per_case": processes,
            "whistle_cpu_ms_per_case": round(sum(processes.values()), 2),
            "infrastructure_cpu_ms_per_case": {
                name: per_case(infrastructure[name] - before[name]) for name in infrastructure
            },
            # The measuring shares the machine. The load generator runs as this process's
            # child, waited for when its load is sent (so are py-spy's samplers, with --py-spy);
            # the department's receiver, following the cases and the autovacuum stand-in run in
            # this process.
            "measuring_cpu_ms_per_case": {
                "load generator": per_case(
                    own.children_user + own.children_system - own_before.children_user - own_before.children_system
                ),
                "receiver and bench": per_case(own.user + own.system - own_before.user - own_before.system),
            },
            "machine_cpu_ms_per_case": round(1000 * busy / max(cases, 1), 2),
            "machine_busy_share": round(busy / (max(wall, 1e-9) * (os.cpu_count() or 1)), 2),
        }
