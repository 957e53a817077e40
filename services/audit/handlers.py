"""Audit records every event on the bus."""

from __future__ import annotations

from services.common.catalogue import CATALOGUE
from services.common.consumer import HandlerContext
from services.common.events import Event

from . import service


def record(ctx: HandlerContext, event: Event) -> bool:
    """False when the event is in the trail already (the worker keeps no inbox: Worker.own_record)."""
    return service.append(ctx.session, event, ctx.now) is not None


HANDLERS = {event_type: record for event_type in CATALOGUE}


preload = service.preload  # see consumer.Preloader
