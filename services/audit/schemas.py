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


class TrailFilters(Schema):
    """The trail's filters, shared by the list and the export."""

    case_id = fields.String()
    department = fields.String()
    actor = fields.String()
    type = fields.String()
    outcome = fields.String(validate=validate.OneOf(("success", "failure")))
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()


class SeqRange(Schema):
    from_seq = fields.Integer(load_default=None, validate=validate.Range(min=1))
    to_seq = fields.Integer(load_default=None, validate=validate.Range(min=1))


class HeadOut(Schema):
    seq = fields.Integer()
    chain_hash = fields.String(allow_none=True)


class CheckpointStatusOut(Schema):
    size = fields.Integer()
    ok = fields.Boolean(allow_none=True)


class VerifyOut(Schema):
    ok = fields.Boolean()
    checked = fields.Integer()
    head = fields.Nested(HeadOut)
    first_bad_seq = fields.Integer(allow_none=True)
    checkpoint = fields.Nested(CheckpointStatusOut, allow_none=True)
    problems = fields.List(fields.String())


class CheckpointOut(Schema):
    origin = fields.String()
    size = fields.Integer()
    head = fields.String()
    time = fields.String()
    key_id = fields.String()
    signature = fields.String()


class CheckpointPage(Schema):
    items = fields.List(fields.Nested(CheckpointOut))
    next_cursor = fields.String(allow_none=True)


class KeyOut(Schema):
    algorithm = fields.String()
    key_id = fields.String()
    public_key_pem = fields.String()


class TrailFilterArgs(PageArgs, TrailFilters):
    pass


class ExportArgs(TrailFilters):
    format = fields.String(load_default="jsonl", validate=validate.OneOf(("jsonl", "csv")))


class ReportArgs(Schema):
    since = fields.AwareDateTime(load_default=None)
    until = fields.AwareDateTime(load_default=None)


class DepartmentScoreOut(Schema):
    department = fields.String()
    tasks = fields.Integer()
    response_rate = fields.Float(allow_none=True)
    resolution_rate = fields.Float(allow_none=True)
    satisfaction_rate = fields.Float(allow_none=True)
    median_ack_minutes = fields.Float(allow_none=True)
    median_complete_minutes = fields.Float(allow_none=True)
    returned = fields.Integer()
    overdue = fields.Integer()


class ReportOut(Schema):
    items = fields.List(fields.Nested(DepartmentScoreOut))


class AccessOut(Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    subject = fields.String()
    role = fields.String()
    path = fields.String()
    query = fields.String()
    rows = fields.Integer()
    status = fields.Integer()


class AccessPage(Schema):
    items = fields.List(fields.Nested(AccessOut))
    next_cursor = fields.String(allow_none=True)
