"""The event catalogue: one marshmallow schema for the ``data`` of every event type (DESIGN §3).

Producers load with ``unknown=RAISE`` (strict: a typo is a bug); consumers load with ``EXCLUDE``
(tolerant: a newer producer may add fields). A breaking change gets a new version, carried in the
envelope's ``dataschema`` (``urn:whistle:<type>:v<N>``).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

SEVERITIES = ("emergency", "urgent", "normal", "complex")
TASK_ROLES = ("lead", "assist")
RETURN_REASONS = ("wrong_area", "not_our_duty", "unclear_ownership", "other")
SATISFACTION = ("satisfied", "basically_satisfied", "dissatisfied")
CHANNELS = ("grid", "hotline", "walk_in", "web", "open311")
DEADLINE_KINDS = ("acknowledge", "resolve")


UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def _one_of(values):
    return validate.OneOf(values)


def uuid_field(**kwargs) -> fields.String:
    """A UUID kept as its string, so handlers and stored JSON see the same value."""
    return fields.String(validate=validate.Regexp(UUID_PATTERN, error="Not a valid UUID."), **kwargs)


class CaseEvent(Schema):
    case_id = uuid_field(required=True)


class TaskEvent(CaseEvent):
    task_id = uuid_field(required=True)
    department = fields.String(required=True, validate=validate.Length(min=1, max=64))
    # The task's version after the change, so consumers never move a task backwards.
    version = fields.Integer(load_default=None)


class Location(Schema):
    address = fields.String(required=True, validate=validate.Length(min=1, max=300))
    street = fields.String(load_default=None, allow_none=True)
    community = fields.String(load_default=None, allow_none=True)
    grid = fields.String(load_default=None, allow_none=True)
    lat = fields.Float(load_default=None, allow_none=True, validate=validate.Range(-90, 90))
    lon = fields.Float(load_default=None, allow_none=True, validate=validate.Range(-180, 180))


class MaskedReporter(Schema):
    """Only a reference and masked values ride the bus; the full contact stays in intake."""

    ref = fields.String(load_default=None, allow_none=True)
    name = fields.String(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9*+\-]*\*{4}[0-9]*$"))


class CaseReported(CaseEvent):
    number = fields.String(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default=None, allow_none=True)
    category = fields.String(required=True)
    severity = fields.String(required=True, validate=_one_of(SEVERITIES))
    channel = fields.String(load_default="web", validate=_one_of(CHANNELS))
    location = fields.Nested(Location, required=True)
    reporter = fields.Nested(MaskedReporter, load_default=None, allow_none=True)
    occurred_at = fields.DateTime(load_default=None, allow_none=True)
    reported_at = fields.DateTime(required=True)
    duplicate_of = uuid_field(load_default=None, allow_none=True)


class CaseDuplicateUnlinked(CaseEvent):
    duplicate_of = uuid_field(required=True)
    reason = fields.String(load_default=None, allow_none=True)


class CaseFeedbackRecorded(CaseEvent):
    satisfaction = fields.String(required=True, validate=_one_of(SATISFACTION))
    comment = fields.String(load_default=None, allow_none=True)
    # 0 for the first resolution, +1 per reopening: one feedback per round.
    round = fields.Integer(load_default=None, allow_none=True)


class DepartmentUpdated(Schema):
    code = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    active = fields.Boolean(load_default=True)


class RoutingRule(Schema):
    category = fields.String(required=True)
    street = fields.String(load_default=None, allow_none=True)
    community = fields.String(load_default=None, allow_none=True)
    lead = fields.String(required=True)
    assists = fields.List(fields.String(), load_default=list)
    fallback = fields.List(fields.String(), load_default=list)
    severity = fields.String(load_default="normal", validate=_one_of(SEVERITIES))


class RoutingRulesUpdated(Schema):
    rules = fields.List(fields.Nested(RoutingRule), required=True)


class CaseDispatched(CaseEvent):
    severity = fields.String(required=True, validate=_one_of(SEVERITIES))
    lead = fields.String(required=True)
    departments = fields.List(fields.String(), required=True)
    resolve_due = fields.DateTime(required=True)


class CaseTriaged(CaseEvent):
    reason = fields.String(required=True)


class CaseRejected(CaseEvent):
    reason = fields.String(required=True)


class CaseWhistleBlown(CaseEvent):
    departments = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    reason = fields.String(required=True)
    respond_by = fields.DateTime(required=True)


class TaskAssigned(TaskEvent):
    role = fields.String(required=True, validate=_one_of(TASK_ROLES))
    severity = fields.String(required=True, validate=_one_of(SEVERITIES))
    case_number = fields.String(load_default=None, allow_none=True)
    title = fields.String(load_default=None, allow_none=True)
    address = fields.String(load_default=None, allow_none=True)
    community = fields.String(load_default=None, allow_none=True)
    ack_due = fields.DateTime(required=True)
    resolve_due = fields.DateTime(required=True)


class TaskAcknowledged(TaskEvent):
    eta = fields.DateTime(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True)
    within_deadline = fields.Boolean(load_default=None, allow_none=True)


class TaskProgressed(TaskEvent):
    note = fields.String(required=True)


class TaskReturned(TaskEvent):
    reason_code = fields.String(required=True, validate=_one_of(RETURN_REASONS))
    reason = fields.String(required=True)


class TaskCompleted(TaskEvent):
    resolution = fields.String(load_default=None, allow_none=True)


class TaskReopened(TaskEvent):
    ack_due = fields.DateTime(required=True)
    resolve_due = fields.DateTime(required=True)
    reason = fields.String(load_default=None, allow_none=True)


class TaskCancelled(TaskEvent):
    reason = fields.String(load_default=None, allow_none=True)


class TaskDeadline(TaskEvent):
    deadline = fields.String(required=True, validate=_one_of(DEADLINE_KINDS))
    due_at = fields.DateTime(required=True)


class CaseEscalated(CaseEvent):
    level = fields.Integer(required=True, validate=validate.Range(1, 2))
    task_id = uuid_field(load_default=None, allow_none=True)
    department = fields.String(load_default=None, allow_none=True)
    reason = fields.String(load_default=None, allow_none=True)


class CaseResolved(CaseEvent):
    pass


class CaseClosed(CaseEvent):
    note = fields.String(load_default=None, allow_none=True)


class CaseReopened(CaseEvent):
    reason = fields.String(required=True)
    by = fields.String(load_default="staff", validate=_one_of(("staff", "feedback")))


class Notification(Schema):
    delivery_id = uuid_field(required=True)
    event_id = uuid_field(required=True)
    event_type = fields.String(required=True)
    channel = fields.String(required=True, validate=_one_of(("webhook", "email", "sms")))
    recipient = fields.String(required=True)  # masked for people; a URL for webhooks
    attempts = fields.Integer(required=True)
    case_id = uuid_field(load_default=None, allow_none=True)
    department = fields.String(load_default=None, allow_none=True)
    error = fields.String(load_default=None, allow_none=True)
    # The masked address a person was reached at (a resident's recipient is ``resident:<case id>``).
    address = fields.String(load_default=None, allow_none=True)
    community = fields.String(load_default=None, allow_none=True)


# type → (schema class, current version)
CATALOGUE: dict[str, tuple[type[Schema], int]] = {
    "case.reported": (CaseReported, 1),
    "case.duplicate_unlinked": (CaseDuplicateUnlinked, 1),
    "case.feedback_recorded": (CaseFeedbackRecorded, 1),
    "department.updated": (DepartmentUpdated, 1),
    "routing_rules.updated": (RoutingRulesUpdated, 1),
    "case.dispatched": (CaseDispatched, 1),
    "case.triaged": (CaseTriaged, 1),
    "case.rejected": (CaseRejected, 1),
    "case.whistle_blown": (CaseWhistleBlown, 1),
    "task.assigned": (TaskAssigned, 1),
    "task.acknowledged": (TaskAcknowledged, 1),
    "task.progressed": (TaskProgressed, 1),
    "task.returned": (TaskReturned, 1),
    "task.completed": (TaskCompleted, 1),
    "task.reopened": (TaskReopened, 1),
    "task.cancelled": (TaskCancelled, 1),
    "task.due_soon": (TaskDeadline, 1),
    "task.overdue": (TaskDeadline, 1),
    "case.escalated": (CaseEscalated, 1),
    "case.resolved": (CaseResolved, 1),
    "case.closed": (CaseClosed, 1),
    "case.reopened": (CaseReopened, 1),
    "notification.sent": (Notification, 1),
    "notification.failed": (Notification, 1),
}
