"""Webhook signatures, checked by a verifier written here from the documented format."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from services.notify.models import Subscription
from services.notify.signing import sign
from services.notify.subscriptions import mask_secret, signing_secrets

BODY = '{"id":"e1","type":"task.assigned","data":{"title":"漏水"}}'.encode()
NOW = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)


def expected(secret: str, timestamp: int) -> str:
    return hmac.new(secret.encode(), b"%d." % timestamp + BODY, hashlib.sha256).hexdigest()


def test_one_secret_gives_t_and_one_v1():
    assert sign("a" * 32, BODY, 1780000000) == f"t=1780000000,v1={expected('a' * 32, 1780000000)}"


def test_rotation_signs_newest_first_with_both():
    header = sign(["new" * 11, "old" * 11], BODY, 1780000000)
    assert header.split(",") == [
        "t=1780000000",
        f"v1={expected('new' * 11, 1780000000)}",
        f"v1={expected('old' * 11, 1780000000)}",
    ]


def test_the_previous_secret_signs_only_inside_its_window():
    sub = Subscription(
        department="water", secrets=["new" * 11, "old" * 11], previous_secret_until=NOW + timedelta(hours=24)
    )
    assert signing_secrets(sub, NOW) == ["new" * 11, "old" * 11]
    assert signing_secrets(sub, NOW + timedelta(hours=24)) == ["new" * 11]
    assert signing_secrets(Subscription(department="water", secrets=[]), NOW) == []


def test_secrets_are_shown_by_their_last_four_characters_only():
    assert mask_secret("s" * 36 + "abcd") == "whsec_…abcd"
    assert mask_secret(None) is None


def test_the_documented_verifier_accepts_notify_signatures_and_refuses_replays():
    """The Python example in docs/notify.md, run as written."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "notify.md").read_text(encoding="utf-8")
    [example] = [b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "def verify_whistle_signature" in b]
    namespace: dict = {}
    exec(example, namespace)  # noqa: S102 - our own documentation
    verify = namespace["verify_whistle_signature"]
    header = sign(["new" * 11, "old" * 11], BODY, 1780000000)
    assert verify("new" * 11, header, BODY, now=1780000100)
    assert verify("old" * 11, header, BODY, now=1780000100)
    assert not verify("other" * 8, header, BODY, now=1780000100)
    assert not verify("new" * 11, header, BODY + b" ", now=1780000100)
    assert not verify("new" * 11, header, BODY, now=1780000000 + 301), "a stale timestamp is a replay"
