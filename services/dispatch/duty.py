"""A department's actions on its task (报到, progress, 退单, completion) and staff withdrawing one,
each with its consequence for the case. The one entry point the task views call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from . import cases, tasks
from .errors import NotFound
from .models import Task
from .work import Work


def find_task(work: Work, task_id: str, department: str | None) -> Task:
    """The task, or NotFound — also for another department's task, which a department never sees."""
    task = work.session.get(Task, task_id)
    if task is None or (department is not None and task.department != department):
        raise NotFound(f"No task {task_id}.")
    return task


def act(
    work: Work, task_id: str, action: str, *, department: str | None = None, if_match: int | None = None, **payload: Any
) -> Task:
    """Apply ``action`` to a task. ``department`` limits the caller to that department's tasks."""
    task = find_task(work, task_id, department)
    case = cases.get_case(work, task.case_id)  # locks the case: its tasks change one at a time
    # Re-read after taking the lock: another request may have changed the task meanwhile.
    task = work.session.execute(
        select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
    ).scalar_one()
    tasks.check(task, action, if_match)
    if action == "acknowledge":
        tasks.acknowledge(work, task, payload.get("note"), payload.get("eta"))
        cases.task_acknowledged(work, case)
    elif action == "progress":
        tasks.progress(work, task, payload["note"])
        cases.task_acknowledged(work, case)
    elif action == "return":
        tasks.return_task(work, task, payload["reason_code"], payload["reason"])
        cases.task_returned(work, case, task)
    elif action == "complete":
        tasks.complete(work, task, payload.get("resolution"))
        cases.settle(work, case)
    elif action == "cancel":
        tasks.cancel(work, task, payload.get("reason"))
        cases.settle(work, case)
    else:  # a view names an action that does not exist: a programming error, not a 4xx
        raise ValueError(f"unknown task action {action!r}")
    return task
