"""Events notify reacts to: every task and case event may teach it about a case and call for
deliveries to subscribers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.common.catalogue import CATALOGUE
from services.common.consumer import HandlerContext
from services.common.events import Event

from . import planning
from .planning import plan_deliveries


def plan(ctx: HandlerContext, event: Event) -> None:
    plan_deliveries(ctx.session, event, ctx.now)


# What notify's queue is bound to (DESIGN §3), and so what a subscription may ask for.
NOTIFIABLE = sorted(t for t in CATALOGUE if t.startswith(("task.", "case.")))
HANDLERS = {event_type: plan for event_type in NOTIFIABLE}


def preload(session: Session, events: list[Event], now: datetime) -> None:
    """A batch's case routes and the subscriptions in two queries (see consumer.Preloader)."""
    planning.preload_routes(session, events, now)
    planning.subscriptions(session)
