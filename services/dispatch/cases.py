"""A case as dispatch sees it: routing (吹哨), triage, whistles, 退单 rerouting, resolving, and the
community's verification (销号) or reopening.

Case statuses: ``reported → dispatched → in_progress → resolved → closed``; ``resolved|closed →
dispatched`` on reopening; ``reported → triage → dispatched | rejected``; ``reported → duplicate →
dispatched`` when intake unlinks it.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from services.common import preloading
from services.common.deferred import defer_insert, write_deferred

from . import tasks
from .errors import Conflict, Invalid, InvalidTransition, NotFound
from .models import LIVE, Department, DispatchCase, RoutingRule, Task
from .routing import Rule, choose_rule
from .work import Work

# case status → what staff may do with it (named in a 409's "allowed").
CASE_ACTIONS: dict[str, tuple[str, ...]] = {
    "reported": (),
    "duplicate": (),
    "triage": ("whistle", "reject"),
    "dispatched": ("whistle",),
    "in_progress": ("whistle",),
    "resolved": ("verify",),
    "closed": (),
    "rejected": (),
}


CASES, RULES = DispatchCase.__table__, RoutingRule.__table__
# Rows, not ORM objects: the rules are read once per consumer batch and only turned into Rules.
READ_RULES = select(
    RULES.c.category,
    RULES.c.lead,
    RULES.c.street,
    RULES.c.community,
    RULES.c.assists,
    RULES.c.fallback,
    RULES.c.severity,
).order_by(RULES.c.id)


def load_rules(session) -> list[Rule]:
    """The routing rules, read once per transaction: a consumer batch routes many cases with them."""
    rules = session.info.get("dispatch.rules")
    if rules is None:
        rows = session.connection().execute(READ_RULES)  # Core: the ORM's execute path only costs Python
        rules = session.info["dispatch.rules"] = [
            Rule(
                category=r.category,
                lead=r.lead,
                street=r.street,
                community=r.community,
                assists=tuple(r.assists),
                fallback=tuple(r.fallback),
                severity=r.severity,
            )
            for r in rows
        ]
    return rules


def get_case(work: Work, case_id: str, *, lock: bool = True) -> DispatchCase:
    """The case, locked for the rest of the transaction: changes to one case queue up."""
    query = select(DispatchCase).where(DispatchCase.id == case_id)
    case = work.session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if case is None:
        raise NotFound(f"No case {case_id}.")
    return case


def case_tasks(work: Work, case: DispatchCase) -> list[Task]:
    write_deferred(work.session)  # tasks created earlier in this transaction are among them
    return list(
        work.session.execute(select(Task).where(Task.case_id == case.id).order_by(Task.created_at, Task.id)).scalars()
    )


def check(case: DispatchCase, action: str) -> None:
    if action not in CASE_ACTIONS[case.status]:
        allowed = list(CASE_ACTIONS[case.status])
        raise InvalidTransition(
            f"A case that is {case.status} cannot {action}; allowed: {', '.join(allowed) or 'nothing'}.", allowed
        )


def _move(work: Work, case: DispatchCase, status: str, note: str | None = None) -> None:
    case.status = status
    case.updated_at = work.now
    case.history = [*case.history, work.entry(status, note)]


# ---- arriving from intake -------------------------------------------------------------------
PRELOADED = "dispatch.cases"  # a consumer batch's cases (services.common.preloading)


def preload_cases(session, case_ids: set[str]) -> None:
    """A consumer batch's cases in one query: most are new, and asking for each would be a round
    trip per case to learn that it is not there."""
    preloading.preload(session, PRELOADED, DispatchCase, case_ids)


def known_case(session, case_id: str) -> DispatchCase | None:
    return preloading.lookup(session, PRELOADED, DispatchCase, case_id)


def receive_case(work: Work, data: dict[str, Any]) -> SimpleNamespace | None:
    """On ``case.reported``: remember the case; route it unless it duplicates another. The new
    case is decided in memory and written as one row with the transaction's others at its commit
    (a consumer batch's cases in one INSERT, see tasks.create_task); returns its values as
    attributes named like a DispatchCase's."""
    if known_case(work.session, data["case_id"]) is not None:
        return None  # the same case sent again under another event id
    location = data["location"]
    case = SimpleNamespace(
        id=data["case_id"],
        number=data["number"],
        title=data["title"],
        category=data["category"],
        severity=data["severity"],
        address=location["address"],
        street=location.get("street"),
        community=location.get("community"),
        status="reported",
        duplicate_of=data.get("duplicate_of"),
        escalation_level=0,
        fallback=[],
        reopened_by_feedback=False,
        history=[work.entry("reported")],
        created_at=work.now,
        updated_at=work.now,
    )
    if case.duplicate_of:
        _move(work, case, "duplicate", f"duplicate of {case.duplicate_of}")
    else:
        route(work, case)
    defer_insert(work.session, CASES, [vars(case)])
    preloading.added(work.session, PRELOADED, case.id)  # a later event of the batch reads it back
    return case


def unlink_duplicate(work: Work, case_id: str) -> None:
    """On ``case.duplicate_unlinked``: the case stands on its own after all, so route it."""
    case = known_case(work.session, case_id)
    if case is None:
        # Arrived before its case.reported: raising sends it round the retry queue until it has.
        raise LookupError(f"case {case_id} not known yet")
    if case.status == "duplicate":
        case.duplicate_of = None
        route(work, case)


def route(work: Work, case: DispatchCase) -> None:
    rule = choose_rule(load_rules(work.session), case.category, case.street, case.community)
    if rule is None:
        triage(work, case, "no routing rule matches")
        return
    case.fallback = list(rule.fallback)
    created = [tasks.create_task(work, case, rule.lead, "lead")]
    created += [tasks.create_task(work, case, d, "assist") for d in rule.assists if d != rule.lead]
    dispatched(work, case, rule.lead, created)


def dispatched(work: Work, case: DispatchCase, lead: str, live: list[Task]) -> None:
    lead_task = next(t for t in live if t.department == lead)
    _move(work, case, "dispatched", ", ".join(t.department for t in live))
    work.emit(
        "case.dispatched",
        {
            "case_id": case.id,
            "severity": case.severity,
            "lead": lead,
            "departments": [t.department for t in live],
            "resolve_due": lead_task.resolve_due.isoformat(),
        },
    )


def triage(work: Work, case: DispatchCase, reason: str) -> None:
    """No department to send it to: staff decide (whistle or reject); never silently nowhere."""
    _move(work, case, "triage", reason)
    work.emit("case.triaged", {"case_id": case.id, "reason": reason})


# ---- staff ----------------------------------------------------------------------------------
def active_departments(work: Work) -> set[str]:
    return set(work.session.scalars(select(Department.code).where(Department.active.is_(True))))


def whistle(
    work: Work,
    case_id: str,
    departments: list[str],
    reason: str,
    respond_within_minutes: int | None = None,
    lead: str | None = None,
) -> list[Task]:
    """吹哨: summon departments to a case; one already working on it gets its task back."""
    case = get_case(work, case_id)
    check(case, "whistle")
    known = active_departments(work)
    unknown = [d for d in departments if d not in known]
    if unknown:
        raise Invalid(
            f"No such active department: {', '.join(unknown)}.",
            {"json": {"departments": [f"No such active department: {d}." for d in unknown]}},
        )
    if lead is not None and lead not in departments:
        raise Invalid("The lead must be one of the departments.", {"json": {"lead": ["Not among departments."]}})
    current = case_tasks(work, case)
    live = {t.department: t for t in current if t.status in LIVE}
    live_lead = next((t for t in live.values() if t.role == "lead"), None)
    if live_lead is not None and lead not in (None, live_lead.department):
        raise Conflict(f"The case already has a lead department ({live_lead.department}).")
    new_lead = None if live_lead else (lead or departments[0])
    within = timedelta(minutes=respond_within_minutes) if respond_within_minutes else None
    answer = []
    for department in dict.fromkeys(departments):
        task = live.get(department)
        if task is None:
            task = tasks.create_task(work, case, department, "lead" if department == new_lead else "assist", within)
            live[department] = task
        elif department == new_lead and task.role != "lead":
            tasks.promote(work, task, "made lead by a whistle")
        answer.append(task)
    respond_by = work.now + (within or work.tiers[case.severity].acknowledge)
    case.history = [*case.history, work.entry(case.status, f"whistle: {', '.join(departments)} — {reason}")]
    work.emit(
        "case.whistle_blown",
        {
            "case_id": case.id,
            "departments": list(dict.fromkeys(departments)),
            "reason": reason,
            "respond_by": respond_by.isoformat(),
        },
    )
    if case.status == "triage":
        dispatched(work, case, new_lead or live_lead.department, list(live.values()))
    return answer


def reject(work: Work, case_id: str, reason: str) -> DispatchCase:
    """Not a matter for departments: only a case in triage can be rejected."""
    case = get_case(work, case_id)
    check(case, "reject")
    _move(work, case, "rejected", reason)
    work.emit("case.rejected", {"case_id": case.id, "reason": reason})
    return case


def verify(work: Work, case_id: str, outcome: str, note: str | None) -> DispatchCase:
    """The community checks the work: 销号 (``closed``) or ``reopened``."""
    case = get_case(work, case_id)
    check(case, "verify")
    if outcome == "closed":
        _move(work, case, "closed", note)
        work.emit("case.closed", {"case_id": case.id, "note": note})
    else:
        reopen(work, case, note or "reopened by staff", by="staff")
    return case


def reopen(work: Work, case: DispatchCase, reason: str, by: str) -> None:
    for task in case_tasks(work, case):
        if task.status == "completed":
            tasks.reopen(work, task, reason)
    _move(work, case, "dispatched", f"reopened by {by}: {reason}")
    work.emit("case.reopened", {"case_id": case.id, "reason": reason, "by": by})


def record_feedback(work: Work, data: dict[str, Any]) -> None:
    """回访: a dissatisfied resident reopens a resolved or closed case — once per case."""
    case = known_case(work.session, data["case_id"])
    if case is None or data["satisfaction"] != "dissatisfied":
        return
    if case.reopened_by_feedback or case.status not in ("resolved", "closed"):
        case.history = [*case.history, work.entry(case.status, "dissatisfied feedback; left to staff")]
        return
    case.reopened_by_feedback = True
    reopen(work, case, data.get("comment") or "the resident is dissatisfied", by="feedback")


# ---- consequences of a task's change --------------------------------------------------------
def task_acknowledged(work: Work, case: DispatchCase) -> None:
    if case.status == "dispatched":
        _move(work, case, "in_progress")


def task_returned(work: Work, case: DispatchCase, task: Task) -> None:
    """退单 of the lead goes to the rule's next fallback department not yet tried, else triage."""
    if task.role == "lead":
        current = case_tasks(work, case)
        tried = {t.department for t in current if t.role == "lead"}
        known = active_departments(work)
        following = next((d for d in case.fallback if d not in tried and d in known), None)
        if following is None:
            triage(work, case, "every department returned it")
            return
        live = next((t for t in current if t.department == following and t.status in LIVE), None)
        if live is not None:
            tasks.promote(work, live, f"next in line after {task.department} returned it")
        else:
            tasks.create_task(work, case, following, "lead")
        case.history = [*case.history, work.entry(case.status, f"rerouted from {task.department} to {following}")]
        return
    settle(work, case)


def settle(work: Work, case: DispatchCase) -> None:
    """A case is resolved when every live task is completed (at least one was)."""
    if case.status not in ("dispatched", "in_progress"):
        return
    statuses = {t.status for t in case_tasks(work, case)}
    if statuses & set(LIVE):
        return
    if "completed" in statuses:
        _move(work, case, "resolved")
        work.emit("case.resolved", {"case_id": case.id})
    else:  # every task withdrawn or returned: staff decide, the case is never left with no one
        triage(work, case, "no department is working on it")
