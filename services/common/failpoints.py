"""Failpoints: named places where a process kills itself, for crash tests.

``WHISTLE_FAILPOINT=relay.after_publish`` (comma-separated for several) makes the process SIGKILL
itself the first time it reaches that point. Names in use:

- ``relay.after_publish``  — the relay has its confirms but has not marked the rows sent;
- ``consumer.after_commit`` — the handler's transaction is committed, the message not yet acked;
- ``consumer.in_handler``  — inside the handler, before its transaction commits;
- ``timers.after_fire``    — dispatch's timers wrote their events, not yet committed;
- ``timers.after_commit``  — a batch of fired timers is committed.

``WHISTLE_FAILPOINT_AFTER=N`` lets the point pass N times before it fires. Unset, a check is a
single set lookup.
"""

from __future__ import annotations

import os
import signal
import sys

_armed: frozenset[str] | None = None
_passes: dict[str, int] = {}


def _load() -> frozenset[str]:
    global _armed
    if _armed is None:
        names = os.environ.get("WHISTLE_FAILPOINT", "")
        _armed = frozenset(n.strip() for n in names.split(",") if n.strip())
    return _armed


def hit(name: str) -> None:
    if name not in _load():
        return
    seen = _passes.get(name, 0)
    _passes[name] = seen + 1
    if seen < int(os.environ.get("WHISTLE_FAILPOINT_AFTER", "0")):
        return
    sys.stderr.write(f"failpoint {name}: killing process {os.getpid()}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
