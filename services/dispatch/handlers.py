"""Events dispatch reacts to: reported cases, unlinked duplicates and 回访 feedback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from services.common.consumer import HandlerContext
from services.common.events import Event

from . import cases
from .tiers import Tier
from .work import Work

Apply = Callable[[Work, Event], None]


def on_case_reported(work: Work, event: Event) -> None:
    cases.receive_case(work, event.data)


def on_duplicate_unlinked(work: Work, event: Event) -> None:
    cases.unlink_duplicate(work, event.data["case_id"])


def on_feedback_recorded(work: Work, event: Event) -> None:
    cases.record_feedback(work, event.data)


RULES: dict[str, Apply] = {
    "case.reported": on_case_reported,
    "case.duplicate_unlinked": on_duplicate_unlinked,
    "case.feedback_recorded": on_feedback_recorded,
}


def build_handlers(tiers: dict[str, Tier]) -> dict[str, Callable[[HandlerContext, Event], None]]:
    """The consumer's handlers, bound to this deployment's severity tiers."""

    def bind(apply: Apply):
        return lambda ctx, event: apply(Work(ctx.session, ctx.outbox, ctx.now, tiers), event)

    return {event_type: bind(apply) for event_type, apply in RULES.items()}


def preload(session: Session, events: list[Event], _now: datetime) -> None:
    """See consumer.Preloader: the batch's cases in one query."""
    cases.preload_cases(session, {e.data["case_id"] for e in events})
