"""Turning an event into deliveries: who is concerned, through which channels.

Task events concern their task's department; case-level events concern every department with a
live task on the case. A community's staff hear of their community's cases; the resident who
reported a case gets a text when it is resolved (with the 回访 question) and when it is closed.
To answer "which departments, which community" notify keeps a small map per case, learnt from the
events it consumes (``case_routes``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from services.common import preloading
from services.common.db import insert_ignore, insert_ignore_many, new_id
from services.common.deferred import defer_insert, defer_update
from services.common.events import Event
from services.common.lists import one_of

from .models import CaseRoute, CommunitySubscription, Delivery, Subscription

RESIDENT_EVENTS = ("case.resolved", "case.closed")
PLANNED = "notify.planned"  # session.info: deliveries were planned in this transaction
ROUTES = "notify.routes"  # session.info: a consumer batch's case routes, {case id: route or None}
CASE_ROUTES = CaseRoute.__table__
# Routes as plain rows (attributes named like a CaseRoute's), read with a Core statement and
# changed with deferred.defer_update: an event changes a column or two of a route, and the ORM's
# loading and unit of work cost more than the rules themselves (as in intake's status model).
READ_ROUTES = select(CASE_ROUTES).where(one_of(CASE_ROUTES.c.case_id, "keys"))
LEARNT_COLUMNS = ("number", "title", "address", "community", "departments", "reporter_has_phone", "updated_at")
ADDS_DEPARTMENT = ("task.assigned", "task.reopened")
REMOVES_DEPARTMENT = ("task.returned", "task.cancelled")


def resident_recipient(case_id: str) -> str:
    """The resident is named by the case: the number is fetched from intake when sending."""
    return f"resident:{case_id}"


@dataclass(frozen=True)
class Target:
    channel: str
    recipient: str
    department: str | None = None
    community: str | None = None


def plan_deliveries(session: Session, event: Event, now: datetime) -> int:
    """Record what ``event`` teaches about its case, then one pending delivery per recipient."""
    route = remember(session, event, now)
    targets = department_targets(session, event, route) + community_targets(session, event, route)
    if event.type in RESIDENT_EVENTS and route is not None and route.reporter_has_phone:
        targets.append(Target("sms", resident_recipient(route.case_id), community=route.community))
    if not targets:
        return 0
    session.info[PLANNED] = True  # wakes the sender after the commit (worker.py)
    body = json.dumps(event.envelope, ensure_ascii=False, separators=(",", ":"))
    # Written with the batch's other deliveries at its commit; one recipient reached twice by an
    # event (a department's and a community's list naming one address) gets one delivery.
    defer_insert(
        session,
        Delivery.__table__,
        [
            {
                "id": new_id(),
                "event_id": event.id,
                "event_type": event.type,
                "case_id": event.case_id,
                "department": target.department,
                "community": target.community,
                "channel": target.channel,
                "recipient": target.recipient,
                "body": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for target in targets
        ],
        ignore_conflicts=True,
    )
    return len(targets)


def preload_routes(session: Session, events: list[Event], now: datetime) -> None:
    """Bring the routes of a batch's cases into the session in two queries — creating those its
    events will teach about, as ``remember`` would one by one — so that ``remember`` then finds
    them without a round trip each. A case reported in the batch gets its route with what the
    report teaches already in it, so that learning it costs no UPDATE afterwards."""
    case_ids = {e.case_id for e in events if e.case_id}
    learning = sorted({e.case_id for e in events if e.case_id and learns(e)})
    if learning:
        reported = {e.case_id: reported_route(e.data) for e in events if e.type == "case.reported"}
        insert_ignore_many(
            session,
            CASE_ROUTES,
            [{"case_id": case_id, **reported.get(case_id, EMPTY_ROUTE), "updated_at": now} for case_id in learning],
        )
    session.info[ROUTES] = preloading.read_rows(session, READ_ROUTES, case_ids, as_route)


def as_route(row) -> SimpleNamespace:
    return SimpleNamespace(**row)


EMPTY_ROUTE = {
    "number": None,
    "title": None,
    "address": None,
    "community": None,
    "departments": [],
    "reporter_has_phone": False,
}


def reported_route(data: dict) -> dict:
    """What a ``case.reported`` tells of its case's route."""
    location = data.get("location") or {}
    return {
        **EMPTY_ROUTE,
        "number": data.get("number"),
        "title": data.get("title"),
        "address": location.get("address"),
        "community": location.get("community"),
        "reporter_has_phone": bool((data.get("reporter") or {}).get("phone")),
    }


