"""Audit records every event on the bus."""

from __future__ import annotations

from services.common.catalogue import CATALOGUE
from services.common.consumer import HandlerContext
from services.common.events import Event

from . import service


def record(ctx: HandlerContext, event: Event) -> None:
    service.append(ctx.session, event, ctx.now)


HANDLERS = {event_type: record for event_type in CATALOGUE}


preload = service.preload  # see consumer.Preloader
