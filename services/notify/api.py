"""Notify's HTTP API (/notify/v1): subscriptions and the delivery log."""

from __future__ import annotations

from datetime import datetime

from flask_smorest import Blueprint
from sqlalchemy import select

from services.common.auth import current_identity, require
from services.common.errors import ApiError
from services.common.pagination import decode_cursor, page
from services.common.runtime import runtime
from services.common.web import SECURITY

from .models import Delivery, Subscription
from .schemas import DeliveryListArgs, DeliveryOut, DeliveryPage, SubscriptionIn, SubscriptionOut
from .service import DEFAULT_EVENTS

blp = Blueprint("notify", __name__, url_prefix="/v1", description="Subscriptions and deliveries")


def mask_secret(secret: str | None) -> str | None:
    return f"whsec_…{secret[-4:]}" if secret else None


def subscription_view(sub: Subscription) -> dict:
    return {"department": sub.department, "webhook_url": sub.webhook_url,
            "secret": mask_secret(sub.secrets[0] if sub.secrets else None), "emails": sub.emails,
            "sms": sub.sms, "events": sub.events, "updated_at": sub.updated_at}


def delivery_view(d: Delivery) -> dict:
    return {c: getattr(d, c) for c in DeliveryOut().fields}


def require_department_or_admin(department: str) -> None:
    who = current_identity()
    if who.role == "department" and who.department != department:
        raise ApiError(403, "FORBIDDEN", "A department manages only its own subscription.")


@blp.route("/subscriptions/<department>", methods=["GET"])
@blp.response(200, SubscriptionOut)
@blp.doc(security=SECURITY)
@require("admin", "department")
def read_subscription(department):
    """A department's subscription (the secret masked)."""
    require_department_or_admin(department)
    with runtime().transaction() as session:
        sub = session.get(Subscription, department)
        if sub is None:
            raise ApiError(404, "NOT_FOUND", f"No subscription for {department}.")
        return subscription_view(sub)


@blp.route("/subscriptions/<department>", methods=["PUT"])
@blp.arguments(SubscriptionIn)
@blp.response(200, SubscriptionOut)
@blp.doc(security=SECURITY)
@require("admin", "department")
def put_subscription(payload, department):
    """Create or replace a department's subscription."""
    require_department_or_admin(department)
    with runtime().transaction() as session:
        sub = session.get(Subscription, department) or Subscription(department=department, secrets=[])
        sub.webhook_url = payload.get("webhook_url")
        if payload.get("secret"):
            sub.secrets = [payload["secret"], *(sub.secrets or [])][:2]
        sub.emails = payload.get("emails") or []
        sub.sms = payload.get("sms") or []
        sub.events = payload.get("events") or DEFAULT_EVENTS
        sub.updated_at = runtime().now()
        session.add(sub)
        return subscription_view(sub)


@blp.route("/deliveries", methods=["GET"])
@blp.arguments(DeliveryListArgs, location="query")
@blp.response(200, DeliveryPage)
@blp.doc(security=SECURITY)
@require("admin", "department", "auditor")
def list_deliveries(args):
    """The delivery log, newest first; a department sees its own."""
    who = current_identity()
    query = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id.desc())
    if who.role == "department":
        query = query.where(Delivery.department == who.department)
    for name in ("status", "channel", "department", "event_id"):
        if args.get(name):
            query = query.where(getattr(Delivery, name) == args[name])
    cursor = decode_cursor(args.get("cursor"))
    if cursor:
        created = datetime.fromisoformat(cursor[0])
        query = query.where((Delivery.created_at < created)
                            | ((Delivery.created_at == created) & (Delivery.id < cursor[1])))
    with runtime().transaction() as session:
        rows = [delivery_view(d) for d in session.execute(query.limit(args["limit"] + 1)).scalars()]
    return page(rows, args["limit"], lambda r: [r["created_at"].isoformat(), r["id"]])
