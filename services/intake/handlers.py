"""Events intake reacts to: dispatch's case.* and task.* keep the public status of each case."""

from __future__ import annotations

from services.common.catalogue import CATALOGUE
from services.common.consumer import HandlerContext
from services.common.events import Event
from services.common.topology import INTAKE_OWN_EVENTS

from . import status


def follow_case(ctx: HandlerContext, event: Event) -> None:
    status.apply_event(ctx.session, event)


STATUS_EVENTS = [t for t in CATALOGUE if t.startswith(("task.", "case.")) and t not in INTAKE_OWN_EVENTS]

HANDLERS = {event_type: follow_case for event_type in STATUS_EVENTS}


preload = status.preload  # see consumer.Preloader
