"""Notify: tells departments, staff and residents through signed webhooks, e-mail and SMS."""

from __future__ import annotations

from services.common.web import create_service_app

from . import api
from .models import metadata


def create_app(config: dict | None = None):
    return create_service_app(
        "notify", config, metadata, [api.blp], description="Subscriptions, signed webhooks and the delivery log."
    )
