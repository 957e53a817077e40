"""Webhook signatures: ``Whistle-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.

During a secret rotation the header carries one ``v1`` per valid secret, newest first
(``t=…,v1=<new>,v1=<old>``); a receiver accepts the request when any of them matches its secret."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def signature(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secrets: str | Iterable[str], body: bytes, timestamp: int) -> str:
    if isinstance(secrets, str):
        secrets = [secrets]
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, body, timestamp)}" for s in secrets)])
