"""Admins edit departments and replace the routing rules; every change is an event."""

from __future__ import annotations

from sqlalchemy import delete, select

from .errors import Conflict, Invalid
from .models import Department, RoutingRule
from .routing import Rule
from .work import Work

# The case categories of API.md; a rule for anything else could never match a case.
CATEGORIES = (
    "water_supply",
    "drainage",
    "building_safety",
    "ev_charging",
    "parking",
    "trees",
    "street_lighting",
    "heating",
    "sanitation",
    "neighbour_dispute",
    "other",
)


def department_dict(d: Department) -> dict:
    return {"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en, "active": d.active}


def put_department(work: Work, code: str, name_zh: str, name_en: str, active: bool = True) -> Department:
    """Create or replace a department. One a rule still names cannot be deactivated."""
    department = work.session.get(Department, code)
    if not active:
        using = [
            r.category for r in work.session.scalars(select(RoutingRule)) if code in (r.lead, *r.assists, *r.fallback)
        ]
        if using:
            raise Conflict(f"Routing rules still name {code} ({', '.join(using)}); change them first.", rules=using)
    if department is None:
        department = Department(code=code)
        work.session.add(department)
    department.name_zh, department.name_en, department.active = name_zh, name_en, active
    work.session.flush()
    work.emit("department.updated", department_dict(department))
    return department


def rule_problems(rule: Rule, departments: set[str]) -> dict[str, list[str]]:
    """What is wrong with one rule, by field (pure)."""
    problems: dict[str, list[str]] = {}
    if rule.category not in CATEGORIES:
        problems["category"] = [f"Unknown category {rule.category!r}."]
    if rule.lead not in departments:
        problems["lead"] = [f"No such active department: {rule.lead}."]
    for name in ("assists", "fallback"):
        values = getattr(rule, name)
        messages = [f"No such active department: {d}." for d in values if d not in departments]
        if rule.lead in values:
            messages.append("The lead cannot also be listed here: a rule has one lead.")
        if len(set(values)) != len(values):
            messages.append("A department is listed twice.")
        if messages:
            problems[name] = messages
    return problems


def validate_rules(rules: list[Rule], departments: set[str]) -> dict:
    """Errors keyed by item index, as marshmallow reports them; empty when the set is sound."""
    errors: dict = {}
    seen: dict[tuple, int] = {}
    for index, rule in enumerate(rules):
        problems = rule_problems(rule, departments)
        key = (rule.category, rule.street, rule.community)
        if key in seen:
            problems.setdefault("category", []).append(f"Same scope as item {seen[key]}: which would win?")
        seen.setdefault(key, index)
        if problems:
            errors[index] = problems
    return errors


def replace_rules(work: Work, rules: list[Rule]) -> list[Rule]:
    """PUT replaces the whole rule set, or nothing when any rule is unsound."""
    active = set(work.session.scalars(select(Department.code).where(Department.active.is_(True))))
    errors = validate_rules(rules, active)
    if errors:
        raise Invalid("The routing rules are not valid.", {"json": {"items": errors}})
    work.session.execute(delete(RoutingRule))
    for rule in rules:
        work.session.add(
            RoutingRule(
                category=rule.category,
                street=rule.street,
                community=rule.community,
                lead=rule.lead,
                assists=list(rule.assists),
                fallback=list(rule.fallback),
                severity=rule.severity,
            )
        )
    work.emit("routing_rules.updated", {"rules": [r.as_dict() for r in rules]})
    return rules
