"""The envelope and the event catalogue: round trips, strict producing, tolerant consuming."""

from __future__ import annotations

import json
import uuid

import pytest
from marshmallow import ValidationError

from services.common.catalogue import CATALOGUE
from services.common.events import (
    Actor,
    BadEnvelope,
    UnknownEventType,
    build_event,
    encode,
    parse_event,
)

CASE = str(uuid.uuid4())
TASK = str(uuid.uuid4())
WHEN = "2026-06-03T00:30:00+00:00"

# One valid payload per event type: every type in the catalogue must appear here.
VALID = {
    "case.reported": {
        "case_id": CASE,
        "number": "WS-2026-000001",
        "title": "漏水",
        "category": "water_supply",
        "severity": "urgent",
        "location": {"address": "伟业佳苑"},
        "reported_at": WHEN,
        "reporter": {"ref": "r1", "name": "尹*", "phone": "138****8000"},
    },
    "case.duplicate_unlinked": {"case_id": CASE, "duplicate_of": str(uuid.uuid4())},
    "case.feedback_recorded": {"case_id": CASE, "satisfaction": "dissatisfied", "comment": "还在漏"},
    "department.updated": {"code": "water", "name_zh": "自来水公司", "name_en": "Water company"},
    "routing_rules.updated": {"rules": [{"category": "water_supply", "lead": "water"}]},
    "case.dispatched": {
        "case_id": CASE,
        "severity": "urgent",
        "lead": "water",
        "departments": ["water"],
        "resolve_due": WHEN,
    },
    "case.triaged": {"case_id": CASE, "reason": "no rule"},
    "case.rejected": {"case_id": CASE, "reason": "not for departments"},
    "case.whistle_blown": {"case_id": CASE, "departments": ["housing"], "reason": "pressure", "respond_by": WHEN},
    "task.assigned": {
        "case_id": CASE,
        "task_id": TASK,
        "department": "water",
        "role": "lead",
        "severity": "urgent",
        "ack_due": WHEN,
        "resolve_due": WHEN,
    },
    "task.acknowledged": {"case_id": CASE, "task_id": TASK, "department": "water"},
    "task.progressed": {"case_id": CASE, "task_id": TASK, "department": "water", "note": "valve shut"},
    "task.returned": {
        "case_id": CASE,
        "task_id": TASK,
        "department": "housing",
        "reason_code": "unclear_ownership",
        "reason": "shared wall",
    },
    "task.completed": {"case_id": CASE, "task_id": TASK, "department": "water", "resolution": "fixed"},
    "task.reopened": {"case_id": CASE, "task_id": TASK, "department": "water", "ack_due": WHEN, "resolve_due": WHEN},
    "task.cancelled": {"case_id": CASE, "task_id": TASK, "department": "water"},
    "task.due_soon": {
        "case_id": CASE,
        "task_id": TASK,
        "department": "water",
        "deadline": "acknowledge",
        "due_at": WHEN,
    },
    "task.overdue": {"case_id": CASE, "task_id": TASK, "department": "water", "deadline": "resolve", "due_at": WHEN},
    "case.escalated": {"case_id": CASE, "level": 1},
    "case.resolved": {"case_id": CASE},
    "case.closed": {"case_id": CASE},
    "case.reopened": {"case_id": CASE, "reason": "dissatisfied", "by": "feedback"},
    "notification.sent": {
        "delivery_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "event_type": "task.assigned",
        "channel": "webhook",
        "recipient": "https://water.example/hook",
        "attempts": 1,
    },
    "notification.failed": {
        "delivery_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "event_type": "task.assigned",
        "channel": "sms",
        "recipient": "139****0000",
        "attempts": 5,
        "error": "HTTP 500",
    },
}


def test_every_catalogued_type_has_a_sample():
    assert set(VALID) == set(CATALOGUE)


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_round_trip(event_type):
    actor = Actor(role="department", id="u1", department="water")
    envelope = build_event(event_type, VALID[event_type], service="dispatch", actor=actor, correlation_id="corr-1")
    event = parse_event(encode(envelope))
    assert event.type == event_type and event.id == envelope["id"]
    assert event.source == "/whistle/dispatch"
    assert envelope["specversion"] == "1.0" and envelope["datacontenttype"] == "application/json"
    assert envelope["dataschema"] == f"urn:whistle:{event_type}:v1"
    assert event.correlation_id == "corr-1" and event.actor == actor
    assert json.loads(encode(envelope))["data"] == envelope["data"]


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_producing_rejects_an_unknown_field(event_type):
    with pytest.raises(ValidationError) as raised:
        build_event(event_type, {**VALID[event_type], "surprise": 1}, service="intake")
    assert "surprise" in raised.value.messages


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_producing_rejects_a_missing_required_field(event_type):
    schema = CATALOGUE[event_type][0]()
    required = [name for name, f in schema.fields.items() if f.required]
    assert required, f"{event_type} has no required field"
    payload = {k: v for k, v in VALID[event_type].items() if k != required[0]}
    with pytest.raises(ValidationError) as raised:
        build_event(event_type, payload, service="intake")
    assert required[0] in raised.value.messages


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_consuming_ignores_fields_a_newer_producer_added(event_type):
    envelope = build_event(event_type, VALID[event_type], service="intake")
    envelope["data"]["added_in_v2"] = "x"
    envelope["newextension"] = "y"
    assert "added_in_v2" not in parse_event(envelope).data


def test_raw_phone_numbers_cannot_ride_case_reported():
    payload = {**VALID["case.reported"], "reporter": {"name": "尹*", "phone": "13800138000"}}
    with pytest.raises(ValidationError):
        build_event("case.reported", payload, service="intake")


@pytest.mark.parametrize(
    "body, error",
    [
        (b"not json", BadEnvelope),
        (b"[1, 2]", BadEnvelope),
        (b'{"specversion": "1.0", "id": "x", "source": "/s", "time": "2026-01-01T00:00:00Z"}', BadEnvelope),
        (
            b'{"specversion": "0.3", "id": "x", "source": "/s", "type": "case.closed", "time": "2026-01-01T00:00:00Z"}',
            BadEnvelope,
        ),
        (
            b'{"specversion": "1.0", "id": "x", "source": "/s", "type": "case.exploded",'
            b' "time": "2026-01-01T00:00:00Z"}',
            UnknownEventType,
        ),
        (
            b'{"specversion": "1.0", "id": "x", "source": "/s", "type": "case.closed", "time": "2026-01-01T00:00:00Z",'
            b' "data": {"case_id": "not-a-uuid"}}',
            BadEnvelope,
        ),
    ],
)
def test_unreadable_messages_are_refused(body, error):
    with pytest.raises(error):
        parse_event(body)


def test_unknown_type_cannot_be_produced():
    with pytest.raises(UnknownEventType):
        build_event("case.exploded", {}, service="intake")
