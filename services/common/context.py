"""Who is acting and which request caused it, carried from an HTTP request or an incoming event
into every event the work emits and every log line it writes."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .events import Actor

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_actor: ContextVar[Actor | None] = ContextVar("actor", default=None)


def current_correlation_id() -> str | None:
    return _correlation_id.get()


def current_actor() -> Actor | None:
    return _actor.get()


def bind(correlation_id: str | None, actor: Actor | None = None):
    """Set both for the current context; returns tokens for ``unbind``."""
    return _correlation_id.set(correlation_id), _actor.set(actor)


def unbind(tokens) -> None:
    _correlation_id.reset(tokens[0])
    _actor.reset(tokens[1])


def set_actor(actor: Actor | None) -> None:
    _actor.set(actor)
