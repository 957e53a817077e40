"""The CloudEvents 1.0 envelope (structured JSON mode) around every event on the bus."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError

from .catalogue import CATALOGUE
from .context import current_actor, current_correlation_id
from .db import new_id

CONTENT_TYPE = "application/cloudevents+json"
SPEC_VERSION = "1.0"


class UnknownEventType(ValueError):
    pass


class BadEnvelope(ValueError):
    pass


@dataclass(frozen=True)
class Actor:
    role: str = "system"
    id: str = "system"
    department: str | None = None


SYSTEM = Actor()


@dataclass(frozen=True)
class Event:
    """An event as a consumer sees it: envelope attributes plus tolerantly-loaded ``data``."""

    id: str
    type: str
    source: str
    subject: str | None
    time: datetime
    data: dict[str, Any]
    correlation_id: str | None
    actor: Actor
    envelope: dict[str, Any] = field(repr=False)

    @property
    def case_id(self) -> str | None:
        return self.data.get("case_id") or self.subject


@cache
def data_schema(event_type: str, unknown: str) -> Schema:
    """One schema instance per type and mode, built once: building a marshmallow schema copies its
    fields, which cost more than loading a small payload (schemas keep no state between loads)."""
    return CATALOGUE[event_type][0](unknown=unknown)


def dataschema_for(event_type: str) -> str:
    return f"urn:whistle:{event_type}:v{CATALOGUE[event_type][1]}"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_event(
    event_type: str,
    data: dict[str, Any],
    *,
    service: str,
    subject: str | None = None,
    actor: Actor | None = None,
    correlation_id: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """A CloudEvent ready to publish. ``data`` is validated strictly against the catalogue."""
    if event_type not in CATALOGUE:
        raise UnknownEventType(event_type)
    schema = data_schema(event_type, RAISE)
    payload = schema.dump(schema.load(data))  # raises ValidationError on a bad payload
    actor = actor or current_actor() or SYSTEM
    envelope: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": new_id(),
        "source": f"/whistle/{service}",
        "type": event_type,
        "subject": subject or payload.get("case_id"),
        "time": _rfc3339(time or datetime.now(UTC)),
        "datacontenttype": "application/json",
        "dataschema": dataschema_for(event_type),
        "correlationid": correlation_id or current_correlation_id() or new_id(),
        "actorrole": actor.role,
        "actorid": actor.id,
        "data": payload,
    }
    if actor.department:
        envelope["actordept"] = actor.department
    if envelope["subject"] is None:
        del envelope["subject"]
    return envelope


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "time")


def parse_event(body: bytes | str | dict[str, Any]) -> Event:
    """Read an envelope tolerantly; raises BadEnvelope when it cannot be an event at all."""
    try:
        envelope = body if isinstance(body, dict) else json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadEnvelope(f"not JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise BadEnvelope("envelope is not an object")
    missing = [name for name in REQUIRED_ATTRIBUTES if not envelope.get(name)]
    if missing:
        raise BadEnvelope(f"missing attributes: {', '.join(missing)}")
    if envelope["specversion"] != SPEC_VERSION:
        raise BadEnvelope(f"unsupported specversion {envelope['specversion']!r}")
    event_type = envelope["type"]
    if event_type not in CATALOGUE:
        raise UnknownEventType(event_type)
    try:
        data = data_schema(event_type, EXCLUDE).load(envelope.get("data") or {})
        time = datetime.fromisoformat(envelope["time"].replace("Z", "+00:00"))
    except (ValidationError, ValueError) as exc:
        raise BadEnvelope(f"bad {event_type} event: {exc}") from exc
    return Event(
        id=envelope["id"],
        type=event_type,
        source=envelope["source"],
        subject=envelope.get("subject"),
        time=time,
        data=data,
        correlation_id=envelope.get("correlationid"),
        actor=Actor(
            role=envelope.get("actorrole", "system"),
            id=envelope.get("actorid", "system"),
            department=envelope.get("actordept"),
        ),
        envelope=envelope,
    )
