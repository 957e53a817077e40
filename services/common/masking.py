"""Masks for personal data: what may leave the service that owns it."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str | None:
    """13800138000 → 138****8000; 010-12345678 → 010****5678."""
    if not phone:
        return phone
    digits = phone.replace("-", "")
    if len(digits) < 8:
        return "****"
    return f"{digits[:3]}****{digits[-4:]}"


def mask_name(name: str | None) -> str | None:
    """尹师傅 → 尹*; Alice Smith → A*."""
    if not name:
        return name
    return f"{name[0]}*"
