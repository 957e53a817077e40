"""Resident memory and CPU time of a process tree, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    pids = [pid]
    for child in children(pid):
        pids += tree(child)
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
    result = {}
    for name, pid in named.items():
        for i, member in enumerate(tree(pid)):
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
    """CPU seconds the whole machine spent busy (all cores, everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS
