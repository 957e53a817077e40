"""Subscriptions: what a department or a community wants to hear of, and the webhook secrets
(rotatable: the previous secret keeps signing for a window, so receivers can switch over)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from .models import CommunitySubscription, Subscription

DEFAULT_EVENTS = ["task.assigned", "task.due_soon", "task.overdue", "case.escalated", "case.reopened"]


def mask_secret(secret: str | None) -> str | None:
    return f"whsec_…{secret[-4:]}" if secret else None


def signing_secrets(sub: Subscription, now: datetime) -> list[str]:
    """The secrets a webhook is signed with now: the newest, and the previous one inside its window."""
    secrets = list(sub.secrets or [])
    if len(secrets) > 1 and sub.previous_secret_until and now < sub.previous_secret_until:
        return secrets[:2]
    return secrets[:1]


def put_department(
    session: Session, department: str, payload: dict, now: datetime, rotation_window: timedelta
) -> Subscription:
    """Create or replace a department's subscription. Fields left out are cleared, except the
    secret: left out, the current one stays; a new one starts a rotation window."""
    sub = session.get(Subscription, department) or Subscription(department=department, secrets=[])
    new_secret = payload.get("secret")
    current = sub.secrets[0] if sub.secrets else None
    if new_secret and new_secret != current:
        sub.secrets = [new_secret, current] if current else [new_secret]
        sub.previous_secret_until = now + rotation_window if current else None
    sub.webhook_url = payload.get("webhook_url")
    sub.emails = _unique(payload.get("emails"))
    sub.sms = _unique(payload.get("sms"))
    sub.events = _unique(payload.get("events")) or DEFAULT_EVENTS
    sub.updated_at = now
    session.add(sub)
    return sub


def put_community(session: Session, community: str, payload: dict, now: datetime) -> CommunitySubscription:
    sub = session.get(CommunitySubscription, community) or CommunitySubscription(community=community)
    sub.emails = _unique(payload.get("emails"))
    sub.events = _unique(payload.get("events")) or DEFAULT_EVENTS
    sub.updated_at = now
    session.add(sub)
    return sub


def _unique(values: list[str] | None) -> list[str]:
    return list(dict.fromkeys(values or []))
