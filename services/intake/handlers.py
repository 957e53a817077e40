"""Events intake reacts to: dispatch's case.* and task.* keep the public status of each case."""

from __future__ import annotations

from services.common.catalogue import CATALOGUE
from services.common.consumer import HandlerContext
from services.common.events import Event

from . import status

# Intake's own events come back on its queue too (it binds case.*): it already applied them.
OWN_EVENTS = ("case.reported", "case.duplicate_unlinked", "case.feedback_recorded")


def follow_case(ctx: HandlerContext, event: Event) -> None:
    status.apply_event(ctx.session, event)


STATUS_EVENTS = [t for t in CATALOGUE if (t.startswith("task.") or t.startswith("case.")) and t not in OWN_EVENTS]

HANDLERS = {event_type: follow_case for event_type in STATUS_EVENTS}


preload = status.preload  # see consumer.Preloader
