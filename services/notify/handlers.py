"""Events notify reacts to: each may call for deliveries to subscribers."""

from __future__ import annotations

from services.common.consumer import HandlerContext
from services.common.events import Event

from . import service


def plan(ctx: HandlerContext, event: Event) -> None:
    service.plan_deliveries(ctx.session, event, ctx.now)


NOTIFIABLE = ["task.assigned", "task.acknowledged", "task.progressed", "task.returned", "task.completed",
              "task.reopened", "task.cancelled", "task.due_soon", "task.overdue", "case.escalated",
              "case.reopened", "case.resolved", "case.closed", "case.dispatched", "case.triaged",
              "case.whistle_blown"]
HANDLERS = {event_type: plan for event_type in NOTIFIABLE}
