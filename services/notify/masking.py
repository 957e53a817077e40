"""Masks for what notify tells the trail about people (common.masking has phones and names)."""

from __future__ import annotations

from services.common.masking import mask_phone


def mask_email(address: str) -> str:
    """duty@water.example → d***@water.example."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_recipient(channel: str, recipient: str) -> str:
    """What the delivery log and the trail show: URLs as they are, people masked; a resident is
    already named by the case only (``resident:<case id>``)."""
    if channel == "email":
        return mask_email(recipient)
    if channel == "sms" and not recipient.startswith("resident:"):
        return mask_phone(recipient) or recipient
    return recipient
