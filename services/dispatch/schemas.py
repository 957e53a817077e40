"""Dispatch's HTTP edge: what each endpoint accepts and returns (unknown fields are refused)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.common.catalogue import RETURN_REASONS, SEVERITIES
from services.common.pagination import PageArgs

TASK_STATUSES = ("assigned", "acknowledged", "in_progress", "completed", "returned", "cancelled")
CODE = validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$", error="Lower-case letters, digits and _ only.")
NOTE = validate.Length(min=1, max=2000)
NAME = validate.Length(min=1, max=100)


class DepartmentOut(Schema):
    code = fields.String()
    name_zh = fields.String()
    name_en = fields.String()
    active = fields.Boolean()


class DepartmentIn(Schema):
    name_zh = fields.String(required=True, validate=NAME)
    name_en = fields.String(required=True, validate=NAME)
    active = fields.Boolean(load_default=True)


class DepartmentList(Schema):
    items = fields.List(fields.Nested(DepartmentOut))


class RuleSchema(Schema):
    category = fields.String(required=True, validate=validate.Length(min=1, max=32))
    street = fields.String(allow_none=True, load_default=None, validate=NAME)
    community = fields.String(allow_none=True, load_default=None, validate=NAME)
    lead = fields.String(required=True, validate=CODE)
    assists = fields.List(fields.String(validate=CODE), load_default=list)
    fallback = fields.List(fields.String(validate=CODE), load_default=list)
    severity = fields.String(load_default="normal", validate=validate.OneOf(SEVERITIES))


class RuleList(Schema):
    items = fields.List(fields.Nested(RuleSchema), required=True)


class HistoryOut(Schema):
    at = fields.String()
    status = fields.String()
    by = fields.String()
    note = fields.String(allow_none=True)


class TaskOut(Schema):
    id = fields.String()
    case_id = fields.String()
    case_number = fields.String()
    department = fields.String()
    role = fields.String()
    status = fields.String()
    severity = fields.String()
    title = fields.String()
    address = fields.String()
    ack_due = fields.DateTime()
    resolve_due = fields.DateTime()
    acknowledged_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    eta = fields.DateTime(allow_none=True)
    resolution = fields.String(allow_none=True)
    overdue = fields.Boolean()
    version = fields.Integer()
    allowed = fields.List(fields.String())
    history = fields.List(fields.Nested(HistoryOut))
    created_at = fields.DateTime()


class TaskPage(Schema):
    items = fields.List(fields.Nested(TaskOut))
    next_cursor = fields.String(allow_none=True)


class TaskListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(TASK_STATUSES))
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    case_id = fields.String()
    overdue = fields.Boolean()
    since = fields.AwareDateTime()


class AcknowledgeIn(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=NOTE)
    eta = fields.AwareDateTime(load_default=None, allow_none=True)


class ProgressIn(Schema):
    note = fields.String(required=True, validate=NOTE)


class ReturnIn(Schema):
    reason_code = fields.String(required=True, validate=validate.OneOf(RETURN_REASONS))
    reason = fields.String(required=True, validate=NOTE)


class CompleteIn(Schema):
    resolution = fields.String(required=True, validate=NOTE)


class CancelIn(Schema):
    reason = fields.String(required=True, validate=NOTE)


class WhistleIn(Schema):
    departments = fields.List(fields.String(validate=CODE), required=True, validate=validate.Length(min=1, max=10))
    reason = fields.String(required=True, validate=NOTE)
    respond_within_minutes = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(1, 15 * 24 * 60)
    )
    lead = fields.String(load_default=None, allow_none=True, validate=CODE)


class WhistleOut(Schema):
    tasks = fields.List(fields.Nested(TaskOut))


class VerifyIn(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(("closed", "reopened")))
    note = fields.String(load_default=None, allow_none=True, validate=NOTE)

    @validates_schema
    def reopening_says_why(self, data, **_kwargs):
        if data.get("outcome") == "reopened" and not data.get("note"):
            raise ValidationError("Say why the case is reopened.", "note")


class RejectIn(Schema):
    reason = fields.String(required=True, validate=NOTE)


class CaseOut(Schema):
    case_id = fields.String()
    number = fields.String()
    title = fields.String()
    category = fields.String()
    address = fields.String()
    status = fields.String()
    severity = fields.String()
    escalation_level = fields.Integer()
    allowed = fields.List(fields.String())
    tasks = fields.List(fields.Nested(TaskOut))
    history = fields.List(fields.Nested(HistoryOut))
