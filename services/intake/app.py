"""Intake: the front door where community staff, grid workers and Open311 clients report cases."""

from __future__ import annotations

from services.common.web import create_service_app

from . import api, errors, open311
from .models import metadata
from .options import IntakeOptions


def create_app(config: dict | None = None):
    app = create_service_app(
        "intake",
        config,
        metadata,
        [api.blp, open311.blp],
        form_blueprints=[open311.blp.name],
        description="Cases from communities, their public status, Open311 GeoReport v2.",
    )
    # Read once here so that a bad categories file stops the service at start.
    app.extensions["intake"] = IntakeOptions.from_settings(app.extensions["whistle"].settings)
    errors.register(app)
    return app
