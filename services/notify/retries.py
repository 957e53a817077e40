"""The retry policy: what becomes of a delivery once an attempt is over. Pure, so that every branch
can be shown without a database or a clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def next_attempt(
    attempts: int, backoff: Sequence[timedelta], now: datetime, *, failed: bool, permanent: bool = False
) -> tuple[str, datetime | None]:
    """The delivery's new status and ``next_attempt_at`` after its ``attempts``-th attempt (made at
    ``now``) succeeded or ``failed``.

    Attempt n (1-based) is made ``backoff[n-1]`` after the one before, so the next one is due
    ``backoff[attempts]`` from now; once the schedule is used up, or the error was ``permanent``
    (retrying cannot help), the delivery is ``failed`` and nothing is due any more."""
    if not failed:
        return "sent", None
    if permanent or attempts >= len(backoff):
        return "failed", None
    return "pending", now + backoff[attempts]
