"""Events dispatch reacts to."""

from __future__ import annotations

from services.common.consumer import HandlerContext
from services.common.events import Event

from . import service


def on_case_reported(ctx: HandlerContext, event: Event) -> None:
    service.receive_case(ctx.session, ctx.outbox, event.data, ctx.now)


HANDLERS = {"case.reported": on_case_reported}
