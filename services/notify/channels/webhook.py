"""Signed webhooks: the CloudEvent POSTed as ``application/cloudevents+json``."""

from __future__ import annotations

import threading
import time

import requests

from ..signing import sign
from . import Channel, Job, PermanentError, SendError


class WebhookChannel(Channel):
    name = "webhook"

    def __init__(self, connect_timeout: float, read_timeout: float):
        self.timeout = (connect_timeout, read_timeout)
        # One keep-alive session per pool thread: requests.Session is not thread-safe, and a
        # connection per delivery would cost a TCP handshake each time.
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session

    def send(self, job: Job) -> str:
        if not job.secrets:
            raise PermanentError("the subscription has no webhook secret")
        body = job.body.encode()
        headers = {
            "Content-Type": "application/cloudevents+json",
            "Whistle-Event-Id": job.event_id,
            # Wall-clock time, not the service's clock: the receiver checks it against its own.
            "Whistle-Signature": sign(job.secrets, body, int(time.time())),
        }
        try:
            response = self._session().post(job.recipient, data=body, headers=headers, timeout=self.timeout,
                                            allow_redirects=False)
        except requests.RequestException as exc:
            raise SendError(f"{type(exc).__name__}: {exc}"[:500]) from exc
        if not 200 <= response.status_code < 300:
            raise SendError(f"HTTP {response.status_code}")
        return job.recipient

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
