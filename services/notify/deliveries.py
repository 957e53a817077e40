"""Notify's rules for the delivery log. No Flask here: views call these inside one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from .models import Delivery


class DeliveryNotFound(LookupError):
    """No such delivery — or one the caller may not see (a department's view of another's)."""

    def __init__(self, delivery_id: str):
        super().__init__(f"No delivery {delivery_id}.")


class InvalidTransition(Exception):
    """The delivery's status does not allow this; ``allowed`` names what it does allow."""

    def __init__(self, message: str, allowed: list[str]):
        super().__init__(message)
        self.allowed = allowed


def retry(session: Session, delivery_id: str, department: str | None, now: datetime) -> Delivery:
    """Put a failed (or waiting) delivery back to ``pending``, due ``now``, with a fresh attempt
    schedule. ``department`` is the caller's scope: a department's own deliveries, or None for all."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or (department is not None and delivery.department != department):
        raise DeliveryNotFound(delivery_id)
    if delivery.status == "sent":
        raise InvalidTransition("The delivery was sent already.", allowed=[])
    # Attempts start again from zero: the retry gets the whole backoff schedule; the last error
    # stays visible until the next attempt replaces it.
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, now
    return delivery
