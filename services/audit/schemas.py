"""Audit's HTTP edge (read-only)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.pagination import PageArgs


class ActorOut(Schema):
    role = fields.String()
    id = fields.String()
    department = fields.String(allow_none=True)


class TrailEventOut(Schema):
    seq = fields.Integer()
    event_id = fields.String()
    type = fields.String()
    source = fields.String()
    case_id = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    actor = fields.Nested(ActorOut)
    outcome = fields.String()
    occurred_at = fields.String()
    recorded_at = fields.String()
    correlation_id = fields.String(allow_none=True)
    data = fields.Dict()
    leaf_hash = fields.String()
    chain_hash = fields.String()


class TrailPage(Schema):
    items = fields.List(fields.Nested(TrailEventOut))
    next_cursor = fields.String(allow_none=True)


class TrailFilterArgs(PageArgs):
    case_id = fields.String()
    department = fields.String()
    actor = fields.String()
    type = fields.String()
    outcome = fields.String(validate=validate.OneOf(("success", "failure")))
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()