def learns(event: Event) -> bool:
    """Whether the event tells something about its case's route."""
    return event.type == "case.reported" or event.type in ADDS_DEPARTMENT + REMOVES_DEPARTMENT


def remember(session: Session, event: Event, now: datetime) -> SimpleNamespace | None:
    case_id = event.case_id
    if not case_id:
        return None
    data = event.data
    route = preloading.preloaded_row(session, ROUTES, READ_ROUTES, case_id, as_route)
    if route is None and learns(event):
        # Insert-if-absent, so two consumers learning of one case never collide on the key.
        insert_ignore(session, CASE_ROUTES, {"case_id": case_id, **EMPTY_ROUTE, "updated_at": now})
        route = preloading.read_rows(session, READ_ROUTES, [case_id], as_route)[case_id]
    if route is None or not learns(event):
        return route
    if event.type == "case.reported":
        learnt = reported_route(data)
        del learnt["departments"]  # a task may have been assigned before the report arrived
        learnt["community"] = learnt["community"] or route.community
    elif event.type in ADDS_DEPARTMENT:
        learnt = {
            name: data[name]
            for name in ("title", "address", "community")
            if data.get(name) and not getattr(route, name)
        }
        if data.get("case_number") and not route.number:
            learnt["number"] = data["case_number"]
        if data["department"] not in route.departments:
            learnt["departments"] = [*route.departments, data["department"]]  # a new list: JSON columns
    else:
        learnt = {"departments": [d for d in route.departments if d != data["department"]]}
    changed = {name: value for name, value in learnt.items() if getattr(route, name) != value}
    if changed:  # an unchanged route is not written again (a route made from this very report, say)
        vars(route).update(changed, updated_at=now)
        defer_update(session, CASE_ROUTES, case_id, {name: getattr(route, name) for name in LEARNT_COLUMNS})
    return route


def concerned_departments(event: Event, route: SimpleNamespace | None) -> list[str]:
    if event.type.startswith("task."):
        return [event.data["department"]]
    departments = list(route.departments) if route else []
    if event.data.get("department") and event.data["department"] not in departments:
        departments.append(event.data["department"])  # e.g. the department whose task escalated
    return departments


# Every subscription, as rows: read once a consumer batch, only to look recipients up.
DEPARTMENT_SUBSCRIPTIONS = select(Subscription.__table__)
COMMUNITY_SUBSCRIPTIONS = select(CommunitySubscription.__table__)


def subscriptions(session: Session) -> tuple[dict[str, Row], dict[str, Row]]:
    """Every subscription (rows named like Subscription's and CommunitySubscription's columns), read
    once per consumer batch (one session): there is one row per department or community, and most
    events concern someone who has none — a lookup per event would be a database round trip per
    event to learn nothing."""
    cached = session.info.get("notify.subscriptions")
    if cached is None:
        connection = session.connection()  # Core statements: the ORM's execute path only costs Python
        departments = {s.department: s for s in connection.execute(DEPARTMENT_SUBSCRIPTIONS)}
        communities = {s.community: s for s in connection.execute(COMMUNITY_SUBSCRIPTIONS)}
        cached = session.info["notify.subscriptions"] = (departments, communities)
    return cached


def department_targets(session: Session, event: Event, route: SimpleNamespace | None) -> list[Target]:
    targets: list[Target] = []
    by_department = subscriptions(session)[0]
    for department in concerned_departments(event, route):
        sub = by_department.get(department)
        if sub is None or event.type not in sub.events:
            continue
        if sub.webhook_url and sub.secrets:
            targets.append(Target("webhook", sub.webhook_url, department=department))
        targets += [Target("email", address, department=department) for address in sub.emails]
        targets += [Target("sms", number, department=department) for number in sub.sms]
    return targets


def community_targets(session: Session, event: Event, route: SimpleNamespace | None) -> list[Target]:
    community = (
        (route.community if route else None)
        or event.data.get("community")
        or (event.data.get("location") or {}).get("community")
    )
    if not community:
        return []
    sub = subscriptions(session)[1].get(community)
    if sub is None or event.type not in sub.events:
        return []
    return [Target("email", address, community=community) for address in sub.emails]
