"""Notify's HTTP edge."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.common.pagination import PageArgs

from .handlers import NOTIFIABLE

CHINA_MOBILE = r"^1[3-9]\d{9}$"
NO_CHANNEL = "Give at least one channel: webhook_url, emails or sms."


def _known_events(value, **_kwargs) -> None:
    unknown = [v for v in value or [] if v not in NOTIFIABLE]
    if unknown:
        raise ValidationError(f"Unknown event types: {', '.join(unknown)}. Known: {', '.join(NOTIFIABLE)}.")


class SubscriptionIn(Schema):
    # Loopback and private hosts are allowed: departments' systems often sit on private networks.
    webhook_url = fields.Url(
        schemes={"http", "https"}, require_tld=False, allow_none=True, validate=validate.Length(max=500)
    )
    secret = fields.String(validate=validate.Length(min=32, max=256), allow_none=True)
    emails = fields.List(fields.Email(validate=validate.Length(max=254)), load_default=list)
    sms = fields.List(
        fields.String(validate=validate.Regexp(CHINA_MOBILE, error="Not a mainland mobile number.")), load_default=list
    )
    events = fields.List(fields.String(), load_default=None, validate=_known_events)

    @validates_schema
    def one_channel(self, data, **_kwargs):
        if not (data.get("webhook_url") or data.get("emails") or data.get("sms")):
            raise ValidationError({"webhook_url": [NO_CHANNEL], "emails": [NO_CHANNEL], "sms": [NO_CHANNEL]})


class CommunitySubscriptionIn(Schema):
    emails = fields.List(
        fields.Email(validate=validate.Length(max=254)),
        required=True,
        validate=validate.Length(min=1, error="Give at least one address."),
    )
    events = fields.List(fields.String(), load_default=None, validate=_known_events)


class SubscriptionOut(Schema):
    department = fields.String()
    webhook_url = fields.String(allow_none=True)
    secret = fields.String(allow_none=True)
    previous_secret = fields.String(allow_none=True)
    previous_secret_valid_until = fields.DateTime(allow_none=True)
    emails = fields.List(fields.String())
    sms = fields.List(fields.String())
    events = fields.List(fields.String())
    updated_at = fields.DateTime()


class CommunitySubscriptionOut(Schema):
    community = fields.String()
    emails = fields.List(fields.String())
    events = fields.List(fields.String())
    updated_at = fields.DateTime()


class DeliveryOut(Schema):
    id = fields.String()
    event_id = fields.String()
    event_type = fields.String()
    channel = fields.String()
    recipient = fields.String()
    case_id = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    community = fields.String(allow_none=True)
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
