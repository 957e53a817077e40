"""How busy this machine's CPUs are, from the kernel's counters in ``/proc/stat`` (Linux).

A consumer lets its batches grow longer while the CPUs are nearly all busy (``linger_for``): a
batch's transaction, inbox INSERT, preloads and ack cost about the same for one event as for fifty,
so on a saturated machine a longer linger leaves more CPU for the events themselves. While there is
CPU to spare the linger stays short, since it is most of a case's latency at ordinary rates. Like
PostgreSQL's ``commit_delay``, which waits for companions only when ``commit_siblings`` say others
are active: wait to batch only when it buys something.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Busy fractions between which the linger moves from the base to the busy one. A burst or a closed
# loop keeps the CPUs 95–100 % busy; a machine with room keeps them well under 80 %.
ROOM_BELOW = 0.80
SATURATED_AT = 0.95


def linger_for(busy: float | None, base: float, when_busy: float) -> float:
    """The linger for a machine ``busy`` (0–1, None when unknown): ``base`` with room to spare,
    ``when_busy`` when saturated, in proportion between (no jump for a load near a threshold)."""
    if busy is None or when_busy <= base:
        return base
    share = min(1.0, max(0.0, (busy - ROOM_BELOW) / (SATURATED_AT - ROOM_BELOW)))
    return base + share * (when_busy - base)


class CpuLoad:
    """The share of the last second (or more) the machine's CPUs spent busy, read again at most once
    every ``interval``: asking costs nothing in between, and one read of ``/proc/stat`` some 40 µs.
    None where there is no such file."""

    def __init__(self, path: str = "/proc/stat", interval: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.path = path
        self.interval = interval
        self.clock = clock
        self._counters = cpu_ticks(path)
        self._read_at = clock()
        self._busy: float | None = None

    def busy(self) -> float | None:
        now = self.clock()
        if now - self._read_at >= self.interval:
            counters = cpu_ticks(self.path)
            if counters is None or self._counters is None:
                self._busy = None  # no reading to go by, not an old one
            elif counters[0] > self._counters[0]:
                total = counters[0] - self._counters[0]
                self._busy = 1.0 - (counters[1] - self._counters[1]) / total
            self._counters, self._read_at = counters, now
        return self._busy


def cpu_ticks(path: str = "/proc/stat") -> tuple[int, int] | None:
    """(all ticks, idle ticks) since boot, over every CPU, or None where there is no such file: the
    first line of /proc/stat, ``cpu`` then user, nice, system, idle, iowait, irq, softirq, steal
    (guest time is inside user, so the fields after steal are not counted again)."""
    try:
        with open(path, encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    ticks = [int(value) for value in fields[1:9]]
    return sum(ticks), ticks[3] + ticks[4]
