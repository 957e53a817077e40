"""Notify's HTTP API (/notify/v1): subscriptions and the delivery log."""

from __future__ import annotations

from datetime import datetime

from flask_smorest import Blueprint
from sqlalchemy import select

from services.common.auth import current_identity, require
from services.common.errors import ApiError
from services.common.pagination import newest_first_after, page
from services.common.runtime import runtime
from services.common.web import SECURITY

from . import deliveries, subscriptions
from .config import NotifyConfig
from .masking import mask_recipient
from .models import CommunitySubscription, Delivery, Subscription
from .schemas import (
    CommunitySubscriptionIn,
    CommunitySubscriptionOut,
    DeliveryListArgs,
    DeliveryOut,
    DeliveryPage,
    SubscriptionIn,
    SubscriptionOut,
)

blp = Blueprint("notify", __name__, url_prefix="/v1", description="Subscriptions and deliveries")


def subscription_view(sub: Subscription, now: datetime) -> dict:
    secrets = subscriptions.signing_secrets(sub, now)
    previous = secrets[1] if len(secrets) > 1 else None
    return {
        "department": sub.department,
        "webhook_url": sub.webhook_url,
        "secret": subscriptions.mask_secret(secrets[0] if secrets else None),
        "previous_secret": subscriptions.mask_secret(previous),
        "previous_secret_valid_until": sub.previous_secret_until if previous else None,
        "emails": sub.emails,
        "sms": sub.sms,
        "events": sub.events,
        "updated_at": sub.updated_at,
    }


def community_view(sub: CommunitySubscription) -> dict:
    return {"community": sub.community, "emails": sub.emails, "events": sub.events, "updated_at": sub.updated_at}


def delivery_view(d: Delivery) -> dict:
    view = {c: getattr(d, c) for c in DeliveryOut().fields}
    view["recipient"] = mask_recipient(d.channel, d.recipient)
    return view


def require_department_or_admin(department: str | None) -> None:
    who = current_identity()
    if who.role == "department" and who.department != department:
        raise ApiError(403, "FORBIDDEN", "A department manages only its own subscription and deliveries.")


def require_community_or_admin(community: str) -> None:
    who = current_identity()
    if who.role == "staff" and who.community != community:
        raise ApiError(403, "FORBIDDEN", "Staff manage only their own community's subscription.")


@blp.route("/subscriptions/<department>", methods=["GET"])
@blp.response(200, SubscriptionOut)
@blp.doc(security=SECURITY)
@require("admin", "department")
def read_subscription(department):
    """A department's subscription (secrets masked)."""
    require_department_or_admin(department)
    with runtime().transaction() as session:
        sub = session.get(Subscription, department)
        if sub is None:
            raise ApiError(404, "NOT_FOUND", f"No subscription for {department}.")
        return subscription_view(sub, runtime().now())


@blp.route("/subscriptions/<department>", methods=["PUT"])
@blp.arguments(SubscriptionIn())
@blp.response(200, SubscriptionOut)
@blp.doc(security=SECURITY)
@require("admin", "department")
def put_subscription(payload, department):
    """Create or replace a department's subscription. A new ``secret`` starts a rotation window
    during which webhooks are signed with both the new and the previous secret."""
    require_department_or_admin(department)
    rt = runtime()
    with rt.transaction() as session:
        existing = session.get(Subscription, department)
        if payload.get("webhook_url") and not payload.get("secret") and not (existing and existing.secrets):
            raise ApiError(
                422,
                "VALIDATION_ERROR",
                "The request is not valid: secret: A webhook needs a secret.",
                {"json": {"secret": ["A webhook needs a secret of at least 32 characters."]}},
            )
        window = NotifyConfig.load(rt.settings).rotation_window
        sub = subscriptions.put_department(session, department, payload, rt.now(), window)
        return subscription_view(sub, rt.now())


@blp.route("/community-subscriptions/<community>", methods=["GET"])
@blp.response(200, CommunitySubscriptionOut)
@blp.doc(security=SECURITY)
@require("admin", "staff")
def read_community_subscription(community):
    """A community's staff e-mail subscription."""
    require_community_or_admin(community)
    with runtime().transaction() as session:
        sub = session.get(CommunitySubscription, community)
        if sub is None:
            raise ApiError(404, "NOT_FOUND", f"No subscription for {community}.")
        return community_view(sub)


@blp.route("/community-subscriptions/<community>", methods=["PUT"])
@blp.arguments(CommunitySubscriptionIn())
@blp.response(200, CommunitySubscriptionOut)
@blp.doc(security=SECURITY)
@require("admin", "staff")
def put_community_subscription(payload, community):
    """Create or replace the e-mail subscription of a community's staff."""
    require_community_or_admin(community)
    rt = runtime()
    with rt.transaction() as session:
        return community_view(subscriptions.put_community(session, community, payload, rt.now()))


@blp.route("/deliveries", methods=["GET"])
@blp.arguments(DeliveryListArgs(), location="query")
@blp.response(200, DeliveryPage)
@blp.doc(security=SECURITY)
@require("admin", "department", "auditor")
def list_deliveries(args):
    """The delivery log, newest first; a department sees its own. People's addresses are masked."""
    who = current_identity()
    query = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id.desc())
    if who.role == "department":
        query = query.where(Delivery.department == who.department)
    for name in ("status", "channel", "department", "event_id"):
        if args.get(name):
            query = query.where(getattr(Delivery, name) == args[name])
    query = newest_first_after(query, Delivery.created_at, Delivery.id, args.get("cursor"))
    with runtime().transaction() as session:
        rows = [delivery_view(d) for d in session.execute(query.limit(args["limit"] + 1)).scalars()]
    return page(rows, args["limit"], lambda r: [r["created_at"].isoformat(), r["id"]])


@blp.route("/deliveries/<delivery_id>/retry", methods=["POST"])
@blp.response(200, DeliveryOut)
@blp.doc(security=SECURITY)
@require("admin", "department")
def retry_delivery(delivery_id):
    """Put a failed (or waiting) delivery back to ``pending``, due now, with a fresh attempt schedule."""
    rt, who = runtime(), current_identity()
    scope = who.department if who.role == "department" else None
    try:
        with rt.transaction() as session:
            return delivery_view(deliveries.retry(session, delivery_id, scope, rt.now()))
    except deliveries.DeliveryNotFound as exc:
        raise ApiError(404, "NOT_FOUND", str(exc)) from exc
    except deliveries.InvalidTransition as exc:
        raise ApiError(409, "INVALID_TRANSITION", str(exc), allowed=exc.allowed) from exc
