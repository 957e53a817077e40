"""Audit: the independent, tamper-evident record of everything that happened."""

from __future__ import annotations

from services.common.web import create_service_app

from . import api
from .models import metadata


def create_app(config: dict | None = None):
    return create_service_app("audit", config, metadata, [api.blp],
                              description="The append-only, hash-chained trail; read-only.")
