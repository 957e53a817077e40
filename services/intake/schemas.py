"""Intake's HTTP edge: what a case looks like coming in and going out."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates

from services.common.catalogue import CHANNELS, SATISFACTION, SEVERITIES
from services.common.pagination import PageArgs

from .categories import CATEGORIES

STATUSES = ("reported", "triage", "dispatched", "in_progress", "resolved", "closed", "rejected",
            "duplicate")
PHONE = r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$"  # Chinese mobile, or landline with area code


class LocationIn(Schema):
    address = fields.String(required=True, validate=validate.Length(min=1, max=300))
    street = fields.String(validate=validate.Length(max=100), allow_none=True)
    community = fields.String(validate=validate.Length(max=100), allow_none=True)
    grid = fields.String(validate=validate.Length(max=50), allow_none=True)
    lat = fields.Float(validate=validate.Range(-90, 90), allow_none=True)
    lon = fields.Float(validate=validate.Range(-180, 180), allow_none=True)


class ReporterIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100), allow_none=True)
    phone = fields.String(validate=validate.Regexp(PHONE, error="Not a Chinese mobile or landline number."),
                          allow_none=True)


class CaseIn(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=4000), allow_none=True)
    category = fields.String(required=True)
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    channel = fields.String(load_default="web", validate=validate.OneOf(CHANNELS))
    occurred_at = fields.AwareDateTime(allow_none=True)
    location = fields.Nested(LocationIn, required=True)
    reporter = fields.Nested(ReporterIn, allow_none=True)
    media_urls = fields.List(fields.Url(schemes={"http", "https"}), load_default=list,
                             validate=validate.Length(max=20))

    @validates("category")
    def known_category(self, value: str, **_kwargs) -> None:
        if value not in CATEGORIES:
            raise ValidationError(f"Unknown category; one of: {', '.join(CATEGORIES)}.")


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
    status = fields.String()
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
    comment = fields.String(validate=validate.Length(max=2000), allow_none=True)


class FeedbackOut(Schema):
    id = fields.String()
    case_id = fields.String()
    satisfaction = fields.String()
    comment = fields.String(allow_none=True)
    created_at = fields.DateTime()
