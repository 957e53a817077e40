"""Signed webhooks: the CloudEvent POSTed as ``application/cloudevents+json``."""

from __future__ import annotations

import time

import urllib3

from ..signing import sign
from . import Channel, Job, PermanentError, SendError


class WebhookChannel(Channel):
    name = "webhook"

    def __init__(self, connect_timeout: float, read_timeout: float, pool_size: int = 16):
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        # One thread-safe pool of keep-alive connections per receiving host, shared by the
        # sender's threads (a connection per delivery would cost a TCP handshake each time).
        # urllib3 rather than requests: at hundreds of calls a second requests' per-call
        # bookkeeping costs more CPU than the call.
        self.http = urllib3.PoolManager(maxsize=pool_size, block=False, retries=False)

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
            response = self.http.request(
                "POST",
                job.recipient,
                body=body,
                headers=headers,
                timeout=self.timeout,
                redirect=False,
                preload_content=True,
            )
        except (urllib3.exceptions.HTTPError, ValueError) as exc:  # ValueError: a malformed URL
            raise SendError(f"{type(exc).__name__}: {exc}"[:500]) from exc
        if not 200 <= response.status < 300:
            raise SendError(f"HTTP {response.status}")
        return job.recipient

    def close(self) -> None:
        self.http.clear()
