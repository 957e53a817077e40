"""Dispatch's task API (/dispatch/v1/tasks): a department lists its tasks, reports for duty (报到),
reports progress, returns a task (退单) or completes it; staff may withdraw one."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from services.common.auth import require
from services.common.pagination import newest_first_after, page
from services.common.runtime import runtime
from services.common.web import SECURITY

from . import duty
from .models import LIVE, DispatchCase, Task
from .schemas import AcknowledgeIn, CancelIn, CompleteIn, ProgressIn, ReturnIn, TaskListArgs, TaskOut, TaskPage
from .views import if_match, own_department, task_view, unit_of_work

blp = Blueprint("dispatch", __name__, url_prefix="/v1", description="吹哨报到: department tasks")

READERS = ("staff", "department", "admin", "auditor", "service")
DEPARTMENT = ("department", "admin")  # 报到 and 退单 are the department's own word
STAFF = ("staff", "admin")


@blp.route("/tasks", methods=["GET"])
@blp.arguments(TaskListArgs(), location="query")
@blp.response(200, TaskPage)
@blp.doc(security=SECURITY)
@require(*READERS)
def list_tasks(args):
    """Tasks, newest first; a department sees only its own."""
    now = runtime().now()
    query = select(Task, DispatchCase).join(DispatchCase, DispatchCase.id == Task.case_id)
    department = own_department()
    if department:
        query = query.where(Task.department == department)
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
    query = newest_first_after(query, Task.created_at, Task.id, args.get("cursor"))
    query = query.order_by(Task.created_at.desc(), Task.id.desc()).limit(args["limit"] + 1)
    with runtime().transaction() as session:
        rows = [task_view(t, c, now) for t, c in session.execute(query).all()]
    return page(rows, args["limit"], lambda r: [r["created_at"].isoformat(), r["id"]])


@blp.route("/tasks/<task_id>", methods=["GET"])
@blp.response(200, TaskOut)
@blp.doc(security=SECURITY)
@require(*READERS)
def read_task(task_id):
    """One task with its history (another department's task is 404)."""
    with unit_of_work() as work:
        task = duty.find_task(work, task_id, own_department())
        return task_view(task, work.session.get(DispatchCase, task.case_id), work.now)


def _act(task_id: str, action: str, body: dict) -> dict:
    with unit_of_work() as work:
        task = duty.act(work, task_id, action, department=own_department(), if_match=if_match(), **body)
        return task_view(task, work.session.get(DispatchCase, task.case_id), work.now)


@blp.route("/tasks/<task_id>/acknowledge", methods=["POST"])
@blp.arguments(AcknowledgeIn())
@blp.response(200, TaskOut)
@blp.doc(security=SECURITY)
@require(*DEPARTMENT)
def acknowledge(body, task_id):
    """报到: the department reports for duty (optional note and ETA)."""
    return _act(task_id, "acknowledge", body)


@blp.route("/tasks/<task_id>/progress", methods=["POST"])
@blp.arguments(ProgressIn())
@blp.response(200, TaskOut)
@blp.doc(security=SECURITY)
@require(*DEPARTMENT)
def progress(body, task_id):
    """A progress note; the first one moves an acknowledged task to in_progress."""
    return _act(task_id, "progress", body)


@blp.route("/tasks/<task_id>/return", methods=["POST"])
@blp.arguments(ReturnIn())
@blp.response(200, TaskOut)
@blp.doc(security=SECURITY)
@require(*DEPARTMENT)
def return_task(body, task_id):
    """退单: not ours (reason code and reason); a lead task goes to the next fallback department."""
    return _act(task_id, "return", body)


@blp.route("/tasks/<task_id>/complete", methods=["POST"])
@blp.arguments(CompleteIn())
@blp.response(200, TaskOut)
@blp.doc(security=SECURITY)
@require(*DEPARTMENT)
def complete(body, task_id):
    """Done, with a resolution note; the case is resolved when every live task is."""
    return _act(task_id, "complete", body)


@blp.route("/tasks/<task_id>/cancel", methods=["POST"])
@blp.arguments(CancelIn())
@blp.response(200, TaskOut)
@blp.doc(security=SECURITY)
@require(*STAFF)
def cancel(body, task_id):
    """Staff withdraw a task: the department is not needed after all."""
    return _act(task_id, "cancel", body)
