"""Notify's HTTP edge."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates

from services.common.catalogue import CATALOGUE
from services.common.pagination import PageArgs


class SubscriptionIn(Schema):
    webhook_url = fields.Url(schemes={"http", "https"}, require_tld=False, allow_none=True)
    secret = fields.String(validate=validate.Length(min=32, max=256), allow_none=True)
    emails = fields.List(fields.Email(), load_default=list)
    sms = fields.List(fields.String(validate=validate.Regexp(r"^1[3-9]\d{9}$")), load_default=list)
    events = fields.List(fields.String(), load_default=None)

    @validates("events")
    def known_events(self, value, **_kwargs):
        unknown = [v for v in value or [] if v not in CATALOGUE]
        if unknown:
            raise ValidationError(f"Unknown event types: {', '.join(unknown)}.")


class SubscriptionOut(Schema):
    department = fields.String()
    webhook_url = fields.String(allow_none=True)
    secret = fields.String(allow_none=True)
    emails = fields.List(fields.String())
    sms = fields.List(fields.String())
    events = fields.List(fields.String())
    updated_at = fields.DateTime()


class DeliveryOut(Schema):
    id = fields.String()
    event_id = fields.String()
    event_type = fields.String()
    channel = fields.String()
    recipient = fields.String()
    department = fields.String(allow_none=True)
    status = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class DeliveryPage(Schema):
    items = fields.List(fields.Nested(DeliveryOut))
    next_cursor = fields.String(allow_none=True)


class DeliveryListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(("pending", "sent", "failed")))
    channel = fields.String(validate=validate.OneOf(("webhook", "email", "sms")))
    department = fields.String()
    event_id = fields.String()
