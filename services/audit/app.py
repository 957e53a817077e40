"""Audit: the independent, tamper-evident record of everything that happened."""

from __future__ import annotations

import os

from services.common.web import create_service_app

from . import api
from .checkpoints import Signer
from .models import metadata


def app_config(config: dict | None) -> dict:
    """Web and worker connect as the insert-only role when ``WHISTLE_AUDIT_APP_DATABASE_URL`` is
    set; ``WHISTLE_AUDIT_DATABASE_URL`` stays the owner's, for ``whistle migrate audit``."""
    config = dict(config or {})
    app_url = config.pop("AUDIT_APP_DATABASE_URL", None) or os.environ.get("WHISTLE_AUDIT_APP_DATABASE_URL")
    if app_url:
        config["AUDIT_DATABASE_URL"] = app_url
    return config


def create_app(config: dict | None = None):
    app = create_service_app(
        "audit", app_config(config), metadata, [api.blp], description="The append-only, hash-chained trail; read-only."
    )
    app.extensions["whistle_audit"] = Signer.from_settings(app.config["WHISTLE_SETTINGS"])
    return app
