"""Dispatch's HTTP edge."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.catalogue import SEVERITIES
from services.common.pagination import PageArgs

TASK_STATUSES = ("assigned", "acknowledged", "in_progress", "completed", "returned", "cancelled")


class DepartmentOut(Schema):
    code = fields.String()
    name_zh = fields.String()
    name_en = fields.String()
    active = fields.Boolean()


class DepartmentList(Schema):
    items = fields.List(fields.Nested(DepartmentOut))


class RuleSchema(Schema):
    category = fields.String(required=True)
    street = fields.String(allow_none=True, load_default=None)
    community = fields.String(allow_none=True, load_default=None)
    lead = fields.String(required=True)
    assists = fields.List(fields.String(), load_default=list)
    fallback = fields.List(fields.String(), load_default=list)
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
    overdue = fields.Boolean()
    version = fields.Integer()
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
