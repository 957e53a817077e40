"""Intake: the front door where community staff and grid workers report cases."""

from __future__ import annotations

from services.common.web import create_service_app

from . import api
from .models import metadata


def create_app(config: dict | None = None):
    return create_service_app("intake", config, metadata, [api.blp],
                              description="Cases reported by communities, and their public status.")
