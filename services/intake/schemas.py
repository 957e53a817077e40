"""Intake's HTTP edge: what a case looks like coming in and going out."""

from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates, validates_schema

from services.common.catalogue import CHANNELS, SATISFACTION, SEVERITIES
from services.common.pagination import PageArgs
from services.common.runtime import runtime

from .options import intake_options
from .text import PlainText

STATUSES = ("reported", "triage", "dispatched", "in_progress", "resolved", "closed", "rejected", "duplicate")
# Chinese mobile (optionally +86), or a landline with its area code (027-87654321).
PHONE = r"^(?:(?:\+?86)?1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$"
MAX_DESCRIPTION = 4000
FUTURE_TOLERANCE_SECONDS = 300  # a reporter's watch may run a little fast


def normalise_phone(phone: str | None) -> str | None:
    """Mobiles are kept as their 11 digits, so that one number is always written one way."""
    if phone and not phone.startswith("0"):
        return re.sub(r"^\+?86", "", phone)
    return phone


def check_category(value: str) -> None:
    categories = intake_options().categories
    if value not in categories:
        raise ValidationError(f"Unknown category; one of: {', '.join(categories)}.")


class LocationIn(Schema):
    address = PlainText(required=True, validate=validate.Length(min=1, max=300))
    street = PlainText(validate=validate.Length(max=100), allow_none=True)
    community = PlainText(validate=validate.Length(max=100), allow_none=True)
    grid = PlainText(validate=validate.Length(max=50), allow_none=True)
    lat = fields.Float(validate=validate.Range(-90, 90), allow_none=True)  # WGS84
    lon = fields.Float(validate=validate.Range(-180, 180), allow_none=True)

    @validates_schema
    def coordinates_together(self, data, **_kwargs) -> None:
        # A latitude alone places nothing; refusing it beats silently dropping it.
        has_lat, has_lon = data.get("lat") is not None, data.get("lon") is not None
        if has_lat != has_lon:
            missing = "lon" if has_lat else "lat"
            raise ValidationError("lat and lon come together.", missing)


class ReporterIn(Schema):
    name = PlainText(validate=validate.Length(min=1, max=100), allow_none=True)
    phone = fields.String(
        validate=validate.Regexp(PHONE, error="Not a Chinese mobile or landline number."), allow_none=True
    )

    @post_load
    def normalise(self, data, **_kwargs):
        if data.get("phone"):
            data["phone"] = normalise_phone(data["phone"])
        return data


class CaseIn(Schema):
    title = PlainText(required=True, validate=validate.Length(min=1, max=200))
    description = PlainText(validate=validate.Length(max=MAX_DESCRIPTION), allow_none=True)
    category = fields.String(required=True)
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    channel = fields.String(load_default="web", validate=validate.OneOf(CHANNELS))
    occurred_at = fields.AwareDateTime(allow_none=True)
    location = fields.Nested(LocationIn, required=True)
    reporter = fields.Nested(ReporterIn, allow_none=True)
    media_urls = fields.List(
        fields.Url(schemes={"http", "https"}, validate=validate.Length(max=500)),
        load_default=list,
        validate=validate.Length(max=20),
    )

    @validates("category")
    def known_category(self, value: str, **_kwargs) -> None:
        check_category(value)

    @validates("occurred_at")
    def not_in_future(self, value, **_kwargs) -> None:
        if value is not None and (value - runtime().now()).total_seconds() > FUTURE_TOLERANCE_SECONDS:
            raise ValidationError("Must not be in the future.")


class LocationOut(Schema):
    address = fields.String()
    street = fields.String(allow_none=True)
    community = fields.String(allow_none=True)
    grid = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)


class ReporterOut(Schema):
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class NoteOut(Schema):
    at = fields.String()
    event = fields.String()
    status = fields.String(allow_none=True, metadata={"description": "the public status the event implies"})
    note = fields.String(allow_none=True)
    department = fields.String(allow_none=True)


class CaseOut(Schema):
    id = fields.String()
    number = fields.String()
    status = fields.String()
    title = fields.String()
    description = fields.String(allow_none=True)
    category = fields.String()
    severity = fields.String()
    channel = fields.String()
    occurred_at = fields.DateTime(allow_none=True)
    location = fields.Nested(LocationOut)
    reporter = fields.Nested(ReporterOut, allow_none=True)
    media_urls = fields.List(fields.String())
    duplicate_of = fields.String(allow_none=True)
    reporter_count = fields.Integer(metadata={"description": "reports gathered: this one and its duplicates"})
    departments = fields.List(fields.String())
    expected_at = fields.DateTime(allow_none=True)
    notes = fields.List(fields.Nested(NoteOut))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CasePage(Schema):
    items = fields.List(fields.Nested(CaseOut))
    next_cursor = fields.String(allow_none=True)


class CaseListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES))
    category = fields.String()
    community = fields.String()
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()


class ContactOut(Schema):
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class FeedbackIn(Schema):
    satisfaction = fields.String(required=True, validate=validate.OneOf(SATISFACTION))
    comment = PlainText(validate=validate.Length(max=2000), allow_none=True)


class FeedbackOut(Schema):
    id = fields.String()
    case_id = fields.String()
    round = fields.Integer(metadata={"description": "0 for the first resolution, 1 after one reopening, …"})
    satisfaction = fields.String()
    comment = fields.String(allow_none=True)
    created_at = fields.DateTime()


class UnlinkIn(Schema):
    reason = PlainText(validate=validate.Length(max=500), allow_none=True)
