"""Dispatch's HTTP API (/dispatch/v1): departments, routing rules and department tasks."""

from __future__ import annotations

from datetime import datetime

from flask_smorest import Blueprint
from sqlalchemy import select

from services.common.auth import Identity, current_identity, require
from services.common.errors import ApiError
from services.common.pagination import decode_cursor, page
from services.common.runtime import runtime
from services.common.web import SECURITY

from .models import Department, DispatchCase, RoutingRule, Task
from .schemas import DepartmentList, RuleList, TaskListArgs, TaskOut, TaskPage

blp = Blueprint("dispatch", __name__, url_prefix="/v1", description="吹哨报到: departments and their tasks")

READERS = ("staff", "department", "admin", "auditor", "service")
LIVE = ("assigned", "acknowledged", "in_progress")


def task_view(task: Task, case: DispatchCase | None, now: datetime) -> dict:
    live = task.status in LIVE
    overdue = live and ((task.acknowledged_at is None and now > task.ack_due) or now > task.resolve_due)
    return {
        "id": task.id, "case_id": task.case_id, "case_number": case.number if case else None,
        "department": task.department, "role": task.role, "status": task.status,
        "severity": task.severity, "title": case.title if case else None,
        "address": case.address if case else None, "ack_due": task.ack_due,
        "resolve_due": task.resolve_due, "acknowledged_at": task.acknowledged_at,
        "completed_at": task.completed_at, "eta": task.eta, "overdue": overdue,
        "version": task.version, "history": task.history, "created_at": task.created_at,
    }


def visible_to(who: Identity, task: Task) -> bool:
    return who.role != "department" or who.department == task.department


@blp.route("/departments", methods=["GET"])
@blp.response(200, DepartmentList)
@blp.doc(security=SECURITY)
@require(*READERS)
def list_departments():
    """The departments that can be summoned."""
    with runtime().transaction() as session:
        rows = session.execute(select(Department).order_by(Department.code)).scalars().all()
        return {"items": [{"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en, "active": d.active}
                          for d in rows]}


@blp.route("/routing-rules", methods=["GET"])
@blp.response(200, RuleList)
@blp.doc(security=SECURITY)
@require(*READERS)
def list_rules():
    """Routing rules: category (optionally street/community) → lead, assists, fallback."""
    with runtime().transaction() as session:
        rows = session.execute(select(RoutingRule).order_by(RoutingRule.id)).scalars().all()
        return {"items": [{"category": r.category, "street": r.street, "community": r.community,
                           "lead": r.lead, "assists": r.assists, "fallback": r.fallback,
                           "severity": r.severity} for r in rows]}


@blp.route("/tasks", methods=["GET"])
@blp.arguments(TaskListArgs, location="query")
@blp.response(200, TaskPage)
@blp.doc(security=SECURITY)
@require(*READERS)
def list_tasks(args):
    """Tasks, newest first; a department sees only its own."""
    who = current_identity()
    now = runtime().now()
    query = select(Task, DispatchCase).join(DispatchCase, DispatchCase.id == Task.case_id)
    if who.role == "department":
        query = query.where(Task.department == who.department)
    for name in ("status", "severity", "case_id"):
        if args.get(name):
            query = query.where(getattr(Task, name) == args[name])
    if args.get("since"):
        query = query.where(Task.created_at >= args["since"])
    if "overdue" in args:
        overdue = Task.status.in_(LIVE) & (
            (Task.acknowledged_at.is_(None) & (Task.ack_due < now)) | (Task.resolve_due < now)
        )
        query = query.where(overdue if args["overdue"] else ~overdue)
    cursor = decode_cursor(args.get("cursor"))
    if cursor:
        created = datetime.fromisoformat(cursor[0])
        query = query.where((Task.created_at < created) | ((Task.created_at == created) & (Task.id < cursor[1])))
    query = query.order_by(Task.created_at.desc(), Task.id.desc()).limit(args["limit"] + 1)
    with runtime().transaction() as session:
        rows = [task_view(t, c, now) for t, c in session.execute(query).all()]
    return page(rows, args["limit"], lambda r: [r["created_at"].isoformat(), r["id"]])


@blp.route("/tasks/<task_id>", methods=["GET"])
@blp.response(200, TaskOut)
@blp.doc(security=SECURITY)
@require(*READERS)
def read_task(task_id):
    """One task with its history."""
    who = current_identity()
    with runtime().transaction() as session:
        task = session.get(Task, task_id)
        if task is None or not visible_to(who, task):
            raise ApiError(404, "NOT_FOUND", f"No task {task_id}.")
        return task_view(task, session.get(DispatchCase, task.case_id), runtime().now())
