"""Text messages through a provider: an HTTP gateway in production, a file sink in development.
A resident's number is fetched from intake at send time (claim check) and only masked beyond that."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import requests

from services.common.masking import mask_phone

from ..contacts import Contacts
from ..rendering import render_sms
from . import Channel, Job, SendError


class SmsProvider:
    """Port: hand one text to the carrier. ``reference`` is the event id, for the provider's dedupe."""

    def send(self, number: str, text: str, *, reference: str) -> None:
        raise NotImplementedError


class HttpSmsGateway(SmsProvider):
    """POSTs ``{"to", "text", "reference"}`` as JSON with ``Authorization: Bearer <key>``."""

    def __init__(self, url: str, key: str, timeout: tuple[float, float]):
        self.url, self.key, self.timeout = url, key, timeout

    def send(self, number: str, text: str, *, reference: str) -> None:
        try:
            response = requests.post(
                self.url,
                json={"to": number, "text": text, "reference": reference},
                headers={"Authorization": f"Bearer {self.key}"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            # The exception names the URL, never the body: the number stays out of the error.
            raise SendError(f"SMS gateway: {type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            raise SendError(f"SMS gateway: HTTP {response.status_code}")


class FileSmsSink(SmsProvider):
    """Development: appends one JSON line per text to a file under the data directory."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def send(self, number: str, text: str, *, reference: str) -> None:
        line = json.dumps(
            {"to": number, "text": text, "reference": reference, "at": datetime.now(UTC).isoformat()},
            ensure_ascii=False,
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as sink:
                sink.write(line + "\n")


class SmsChannel(Channel):
    name = "sms"

    def __init__(self, provider: SmsProvider, contacts: Contacts):
        self.provider = provider
        self.contacts = contacts

    def send(self, job: Job) -> str:
        resident = job.recipient.startswith("resident:")
        number = self.contacts.phone(job.recipient.removeprefix("resident:")) if resident else job.recipient
        self.provider.send(number, render_sms(job, resident=resident), reference=job.event_id)
        return mask_phone(number) or "****"
