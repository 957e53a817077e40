"""The sender's SQL: claiming due deliveries, handing back claims never started, and writing a batch
of outcomes. No transaction here is ever open across a network call.

A claim moves ``next_attempt_at`` forward by a lease longer than any send can take: if the process
dies mid-send, the delivery is due again once the lease runs out and is sent again (at least once;
receivers dedupe on ``Whistle-Event-Id``)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update

from services.common.db import PENDING
from services.common.lists import none_of, one_of
from services.common.runtime import Runtime

from .channels import Job
from .models import CaseRoute, Delivery, Subscription
from .subscriptions import signing_secrets

DELIVERIES = Delivery.__table__
# The statements, built once: SQLAlchemy compiles each once, and psycopg prepares it.
# The due window is locked (skipping rows another worker holds) and checked again once locked, so
# that several workers share the table without sending one delivery twice at once. (SQLite renders
# no FOR UPDATE: BEGIN IMMEDIATE has taken the write lock already.)
DUE = (
    select(DELIVERIES.c.id, DELIVERIES.c.recipient)
    .where(DELIVERIES.c.status == PENDING, DELIVERIES.c.next_attempt_at <= bindparam("now"))
    .order_by(DELIVERIES.c.next_attempt_at)
    .limit(bindparam("window"))
    .with_for_update(skip_locked=True)
)
DUE_SKIPPING = DUE.where(none_of(DELIVERIES.c.recipient, "full"))
CLAIM = (
    update(DELIVERIES)
    .where(one_of(DELIVERIES.c.id, "ids"))
    .values(next_attempt_at=bindparam("until"))
    .returning(
        DELIVERIES.c.id,
        DELIVERIES.c.event_id,
        DELIVERIES.c.event_type,
        DELIVERIES.c.channel,
        DELIVERIES.c.recipient,
        DELIVERIES.c.body,
        DELIVERIES.c.attempts,
        DELIVERIES.c.case_id,
        DELIVERIES.c.department,
        DELIVERIES.c.community,
    )
)
SUBSCRIPTIONS = select(
    Subscription.__table__.c.department,
    Subscription.__table__.c.secrets,
    Subscription.__table__.c.previous_secret_until,
).where(one_of(Subscription.__table__.c.department, "departments"))
ROUTES = select(
    CaseRoute.__table__.c.case_id,
    CaseRoute.__table__.c.number,
    CaseRoute.__table__.c.title,
    CaseRoute.__table__.c.address,
).where(one_of(CaseRoute.__table__.c.case_id, "case_ids"))
# Which of a batch of outcomes are still to be recorded; locked (in id order: no deadlocks) so that
# a retry through the API waits for the recording instead of being overwritten by it.
STILL_PENDING = (
    select(DELIVERIES.c.id)
    .where(one_of(DELIVERIES.c.id, "ids"), DELIVERIES.c.status == PENDING)
    .order_by(DELIVERIES.c.id)
    .with_for_update()
)
# The SET clause comes from the parameters' keys (status, attempts, last_error, next_attempt_at, sent_at).
SETTLE = update(DELIVERIES).where(DELIVERIES.c.id == bindparam("delivery_id"))


def claim_due(runtime: Runtime, now: datetime, limit: int, busy: Counter[str], cap: int, lease: timedelta) -> list[Job]:
    """Take up to ``limit`` due deliveries, oldest first; no more than ``cap`` claims to one
    recipient, counting the ``busy`` ones already held.

    Two statements: lock a window of due rows, then move the chosen ones' ``next_attempt_at`` by
    the ``lease``. Which rows are chosen — the per-recipient cap — is decided here in between."""
    full = [recipient for recipient, n in busy.items() if n >= cap]
    # Looking past ``limit`` lets others' deliveries through when a burst to one recipient
    # comes first; the full ones are left out so that they cannot fill the window.
    window = {"now": now, "window": limit * 4}
    with runtime.transaction() as session:
        connection = session.connection()  # Core statements: the ORM's execute path only costs Python
        statement, params = (DUE_SKIPPING, {**window, "full": full}) if full else (DUE, window)
        due = connection.execute(statement, params)
        chosen, taken = [], Counter()
        for id_, recipient in due:
            if busy[recipient] + taken[recipient] < cap:
                taken[recipient] += 1
                chosen.append(id_)
                if len(chosen) == limit:
                    break
        if not chosen:
            return []
        rows = connection.execute(CLAIM, {"ids": chosen, "until": now + lease}).all()
        departments = {row.department for row in rows if row.channel == "webhook" and row.department}
        subs = (
            {sub.department: sub for sub in connection.execute(SUBSCRIPTIONS, {"departments": list(departments)})}
            if departments
            else {}
        )
        # Mail and texts name the case; a webhook carries the event as it is.
        case_ids = {row.case_id for row in rows if row.case_id and row.channel != "webhook"}
        routes = (
            {route.case_id: route for route in connection.execute(ROUTES, {"case_ids": list(case_ids)})}
            if case_ids
            else {}
        )
    order = {id_: i for i, id_ in enumerate(chosen)}  # oldest first, as they were due
    return sorted((_job(row, subs, routes, now) for row in rows), key=lambda job: order[job.id])


def _job(row, subs: dict, routes: dict, now: datetime) -> Job:
    secrets: tuple[str, ...] = ()
    if row.channel == "webhook" and row.department:
        sub = subs.get(row.department)
        secrets = tuple(signing_secrets(sub, now)) if sub else ()
    route = routes.get(row.case_id)
    case_ = {"number": route.number, "title": route.title, "address": route.address} if route else {}
    return Job(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        channel=row.channel,
        recipient=row.recipient,
        body=row.body,
        attempts=row.attempts,
        now=now,
        case_id=row.case_id,
        department=row.department,
        community=row.community,
        secrets=secrets,
        case=case_,
    )


def release(runtime: Runtime, jobs: list[Job]) -> None:
    """Hand claims that were never started back at once, due as they were, rather than after their lease."""
    with runtime.transaction() as session:
        for job in jobs:
            session.execute(
                update(Delivery)
                .where(Delivery.id == job.id, Delivery.status == PENDING)
                .values(next_attempt_at=job.now)
            )


def still_pending(connection, ids: set[str]) -> set[str]:
    """Which of ``ids`` are still pending, locked until the transaction ends."""
    return set(connection.execute(STILL_PENDING, {"ids": sorted(ids)}).scalars())


def write_outcomes(connection, changes: list[dict]) -> None:
    """Each delivery's new status, attempts, last error, ``next_attempt_at`` and ``sent_at``, in one executemany."""
    if changes:
        connection.execute(SETTLE, changes)
