"""The ways notify reaches people and systems: a port (``Channel``) and one adapter per channel.
Each adapter sends one delivery and raises on failure; the sender decides about retries."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class SendError(Exception):
    """This attempt failed; a later one may succeed."""


class PermanentError(SendError):
    """Retrying cannot help (no phone on file, channel not configured): fail the delivery now."""


@dataclass(frozen=True)
class Job:
    """A claimed delivery, detached from the database so a pool thread can send it."""

    id: str
    event_id: str
    event_type: str
    channel: str
    recipient: str
    body: str
    attempts: int
    now: datetime
    case_id: str | None = None
    department: str | None = None
    community: str | None = None
    secrets: tuple[str, ...] = ()
    case: dict[str, Any] = field(default_factory=dict)

    @property
    def envelope(self) -> dict[str, Any]:
        return json.loads(self.body)


class Channel:
    """Port: send one delivery; return the address reached, masked for people (for the trail)."""

    name: str = ""

    def send(self, job: Job) -> str:
        raise NotImplementedError

    def close(self) -> None:
        """Release per-thread resources (sessions, connections)."""
