"""Notify's rules: turning events into deliveries, and sending them."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.db import insert_ignore, new_id
from services.common.events import Event
from services.common.runtime import Runtime

from .models import Delivery, Subscription
from .signing import sign

log = logging.getLogger(__name__)

DEFAULT_EVENTS = ["task.assigned", "task.due_soon", "task.overdue", "case.escalated", "case.reopened"]
BACKOFF = [timedelta(0), timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=5),
           timedelta(minutes=30)]
TIMEOUT = 5.0


def plan_deliveries(session: Session, event: Event, now: datetime) -> int:
    """Create the deliveries an event calls for (webhook of the task's department)."""
    department = event.data.get("department")
    if not department:
        return 0
    sub = session.get(Subscription, department)
    if sub is None or event.type not in (sub.events or DEFAULT_EVENTS) or not sub.webhook_url:
        return 0
    inserted = insert_ignore(session, Delivery.__table__, {
        "id": new_id(), "event_id": event.id, "event_type": event.type, "case_id": event.case_id,
        "department": department, "channel": "webhook", "recipient": sub.webhook_url,
        "body": json.dumps(event.envelope, ensure_ascii=False, separators=(",", ":")),
        "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now,
    })
    return int(inserted)


def send_due(runtime: Runtime, now: datetime) -> int:
    """Send every due delivery once; record the outcome."""
    with runtime.transaction() as session:
        due = session.execute(
            select(Delivery).where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
            .order_by(Delivery.next_attempt_at).limit(100)
        ).scalars().all()
    for delivery in due:
        error = post_webhook(runtime, delivery)
        with runtime.transaction() as session:
            row = session.get(Delivery, delivery.id)
            row.attempts += 1
            if error is None:
                row.status, row.sent_at, row.last_error = "sent", now, None
            elif row.attempts >= len(BACKOFF):
                row.status, row.last_error = "failed", error
            else:
                row.last_error, row.next_attempt_at = error, now + BACKOFF[row.attempts]
    return len(due)


def post_webhook(runtime: Runtime, delivery: Delivery) -> str | None:
    with runtime.transaction() as session:
        sub = session.get(Subscription, delivery.department)
        secret = sub.secrets[0] if sub and sub.secrets else ""
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/cloudevents+json",
        "Whistle-Event-Id": delivery.event_id,
        "Whistle-Signature": sign(secret, body, int(time.time())),
    }
    try:
        response = requests.post(delivery.recipient, data=body, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if response.status_code >= 300:
        return f"HTTP {response.status_code}"
    return None
